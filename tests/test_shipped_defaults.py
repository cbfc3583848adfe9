"""The shipped default weights: present, documented, loaded offline, and sensible on a newcomer's photo.

The slow reproduction test re-runs `benchmarks/train_defaults.py` for IFQA (the cheapest seed
model) from this checkout and asks for the committed held-out metrics within training noise.
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
def heldout_faces(shared_data):
    """20 LFW photos of people no shipped model trained on, each sharp and blurred / noised / JPEG-crushed."""
    import io
    import random

    import numpy as np
    from PIL import Image, ImageFilter

    from core.build import identity_split

    files = sorted((shared_data / "lfw" / "images").glob("*/*.jpg"))
    split = identity_split({f.parent.name for f in files}, (0.8, 0.0, 0.2), seed=0)
    test = [f for f in files if split[f.parent.name] == "test"]
    random.Random(5).shuffle(test)
    out = []
    for i, f in enumerate(test[:20]):
        im = Image.open(f).convert("RGB")
        a = np.asarray(im)
        noisy = np.clip(a + np.random.default_rng(i).normal(0, 25, a.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=8)
        out.append({"sharp": a, "blurred": np.asarray(im.filter(ImageFilter.GaussianBlur(2))), "noised": noisy,
                    "jpeg": np.asarray(Image.open(buf).convert("RGB"))})
    return out


#: what each shipped model is measured to rank on real photos degraded *before* alignment. Noise and JPEG on the
#: photo are not yet ranked by the seed models: their pseudo-MOS labels penalise both mildly and the benchmark degrades
#: the aligned crop, not the photo (issue 6 note); tinyFQnet ignores JPEG by construction (its card).
#: DSL-FIQA ranks the benchmark's crop-level degradations (held-out SRCC in its card) but not a blur of the photo
#: (60 % of 20 faces, gaps +-0.03): left out here, reported open in issue 6.
RANKED = {"stylegan-iqa": ("blurred",), "ifqa": ("blurred",), "tinyfqnet": ("blurred", "noised")}


@pytest.mark.data
@pytest.mark.parametrize("name", list(RANKED))
def test_sharp_faces_score_above_their_degraded_copies(name, heldout_faces):
    import numpy as np

    from core import Scorer

    scorer = Scorer(name)
    gaps = {k: [] for k in RANKED[name]}
    for face in heldout_faces:
        s = {k: scorer.assess(face[k], faces="largest").faces for k in ("sharp", *gaps)}
        if all(s.values()):
            for k in gaps:
                gaps[k].append(s["sharp"][0].score - s[k][0].score)
    for kind, g in gaps.items():
        g = np.array(g)
        assert len(g) >= 15 and (g > 0).mean() >= 0.75 and g.mean() > 0.02, (name, kind, np.round(g, 3))


@pytest.mark.slow
@pytest.mark.data
def test_ifqa_default_reproduces_from_this_checkout(shared_data, tmp_path):
    committed = json.loads((REPO / "benchmarks" / "results" / "defaults" / "ifqa.json").read_text())
    env = {**os.environ, "FACEIQA_DATA": str(shared_data), "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "benchmarks/train_defaults.py", "--work", str(tmp_path), "--models", "ifqa",
                        "--results", str(tmp_path / "results")], cwd=REPO, env=env, capture_output=True, text=True, timeout=3000)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    again = json.loads((tmp_path / "results" / "ifqa.json").read_text())
    assert again["n"] == committed["n"]
    assert abs(again["srcc"] - committed["srcc"]) < 0.05, (again, committed)
    assert abs(again["plcc"] - committed["plcc"]) < 0.05, (again, committed)
