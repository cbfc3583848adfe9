"""Run files (configs/train/<model>/<dataset>.yaml) and multi-process training through torchrun.

The DDP check trains the same small ResNet regressor once in one process and once in two
gloo processes (each takes half of every global batch; DistributedDataParallel averages the
gradients) and asks for the same validation metrics within BatchNorm's per-process noise.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
RUNS = sorted((ROOT / "configs" / "train").glob("*/*.yaml"))


def test_every_model_has_run_files_for_the_papers_datasets():
    have = {(p.parent.name, p.stem) for p in RUNS}
    for model in ("stylegan-iqa", "dsl-fiqa", "resnet50-iqa"):
        for ds in ("gfiqa-20k", "cgfiqa-40k", "piq23", "lfw-bench"):
            assert (model, ds) in have, f"configs/train/{model}/{ds}.yaml missing"
    assert ("ifqa", "lfw-bench") in have and ("tinyfqnet", "lfw") in have


@pytest.mark.parametrize("path", RUNS, ids=[f"{p.parent.name}/{p.stem}" for p in RUNS])
def test_run_files_parse_into_checked_configs(path):
    raw = yaml.safe_load(path.read_text())
    assert raw["model"] == path.parent.name
    if raw["model"] == "tinyfqnet":
        from core.train.tinyfqnet import PRESETS

        assert raw["train"]["lr"] == 0.01 and raw["train"]["epochs"] == 17 and raw["train"]["step_epochs"] == 5
        from core.data.recognition_labels import LabelConfig

        assert set(raw["train"]) <= set(vars(PRESETS["paper"]))
        assert set(raw.get("labels") or {}) <= set(vars(LabelConfig()))
        return
    if raw["model"] == "mobile-fiqa":  # its own trainer: frozen features, heads chosen on rated + synthetic val
        from core.train.mobile import MobileTrainConfig

        cfg = MobileTrainConfig.from_yaml(path)
        assert cfg.backbone == "mobilenet_v2" and len(cfg.recipes) >= 1 and 0.0 in cfg.mixes
        return
    from core.train.config import load_run_config

    run = load_run_config(path)
    assert run.preset in ("paper", "lite") and run.train is not None
    if run.model == "stylegan-iqa" and run.preset == "paper":  # GFIQA section VI-A
        t = run.train
        assert (t.epochs, t.batch, t.lr, t.step_epochs, t.gamma) == (25, 16, 5e-5, 10, 0.1)
        assert t.model["config"] == "paper"


def test_run_file_errors_name_the_problem(tmp_path):
    from core.errors import FaceIQAError
    from core.train.config import load_run_config

    bad = tmp_path / "bad.yaml"
    bad.write_text("model: stylegan-iqa\ndataset: x.csv\ntrain: {lr: 1.0e-4, epoch: 3}\n")
    with pytest.raises(FaceIQAError, match=r"unknown training keys \['epoch'\]"):
        load_run_config(bad)
    bad.write_text("model: stylegan-iqa\ndatset: x.csv\n")
    with pytest.raises(FaceIQAError, match="unknown keys"):
        load_run_config(bad)
    bad.write_text("model: stylegan-iqa\ndataset: x.csv\npreset: huge\n")
    with pytest.raises(FaceIQAError, match="unknown preset 'huge'"):
        load_run_config(bad)


def test_tinyfqnet_run_file_errors_name_the_section(tmp_path, capsys):
    from core.cli import main

    bad = tmp_path / "tfq.yaml"
    for text, msg in (("model: tinyfqnet\nlabels: {variant: 9}\n", "unknown labels keys ['variant']"),
                      ("model: tinyfqnet\ntrain: {epoch: 9}\n", "unknown train keys ['epoch']"),
                      ("model: tinyfqnet\ndamage: {kind: [jpeg]}\n", "unknown damage keys ['kind']"),
                      ("model: ifqa\n", "trains 'ifqa', not tinyfqnet")):
        bad.write_text(text)
        assert main(["train", "tinyfqnet", str(tmp_path), "--config", str(bad), "--out", str(tmp_path / "run")]) == 1
        assert msg in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before any work


def test_tinyfqnet_label_stage_gets_absolute_paths(tmp_path, monkeypatch):
    """The resumable label table is keyed by photo path: `../data` and `/abs/data` must name the same rows."""
    from PIL import Image

    import core.data.recognition_labels
    from core.cli import main

    for person in ("ann", "bob"):
        (tmp_path / "photos" / person).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "photos" / person / "1.jpg")
    seen = []

    class Stop(Exception):
        pass

    def fake_labels(photos, people, out, cfg, workers=None):
        seen.extend(map(str, photos))
        raise Stop

    monkeypatch.setattr(core.data.recognition_labels, "build_recognition_labels", fake_labels)
    monkeypatch.chdir(tmp_path / "photos" / "ann")
    with pytest.raises(Stop):
        main(["train", "tinyfqnet", "../../photos", "--holdout", "0", "--val", "0.5", "--out", str(tmp_path / "run")])
    assert seen and all(os.path.isabs(p) and p.startswith(str(tmp_path / "photos")) and ".." not in p for p in seen)


@pytest.fixture(scope="module")
def blur_ladder(tmp_path_factory, astronaut, astronaut_face):
    """64 px face crops under Gaussian blur sigma 0..3 with small shifts; MOS = 1 - sigma / 3."""
    import cv2

    out = tmp_path_factory.mktemp("ladder")
    x1, y1, x2, y2 = (int(v) for v in astronaut_face.box)
    pad = (x2 - x1) // 3
    face = astronaut[max(0, y1 - pad) : y2 + pad, max(0, x1 - pad) : x2 + pad]
    rng = np.random.default_rng(0)
    rows = []
    for i in range(64):
        sigma = float(rng.uniform(0, 3))
        dx, dy = rng.integers(0, 8, 2)
        img = cv2.resize(face[dy:, dx:], (64, 64), interpolation=cv2.INTER_AREA)
        if sigma > 0.2:
            img = cv2.GaussianBlur(img, (0, 0), sigma)
        name = f"f{i:03d}.png"
        cv2.imwrite(str(out / name), img[..., ::-1])
        rows.append({"image": name, "mos": round(1 - sigma / 3, 4), "split": "val" if i % 4 == 0 else "train"})
    pd.DataFrame(rows).to_csv(out / "labels.csv", index=False)
    run = out / "run.yaml"
    run.write_text("model: resnet50-iqa\ndataset: labels.csv\npreset: lite\n"
                   "train: {epochs: 3, batch: 8, lr: 1.0e-3, step_epochs: 0, model: {input_size: 64}}\n")
    return out


def _train(args, cwd, env, nproc=1):
    cmd = [sys.executable, "-m", "core.cli", "train", "model", *args]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m", "core.cli",
               "train", "model", *args]
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return r


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(blur_ladder, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    run = blur_ladder / "run.yaml"
    labels = blur_ladder / "labels.csv"
    _train(["--config", str(run), "--labels", str(labels), "--out", str(tmp_path / "one")], ROOT, env)
    _train(["--config", str(run), "--labels", str(labels), "--out", str(tmp_path / "two")], ROOT, env, nproc=2)
    one = pd.read_csv(tmp_path / "one" / "metrics.csv")
    two = pd.read_csv(tmp_path / "two" / "metrics.csv")
    assert len(one) == len(two) == 3  # rank 0 alone writes the log: no duplicated epochs
    assert one.val_srcc.iloc[-1] > 0.6, one  # it learns the blur ladder
    assert abs(one.val_srcc.iloc[-1] - two.val_srcc.iloc[-1]) < 0.1, (one, two)
    assert abs(one.train_loss.iloc[-1] - two.train_loss.iloc[-1]) < 0.1, (one, two)
    card = json.loads((tmp_path / "two" / "resnet50-iqa.json").read_text())
    assert card["extra"]["world_size"] == 2 and card["extra"]["train"]["model"]["input_size"] == 64


def test_ifqa_extra_reals_need_a_reals_table(tmp_path, capsys, monkeypatch):
    """`extra_reals` in a run file without --reals is refused before training; with it, only sharp clean training
    photos reach the trainer."""
    import pandas as pd

    import core.train.iqa
    from core.cli import main

    bench = pd.DataFrame({"image": [f"{s}_{d}.png" for s, d in (("a", "clean"), ("a", "blur"), ("b", "clean"), ("b", "jpeg"))],
                          "mos": [1.0, 0.4, 0.9, 0.3], "split": ["train", "train", "val", "val"], "source": ["a", "a", "b", "b"],
                          "degradation": ["clean", "blur", "clean", "jpeg"]})
    bench.to_csv(tmp_path / "bench.csv", index=False)
    pd.DataFrame({"image": ["r1.png", "r2.png", "b.png"], "mos": 1.0, "source": ["r1", "r2", "b"], "degradation": "clean",
                  "source_sharpness": [0.9, 0.3, 0.95]}).to_csv(tmp_path / "reals.csv", index=False)
    cfg = tmp_path / "ifqa.yaml"
    cfg.write_text("model: ifqa\ndataset: bench.csv\ntrain: {epochs: 1, extra_reals: 4, reals_min_sharpness: 0.8}\n")
    args = ["train", "model", "--config", str(cfg), "--labels", str(tmp_path / "bench.csv"), "--out", str(tmp_path / "run")]
    assert main(args) == 1
    assert "extra_reals = 4 needs --reals" in capsys.readouterr().err and not (tmp_path / "run").exists()
    seen = {}

    def fake_train(pairs, val, out, cfg, reals=None):
        seen.update(pairs=list(pairs.path), reals=reals)
        return None, pd.DataFrame()

    monkeypatch.setattr(core.train.iqa, "train_ifqa", fake_train)
    assert main([*args, "--reals", str(tmp_path / "reals.csv")]) == 0
    assert seen["reals"] == [str(tmp_path / "r1.png")]  # r2 too soft; b.png is a validation photo of the bench
    assert seen["pairs"] == [str(tmp_path / "a_blur.png")]
