import json

import numpy as np
import pytest
import torch

from core.errors import CheckpointError
from core.faces import FaceDetector
from core.faces.robust import (
    WEIGHTS,
    RobustConfig,
    RobustDetector,
    RobustFaceNet,
    decode,
    load_robust,
    prepare,
    save_robust,
)
from core.train.robust_face import TrainConfig, face_free_crop, focal_loss, make_canvas, targets


def test_shapes_and_size():
    m = RobustFaceNet()
    heat, size, off = m(torch.zeros(2, 3, 256, 320))
    assert heat.shape == (2, 1, 64, 80) and size.shape == (2, 2, 64, 80) and off.shape == (2, 2, 64, 80)
    assert 50_000 < sum(p.numel() for p in m.parameters()) < 300_000  # compact: CPU-trainable


def test_targets_decode_roundtrip():
    boxes = [np.array([[40, 60, 120, 150], [150, 20, 190, 70]], np.float32), np.zeros((0, 4), np.float32)]
    t = targets(boxes, 256)
    assert t["mask"][0].sum() == 2 and t["mask"][1].sum() == 0 and t["heat"][0].max() == 1.0
    logits = torch.logit(t["heat"].clamp(1e-4, 1 - 1e-4))
    out = decode(logits, t["wh"], t["off"], threshold=0.5)
    assert len(out[1]) == 0 and len(out[0]) == 2
    got = sorted(out[0], key=lambda b: b[0])
    np.testing.assert_allclose(np.array(got)[:, :4], boxes[0], atol=0.5)


def test_focal_loss_prefers_right_answer():
    target = torch.zeros(1, 1, 8, 8)
    target[0, 0, 3, 4] = 1.0
    good = torch.full_like(target, -6.0)
    good[0, 0, 3, 4] = 6.0
    assert focal_loss(good, target) < 0.01 < focal_loss(-good, target)


def test_canvases_and_negatives(astronaut, astronaut_face):
    box = np.array([astronaut_face.box], np.float32)
    pool = [(astronaut, box, "clean", 0)]
    rng = np.random.default_rng(0)
    cfg = TrainConfig(negative_prob=0.3, mosaic_prob=0.3)
    kinds = {"neg": 0, "one": 0, "many": 0}
    for _ in range(40):
        img, b = make_canvas(pool, rng, cfg)
        assert img.shape == (256, 256, 3) and img.dtype == np.uint8 and b.shape[1] == 4
        kinds["neg" if len(b) == 0 else "one" if len(b) == 1 else "many"] += 1
        if len(b):
            assert ((b[:, 0] + b[:, 2]) / 2).max() < 256
    assert all(v > 0 for v in kinds.values())
    crop = face_free_crop(astronaut, box, np.random.default_rng(1))
    assert crop is not None and crop.shape[0] >= 48
    centred = np.array([[70, 60, 180, 190]], np.float32)  # LFW-like: the face fills the middle
    strip = face_free_crop(np.zeros((250, 250, 3), np.uint8), centred, np.random.default_rng(0), min_side=48)
    assert strip is not None and min(strip.shape[:2]) >= 48


def test_save_load_roundtrip_and_errors(tmp_path):
    m = RobustFaceNet(RobustConfig(widths=(8, 16, 16, 24, 32), head=16))
    p = save_robust(m, tmp_path / "r.safetensors", {"note": "tiny"})
    back = load_robust(p)
    x = torch.rand(1, 3, 64, 64)
    m.eval()
    torch.testing.assert_close(back.eval()(x)[0], m(x)[0])
    assert json.loads(p.with_suffix(".json").read_text())["config"]["widths"] == [8, 16, 16, 24, 32]
    with pytest.raises(CheckpointError, match="missing"):
        load_robust(tmp_path / "none.safetensors")
    x, s = prepare(np.zeros((100, 250, 3), np.uint8), 320)
    assert x.shape[-1] % 32 == 0 and x.shape[-2] % 32 == 0 and s == pytest.approx(320 / 250)


def test_fallback_policy(monkeypatch, astronaut):
    blank = np.full((240, 240, 3), 127, np.uint8)

    class Fake:
        def detect(self, image):
            return [((60.0, 60.0, 180.0, 180.0), 0.9)]

    import core.faces.robust as robust

    monkeypatch.setattr(robust, "shipped_detector", lambda device="cpu": Fake())
    det = FaceDetector()
    faces = det.detect(blank)  # HOG finds nothing -> robust fallback
    assert len(faces) == 1 and faces[0].backend == "robust-cnn+dlib" and faces[0].confidence == 0.9
    assert faces[0].landmarks.shape == (68, 2)
    sharp = det.detect(astronaut)  # HOG succeeds -> no fallback
    assert sharp[0].backend == "dlib-hog+dlib"
    assert FaceDetector(fallback=None).detect(blank) == []
    assert FaceDetector(detector="robust").detect(astronaut)[0].backend == "robust-cnn+dlib"
    with pytest.raises(ValueError, match="fallback"):
        FaceDetector(fallback="magic")


def test_missing_weights_warn_and_keep_fast_path(monkeypatch, caplog, astronaut):
    import core.faces.robust as robust

    def boom(device="cpu"):
        raise CheckpointError("weights gone")

    monkeypatch.setattr(robust, "shipped_detector", boom)
    det = FaceDetector()
    assert det.detect(np.zeros((200, 200, 3), np.uint8)) == []
    assert "robust face detector unavailable" in caplog.text
    assert len(det.detect(astronaut)) == 1


@pytest.mark.skipif(not WEIGHTS.is_file(), reason="shipped robust-face weights not built yet")
def test_shipped_detector_finds_blurred_face(astronaut):
    from PIL import Image, ImageFilter

    det = RobustDetector(load_robust())
    for radius in (0, 3, 6):
        img = np.asarray(Image.fromarray(astronaut).filter(ImageFilter.GaussianBlur(radius)))
        found = det.detect(img)
        assert len(found) == 1, radius
        (x1, y1, x2, y2), _ = found[0]
        assert 100 < (x1 + x2) / 2 < 220 and 60 < (y1 + y2) / 2 < 190  # the astronaut's face
    assert det.detect(np.full((300, 300, 3), 90, np.uint8)) == []


@pytest.mark.data
@pytest.mark.skipif(not WEIGHTS.is_file(), reason="shipped robust-face weights not built yet")
def test_score_heavily_blurred_photos_scores_nearly_every_face(shared_data, tmp_path):
    """dlib HOG alone finds ~18 % of LFW faces after a 5-px Gaussian blur; with the fallback nearly all."""
    import random

    import pandas as pd
    from PIL import Image, ImageFilter

    from core.cli import main
    from core.data.build import identity_split

    files = sorted((shared_data / "lfw" / "images").glob("*/*.jpg"))
    split = identity_split({f.parent.name for f in files}, (0.8, 0.0, 0.2), seed=0)  # the detector's held-out people
    test = [f for f in files if split[f.parent.name] == "test"]
    random.Random(7).shuffle(test)
    folder = tmp_path / "blurred"
    folder.mkdir()
    for f in test[:25]:
        Image.open(f).filter(ImageFilter.GaussianBlur(5)).save(folder / f.name, quality=95)
    out = tmp_path / "s.csv"
    assert main(["score", str(folder), "--out", str(out), "-q"]) == 0
    df = pd.read_csv(out)
    per_file = df.groupby("path").status.first()
    assert (per_file == "ok").mean() >= 0.88, per_file.value_counts()
    assert (df[df.status == "ok"].backend == "robust-cnn+dlib").mean() > 0.5  # HOG mostly fails here
    assert main(["score", str(folder), "--fallback", "none", "--out", str(tmp_path / "hog.csv"), "-q"]) == 0
    hog = pd.read_csv(tmp_path / "hog.csv").groupby("path").status.first()
    assert (hog == "ok").mean() < (per_file == "ok").mean()


@pytest.mark.data
@pytest.mark.slow
def test_train_cli_smoke(shared_data, tmp_path):
    import shutil

    from core.cli import main

    photos = tmp_path / "photos"
    for person in sorted((shared_data / "lfw" / "images").iterdir())[:6]:
        shutil.copytree(person, photos / person.name)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("canvas: 128\nbatch: 4\nvariants: 1\nmodel:\n  widths: [8, 16, 16, 24, 32]\n  head: 16\n")
    out = tmp_path / "r.safetensors"
    assert main(["train", "robust-face", str(photos), "--config", str(cfg), "--minutes", "0.08", "--out", str(out), "--workers", "1"]) == 0
    model = load_robust(out)
    card = json.loads(out.with_suffix(".json").read_text())
    assert model.cfg.widths == (8, 16, 16, 24, 32) and card["steps"] > 0 and card["train"]["canvas"] == 128
    assert out.with_suffix(".teacher.parquet").is_file()


def test_hard_negative_strips_occluders_and_fine_tuning(astronaut, astronaut_face, tmp_path):
    from core.train.robust_face import _grow, _iou, _overlap, face_strip_box, occlude_face, train

    box = np.array([astronaut_face.box], np.float32)
    rng = np.random.default_rng(0)
    strips = [face_strip_box(astronaut.shape[:2], box, rng) for _ in range(40)]
    strips = [s for s in strips if s is not None]
    assert len(strips) > 10
    grown = _grow(box[0], 0.1)
    assert all(_overlap(s, grown) <= 0.02 for s in strips)  # they touch the face from outside, never cover it
    assert any(_iou(s, _grow(box[0], 0.6)) > 0 for s in strips)  # ... and sit right beside it (hair tops, ears)
    for _ in range(10):
        occ = occlude_face(astronaut, box[0], rng)
        changed = (occ != astronaut).any(axis=2)
        x1, y1, x2, y2 = (int(v) for v in box[0])
        assert 0 < changed[y1:y2, x1:x2].mean() <= 0.55 and changed.sum() == changed[max(0, y1 - 40):y2 + 40, max(0, x1 - 40):x2 + 40].sum()
    # fine-tuning starts from the given weights (and keeps their architecture)
    base = RobustFaceNet(RobustConfig(widths=(8, 16, 16, 24, 32), head=16))
    init = save_robust(base, tmp_path / "base.safetensors")
    pool = [(astronaut, box, "clean", 0)]
    cfg = TrainConfig(minutes=0.02, batch=2, canvas=64, init=str(init), strip_prob=1.0, negative_prob=0.5)
    model, _ = train(pool, cfg, out_path=tmp_path / "ft.safetensors")
    assert model.cfg.widths == (8, 16, 16, 24, 32)
    assert json.loads((tmp_path / "ft.json").read_text())["train"]["init"] == str(init)


def test_evaluation_certifies_negatives_and_splits_occlusion(astronaut, astronaut_face):
    from core.train.robust_face import evaluate_detection

    box = np.array([astronaut_face.box], np.float32)
    always = {"everywhere": lambda im: [(0, 0, im.shape[1], im.shape[0])], "truth": lambda im: [tuple(box[0])]}
    recall, fp = evaluate_detection(always, [(astronaut, box)], ("occlusion",), levels=(1, 5), negatives=6,
                                    face_check=lambda crop: crop.shape[1] > 150)
    truth = recall[recall.detector == "truth"].set_index(["degradation", "level"]).recall
    assert truth[("clean", 0)] == 1.0 and truth[("occlusion", 1)] == 1.0
    part = recall[recall.degradation == "occlusion<=50%face"]
    assert len(part) and (part.faces <= 1).all()  # only faces at most half covered count there
    row = fp.set_index("detector").loc["everywhere"]
    assert row.false_face_rate == 1.0 and row.crops + row.dropped_with_face <= 6
