"""StyleGAN-IQA: Table I shapes and derived parameter counts (paper config, on the meta device),
K-code latent reference, Eq. 6-11 losses by hand, the training-free variant."""
import math

import pytest
import torch

from core.models.stylegan_iqa import LossWeights, StyleGANIQA, stylegan_iqa_losses


@pytest.fixture(scope="module")
def paper():
    with torch.device("meta"):
        return StyleGANIQA("paper").eval()


def test_paper_config_reproduces_table_i(paper):
    x = torch.empty(1, 3, 512, 512, device="meta")
    with torch.no_grad():
        offsets, feats = paper.encode(x)
        ref, f_g = paper.latent_reference(offsets)
        g = paper.map2quality(f_g)
        e = paper.project(feats[3])
        mod = paper.modulation(e, g)
        score = paper.predict(feats[3], f_g)
    assert [tuple(f.shape[1:]) for f in feats] == [(256, 128, 128), (512, 64, 64), (1024, 32, 32), (2048, 16, 16)]
    assert tuple(offsets.shape) == (1, 16, 512)  # N = 16 W+ codes of 512
    assert tuple(ref.shape) == (1, 3, 512, 512) and tuple(f_g.shape) == (1, 32, 512, 512)  # Stage4: 32x512x512
    assert tuple(g.shape) == (1, 1024, 16, 16) and tuple(mod.shape) == (1, 1024, 16, 16)  # map2quality x5, modulation
    assert [m.out_features for m in paper.head if isinstance(m, torch.nn.Linear)] == [1024, 512, 1]
    assert paper.head[0].in_features == 2048 and tuple(score.shape) == (1,)  # concat 2048 -> GAP -> FC
    assert paper.cfg.k == 12 and paper.generator.cfg.channel_multiplier == 1
    # Table I: map2style4 (stage 4) drives the coarsest codes, map2style1 (stage 1) the finest
    assert paper.stage_of_code == [3] * 4 + [2] * 4 + [1] * 4 + [0] * 4


def derived_params() -> dict[str, int]:
    """Parameter counts written out from the architecture description (bias everywhere but ResNet)."""
    d = 512
    m2s = 0
    for cin, size in ((2048, 16), (1024, 32), (512, 64), (256, 128)):
        n = int(math.log2(size))
        block = (cin * d * 9 + d) + (n - 1) * (d * d * 9 + d) + (d * d + d)
        m2s += 4 * block
    m2q = 0
    for i in range(5):
        c = 32 * 2**i
        h = max(1, c // 16)
        cbam = (c * h + h) + (h * c + c) + (2 * 49 + 1)
        m2q += cbam + (c * 2 * c * 9 + 2 * c)
    return {
        "encoder": 25_557_032 - (2048 * 1000 + 1000),  # torchvision ResNet50 without its classifier
        "map2style": m2s,
        "map2quality": m2q,
        "project": 2048 * 1024 + 1024,
        "modulation": 2 * (1024 * 1024 * 9 + 1024),
        "head": (2048 * 1024 + 1024) + (1024 * 512 + 512) + (512 + 1),
    }


def test_paper_parameter_counts_match_derivation(paper):
    want = derived_params()
    got = {k: sum(p.numel() for p in getattr(paper, k).parameters()) for k in want}
    assert got == want
    gen = sum(p.numel() for p in paper.generator.parameters())
    assert round(gen / 1e6, 1) == 24.9  # frozen, not trained
    assert all(not p.requires_grad for p in paper.generator.parameters())


def test_tiny_is_lite_with_a_narrow_encoder_and_map2style():
    with torch.device("meta"):
        lite, tiny = StyleGANIQA("lite"), StyleGANIQA("tiny")
    x = torch.empty(1, 3, 256, 256, device="meta")
    with torch.no_grad():
        feats = tiny.encode(x)[1]
        assert [tuple(f.shape[1:]) for f in feats] == [(32, 64, 64), (64, 32, 32), (128, 16, 16), (256, 8, 8)]
        assert tuple(tiny.encode(x)[0].shape) == (1, 14, 128) and tuple(tiny(  # same W+ codes, same score shape
            {"aligned": x}).shape) == (1,)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # ResNet18 trunk at half width: every conv has a quarter of the weights (BatchNorm halves)
    assert count(tiny.encoder) == pytest.approx(count(lite.encoder) / 4, rel=0.01)
    m2s = tiny.map2style[0]  # a stage-4 (8x8, 256-channel) block: 3 convs 64 wide, then 64 -> 128
    assert [c.out_channels for c in m2s.convs if isinstance(c, torch.nn.Conv2d)] == [64, 64, 64]
    assert (m2s.linear.in_features, m2s.linear.out_features) == (64, 128)
    trained = count(tiny) - count(tiny.generator)
    assert 7.0e6 < trained < 7.6e6 and count(tiny) * 2 < 20 * 2**20  # fits the 20 MiB file budget in float16
    with pytest.raises(ValueError, match="narrowed encoder"):
        StyleGANIQA("tiny", encoder_pretrained=True)


@pytest.fixture(scope="module")
def lite():
    torch.manual_seed(0)
    return StyleGANIQA("lite").eval()


def test_lite_outputs_align_with_input(lite):
    x = torch.rand(2, 3, 256, 256)
    with torch.no_grad():
        out = lite.run(x, reconstruct=True)
    assert out["score"].shape == (2,)
    assert out["reference"].shape == x.shape and out["reconstruction"].shape == x.shape
    assert lite.info.input_size == 256 and lite.cfg.k == 10 and lite.generator.num_latent == 14
    with torch.no_grad():  # other crop sizes are resized to the model's input
        assert lite({"aligned": torch.rand(1, 3, 300, 300)}).shape == (1,)


def test_latent_reference_ignores_codes_after_k(lite):
    x = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        offsets, _ = lite.encode(x)
        ref, f_g = lite.latent_reference(offsets)
        changed = offsets.clone()
        changed[:, lite.cfg.k :] += 5.0
        ref2, f_g2 = lite.latent_reference(changed)
        changed[:, lite.cfg.k - 1] += 5.0
        ref3, _ = lite.latent_reference(changed)
    assert torch.equal(ref, ref2) and torch.equal(f_g, f_g2)
    assert not torch.allclose(ref, ref3)


def test_losses_hand_computed():
    x = torch.zeros(1, 3, 2, 2)
    out = {
        "input": x,
        "reconstruction": torch.full_like(x, 0.5),  # L2 (MSE) = 0.25
        "offsets": torch.tensor([[[3.0, 4.0], [0.0, 0.0]]]),  # norms 5 and 0 -> mean 2.5
        "score": torch.tensor([0.9]),
    }
    w = LossWeights(l2=2.0, percep=0.0, identity=1.0, reg=0.1, quality=3.0)
    ident = lambda t: torch.nn.functional.normalize(t.flatten(1) + torch.arange(12.0), dim=1)  # noqa: E731
    total, parts = stylegan_iqa_losses(out, torch.tensor([0.5]), weights=w, identity_fn=ident)
    e1 = torch.nn.functional.normalize(torch.arange(12.0), dim=0)
    e2 = torch.nn.functional.normalize(torch.arange(12.0) + 0.5, dim=0)
    want_id = 1 - float(e1 @ e2)
    assert parts["l2"] == pytest.approx(0.25) and parts["reg"] == pytest.approx(2.5) and parts["quality"] == pytest.approx(0.4)
    assert parts["identity"] == pytest.approx(want_id, abs=1e-6) and "percep" not in parts
    assert float(total) == pytest.approx(2 * 0.25 + want_id + 0.1 * 2.5 + 3 * 0.4, abs=1e-6)


def test_training_free_variant_scores_and_declares_lower_better():
    from core.models import create_model

    tf = create_model("stylegan-iqa-tf", device="cpu")
    assert tf.info.lower_better and tf.distance_name in ("lpips", "features", "ms-ssim")
    x = torch.rand(2, 3, 256, 256)
    with torch.no_grad():
        d = tf({"aligned": x})
        ref = tf.reference(x)
    assert d.shape == (2,) and bool(((d >= 0) & (d <= 1)).all())
    assert ref.shape == x.shape
    assert torch.allclose(tf.to_mos(d), 1 - d)
