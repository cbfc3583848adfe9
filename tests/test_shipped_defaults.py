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

from conftest import REPO, SAMPLES

SEED_MODELS = ("stylegan-iqa", "dsl-fiqa", "ifqa")
MODELS = (*SEED_MODELS, "tinyfqnet")
DEGRADED = ("astronaut_blurred.jpg", "astronaut_noisy.jpg", "astronaut_jpeg_q8.jpg")


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


@pytest.mark.parametrize("name", MODELS)
def test_sharp_face_scores_above_its_degraded_copies(name):
    from core import Scorer

    scorer = Scorer(name)
    sharp = scorer.assess(SAMPLES / "astronaut.jpg", faces="largest").faces[0].score
    for file in DEGRADED:
        if name == "tinyfqnet" and "jpeg" in file:
            continue  # recognition-oriented: dlib's embedding (its label source) barely reacts to JPEG blocking (model card)
        worse = scorer.assess(SAMPLES / file, faces="largest").faces[0].score
        assert sharp > worse + 0.02, (name, file, sharp, worse)


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
