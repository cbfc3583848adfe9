"""The shipped default weights: present, documented, loaded offline, and sensible on a newcomer's photo.

The slow reproduction test re-runs `benchmarks/train_defaults.py` for DSL-FIQA and IFQA (the two
cheapest seed models) from this checkout and asks for the committed held-out metrics within
training noise.
"""
import json
import logging
import os
import subprocess
import sys

import pytest

from conftest import REPO

SEED_MODELS = ("stylegan-iqa", "dsl-fiqa", "ifqa")
MODELS = (*SEED_MODELS, "tinyfqnet")


@pytest.mark.parametrize("name", MODELS)
def test_shipped_weights_have_a_card_and_load_offline(name, caplog):
    from core.checkpoint import read_config
    from core.models import create_model

    weights = REPO / "assets" / "models" / f"{name}.safetensors"
    assert weights.is_file() and weights.stat().st_size < 60e6
    card = (REPO / "assets" / "models" / f"{name}.md").read_text()
    assert "not human opinion" in card and "SRCC" in card
    if name in SEED_MODELS:
        meta = read_config(weights)
        committed = json.loads((REPO / "benchmarks" / "results" / "defaults" / f"{name}.json").read_text())
        assert meta["extra"]["test"]["srcc"] == committed["srcc"] and f"SRCC {committed['srcc']:.3f}" in card
    with caplog.at_level(logging.WARNING):
        create_model(name)
    assert "untrained" not in caplog.text


@pytest.fixture(scope="module")
def heldout_photos(shared_data):
    """20 LFW photos of people no shipped model trained on (sharp; degraded copies made per test)."""
    from core.evaluate import heldout_lfw_photos

    return heldout_lfw_photos(shared_data / "lfw" / "images", 20)


#: what each shipped model is measured to rank on real photos degraded *before* alignment (40-photo table in
#: docs/comparison.md, `benchmarks/rank_user_photos.py`). Left out, with the measured reason:
#: StyleGAN-IQA JPEG q8 (sharp higher for 50 % of 40 faces, mean gap 0.005: photo-level JPEG labels are mild, ~0.85,
#: and the resampled 8x8 blocks are subtle at 256 px); IFQA noise and JPEG (80 % / 70 %, gaps 0.004 / 0.014 on a
#: score spread of 0.13 - IFQA never sees a MOS, so no ranking term can reach it); tinyFQnet JPEG (recognition
#: labels: JPEG q8 barely moves the embedding).
RANKED = {"dsl-fiqa": ("blurred", "noised", "jpeg"), "stylegan-iqa": ("blurred", "noised"), "ifqa": ("blurred",),
          "tinyfqnet": ("blurred", "noised")}


@pytest.mark.data
@pytest.mark.parametrize("name", list(RANKED))
def test_sharp_faces_score_above_their_degraded_copies(name, heldout_photos):
    from core import Scorer
    from core.evaluate import sharp_vs_degraded

    df = sharp_vs_degraded(Scorer(name), heldout_photos, kinds=RANKED[name])
    for kind in RANKED[name]:
        g = df[df.kind == kind].gap
        assert len(g) >= 15 and (g > 0).mean() >= 0.75 and g.mean() > 0.02, (name, kind, g.round(3).tolist())


#: re-trained from scratch in CI (~35 min together on 2 cores) with the tolerance their run-to-run spread allows;
#: StyleGAN-IQA (~20 min more) uses the same script. IFQA is a GAN-trained discriminator whose epoch is picked on 150
#: validation images: the shipped run (1 thread) got held-out SRCC 0.417, a clean-clone CI run of the same commit
#: (2 threads) 0.348 (PLCC 0.440 vs 0.422); last stop's pair was 0.412 vs 0.423. DSL-FIQA: 0.720 vs 0.709.
REPRODUCED = {"dsl-fiqa": 0.05, "ifqa": 0.1}


@pytest.mark.slow
@pytest.mark.data
def test_defaults_reproduce_from_this_checkout(shared_data, tmp_path):
    env = {**os.environ, "FACEIQA_DATA": str(shared_data), "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "benchmarks/train_defaults.py", "--work", str(tmp_path), "--models", *REPRODUCED,
                        "--results", str(tmp_path / "results")], cwd=REPO, env=env, capture_output=True, text=True, timeout=4800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for name, tol in REPRODUCED.items():
        committed = json.loads((REPO / "benchmarks" / "results" / "defaults" / f"{name}.json").read_text())
        again = json.loads((tmp_path / "results" / f"{name}.json").read_text())
        assert again["n"] == committed["n"]
        assert abs(again["srcc"] - committed["srcc"]) < tol, (name, again, committed)
        assert abs(again["plcc"] - committed["plcc"]) < tol, (name, again, committed)
