"""StyleGAN2 generator: FIR op vs SciPy, original layout vs an independent reference forward,
GFPGAN clean layout key-for-key, K-code latent reference."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.signal import convolve2d

from core.models.stylegan2 import (
    StyleGAN2Config,
    StyleGAN2Generator,
    fir_kernel,
    load_stylegan2,
    upfirdn2d,
)

SQ2 = math.sqrt(2)


def ref_upfirdn(x: np.ndarray, k: np.ndarray, up: int, down: int, pad: tuple[int, int]) -> np.ndarray:
    """One channel, by the definition: zero insertion, zero padding, true convolution, decimation."""
    h, w = x.shape
    y = np.zeros((h * up, w * up))
    y[::up, ::up] = x
    y = np.pad(y, [(pad[0], pad[1]), (pad[0], pad[1])])
    return convolve2d(y, k, mode="valid")[::down, ::down]


@pytest.mark.parametrize("up,down,pad", [(1, 1, (1, 1)), (2, 1, (2, 1)), (1, 2, (1, 1)), (2, 1, (1, 2))])
def test_upfirdn2d_matches_definition(up, down, pad):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 7, 7)).astype(np.float32)
    k = rng.random((4, 4)).astype(np.float32)  # asymmetric: catches a missing flip
    got = upfirdn2d(torch.from_numpy(x), torch.from_numpy(k), up=up, down=down, pad=pad).numpy()
    for b in range(2):
        for c in range(3):
            assert np.allclose(got[b, c], ref_upfirdn(x[b, c], k, up, down, pad), atol=1e-5)


# ----------------------------------------------------------------------------- original (BasicSR) layout
SMALL = dict(out_size=16, style_dim=8, num_mlp=2, narrow=1 / 64)  # channels 8 everywhere


def original_state(cfg: StyleGAN2Config, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under the BasicSR StyleGAN2Generator names and (unscaled) conventions."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    ch, sd, log = cfg.channels(), {}, int(math.log2(cfg.out_size))
    for i in range(1, cfg.num_mlp + 1):
        sd[f"style_mlp.{i}.weight"], sd[f"style_mlp.{i}.bias"] = r(cfg.style_dim, cfg.style_dim) * 100, r(cfg.style_dim)

    def modconv(p, cin, cout, k):
        sd[f"{p}.weight"] = r(1, cout, cin, k, k)
        sd[f"{p}.modulation.weight"], sd[f"{p}.modulation.bias"] = r(cin, cfg.style_dim), 1 + 0.1 * r(cin)

    def styleconv(p, cin, cout):
        modconv(f"{p}.modulated_conv", cin, cout, 3)
        sd[f"{p}.weight"], sd[f"{p}.activate.bias"] = 0.1 * r(1), 0.1 * r(cout)

    def torgb(p, cin):
        modconv(f"{p}.modulated_conv", cin, 3, 1)
        sd[f"{p}.bias"] = 0.1 * r(1, 3, 1, 1)

    sd["constant_input.weight"] = r(1, ch[4], 4, 4)
    styleconv("style_conv1", ch[4], ch[4])
    torgb("to_rgb1", ch[4])
    cin = ch[4]
    for j, lg in enumerate(range(3, log + 1)):
        styleconv(f"style_convs.{2 * j}", cin, ch[2**lg])
        styleconv(f"style_convs.{2 * j + 1}", ch[2**lg], ch[2**lg])
        torgb(f"to_rgbs.{j}", ch[2**lg])
        cin = ch[2**lg]
    for i in range((log - 2) * 2 + 1):
        res = 2 ** ((i + 5) // 2)
        sd[f"noises.noise{i}"] = r(1, 1, res, res)
    return sd


def reference_original(sd, w_plus: torch.Tensor, style_dim: int) -> torch.Tensor:
    """The original generator's arithmetic, written out plainly (per sample, SciPy FIR)."""
    fir = fir_kernel().numpy() * 4

    def modconv(x, p, style, demod, up=False):
        w = sd[f"{p}.weight"][0]
        cout, cin, k, _ = w.shape
        s = style @ (sd[f"{p}.modulation.weight"] / math.sqrt(style_dim)).T + sd[f"{p}.modulation.bias"]
        w = w / math.sqrt(cin * k * k) * s[None, :, None, None]
        if demod:
            w = w / torch.sqrt((w**2).sum((1, 2, 3)) + 1e-8)[:, None, None, None]
        if up:
            o = F.conv_transpose2d(x[None], w.transpose(0, 1), stride=2)[0].numpy()
            return torch.from_numpy(np.stack([ref_upfirdn(c, fir, 1, 1, (1, 1)) for c in o])).float()
        return F.conv2d(x[None], w, padding=k // 2)[0]

    def styleconv(x, p, style, noise, up=False):
        o = modconv(x, f"{p}.modulated_conv", style, True, up) + sd[f"{p}.weight"] * noise[0]
        return F.leaky_relu(o + sd[f"{p}.activate.bias"][:, None, None], 0.2) * SQ2

    def torgb(x, p, style, skip=None):
        o = modconv(x, f"{p}.modulated_conv", style, False) + sd[f"{p}.bias"][0]
        if skip is not None:
            o = o + torch.from_numpy(np.stack([ref_upfirdn(c, fir, 2, 1, (2, 1)) for c in skip.numpy()])).float()
        return o

    outs = []
    n_rgb = len({k.split(".")[1] for k in sd if k.startswith("to_rgbs.")})
    for b in range(w_plus.shape[0]):
        w = w_plus[b]
        x = styleconv(sd["constant_input.weight"][0], "style_conv1", w[0], sd["noises.noise0"][0])
        skip = torgb(x, "to_rgb1", w[1])
        for j in range(n_rgb):
            i = 1 + 2 * j
            x = styleconv(x, f"style_convs.{2 * j}", w[i], sd[f"noises.noise{i}"][0], up=True)
            x = styleconv(x, f"style_convs.{2 * j + 1}", w[i + 1], sd[f"noises.noise{i + 1}"][0])
            skip = torgb(x, f"to_rgbs.{j}", w[i + 2], skip)
        outs.append(skip)
    return torch.stack(outs)


def test_original_layout_reproduces_reference_forward():
    cfg = StyleGAN2Config(**SMALL)
    sd = original_state(cfg)
    gen = load_stylegan2(sd)  # auto-detects "original", converts, FIR up-sampling
    assert gen.cfg.upsampler == "fir" and gen.num_latent == 6 and gen.cfg.num_mlp == 2
    w = torch.randn(2, gen.num_latent, 8)
    with torch.no_grad():
        got = gen.synthesis(w)
    want = reference_original(sd, w, 8)
    assert got.shape == (2, 3, 16, 16)
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-4), (got - want).abs().max()
    # mapping network: pixel norm, then per layer leaky(x W lr/sqrt(in) + b lr) * sqrt(2)
    z = torch.randn(3, 8)
    x = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
    for i in (1, 2):
        x = F.leaky_relu(x @ (sd[f"style_mlp.{i}.weight"] * 0.01 / math.sqrt(8)).T + sd[f"style_mlp.{i}.bias"] * 0.01, 0.2) * SQ2
    with torch.no_grad():
        assert torch.allclose(gen.mapping(z), x, atol=1e-5)


def test_bilinear_upsampler_differs_from_fir_but_only_slightly():
    sd = original_state(StyleGAN2Config(**SMALL))
    fir, bil = load_stylegan2(sd), load_stylegan2(sd, upsampler="bilinear")
    w = torch.randn(1, fir.num_latent, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = fir.synthesis(w), bil.synthesis(w)
    assert not torch.allclose(a, b, atol=1e-3)
    assert F.cosine_similarity(a.flatten(), b.flatten(), dim=0) > 0.5


# ----------------------------------------------------------------------------- GFPGAN clean layout
def gfpgan_clean_keys(out_size=512, cm=1, style_dim=512, num_mlp=8) -> dict[str, tuple]:
    """Key -> shape of GFPGAN's StyleGAN2GeneratorClean, enumerated from its layout (not from our module)."""
    ch = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm, 512: 32 * cm}
    keys = {}
    for i in range(num_mlp):
        keys[f"style_mlp.{2 * i + 1}.weight"], keys[f"style_mlp.{2 * i + 1}.bias"] = (style_dim, style_dim), (style_dim,)

    def mc(p, cin, cout, k):
        keys[f"{p}.weight"] = (1, cout, cin, k, k)
        keys[f"{p}.modulation.weight"], keys[f"{p}.modulation.bias"] = (cin, style_dim), (cin,)

    keys["constant_input.weight"] = (1, 512, 4, 4)
    mc("style_conv1.modulated_conv", 512, 512, 3)
    keys["style_conv1.weight"], keys["style_conv1.bias"] = (1,), (1, 512, 1, 1)
    mc("to_rgb1.modulated_conv", 512, 3, 1)
    keys["to_rgb1.bias"] = (1, 3, 1, 1)
    cin, log = 512, int(math.log2(out_size))
    for j, lg in enumerate(range(3, log + 1)):
        c = ch[2**lg]
        for n, (a, b) in enumerate(((cin, c), (c, c))):
            mc(f"style_convs.{2 * j + n}.modulated_conv", a, b, 3)
            keys[f"style_convs.{2 * j + n}.weight"], keys[f"style_convs.{2 * j + n}.bias"] = (1,), (1, b, 1, 1)
        mc(f"to_rgbs.{j}.modulated_conv", c, 3, 1)
        keys[f"to_rgbs.{j}.bias"] = (1, 3, 1, 1)
        cin = c
    for i in range((log - 2) * 2 + 1):
        r = 2 ** ((i + 5) // 2)
        keys[f"noises.noise{i}"] = (1, 1, r, r)
    return keys


@pytest.mark.parametrize("cm", [1, 2])
def test_gfpgan_clean_checkpoint_loads_key_for_key(cm, tmp_path):
    shapes = gfpgan_clean_keys(cm=cm)
    gen = StyleGAN2Generator(StyleGAN2Config(channel_multiplier=cm, upsampler="bilinear"))
    own = {k: tuple(v.shape) for k, v in gen.state_dict().items() if k != "mean_latent"}
    assert own == shapes  # same names, same shapes: no missing or unexpected keys
    params = sum(math.prod(s) for k, s in shapes.items() if not k.startswith("noises."))
    assert params == sum(p.numel() for p in gen.parameters())
    assert round(params / 1e6, 1) == {1: 24.9, 2: 30.3}[cm]  # anchors.md 4.2 (computed from the layout)
    if cm == 1:  # a GFPGANv1.4-style restorer checkpoint: decoder under stylegan_decoder.*, in params_ema
        from safetensors.torch import save_file

        torch.manual_seed(0)
        sd = {f"stylegan_decoder.{k}": torch.randn(s) * 0.02 for k, s in shapes.items()}
        sd["conv_body_first.weight"] = torch.zeros(1)
        loaded = load_stylegan2({"params_ema": sd})
        assert loaded.cfg.upsampler == "bilinear" and loaded.cfg.channel_multiplier == 1
        assert torch.equal(loaded.style_convs[3].bias, sd["stylegan_decoder.style_convs.3.bias"])
        save_file({k: v for k, v in loaded.state_dict().items()}, str(tmp_path / "g.safetensors"))
        again = load_stylegan2(tmp_path / "g.safetensors", layout="clean")
        assert torch.equal(again.mean_latent, loaded.mean_latent)


def test_wrong_checkpoint_is_a_clear_error():
    from core.errors import CheckpointError

    sd = original_state(StyleGAN2Config(**SMALL))
    del sd["to_rgbs.1.bias"]
    with pytest.raises(CheckpointError, match="missing"):
        load_stylegan2(sd)


# ----------------------------------------------------------------------------- K-code latent reference
def test_k_code_reference_uses_only_the_first_k_codes():
    torch.manual_seed(0)
    gen = StyleGAN2Generator(StyleGAN2Config(out_size=32, style_dim=16, num_mlp=2, narrow=1 / 32)).eval()
    gen.compute_mean_latent(256)
    k = 5
    w = torch.randn(2, gen.num_latent, 16)
    with torch.no_grad():
        ref, feats = gen.latent_reference(w, k)
        w2 = w.clone()
        w2[:, k:] += torch.randn_like(w2[:, k:])  # codes the reference must ignore
        ref2, _ = gen.latent_reference(w2, k)
        w3 = w.clone()
        w3[:, k - 1] += 1.0  # the last code it uses
        ref3, feats3 = gen.latent_reference(w3, k)
        full = gen.synthesis(w)
    assert torch.equal(ref, ref2)
    assert not torch.allclose(ref, ref3)
    assert not torch.allclose(ref, full)  # the reference is not the reconstruction
    # code 4 feeds the second conv at 16 px: 4 and 8 px features are untouched by it
    assert torch.equal(feats[8], feats3[8]) and not torch.equal(feats[16], feats3[16])
    assert {r: tuple(f.shape[1:]) for r, f in feats.items()} == {4: (16, 4, 4), 8: (16, 8, 8), 16: (16, 16, 16), 32: (16, 32, 32)}
    with pytest.raises(ValueError, match="K must be"):
        gen.latent_reference(w, 0)
