import io
import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from core import CheckpointError, ModelNotFoundError, create_model, list_models, model_info
from core.models.checkpoint import load_checkpoint, save_checkpoint
from core.models.perceptual import FACE_3D, POSE_POINTS, euler_degrees, head_rotation, jpeg_features


def test_registry_lists_declared_models():
    names = [i.name for i in list_models()]
    assert names == sorted(names)
    assert {"perceptual-blur", "perceptual-jpeg", "perceptual-pose", "perceptual-combined"} <= set(names)
    for info in list_models():
        lo, hi = info.score_range
        assert lo < hi and isinstance(info.lower_better, bool) and info.inputs
        from core.assets import shipped_weights

        # a trainable model loads its shipped weights; one without (resnet50-iqa) is built untrained only when asked
        m = create_model(info.name, device="cpu", pretrained=bool(shipped_weights(info.name)) or not info.trainable)
        assert m.info.name == info.name and not m.training
    with pytest.raises(ModelNotFoundError, match="unknown model 'nope'; available: dsl-fiqa, ifqa, mobile-fiqa, perceptual-blur"):
        create_model("nope")


def test_checkpoint_roundtrip(tmp_path):
    m = create_model("perceptual-combined", device="cpu", blur_centre=1.5, blur_width=0.5)
    path = save_checkpoint(m, tmp_path / "combo")
    assert path.suffix == ".safetensors" and path.with_suffix(".json").is_file()
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["model"] == "perceptual-combined" and meta["config"] == {"blur_centre": 1.5, "blur_width": 0.5}
    back = create_model("perceptual-combined", weights=path, device="cpu")
    assert back.blur.centre.item() == 1.5 and back.blur.width.item() == 0.5
    for k, v in m.state_dict().items():
        torch.testing.assert_close(back.state_dict()[k], v)


def test_checkpoint_errors(tmp_path):
    m = create_model("perceptual-blur", device="cpu")
    path = save_checkpoint(m, tmp_path / "blur.safetensors")
    with pytest.raises(CheckpointError, match="for model 'perceptual-blur', not 'perceptual-combined'"):
        create_model("perceptual-combined", weights=path)
    pt = tmp_path / "evil.pth"
    pt.write_bytes(b"\x80\x04 pickle")
    with pytest.raises(CheckpointError, match="pickle-based checkpoints are refused"):
        load_checkpoint(pt)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.safetensors")
    # tampered tensor file -> sha256 mismatch
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(data))
    bad.with_suffix(".json").write_text(path.with_suffix(".json").read_text())
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        load_checkpoint(bad)
    # right format, wrong tensors for the model
    from safetensors.torch import save_file

    wrong = tmp_path / "wrong.safetensors"
    save_file({"centre": torch.zeros(3), "extra": torch.zeros(1)}, str(wrong))
    cfg = json.loads(path.with_suffix(".json").read_text())
    cfg.pop("sha256")
    wrong.with_suffix(".json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"unexpected \['extra'\].*shape mismatch centre"):
        load_checkpoint(wrong)
    (tmp_path / "nocfg.safetensors").write_bytes(path.read_bytes())
    with pytest.raises(CheckpointError, match="missing checkpoint config"):
        load_checkpoint(tmp_path / "nocfg.safetensors")


def _rot(yaw, pitch):
    y, p = np.deg2rad(yaw), np.deg2rad(pitch)
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    return ry @ rx


@pytest.mark.parametrize("yaw,pitch", [(0, 0), (30, 0), (-45, 10), (20, -15), (60, 0)])
def test_pose_recovers_known_rotation(yaw, pitch):
    pts3 = np.array(FACE_3D)
    proj = (pts3 @ _rot(yaw, pitch).T)[:, :2] * 0.4 + 200  # scaled orthographic camera
    rot = head_rotation(torch.tensor(proj[None]), torch.tensor(pts3))
    y, p, _ = euler_degrees(rot)
    assert y.item() == pytest.approx(yaw, abs=0.5) and p.item() == pytest.approx(pitch, abs=0.5)
    model = create_model("perceptual-pose", device="cpu")
    lms = torch.zeros(1, 68, 2, dtype=torch.float64)
    lms[0, list(POSE_POINTS)] = torch.tensor(proj)
    score = model({"landmarks": lms}).item()
    assert score == pytest.approx(np.cos(np.deg2rad(yaw)) * np.cos(np.deg2rad(pitch)), abs=0.01)


def _jpeg(arr, q):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=q)
    return np.array(Image.open(buf).convert("RGB"))


def test_jpeg_quality_falls_with_compression(astronaut):
    model = create_model("perceptual-jpeg", device="cpu")
    crop = astronaut[64:192, 128:256]
    scores = []
    for q in (95, 50, 20, 8, 3):
        t = torch.from_numpy(_jpeg(crop, q)).permute(2, 0, 1)[None].float() / 255
        scores.append(model({"grid_crop": t}).item())
    assert all(a > b for a, b in zip(scores, scores[1:])), scores
    assert scores[0] > 0.85 and scores[-1] < 0.3
    # blockiness sits on the 8x8 grid: shifting the crop by 4 px hides it
    grey = torch.from_numpy(_jpeg(crop, 5).astype(np.float32).mean(2))[None, None]
    b_on, _, _ = jpeg_features(grey)
    b_off, _, _ = jpeg_features(grey[..., 4:-4, 4:-4])
    assert b_on.item() > 1.5 * b_off.item()


def test_blur_quality_falls_with_blur(astronaut, astronaut_face):
    from core.api import Scorer

    scorer = Scorer("perceptual-blur", device="cpu")
    scores = []
    for r in (0, 1, 2, 4):
        img = np.asarray(Image.fromarray(astronaut).filter(ImageFilter.GaussianBlur(r)))
        scores.append(scorer.score_faces(img, [astronaut_face])[0].score)
    assert all(a > b for a, b in zip(scores, scores[1:])), scores
    assert scores[0] > 0.6 and scores[-1] < 0.15


def test_combined_is_geometric_mean_and_batches(astronaut, astronaut_face):
    from core.api import Scorer, prepare_faces

    scorer = Scorer("perceptual-combined", device="cpu")
    blurred = np.asarray(Image.fromarray(astronaut).filter(ImageFilter.GaussianBlur(2)))
    one = scorer.score_faces(astronaut, [astronaut_face])[0]
    ex = one.extras
    assert one.score == pytest.approx((ex["blur"] * ex["jpeg"] * ex["pose"]) ** (1 / 3), rel=1e-5)
    batch, _, _ = prepare_faces(astronaut, [astronaut_face] * 3, scorer.model)
    assert batch["aligned"].shape == (3, 3, 512, 512) and batch["grid_crop"].shape == (3, 3, 128, 128)
    assert batch["landmarks"].shape == (3, 68, 2)
    out = scorer.model(batch)
    assert out.shape == (3,) and torch.allclose(out, out[0].expand(3))
    assert scorer.score_faces(blurred, [astronaut_face])[0].score < one.score - 0.2


def test_info_declares_paper_and_range():
    info = model_info("perceptual-jpeg")
    assert info.score_range == (0.0, 1.0) and info.lower_better is False
    assert "Wang" in info.paper and info.inputs == ("grid_crop",)
