"""IFQA: the public discriminator's layout and size, map alignment, FPRS labels, losses by hand."""
import math

import pytest
import torch

from core.models.ifqa import IFQA, diff_augment, discriminator_loss, fprs, load_official, primary_region_masks


def resblk_params(cin, cout):
    p = cin * cin * 9 + cin + cin * cout * 9 + cout + 4 * cin
    return p + (cin * cout if cin != cout else 0)


def test_paper_discriminator_size_and_official_keys(tmp_path):
    with torch.device("meta"):
        m = IFQA("paper")
    w = [3, 64, 128, 256, 512, 1024]
    want = sum(resblk_params(w[i], w[i + 1]) for i in range(5)) + 4 * resblk_params(1024, 1024)
    want += sum(resblk_params(a, b) for a, b in ((1024, 512), (512, 256), (256, 128), (128, 64), (64, 1)))
    assert sum(p.numel() for p in m.D.parameters()) == want == 105_172_833  # ~105 M, as the public model
    keys = set(m.D.state_dict())
    for k in ("encoder128.conv1x1.weight", "btn.3.norm2.weight", "decoder16.conv1x1.weight", "decoder256.0.conv2.bias"):
        assert k in keys
    assert "btn.0.conv1x1.weight" not in keys  # same width: identity shortcut, as in the checkpoint


def test_official_checkpoint_round_trip_and_wrong_file(tmp_path):
    import core.models.ifqa as ifqa_mod

    small = ifqa_mod.IFQA("lite")
    # an official-format file: {"D": state_dict}; load_official builds the paper size, so patch presets for speed
    torch.save({"D": small.D.state_dict()}, tmp_path / "IFQA_Metric.pth")
    orig = ifqa_mod.IFQA_PRESETS["paper"]
    ifqa_mod.IFQA_PRESETS["paper"] = ifqa_mod.IFQA_PRESETS["lite"]
    try:
        loaded = load_official(tmp_path / "IFQA_Metric.pth")
        x = torch.rand(1, 3, 128, 128)
        with torch.no_grad():
            assert torch.allclose(loaded.quality_map(x), small.eval().quality_map(x))
        torch.save({"D": {"foo": torch.zeros(1)}}, tmp_path / "bad.pth")
        from core.errors import CheckpointError

        with pytest.raises(CheckpointError, match="not an IFQA"):
            load_official(tmp_path / "bad.pth")
    finally:
        ifqa_mod.IFQA_PRESETS["paper"] = orig


def test_map_aligns_with_input_and_score_is_its_mean():
    torch.manual_seed(0)
    m = IFQA("lite").eval()
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        pmap = m.quality_map(x)
        score = m({"aligned": x})
        big = m.quality_map(torch.rand(1, 3, 200, 200))
    assert pmap.shape == (2, 1, 128, 128) and big.shape == (1, 1, 128, 128)
    assert bool(((pmap > 0) & (pmap < 1)).all())
    assert torch.allclose(score, pmap.mean((1, 2, 3)))


def test_mirror_average_scores_a_face_and_its_mirror_alike_and_is_saved(tmp_path):
    from core.models.checkpoint import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    plain = IFQA("lite").eval()
    m = IFQA("lite", mirror_average=True).eval()
    m.D.load_state_dict(plain.D.state_dict())
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        pmap, mirrored = m.quality_map(x), m.quality_map(x.flip(-1))
        by_hand = (plain.quality_map(x) + plain.quality_map(x.flip(-1)).flip(-1)) / 2
        s, s_plain, s_flip = m({"aligned": x}), plain({"aligned": x}), plain({"aligned": x.flip(-1)})
    assert torch.allclose(pmap, by_hand, atol=1e-6) and torch.allclose(mirrored, pmap.flip(-1), atol=1e-6)
    assert not torch.allclose(s_plain, s_flip, atol=1e-4)  # a plain D is not mirror-invariant ...
    assert torch.allclose(s, (s_plain + s_flip) / 2, atol=1e-6)  # ... the averaged score is the mean of both views
    back = load_checkpoint(save_checkpoint(m, tmp_path / "m.safetensors"), expect_model="ifqa")
    assert back.cfg.mirror_average and torch.allclose(back.eval()({"aligned": x}), s, atol=1e-6)


def test_cam_of_a_mirror_averaged_ifqa_covers_both_views():
    """The CAM layer sees the face and its mirror image as one batch of two: the heatmap averages both (flipped back),
    so the CAM of a mirrored face is the mirrored CAM - the first view alone would not be."""
    import numpy as np

    from core.analysis.explain import cam_heatmap

    torch.manual_seed(0)
    m = IFQA("lite", mirror_average=True).eval()
    face = (np.random.default_rng(0).random((128, 128, 3)) * 255).astype(np.uint8)
    heat, heat_mirrored = cam_heatmap(m, face), cam_heatmap(m, np.ascontiguousarray(face[:, ::-1]))
    assert heat.shape == (128, 128) and 0 <= heat.min() and heat.max() <= 1 and heat.std() > 0.01
    assert np.abs(heat_mirrored - heat[:, ::-1]).max() < 1e-3
    plain = IFQA("lite").eval()
    plain.D.load_state_dict(m.D.state_dict())
    one, one_mirrored = cam_heatmap(plain, face), cam_heatmap(plain, np.ascontiguousarray(face[:, ::-1]))
    assert np.abs(one_mirrored - one[:, ::-1]).max() > 0.05  # a plain D's CAM is not mirror-equivariant


def _face_landmarks(size=128):
    lm = torch.zeros(1, 68, 2)
    lm[0, 36:42] = torch.tensor([40.0, 50.0])  # left eye cluster
    lm[0, 36, 0] = 30.0
    lm[0, 42:48] = torch.tensor([88.0, 50.0])
    lm[0, 27:36] = torch.tensor([64.0, 70.0])
    lm[0, 48:68] = torch.tensor([64.0, 95.0])
    return lm


def test_primary_region_masks_and_fprs_labels():
    lm = _face_landmarks()
    mask = primary_region_masks(lm, 128)
    assert mask.shape == (1, 128, 128)
    assert mask[0, 50, 35] == 1 and mask[0, 95, 64] == 1 and mask[0, 10, 10] == 0 and mask[0, 120, 5] == 0
    nan = primary_region_masks(torch.full((1, 68, 2), float("nan")), 128)
    assert nan.sum() == 0  # missing landmarks: no region, never a crash
    real, fake = torch.ones(2, 3, 128, 128), torch.zeros(2, 3, 128, 128)
    masks = primary_region_masks(lm.expand(2, -1, -1), 128)
    mixed, labels = fprs(real, fake, masks, prob=1.0)
    assert torch.equal(labels[:, 0], 1 - masks) and torch.equal(mixed[:, 0], 1 - masks)
    _, none = fprs(real, fake, masks, prob=0.0)
    assert torch.equal(none, torch.ones_like(none))


def test_discriminator_loss_weights_primary_pixels():
    pmap = torch.tensor([[[[0.9, 0.2]]]])
    labels = torch.tensor([[[[1.0, 1.0]]]])
    primary = torch.tensor([[[0.0, 1.0]]])
    want = (-math.log(0.9) * 1 + -math.log(0.2) * 3) / 4
    assert float(discriminator_loss(pmap, labels, primary, region_weight=3.0)) == pytest.approx(want, rel=1e-5)
    assert float(discriminator_loss(pmap, labels)) == pytest.approx((-math.log(0.9) - math.log(0.2)) / 2, rel=1e-5)


def test_region_weighted_score():
    torch.manual_seed(0)
    m = IFQA("lite", region_weight=4.0).eval()
    x = torch.rand(1, 3, 128, 128)
    lm = _face_landmarks() / 128
    with torch.no_grad():
        pmap = m.quality_map(x)[:, 0]
        s = m({"aligned": x, "landmarks": lm})
        ex = m.extras({"aligned": x, "landmarks": lm})
    mask = primary_region_masks(lm * 128, 128)
    w = 1 + 3 * mask
    assert torch.allclose(s, (pmap * w).sum((1, 2)) / w.sum((1, 2)), atol=1e-6)
    assert torch.allclose(ex["primary_region_score"], (pmap * mask).sum((1, 2)) / mask.sum((1, 2)), atol=1e-6)


def test_diff_augment_moves_pixel_maps_with_their_image_and_adds_no_degradation():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 32, 32, generator=g)
    label = x[:, :1].clone()  # a per-pixel map equal to channel 0: it must stay equal under flips and shifts
    mask = (x[:, 1] > 0.5).float()
    y, (lab2, mask2) = diff_augment(x, [label, mask], ("flip", "translation"), torch.Generator().manual_seed(1))
    assert y.shape == x.shape and lab2.shape == label.shape and mask2.shape == mask.shape
    assert torch.equal(y[:, :1], lab2) and torch.equal((y[:, 1] > 0.5).float(), mask2)
    assert not torch.equal(y, x)  # something moved
    # flips and circular shifts only permute pixels: no value is blurred, resampled or quantised away
    assert torch.equal(y.flatten(1).sort(1).values, x.flatten(1).sort(1).values)
    # colour changes the image, not the maps, and keeps its spatial detail (a per-sample affine map of channels)
    z, (lab3,) = diff_augment(x, [label], ("color",), torch.Generator().manual_seed(1))
    assert torch.equal(lab3, label) and not torch.allclose(z, x)
    for i in range(len(x)):
        corr = torch.corrcoef(torch.stack([z[i].mean(0).flatten(), x[i].mean(0).flatten()]))[0, 1]
        assert corr > 0.99
    # the same stream gives the same transform (a resumed epoch repeats it); G's loss sees D through it
    a, _ = diff_augment(x, [], ("color", "flip", "translation"), torch.Generator().manual_seed(5))
    b, _ = diff_augment(x, [], ("color", "flip", "translation"), torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    xg = x.clone().requires_grad_(True)
    diff_augment(xg, [], ("color", "flip", "translation"), torch.Generator().manual_seed(5))[0].sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="cutout"):
        diff_augment(x, [], ("cutout",))


