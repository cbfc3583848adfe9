"""StyleGAN2 generator (the frozen prior of StyleGAN-IQA, seeds 000/001), our own implementation.

Written from the StyleGAN2 paper and the checkpoint layouts of the two 512-px families people
actually have (see ``shared/references/anchors.md`` section 4):

* ``"original"`` - BasicSR ``StyleGAN2Generator`` (e.g. GFPGAN's
  ``StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth``, the GFIQA paper's prior): equalised
  learning-rate weights stored unscaled, ``FusedLeakyReLU`` biases, FIR ([1,3,3,1]) up-sampling
  through transposed convolutions + ``upfirdn2d``.
* ``"clean"`` - GFPGAN ``StyleGAN2GeneratorClean`` (and the ``stylegan_decoder.*`` of
  GFPGANv1.3/1.4): weights pre-scaled, plain LeakyReLU, bilinear up-sampling.

Parameters are held in the clean naming and scaling (so a clean checkpoint loads with no
missing or unexpected keys); an original checkpoint is converted on load by the exact
re-parameterisation (:func:`original_to_clean`). The up-sampler is separate from the
layout: ``upsampler="fir"`` runs the original's transposed-conv + FIR path (a pure-PyTorch
``upfirdn2d``, no CUDA extension), so an original checkpoint reproduces its own images;
``"bilinear"`` is the clean path. :func:`load_stylegan2` picks the matching up-sampler.

The generator exposes what StyleGAN-IQA needs: ``synthesis(w_plus)`` with per-resolution
features, and the latent reference ``G(w_1..K, w_mean)`` (GFIQA Eq. 4): codes ``0..K-1`` from
the encoder, the rest replaced by the mean latent (our reading; the paper does not say how
the unused codes are filled). Noise is the checkpoint's fixed ``noises.noise*`` buffers, so a
latent reference is deterministic.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


# ----------------------------------------------------------------------------- FIR resampling
def fir_kernel(k=(1, 3, 3, 1)) -> torch.Tensor:
    k = torch.tensor(k, dtype=torch.float32)
    k = k[:, None] * k[None, :]
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Zero-insert up-sample by ``up``, pad (before, after; negative crops), FIR-filter, keep every ``down``-th.

    Same semantics as ``scipy.signal.upfirdn`` per axis and BasicSR's ``upfirdn2d``
    (a true convolution: the kernel is flipped).
    """
    b, c, h, w = x.shape
    if up > 1:
        y = x.new_zeros(b, c, h, up, w, up)
        y[:, :, :, 0, :, 0] = x
        x = y.view(b, c, h * up, w * up)
    p0, p1 = pad
    x = F.pad(x, [max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])
    if p0 < 0 or p1 < 0:
        x = x[:, :, max(-p0, 0) : x.shape[2] - max(-p1, 0), max(-p0, 0) : x.shape[3] - max(-p1, 0)]
    k = kernel.flip([0, 1]).to(x)[None, None].expand(c, 1, *kernel.shape)
    x = F.conv2d(x, k, groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x


# ----------------------------------------------------------------------------- layers (clean parameterisation)
class ModulatedConv2d(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, style_dim: int, demodulate: bool = True, upsample: bool = False,
                 upsampler: str = "fir"):
        super().__init__()
        self.cin, self.cout, self.k, self.demodulate, self.upsample, self.upsampler = cin, cout, k, demodulate, upsample, upsampler
        self.modulation = nn.Linear(style_dim, cin)
        nn.init.normal_(self.modulation.weight, std=1 / math.sqrt(style_dim))
        nn.init.ones_(self.modulation.bias)
        self.weight = nn.Parameter(torch.randn(1, cout, cin, k, k) / math.sqrt(cin * k * k))
        self.register_buffer("fir", fir_kernel() * 4, persistent=False)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        wgt = self.weight * self.modulation(style).view(b, 1, c, 1, 1)  # (B, Cout, Cin, k, k)
        if self.demodulate:
            wgt = wgt * torch.rsqrt(wgt.pow(2).sum([2, 3, 4]) + 1e-8).view(b, self.cout, 1, 1, 1)
        if self.upsample and self.upsampler == "fir":
            # transposed conv (stride 2) then the FIR smoothing of the original layout
            wt = wgt.transpose(1, 2).reshape(b * c, self.cout, self.k, self.k)
            out = F.conv_transpose2d(x.reshape(1, b * c, h, w), wt, stride=2, groups=b)
            out = out.view(b, self.cout, *out.shape[2:])
            return upfirdn2d(out, self.fir, pad=(1, 1))
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            h, w = x.shape[2:]
        out = F.conv2d(x.reshape(1, b * c, h, w), wgt.view(b * self.cout, c, self.k, self.k), padding=self.k // 2, groups=b)
        return out.view(b, self.cout, *out.shape[2:])


class StyleConv(nn.Module):
    def __init__(self, cin: int, cout: int, style_dim: int, upsample: bool = False, upsampler: str = "fir"):
        super().__init__()
        self.modulated_conv = ModulatedConv2d(cin, cout, 3, style_dim, True, upsample, upsampler)
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength
        self.bias = nn.Parameter(torch.zeros(1, cout, 1, 1))

    def forward(self, x, style, noise):
        out = self.modulated_conv(x, style) * SQRT2 + self.weight * noise + self.bias
        return F.leaky_relu(out, 0.2)


class ToRGB(nn.Module):
    def __init__(self, cin: int, style_dim: int, upsample: bool = True, upsampler: str = "fir"):
        super().__init__()
        self.upsample, self.upsampler = upsample, upsampler
        self.modulated_conv = ModulatedConv2d(cin, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.register_buffer("fir", fir_kernel() * 4, persistent=False)

    def forward(self, x, style, skip=None):
        out = self.modulated_conv(x, style) + self.bias
        if skip is not None:
            if self.upsample:
                skip = (upfirdn2d(skip, self.fir, up=2, pad=(2, 1)) if self.upsampler == "fir"
                        else F.interpolate(skip, scale_factor=2, mode="bilinear", align_corners=False))
            out = out + skip
        return out


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, channels, size, size))


# ----------------------------------------------------------------------------- generator
@dataclass
class StyleGAN2Config:
    out_size: int = 512
    style_dim: int = 512
    num_mlp: int = 8
    channel_multiplier: float = 1.0  # GFIQA's prior: Cmul1 (Table I: 32 channels at 512 px)
    narrow: float = 1.0
    upsampler: str = "fir"  # "fir" (original layout) or "bilinear" (clean layout)

    def channels(self) -> dict[int, int]:
        n, cm = self.narrow, self.channel_multiplier
        base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm, 512: 32 * cm, 1024: 16 * cm}
        return {r: max(1, int(v * n)) for r, v in base.items()}


#: named sizes: the paper's prior and a lite one that trains/tests on a CPU
STYLEGAN2_PRESETS = {
    "paper": StyleGAN2Config(),
    "gfpgan-v1.4": StyleGAN2Config(channel_multiplier=2, upsampler="bilinear"),
    "lite": StyleGAN2Config(out_size=256, style_dim=128, num_mlp=4, narrow=0.125),
}


class StyleGAN2Generator(nn.Module):
    def __init__(self, cfg: StyleGAN2Config | None = None, **kw):
        super().__init__()
        cfg = cfg or StyleGAN2Config(**kw)
        if cfg.upsampler not in ("fir", "bilinear"):
            raise ValueError(f"upsampler must be 'fir' or 'bilinear', got {cfg.upsampler!r}")
        self.cfg = cfg
        ch = cfg.channels()
        self.log_size = int(math.log2(cfg.out_size))
        if 2**self.log_size != cfg.out_size or cfg.out_size < 8:
            raise ValueError(f"out_size must be a power of two >= 8, got {cfg.out_size}")
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.num_latent = self.log_size * 2 - 2  # 16 W+ codes at 512 px

        mlp: list[nn.Module] = []
        for _ in range(cfg.num_mlp):
            mlp += [nn.Linear(cfg.style_dim, cfg.style_dim), nn.LeakyReLU(0.2)]
        self.style_mlp = nn.Sequential(nn.Identity(), *mlp)  # index 0: pixel norm (keeps GFPGAN's key numbers 1, 3, ...)
        self.constant_input = ConstantInput(ch[4])
        self.style_conv1 = StyleConv(ch[4], ch[4], cfg.style_dim, upsampler=cfg.upsampler)
        self.to_rgb1 = ToRGB(ch[4], cfg.style_dim, upsample=False, upsampler=cfg.upsampler)
        self.style_convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            r = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise{i}", torch.randn(1, 1, r, r))
        cin = ch[4]
        for lg in range(3, self.log_size + 1):
            cout = ch[2**lg]
            self.style_convs.append(StyleConv(cin, cout, cfg.style_dim, upsample=True, upsampler=cfg.upsampler))
            self.style_convs.append(StyleConv(cout, cout, cfg.style_dim, upsampler=cfg.upsampler))
            self.to_rgbs.append(ToRGB(cout, cfg.style_dim, upsampler=cfg.upsampler))
            cin = cout
        self.register_buffer("mean_latent", torch.zeros(cfg.style_dim))  # w-bar; set by compute_mean_latent

    # -- mapping
    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        z = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)
        return self.style_mlp(z)

    @torch.no_grad()
    def compute_mean_latent(self, n: int = 4096, seed: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.cfg.style_dim, generator=g).to(self.constant_input.weight)
        self.mean_latent.copy_(self.mapping(z).mean(0))
        return self.mean_latent

    # -- synthesis
    def synthesis(self, w_plus: torch.Tensor, noise: str = "const", return_features: bool = False):
        """``w_plus`` (B, num_latent, style_dim) -> image (B, 3, S, S) in about [-1, 1] (+ features per resolution)."""
        b = w_plus.shape[0]
        if w_plus.shape[1:] != (self.num_latent, self.cfg.style_dim):
            raise ValueError(f"w_plus must be (B, {self.num_latent}, {self.cfg.style_dim}), got {tuple(w_plus.shape)}")
        noises = [getattr(self.noises, f"noise{i}") for i in range(self.num_layers)]
        if noise == "random":
            noises = [torch.randn(b, 1, *n.shape[2:], device=n.device, dtype=n.dtype) for n in noises]
        elif noise == "none":
            noises = [torch.zeros_like(n) for n in noises]
        x = self.constant_input.weight.expand(b, -1, -1, -1)
        x = self.style_conv1(x, w_plus[:, 0], noises[0])
        skip = self.to_rgb1(x, w_plus[:, 1])
        feats = {4: x}
        i = 1
        for c1, c2, n1, n2, rgb in zip(self.style_convs[::2], self.style_convs[1::2], noises[1::2], noises[2::2], self.to_rgbs):
            x = c1(x, w_plus[:, i], n1)
            x = c2(x, w_plus[:, i + 1], n2)
            skip = rgb(x, w_plus[:, i + 2], skip)
            feats[x.shape[-1]] = x
            i += 2
        return (skip, feats) if return_features else skip

    def forward(self, w_plus: torch.Tensor, **kw):
        return self.synthesis(w_plus, **kw)

    def latent_reference(self, w_plus: torch.Tensor, k: int, return_features: bool = True):
        """GFIQA Eq. 4: synthesise from codes ``0..k-1`` of ``w_plus``, the rest set to the mean latent."""
        if not 1 <= k <= self.num_latent:
            raise ValueError(f"K must be in 1..{self.num_latent}, got {k}")
        w = torch.cat([w_plus[:, :k], self.mean_latent.expand(w_plus.shape[0], self.num_latent - k, -1)], dim=1)
        return self.synthesis(w, return_features=return_features)


# ----------------------------------------------------------------------------- checkpoint layouts
def original_to_clean(state: dict[str, torch.Tensor], lr_mlp: float = 0.01) -> dict[str, torch.Tensor]:
    """BasicSR original-layout keys/scales -> the clean parameterisation (exact re-parameterisation).

    EqualLinear mapping layers: W * lr / sqrt(fan_in) and b * lr, both x sqrt(2) (the fused
    activation's gain moves into the weights); modulation: W / sqrt(fan_in); modulated-conv
    weights: / sqrt(Cin k^2); StyleConv: ``activate.bias`` -> ``bias`` (1, C, 1, 1) x sqrt(2),
    noise strength x sqrt(2). Mapping layer i (1-based) becomes ``style_mlp.{2i-1}``.
    """
    out: dict[str, torch.Tensor] = {}
    for key, v in state.items():
        v = v.float()
        m = re.fullmatch(r"style_mlp\.(\d+)\.(weight|bias)", key)
        if m:
            i, kind = int(m.group(1)), m.group(2)
            scale = lr_mlp / math.sqrt(v.shape[1]) if kind == "weight" else lr_mlp
            out[f"style_mlp.{2 * i - 1}.{kind}"] = v * scale * SQRT2
            continue
        if key.endswith("modulation.weight"):
            out[key] = v / math.sqrt(v.shape[1])
        elif key.endswith("modulated_conv.weight"):
            out[key] = v / math.sqrt(v.shape[2] * v.shape[3] * v.shape[4])
        elif key.endswith("activate.bias"):
            out[key.replace("activate.bias", "bias")] = (v * SQRT2).view(1, -1, 1, 1)
        elif re.fullmatch(r"(style_conv1|style_convs\.\d+)\.weight", key):
            out[key] = v * SQRT2
        else:
            out[key] = v
    return out


def detect_layout(state: dict[str, torch.Tensor]) -> str:
    if any(k.endswith("activate.bias") for k in state) or "style_mlp.8.weight" in state:
        return "original"
    return "clean"


def infer_config(state: dict[str, torch.Tensor], layout: str) -> StyleGAN2Config:
    """Size, style dim, mapping depth and channel multiplier read off the tensors."""
    style_dim = state["style_conv1.modulated_conv.modulation.weight"].shape[1]
    n_rgb = len({k.split(".")[1] for k in state if k.startswith("to_rgbs.")})
    out_size = 2 ** (n_rgb + 2)
    mlp = [int(k.split(".")[1]) for k in state if re.fullmatch(r"style_mlp\.\d+\.weight", k)]
    num_mlp = len(mlp)
    c4 = state["constant_input.weight"].shape[1]
    narrow = c4 / 512
    c64 = state["to_rgbs.3.modulated_conv.weight"].shape[2] if n_rgb >= 4 else 256 * narrow
    cm = c64 / (256 * narrow)
    return StyleGAN2Config(out_size=out_size, style_dim=style_dim, num_mlp=num_mlp, channel_multiplier=cm, narrow=narrow,
                           upsampler="fir" if layout == "original" else "bilinear")


def extract_generator_state(ckpt: dict) -> dict[str, torch.Tensor]:
    """The generator tensors of a BasicSR/GFPGAN checkpoint dict: ``params_ema`` > ``params`` > the dict;
    a GFPGAN restorer's ``stylegan_decoder.*`` prefix is stripped."""
    for key in ("params_ema", "params", "g_ema", "state_dict"):
        if isinstance(ckpt.get(key), dict):
            ckpt = ckpt[key]
            break
    if any(k.startswith("stylegan_decoder.") for k in ckpt):
        ckpt = {k[len("stylegan_decoder."):]: v for k, v in ckpt.items() if k.startswith("stylegan_decoder.")}
    return {k: v for k, v in ckpt.items() if torch.is_tensor(v)}


def load_stylegan2(path_or_state, layout: str = "auto", upsampler: str | None = None, strict: bool = True) -> StyleGAN2Generator:
    """Build a generator from a BasicSR (original) or GFPGAN (clean) checkpoint, or a state dict.

    ``.safetensors`` files are read directly; ``.pth`` files (the published format) are read
    with ``torch.load(weights_only=True)``, which refuses arbitrary pickled objects.
    ``upsampler`` defaults to the layout's own (``fir`` for original, ``bilinear`` for clean).
    """
    if isinstance(path_or_state, (str, os.PathLike)):
        path = os.fspath(path_or_state)
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file  # noqa: PLC0415

            raw = load_file(path)
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    else:
        raw = path_or_state
    state = extract_generator_state(raw)
    if layout == "auto":
        layout = detect_layout(state)
    if layout not in ("original", "clean"):
        raise ValueError(f"layout must be 'auto', 'original' or 'clean', got {layout!r}")
    cfg = infer_config(state, layout)
    if layout == "original":
        lr_mlp = 0.01
        state = original_to_clean(state, lr_mlp)
    if upsampler:
        cfg.upsampler = upsampler
    gen = StyleGAN2Generator(cfg)
    mean = state.pop("mean_latent", None)
    missing, unexpected = gen.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != "mean_latent"]
    if strict and (missing or unexpected):
        from ..errors import CheckpointError  # noqa: PLC0415

        raise CheckpointError(f"StyleGAN2 {layout} checkpoint does not match: missing {missing[:5]}, unexpected {unexpected[:5]}")
    if mean is not None:
        gen.mean_latent.copy_(mean)
    else:
        gen.compute_mean_latent()
    return gen.eval()


def generator_config_dict(gen: StyleGAN2Generator) -> dict:
    return asdict(gen.cfg)
