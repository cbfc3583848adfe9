"""Weight-free full-reference metrics and the pseudo-MOS of synthetic degradations.

* :func:`gmsd` - Gradient Magnitude Similarity Deviation (Xue et al., TIP 2014): Prewitt
  gradients on 2x-averaged luma, ``GMS = (2 g1 g2 + c) / (g1^2 + g2^2 + c)`` with c = 170
  (0..255 units), GMSD = std of the GMS map (0 = identical, ~0.35 = very different).
* :func:`ms_ssim` - multi-scale SSIM (Wang, Simoncelli & Bovik 2003) with the standard
  11-tap sigma 1.5 Gaussian window and scale weights; fewer scales on small inputs.
* :func:`detail_fidelity` - how far the fine-detail energy (mean absolute Laplacian of luma)
  moved from the reference's, in either direction: ``min(r, 1/r)`` with ``r`` = degraded /
  reference energy. Blur, resizing and compression lose detail (r < 1); noise, salt & pepper
  and JPEG/WebP block edges add false detail (r > 1) and are penalised the same way.
* :func:`pseudo_mos` - the label of a synthetic face: the three terms on the face region
  (optionally masked by a crop box), averaged:
  ``(MS-SSIM_clipped + (1 - GMSD / 0.35)_clipped + detail_fidelity) / 3`` in 0..1. MS-SSIM
  reacts to luminance/contrast changes that GMSD (gradient-only) under-rates, GMSD to fine
  structure loss and noise where MS-SSIM saturates, detail fidelity to blur, resizing and
  compression on already-soft faces (LFW-like upsampled crops), where both others stay near 1
  (measured on LFW crops: Gaussian blur level 3 kept 0.96 without it), and to noise, which the
  one-sided version (``min(1, r)``, before Nov 2026) let through: Gaussian noise sigma 35 on the
  crop kept 0.81, now 0.49. Monotone in severity for every degradation type (tested).
* :func:`crete_blur` / :func:`source_sharpness` - the no-reference blur estimate of Crete et
  al. (SPIE 2007: how much of the neighbour-pixel variation a 9-tap average removes; 0 sharp,
  1 flat) of the *clean* crop, mapped to 0..1 between 0.40 (sharp high-resolution portraits)
  and 0.85 (LFW faces blurred at level 5). The full-reference terms only say how far a copy
  fell from its clean crop; ``core.data.build`` scales them by this absolute term, so an
  upsampled soft news photo is not "perfect" and a sharp studio face outranks its blurred copy
  (measured on the 256-px aligned face box: LFW clean crops 0.52-0.69, 5-95 %, median 0.60;
  UTKFace crops median 0.54; deepface portraits 0.41; the bundled astronaut 0.48, blurred 0.81).
* :func:`blockiness` / :func:`blocking_fidelity` - JPEG's 8x8 block edges (Wang, Bovik & Evans, ICIP 2000: luma
  steps across the 8-px grid vs. steps inside blocks), measured on the image the codec saw, degraded vs. reference.
  The three terms above barely see blocking: a whole-photo JPEG at quality 8 keeps pseudo-MOS 0.82 on LFW faces
  (median of 25; MS-SSIM 0.90, GMSD 0.12, detail 0.89) while a radius-2 blur gets 0.54 - yet the blocks are what a
  person sees first. The ratio (1.07 on clean LFW photos; 1.34 / 1.79 / 3.6 at JPEG quality 50 / 18 / 5, 2.5 at
  quality 8; 1.00 blurred, 1.03 noised, 1.2 for WebP, whose deblocking filter hides the grid) becomes
  ``1 - (ln(B_x / B_ref) - 0.2)_+ / 2`` in 0..1, and ``core.data.build`` multiplies the pseudo-MOS by it
  (JPEG quality 8 -> 0.67, quality 50 -> 0.99). Side effect, measured on the shipped training bench: flat areas
  that other degradations make (occlusion patches, clipped highlights) and WebP's own blocks shrink the in-block
  steps too, so 23 of its 1387 copies without JPEG also lost a little (0.76-0.999; all 1387: median 1.0).

No human MOS exists for these images: this is a documented proxy, not a perceptual truth.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..tensors import as_batch as _as_batch
from ..tensors import luma255 as _luma255
from ..tensors import resize_square

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
GMSD_MAX = 0.35


def gmsd(x, ref) -> torch.Tensor:
    """GMSD per image of ``(B, 3, H, W)`` tensors in [0, 1] (or two uint8 RGB arrays)."""
    x, ref = _as_batch(x), _as_batch(ref)
    a = F.avg_pool2d(_luma255(x), 2)
    b = F.avg_pool2d(_luma255(ref), 2)
    px = torch.tensor([[1.0, 0.0, -1.0]] * 3, device=a.device) / 3.0
    kx, ky = px.view(1, 1, 3, 3), px.t().contiguous().view(1, 1, 3, 3)

    def mag(t):
        return torch.sqrt(F.conv2d(t, kx) ** 2 + F.conv2d(t, ky) ** 2 + 1e-12)

    ga, gb = mag(a), mag(b)
    c = 170.0
    gms = (2 * ga * gb + c) / (ga**2 + gb**2 + c)
    return gms.flatten(1).std(dim=1, unbiased=False)


def _gauss_1d(size: int = 11, sigma: float = 1.5, device=None) -> torch.Tensor:
    t = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    return g / g.sum()


def _ssim_parts(a: torch.Tensor, b: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and contrast-structure term; the five local moments in one separable pass."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    x = torch.cat([a, b, a * a, b * b, a * b], dim=1)
    n = g.numel()
    x = F.conv2d(x, g.view(1, 1, 1, n).expand(5, 1, 1, n), groups=5)
    x = F.conv2d(x, g.view(1, 1, n, 1).expand(5, 1, n, 1), groups=5)
    mu_a, mu_b, eaa, ebb, eab = x.unbind(1)
    saa, sbb, sab = eaa - mu_a**2, ebb - mu_b**2, eab - mu_a * mu_b
    cs = (2 * sab + c2) / (saa + sbb + c2)
    lum = (2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)
    return (lum * cs).flatten(1).mean(1), cs.flatten(1).mean(1)


def ms_ssim(x, ref) -> torch.Tensor:
    """MS-SSIM per image on luma (0..255); uses as many of the 5 scales as the size allows."""
    a, b = _luma255(_as_batch(x)), _luma255(_as_batch(ref))
    win = _gauss_1d(device=a.device)
    scales = 1
    while scales < 5 and min(a.shape[-2:]) / 2**scales >= 11:
        scales += 1
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], device=a.device)
    weights = weights / weights.sum()
    values = []
    for i in range(scales):
        ssim, cs = _ssim_parts(a, b, win)
        values.append(ssim if i == scales - 1 else cs)
        if i < scales - 1:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    stack = torch.stack(values, dim=1).clamp_min(1e-6)
    return torch.exp((stack.log() * weights).sum(1))


def detail_fidelity(x, ref) -> torch.Tensor:
    """``min(r, 1 / r)`` per image, ``r`` = mean |Laplacian| of ``x`` / that of ``ref`` (luma, 0..255)."""
    x, ref = _as_batch(x), _as_batch(ref)
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], device=x.device).view(1, 1, 3, 3)

    def energy(t):
        return F.conv2d(_luma255(t), k).abs().flatten(1).mean(dim=1)

    r = energy(x).clamp_min(1e-6) / energy(ref).clamp_min(1e-6)
    return torch.minimum(r, 1.0 / r)


def _box_region(t: torch.Tensor, box: tuple[float, float, float, float] | None) -> torch.Tensor:
    """``box`` (relative x1, y1, x2, y2) of the last two dims of ``t``; all of ``t`` for None."""
    if box is None:
        return t
    h, w = t.shape[-2:]
    return t[..., int(box[1] * h):int(box[3] * h), int(box[0] * w):int(box[2] * w)]


def pseudo_mos_parts(degraded, reference, box: tuple[float, float, float, float] | None = None):
    """(pseudo-MOS, MS-SSIM, GMSD, detail fidelity) per image, on ``box`` (relative x1, y1, x2, y2)."""
    x, r = _box_region(_as_batch(degraded), box), _box_region(_as_batch(reference), box)
    s = ms_ssim(x, r)
    g = gmsd(x, r)
    d = detail_fidelity(x, r)
    return (s.clamp(0, 1) + (1.0 - g / GMSD_MAX).clamp(0, 1) + d) / 3.0, s, g, d


def pseudo_mos(degraded, reference, box: tuple[float, float, float, float] | None = None) -> torch.Tensor:
    """0..1 proxy quality of degraded vs. reference images, on ``box`` (relative x1, y1, x2, y2)."""
    return pseudo_mos_parts(degraded, reference, box)[0]


#: Crete blur of a sharp high-resolution portrait / of a heavily blurred LFW face (256-px aligned face box)
CRETE_SHARP, CRETE_BLURRY = 0.40, 0.85


def crete_blur(x, box: tuple[float, float, float, float] | None = None) -> torch.Tensor:
    """No-reference blur per image (Crete et al. 2007): 0 = sharp .. 1 = flat, on ``box`` of the luma."""
    y = _box_region(_luma255(_as_batch(x)), box)
    k = torch.full((1, 1, 1, 9), 1.0 / 9.0, device=y.device)
    out = []
    for dim, kern, pad in ((-1, k, (4, 4, 0, 0)), (-2, k.transpose(-1, -2), (0, 0, 4, 4))):
        b = F.conv2d(F.pad(y, pad, mode="replicate"), kern)
        d_f, d_b = y.diff(dim=dim).abs(), b.diff(dim=dim).abs()
        s_f = d_f.flatten(1).sum(1).clamp_min(1e-6)
        s_v = (d_f - d_b).clamp_min(0).flatten(1).sum(1)
        out.append((s_f - s_v) / s_f)
    return torch.maximum(out[0], out[1])


def source_sharpness(x, box: tuple[float, float, float, float] | None = None, size: int = 256) -> torch.Tensor:
    """0..1 absolute sharpness of a clean aligned crop: :func:`crete_blur` between CRETE_SHARP (1) and CRETE_BLURRY (0).

    Measured at ``size`` px (the anchors' scale; box-filter downsampling), so a 512-px crop of a face gets about the
    value of its 256-px crop (astronaut sample: 0.78 vs 0.82; unresized 0.51).
    """
    t = _as_batch(x)
    if t.shape[-1] > size:
        t = F.interpolate(t, size=(size, size), mode="area")
    t = resize_square(t, size)
    return ((CRETE_BLURRY - crete_blur(t, box)) / (CRETE_BLURRY - CRETE_SHARP)).clamp(0, 1)


#: ln(blockiness ratio) a codec may add before the label drops (JPEG quality ~50), and the span from there to 0
BLOCK_FREE, BLOCK_SPAN = 0.2, 2.0


def _pixel_region(t: torch.Tensor, box, period: int) -> torch.Tensor:
    """``box`` (relative x1, y1, x2, y2; clipped to the image) of ``t`` snapped outwards to the ``period``-px grid of the
    whole image; the whole image when that region is under two blocks a side (a tiny face)."""
    if box is None:
        return t
    h, w = t.shape[-2:]
    b = [min(max(float(v), 0.0), 1.0) for v in box]
    x1, y1 = int(b[0] * w) // period * period, int(b[1] * h) // period * period
    x2, y2 = min(w, -(-int(b[2] * w) // period) * period + 1), min(h, -(-int(b[3] * h) // period) * period + 1)
    if min(x2 - x1, y2 - y1) < 2 * period + 1:
        return t
    return t[..., y1:y2, x1:x2]


def blockiness(x, box: tuple[float, float, float, float] | None = None, period: int = 8) -> torch.Tensor:
    """Mean |luma step| across the ``period``-px block grid / inside blocks, per image (1 = no grid; JPEG q8 ~2.5).

    The grid starts at the image origin, as a codec's does: measure on the image the codec was applied to.
    """
    y = _pixel_region(_luma255(_as_batch(x)), box, period)
    if min(y.shape[-2:]) < 2 * period + 1:
        raise ValueError(f"blockiness needs a region of at least {2 * period + 1} px a side, got {tuple(y.shape[-2:])}")
    ratios = []
    for d in (y.diff(dim=-1).abs(), y.diff(dim=-2).abs().transpose(-1, -2)):
        across = (torch.arange(d.shape[-1], device=d.device) % period) == period - 1
        ratios.append(d[..., across].flatten(1).mean(1) / d[..., ~across].flatten(1).mean(1).clamp_min(1e-3))
    return (ratios[0] + ratios[1]) / 2


def blocking_fidelity(x, ref, box: tuple[float, float, float, float] | None = None, period: int = 8) -> torch.Tensor:
    """0..1 per image: 1 while ``x`` has no more block-grid edges than ``ref`` (ln ratio <= BLOCK_FREE), 0 at +BLOCK_SPAN."""
    grow = torch.log(blockiness(x, box, period) / blockiness(ref, box, period).clamp_min(1e-3))
    return (1.0 - (grow - BLOCK_FREE).clamp_min(0) / BLOCK_SPAN).clamp(0, 1)


#: Face region of a GFIQA-aligned crop (eyes at y = 0.5; brows to chin, cheek to cheek)
GFIQA_FACE_BOX = (0.22, 0.3, 0.78, 0.88)
