"""Finished research trials (experiments/): the measurements their result CSVs and card notes quote still run."""
import json
import sys

import numpy as np
import pytest
import torch
from conftest import REPO, SAMPLES


def test_old_print_training_builds_and_merge(tmp_path):
    """The experiment's builds change only their options of the shipped build; a later call adds or replaces rows."""
    import pandas as pd

    from core.train.defaults import build_options, load_recipe
    from experiments.old_print_training import BUILDS, _merge

    TRAIN_BUILD = load_recipe().train_build
    seed1 = build_options(TRAIN_BUILD, BUILDS["default_seed1"])
    assert seed1[seed1.index("--seed") + 1] == "1" and seed1.count("--seed") == 1 and "-q" in seed1
    assert len(seed1) == len(TRAIN_BUILD) and "--extra-types" not in seed1
    both = build_options(TRAIN_BUILD, BUILDS["old_print_seed1"])
    assert both[both.index("--extra-types") + 1] == "old_print" and both[both.index("--seed") + 1] == "1"
    assert build_options(TRAIN_BUILD, {}) == TRAIN_BUILD
    old = tmp_path / "t.csv"
    pd.DataFrame({"model": ["m", "m"], "build": ["default", "old_print"], "srcc": [0.68, 0.59]}).to_csv(old, index=False)
    merged = _merge(old, pd.DataFrame({"model": ["m", "m"], "build": ["old_print", "default_seed1"], "srcc": [0.61, 0.66]}))
    assert merged.build.tolist() == ["default", "old_print", "default_seed1"] and merged.srcc.tolist() == [0.68, 0.61, 0.66]
    assert _merge(tmp_path / "none.csv", merged).equals(merged)


def test_ifqa_trial_measures_a_run_like_the_bundled_sample_check(tmp_path):
    """experiments/ifqa_trial.py (the IFQA trials table): held-out metrics from a labels file, the astronaut and
    two_faces scores the sample test asserts, and ladders that start at the sharp photo; shipped weights have no log."""
    import pandas as pd
    from PIL import Image

    from core import Scorer
    from core.faces import FaceDetector, align_gfiqa
    from core.io import load_image
    from experiments.ifqa_trial import BLUR_RADII, JPEG_QUALITIES, measure

    face = FaceDetector().detect(load_image(SAMPLES / "astronaut.jpg"))[0]
    rows = []
    for mos, kind in ((1.0, ""), (0.6, "_jpeg_q8"), (0.4, "_noisy"), (0.2, "_blurred")):  # aligned crops as a build writes them
        Image.fromarray(align_gfiqa(load_image(SAMPLES / f"astronaut{kind}.jpg"), face, 256).image).save(tmp_path / f"a{kind}.png")
        rows.append({"image": f"a{kind}.png", "mos": mos})
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    row = measure(REPO / "core" / "assets", tmp_path / "labels.csv")
    assert np.isnan(row["epoch"]) and np.isnan(row["val_srcc"]) and -1 <= row["heldout_srcc"] <= 1
    sharp = Scorer("ifqa").assess(load_image(SAMPLES / "astronaut.jpg")).faces[0].score
    assert row["astronaut_sharp"] == pytest.approx(sharp, abs=1e-4) and row["two_faces_sharp"] > row["two_faces_blurred"]
    ladders = json.loads(row["ladders"])
    assert len(ladders) == len(BLUR_RADII) + len(JPEG_QUALITIES) and ladders["blur_0"] == pytest.approx(sharp, abs=2e-3)


def test_test_scale_probe_scores_the_trained_size_like_the_model(tmp_path, monkeypatch):
    """experiments/ifqa_test_scale.py: at the trained size its scores are the model's own; other sizes and the averages
    are what the CSV rows report, one row per size per checkpoint."""

    import numpy as np
    import pandas as pd
    from PIL import Image

    from core.models import create_model
    from experiments import ifqa_test_scale

    repo = REPO

    weights = repo / "core" / "assets" / "ifqa.safetensors"
    g = torch.Generator().manual_seed(0)
    imgs = torch.nn.functional.avg_pool2d(torch.rand(4, 3, 256, 256, generator=g), 3, 1, 1)
    trained, scores = ifqa_test_scale.scale_scores(weights, imgs, [128, 256])
    model = create_model("ifqa", weights=weights).eval()
    assert trained == model.cfg.input_size == 128 and list(scores) == ["128", "256", "128+256"]
    with torch.inference_mode():
        assert np.allclose(scores["128"], model({"aligned": imgs}).numpy(), atol=1e-5)
    assert not np.allclose(scores["128"], scores["256"], atol=1e-3)
    assert np.allclose(scores["128+256"], (scores["128"] + scores["256"]) / 2)

    rows = []
    for i, (deg, blur) in enumerate((("clean", 0), ("jpeg", 1), ("gaussian_blur", 2), ("gaussian_noise", 1), ("clean", 0), ("jpeg", 2))):
        img = (imgs[i % 4].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        Image.fromarray(img).save(tmp_path / f"{i}.png")
        rows.append({"image": f"{i}.png", "mos": 1.0 - 0.2 * blur + 0.01 * i, "degradation": deg})
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    out = tmp_path / "scale.csv"
    monkeypatch.setattr(sys, "argv", ["x", "--labels", str(tmp_path / "labels.csv"), "--weights", str(weights), str(weights),
                                      "--sizes", "128", "192", "--out", str(out)])
    ifqa_test_scale.main()
    df = pd.read_csv(out)
    assert list(df.test_size.astype(str)) == ["128", "192", "128+192"] * 2 and set(df.run) == {0, 1}
    assert (df.weights == "assets/ifqa.safetensors").all() and df.srcc.between(-1, 1).all()
    assert df.groupby("test_size").srcc.nunique().max() == 1  # the same checkpoint twice: the same numbers
