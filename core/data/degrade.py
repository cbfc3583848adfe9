"""Synthetic degradation engine: 15 types x 5 severity levels, deterministic from a seed.

One torch implementation serves both paths: :func:`degrade_batch` works on ``(B, 3, H, W)``
float tensors in [0, 1] on CPU or GPU (training-time augmentation), :func:`degrade` on one
RGB uint8 array (a batch of one). Every call returns the parameters it drew, so each output
records exactly what was done to it. Spatial parameters are defined for a 512-px face and
scaled by ``min(H, W) / 512`` (the recorded values are the ones applied).

Families (DSL-FIQA set S: blur, noise, resize, JPEG, extreme lighting; GFIQA Fig. 6 adds
occlusion, colour and contrast): ``gaussian_blur, motion_blur, defocus_blur,
gaussian_noise, poisson_noise, salt_pepper, resize, jpeg, webp, underexposure,
overexposure, gamma, low_contrast, colour_cast, occlusion``; opt-in (:data:`EXTRA_TYPES`): ``old_print``, an
aged print scanned (the real degradation of old-photo restoration inputs), and ``realistic``, Real-ESRGAN's
second-order blur/resize/noise/JPEG chain on a face shrunk to 12-64 px between the eyes, then upscaled back
(:mod:`core.data.realistic`; what blind face restorers are trained on). :func:`random_composition`
chains several. :class:`SetSSampler` / :class:`SetRSampler` draw DSL-FIQA's dual sets.
"""
from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..tensors import image_to_tensor, luma

LEVELS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Spec:
    name: str
    family: str
    param: str
    values: tuple[float, ...]  # level 1..5, at 512 px for spatial parameters
    spatial: bool = False
    description: str = ""


SPECS: dict[str, Spec] = {
    s.name: s
    for s in (
        Spec("gaussian_blur", "blur", "sigma", (1.0, 2.0, 3.0, 4.5, 6.5), True, "isotropic Gaussian blur"),
        Spec("motion_blur", "blur", "length", (7, 13, 21, 31, 45), True, "linear motion blur at a random angle"),
        Spec("defocus_blur", "blur", "radius", (2.0, 3.5, 5.0, 7.0, 10.0), True, "disk (out-of-focus) blur"),
        Spec("gaussian_noise", "noise", "sigma", (4.0, 8.0, 14.0, 22.0, 35.0), False, "additive Gaussian noise (0..255 units)"),
        Spec("poisson_noise", "noise", "peak", (300.0, 120.0, 45.0, 18.0, 7.0), False, "shot noise with this many photons at white"),
        Spec("salt_pepper", "noise", "amount", (0.004, 0.01, 0.025, 0.05, 0.1), False, "fraction of pixels set to black/white"),
        Spec("resize", "resize", "factor", (2.0, 3.0, 4.0, 6.0, 8.0), False, "area down-sampling then bicubic up-sampling"),
        Spec("jpeg", "compression", "quality", (50, 30, 18, 10, 5), False, "JPEG compression quality"),
        Spec("webp", "compression", "quality", (40, 20, 10, 5, 1), False, "WebP compression quality"),
        Spec("underexposure", "lighting", "gain", (0.7, 0.5, 0.35, 0.22, 0.12), False, "intensity gain below 1"),
        Spec("overexposure", "lighting", "gain", (1.3, 1.6, 2.0, 2.6, 3.4), False, "intensity gain above 1 (clipped)"),
        Spec("gamma", "lighting", "gamma", (1.4, 1.8, 2.3, 3.0, 4.0), False, "gamma curve x**g (darker mid-tones)"),
        Spec("low_contrast", "contrast", "alpha", (0.7, 0.5, 0.35, 0.22, 0.12), False, "blend towards the mean grey"),
        Spec("colour_cast", "colour", "strength", (0.1, 0.2, 0.3, 0.42, 0.56), False, "per-channel gains along a random hue"),
        Spec("occlusion", "occlusion", "area", (0.03, 0.06, 0.1, 0.15, 0.22), False, "a flat patch over this fraction of the image"),
        Spec("old_print", "print", "age", (0.2, 0.4, 0.6, 0.8, 1.0), False,
             "an aged photographic print, scanned: faded sepia tones, print softness, film grain, dust specks and scratches"),
        Spec("realistic", "realistic", "severity", (0.2, 0.4, 0.6, 0.8, 1.0), False,
             "Real-ESRGAN's second-order degradation at a real restorer-input face size; level L: the L-th fifth of every "
             "range (the record's severity, in ((L-1)/5, L/5], is the draw's)"),
    )
}
#: opt-in types: known to every function here, but outside :data:`TYPES`, so the default builds and samplers that
#: draw from ``TYPES`` stay as they were (``faceiqa data build --extra-types old_print`` adds them)
EXTRA_TYPES: tuple[str, ...] = ("old_print", "realistic")
#: the default degradation types
TYPES: tuple[str, ...] = tuple(t for t in SPECS if t not in EXTRA_TYPES)


def _check(kind: str, level: int) -> Spec:
    if kind not in SPECS:
        raise KeyError(f"unknown degradation {kind!r}; known: {', '.join(SPECS)}")
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    return SPECS[kind]


def _gauss_kernel1d(sigma: float, device) -> torch.Tensor:
    r = max(1, int(math.ceil(3.0 * sigma)))
    t = torch.arange(-r, r + 1, device=device, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _conv_same(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Depthwise 2-D convolution with reflect padding; kernel (kh, kw)."""
    kh, kw = kernel.shape
    c = x.shape[1]
    pad = (kw // 2, kw - 1 - kw // 2, kh // 2, kh - 1 - kh // 2)
    mode = "reflect" if min(x.shape[-2:]) > max(kh, kw) else "replicate"
    xp = F.pad(x, pad, mode=mode)
    return F.conv2d(xp, kernel.to(x.dtype).expand(c, 1, kh, kw).contiguous(), groups=c)


def _gauss_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a (B, C, H, W) batch, ``sigma`` in pixels (at least 0.3)."""
    k = _gauss_kernel1d(max(sigma, 0.3), x.device)
    return _conv_same(_conv_same(x, k[None]), k[:, None])


def _motion_kernel(length: float, angle: float, device) -> torch.Tensor:
    n = max(3, int(round(length)) | 1)
    k = torch.zeros(n, n, device=device)
    c = (n - 1) / 2
    for t in np.linspace(-c, c, 4 * n):
        x, y = c + t * math.cos(angle), c + t * math.sin(angle)
        x0, y0 = int(math.floor(x)), int(math.floor(y))
        fx, fy = x - x0, y - y0
        for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            if 0 <= x0 + dx < n and 0 <= y0 + dy < n:
                k[y0 + dy, x0 + dx] += w
    return k / k.sum()


def _disk_kernel(radius: float, device) -> torch.Tensor:
    r = int(math.ceil(radius))
    t = torch.arange(-r, r + 1, device=device, dtype=torch.float32)
    d = torch.sqrt(t[:, None] ** 2 + t[None] ** 2)
    k = (radius + 0.5 - d).clamp(0, 1)  # anti-aliased edge
    return k / k.sum()


def codec(x: torch.Tensor, fmt: str, quality: int) -> torch.Tensor:
    """``x`` (B, 3, H, W in 0..1) encoded and decoded by PIL's ``fmt`` codec ("JPEG", "WEBP") at ``quality`` (8-bit round trip)."""
    from PIL import Image  # noqa: PLC0415

    out = []
    for img in x:
        arr = (img.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, fmt, quality=int(quality))
        dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        out.append(torch.from_numpy(dec.copy()).permute(2, 0, 1))
    return torch.stack(out).to(x.device, x.dtype) / 255.0


def _grey_mean(x: torch.Tensor) -> torch.Tensor:
    return luma(x).mean(dim=(2, 3), keepdim=True)


def _rand(g: torch.Generator, *shape, device) -> torch.Tensor:
    return torch.rand(*shape, generator=g, device=g.device).to(device)


def degrade_batch(
    x: torch.Tensor, kind: str, level: int, *, seed: int | None = None, generator: torch.Generator | None = None,
    spatial_scale: float | None = None,
) -> tuple[torch.Tensor, list[dict]]:
    """Apply one degradation at one level to a ``(B, 3, H, W)`` batch in [0, 1].

    Returns the degraded batch (same shape, dtype, device) and one parameter record per
    image. Random choices (noise, angles, hues, patch places) come from ``generator`` or a
    CPU generator seeded with ``seed`` (default 0), so results are reproducible.
    ``spatial_scale`` overrides the ``min(H, W) / 512`` factor of spatial parameters
    (1.0: the table's values in absolute pixels).
    """
    spec = _check(kind, level)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected (B, 3, H, W), got {tuple(x.shape)}")
    if generator is None:
        generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
    b, _, h, w = x.shape
    dev = x.device
    value = spec.values[level - 1]
    scale = min(h, w) / 512.0 if spatial_scale is None else float(spatial_scale)
    applied = value * scale if spec.spatial else value
    recs = [{"type": kind, "level": level, spec.param: round(float(applied), 4)} for _ in range(b)]
    if kind == "gaussian_blur":
        y = _gauss_blur(x, applied)
    elif kind == "motion_blur":
        angles = (_rand(generator, b, device="cpu") * math.pi).tolist()
        y = torch.cat([_conv_same(x[i : i + 1], _motion_kernel(max(applied, 3), a, dev)) for i, a in enumerate(angles)])
        for r, a in zip(recs, angles):
            r["angle_deg"] = round(math.degrees(a), 2)
    elif kind == "defocus_blur":
        y = _conv_same(x, _disk_kernel(max(applied, 0.5), dev))
    elif kind == "gaussian_noise":
        noise = torch.randn(x.shape, generator=generator, device=generator.device).to(dev, x.dtype)
        y = x + noise * (applied / 255.0)
    elif kind == "poisson_noise":
        lam = (x.clamp(0, 1) * applied).to(generator.device)
        y = (torch.poisson(lam, generator=generator) / applied).to(dev, x.dtype)
    elif kind == "salt_pepper":
        u = _rand(generator, b, 1, h, w, device=dev)
        y = torch.where(u < applied / 2, torch.zeros_like(x), x)
        y = torch.where(u > 1 - applied / 2, torch.ones_like(x), y)
    elif kind == "resize":
        sh, sw = max(1, round(h / applied)), max(1, round(w / applied))
        small = F.interpolate(x, size=(sh, sw), mode="area")
        y = F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False)
    elif kind in ("jpeg", "webp"):
        y = codec(x, "JPEG" if kind == "jpeg" else "WEBP", int(applied))
    elif kind in ("underexposure", "overexposure"):
        y = x * applied
    elif kind == "gamma":
        y = x.clamp(0, 1) ** applied
    elif kind == "low_contrast":
        m = _grey_mean(x)
        y = m + applied * (x - m)
    elif kind == "colour_cast":
        d = torch.randn(b, 3, generator=generator, device=generator.device).to(dev, x.dtype)
        d = d - d.mean(1, keepdim=True)  # zero-sum direction: hue, not brightness
        d = d / d.norm(dim=1, keepdim=True).clamp_min(1e-6)
        y = x * (1.0 + applied * d * math.sqrt(1.5))[:, :, None, None]
        for r, di in zip(recs, d.tolist()):
            r["gains"] = [round(1.0 + applied * v * math.sqrt(1.5), 4) for v in di]
    elif kind == "occlusion":
        y = x.clone()
        u = _rand(generator, b, 6, device="cpu").tolist()
        for i, (ua, ux, uy, r_, g_, b_) in enumerate(u):
            aspect = 2.0 ** (2 * ua - 1)  # 0.5 .. 2
            ph = int(round(min(h, math.sqrt(applied * h * w / aspect))))
            pw = int(round(min(w, applied * h * w / max(ph, 1))))
            # centred on the face region (middle 60% of an aligned crop)
            cy = h * (0.2 + 0.6 * uy)
            cx = w * (0.2 + 0.6 * ux)
            y0 = int(np.clip(cy - ph / 2, 0, h - ph))
            x0 = int(np.clip(cx - pw / 2, 0, w - pw))
            colour = torch.tensor([r_, g_, b_], device=dev, dtype=x.dtype).view(3, 1, 1)
            y[i, :, y0 : y0 + ph, x0 : x0 + pw] = colour
            recs[i]["box"] = [x0, y0, x0 + pw, y0 + ph]
    elif kind == "old_print":
        y = _old_print(x, applied, scale, generator, recs)
    elif kind == "realistic":
        y = _realistic(x, level, scale, generator, recs)
    else:  # pragma: no cover - SPECS and branches are kept in step by the tests
        raise KeyError(kind)
    return y.clamp(0.0, 1.0).to(x.dtype), recs


#: sepia toning (rows: output R, G, B from input R, G, B)
_SEPIA = ((0.393, 0.769, 0.189), (0.349, 0.686, 0.168), (0.272, 0.534, 0.131))


def _old_print(x: torch.Tensor, age: float, scale: float, g: torch.Generator, recs: list[dict]) -> torch.Tensor:
    """An aged print, scanned, with ``age`` in (0, 1]: capture -> print -> ageing -> scan.

    Sepia toning blended in by ``0.7 age`` and faded (contrast x ``1 - 0.35 age``, blacks lifted ``0.08 age``); print
    softness (Gaussian sigma ``0.6 + 2.4 age`` px at 512); monochrome film grain (std ``(3 + 12 age) / 255``, ~1.5-px
    clumps); ``150 age`` dust specks per 512^2 px (radius ``1.2 + 1.8 age`` px, 80 % light, 20 % dark) and
    ``round(4 age)`` thin light scratches. Spatial sizes scale with ``scale`` like the other spatial types.
    """
    b, _, h, w = x.shape
    dev, dt = x.device, x.dtype
    sepia = torch.tensor(_SEPIA, device=dev, dtype=dt)
    toned = torch.einsum("oc,bchw->bohw", sepia, x).clamp(0, 1)
    y = torch.lerp(x, toned, 0.7 * age)
    y = 0.08 * age + (1 - 0.35 * age) * y
    sigma = (0.6 + 2.4 * age) * scale
    y = _gauss_blur(y, sigma)
    grain = torch.randn(b, 1, h, w, generator=g, device=g.device).to(dev, dt)
    grain = _gauss_blur(grain, 0.75 * scale)
    grain = grain / grain.flatten(1).std(1).clamp_min(1e-6).view(b, 1, 1, 1)
    amp = (3 + 12 * age) / 255.0
    y = y + amp * grain
    n_specks = int(round(150 * age * h * w / 512**2))
    radius = max((1.2 + 1.8 * age) * scale, 0.5)
    n_scratch = int(round(4 * age))
    yy, xx = torch.meshgrid(torch.arange(h, device=dev, dtype=dt), torch.arange(w, device=dev, dtype=dt), indexing="ij")
    kr = _gauss_kernel1d(radius / 1.5, dev)
    for i in range(b):
        u = _rand(g, n_specks, 3, device="cpu")
        pts = torch.zeros(2, 1, h, w, device=dev, dtype=dt)  # light, dark
        for (ux, uy, kind) in u.tolist():
            pts[int(kind >= 0.8), 0, min(int(uy * h), h - 1), min(int(ux * w), w - 1)] = 1.0
        blobs = _conv_same(_conv_same(pts, kr[None]), kr[:, None])
        blobs = (blobs / kr.max() ** 2 * 0.9).clamp(0, 1)  # a speck's centre reaches ~0.9
        light, dark = blobs[0], blobs[1]
        for (x0, y0, ang, length) in _rand(g, n_scratch, 4, device="cpu").tolist():
            a = ang * math.pi
            cx, cy, half = x0 * w, y0 * h, (0.15 + 0.35 * length) * min(h, w) / 2
            dx, dy = math.cos(a), math.sin(a)
            along = (xx - cx) * dx + (yy - cy) * dy
            across = (xx - cx) * -dy + (yy - cy) * dx
            line = ((max(0.6 * scale, 0.5) + 0.5 - across.abs()).clamp(0, 1) * (along.abs() <= half)) * 0.8
            light = torch.maximum(light, line[None])
        y[i] = y[i] * (1 - light) + 0.92 * light
        y[i] = y[i] * (1 - dark) + 0.08 * dark
        recs[i].update(blur_sigma=round(float(sigma), 4), grain=round(float(amp * 255), 2), specks=n_specks, scratches=n_scratch)
    return y


def _realistic(x: torch.Tensor, level: int, scale: float, g: torch.Generator, recs: list[dict]) -> torch.Tensor:
    """:func:`core.data.realistic.degrade_realistic` at ``level`` on each image (8-bit round trip), seeded from ``g``.

    The face's eye distance is taken as a 512-px GFIQA crop's (128 px) times ``scale``, as for the spatial types.
    """
    from .realistic import GFIQA_EYE_FRACTION, REALESRGAN, degrade_realistic  # noqa: PLC0415

    cfg = REALESRGAN.at_level(level)
    out = []
    for i in range(x.shape[0]):
        seed = int(torch.randint(0, 2**62, (1,), generator=g, device=g.device))
        img, rec = degrade_realistic(to_uint8(x[i]), np.random.default_rng(seed), config=cfg,
                                     source_eye_px=GFIQA_EYE_FRACTION * 512 * scale)
        recs[i].update(rec)
        out.append(image_to_tensor(img))
    return torch.stack(out).to(x.device, x.dtype)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> (1, 3, H, W) float in [0, 1]."""
    return image_to_tensor(image)[None]


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) in [0, 1] -> HxWx3 uint8."""
    x = x[0] if x.ndim == 4 else x
    return (x.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def degrade(image: np.ndarray, kind: str, level: int, seed: int = 0, spatial_scale: float | None = None) -> tuple[np.ndarray, dict]:
    """Degrade one RGB uint8 image; returns (image, record with type, level, seed, params)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 image, got {image.dtype} {image.shape}")
    y, recs = degrade_batch(to_tensor(image), kind, level, seed=seed, spatial_scale=spatial_scale)
    return to_uint8(y), {**recs[0], "seed": int(seed)}


def apply_chain(image: np.ndarray, steps: Sequence[tuple[str, int]], seed: int = 0) -> tuple[np.ndarray, list[dict]]:
    """Apply ``[(type, level), ...]`` in order (one seeded generator for the whole chain)."""
    g = torch.Generator().manual_seed(int(seed))
    x = to_tensor(image)
    records = []
    for kind, level in steps:
        x, recs = degrade_batch(x, kind, int(level), generator=g)
        records.append(recs[0])
    return to_uint8(x), records


#: Order in which composed degradations are applied (capture -> processing -> storage)
PIPELINE_ORDER = ("lighting", "contrast", "colour", "blur", "occlusion", "print", "realistic", "noise", "resize", "compression")


def random_composition(
    image: np.ndarray, seed: int = 0, n: tuple[int, int] = (2, 3), types: Sequence[str] | None = None,
    levels: Sequence[int] = LEVELS,
) -> tuple[np.ndarray, list[dict]]:
    """2-3 (by default) random types from different families, applied in camera-pipeline order."""
    rng = np.random.default_rng(seed)
    pool = list(types or TYPES)
    k = int(rng.integers(n[0], n[1] + 1))
    chosen, families = [], set()
    for t in rng.permutation(pool):
        if SPECS[t].family not in families:
            chosen.append(str(t))
            families.add(SPECS[t].family)
        if len(chosen) == k:
            break
    chosen.sort(key=lambda t: PIPELINE_ORDER.index(SPECS[t].family))
    steps = [(t, int(rng.choice(list(levels)))) for t in chosen]
    return apply_chain(image, steps, seed=seed)


class SetSSampler:
    """DSL-FIQA set S: one high-quality face under ``m`` different random degradations.

    Each of the ``m`` views gets a different type (and random level), so the views share
    content and differ only in degradation.
    """

    def __init__(self, m: int = 8, types: Sequence[str] | None = None, levels: Sequence[int] = LEVELS, compose_prob: float = 0.0):
        pool = list(types or TYPES)
        if m > len(pool):
            raise ValueError(f"m={m} views need at least m distinct types, have {len(pool)}")
        self.m, self.types, self.levels, self.compose_prob = m, pool, list(levels), compose_prob

    def __call__(self, image: np.ndarray, seed: int = 0) -> tuple[list[np.ndarray], list[list[dict]]]:
        rng = np.random.default_rng(seed)
        kinds = rng.choice(self.types, size=self.m, replace=False)
        views, records = [], []
        for kind in kinds:
            s = int(rng.integers(2**31))
            if rng.random() < self.compose_prob:
                out, rec = random_composition(image, seed=s, types=self.types, levels=self.levels)
            else:
                out, r = degrade(image, str(kind), int(rng.choice(self.levels)), seed=s)
                rec = [r]
            views.append(out)
            records.append(rec)
        return views, records


class SetRSampler:
    """DSL-FIQA set R: ``n`` different real (really degraded) images drawn without replacement."""

    def __init__(self, paths: Sequence, n: int = 8):
        if len(paths) < n:
            raise ValueError(f"set R needs at least n={n} images, got {len(paths)}")
        self.paths, self.n = list(paths), n

    def __call__(self, seed: int = 0) -> list:
        idx = np.random.default_rng(seed).choice(len(self.paths), size=self.n, replace=False)
        return [self.paths[i] for i in idx]
