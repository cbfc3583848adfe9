"""IFQA (seed 003, WACV 2023): an interpretable face quality map from a per-pixel discriminator.

Seed 003 is only the abstract; the rest is read from the authors' public inference code
(AIM-SKKU/IFQA ``model.py``, see anchors.md section 2) and written here as our own code:

* :class:`IFQADiscriminator` - StarGAN-v2-style U-Net: five down-sampling residual blocks
  (64..1024 channels, 256 -> 8 px), four 1024-channel bottleneck blocks, up-sampling residual
  blocks whose skips are fused multiplicatively (``dec * enc + enc``), a 1-channel sigmoid map at
  the input resolution: the probability that each pixel looks like a real high-quality face.
  Parameter names follow the public checkpoint (``IFQA_Metric.pth``, key ``"D"``), so
  :func:`load_official` reads it (with ``torch.load(weights_only=True)``, nothing unpickled).
* Score = mean of the map (the paper: "averaging per-pixel outputs"). The public script prints
  ``sum / (3 * 256 * 256)``, a third of that - rank-equivalent; we report the plain mean so the
  range is 0..1. ``region_weight > 1`` optionally weights the facial primary regions in the mean.
* Training (no public code; our reconstruction of the abstract): :class:`RestorationGenerator`,
  a plain U-Net restorer of degraded faces, plays the fake; the discriminator learns per pixel
  real (1) vs restored (0). Facial primary region swap (FPRS): eyes / nose / mouth regions,
  from the 68 landmarks, are swapped between the real and the restored face with their labels,
  so the map must judge regions, not whole images; primary-region pixels get a larger weight
  in the per-pixel BCE (:func:`discriminator_loss`).
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..tensors import resize_square
from .base import ModelInfo, QualityModel, resolve_preset
from .registry import register_model


class ResBlk(nn.Module):
    """IN -> LReLU -> conv3 [-> avgpool] -> IN -> LReLU -> conv3, plus a (1x1, pooled) shortcut; / sqrt(2)."""

    def __init__(self, cin: int, cout: int, downsample: bool = False):
        super().__init__()
        self.downsample = downsample
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1)
        self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm1 = nn.InstanceNorm2d(cin, affine=True)
        self.norm2 = nn.InstanceNorm2d(cin, affine=True)
        self.conv1x1 = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.conv1x1(x) if self.conv1x1 is not None else x
        if self.downsample:
            s = F.avg_pool2d(s, 2)
        r = self.conv1(F.leaky_relu(self.norm1(x), 0.2))
        if self.downsample:
            r = F.avg_pool2d(r, 2)
        r = self.conv2(F.leaky_relu(self.norm2(r), 0.2))
        return (s + r) / math.sqrt(2)


class UpResBlk(nn.Module):
    """Nearest x2 up-sampling residual block (both paths up-sampled)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1)
        self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm1 = nn.InstanceNorm2d(cin, affine=True)
        self.norm2 = nn.InstanceNorm2d(cin, affine=True)
        self.conv1x1 = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.interpolate(x, scale_factor=2, mode="nearest")
        if self.conv1x1 is not None:
            s = self.conv1x1(s)
        r = F.interpolate(F.leaky_relu(self.norm1(x), 0.2), scale_factor=2, mode="nearest")
        r = self.conv2(F.leaky_relu(self.norm2(self.conv1(r)), 0.2))
        return (r + s) / math.sqrt(2)


@dataclass
class IFQAConfig:
    input_size: int = 256
    widths: tuple[int, ...] = (64, 128, 256, 512, 1024)
    bottleneck: int = 4
    region_weight: float = 1.0  # > 1 weights eyes / nose / mouth more in the score
    generator_width: int = 32
    mirror_average: bool = False  # D's map = mean of the face's map and its mirror image's map flipped back (test-time flip)


IFQA_PRESETS = {
    "paper": IFQAConfig(),
    "lite": IFQAConfig(input_size=128, widths=(16, 32, 64, 128, 256), bottleneck=2, generator_width=16),
}


class IFQADiscriminator(nn.Module):
    """x in [0, 1] (B, 3, S, S) -> per-pixel realness map (B, 1, S, S) in (0, 1)."""

    def __init__(self, widths=(64, 128, 256, 512, 1024), bottleneck: int = 4):
        super().__init__()
        w = list(widths)
        self.encoder128 = ResBlk(3, w[0], True)
        self.encoder64 = ResBlk(w[0], w[1], True)
        self.encoder32 = ResBlk(w[1], w[2], True)
        self.encoder16 = ResBlk(w[2], w[3], True)
        self.encoder8 = ResBlk(w[3], w[4], True)
        self.btn = nn.Sequential(*(ResBlk(w[4], w[4]) for _ in range(bottleneck)))
        self.decoder16 = UpResBlk(w[4], w[3])
        self.decoder32 = UpResBlk(w[3], w[2])
        self.decoder64 = UpResBlk(w[2], w[1])
        self.decoder128 = UpResBlk(w[1], w[0])
        self.decoder256 = nn.Sequential(UpResBlk(w[0], 1), nn.Sigmoid())  # names as the public checkpoint

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * 2 - 1  # the public model reads Normalize(0.5, 0.5) inputs
        e1 = self.encoder128(x)
        e2 = self.encoder64(e1)
        e3 = self.encoder32(e2)
        e4 = self.encoder16(e3)
        b = self.btn(self.encoder8(e4))
        d = self.decoder16(b)
        d = self.decoder32(d * e4 + e4)
        d = self.decoder64(d * e3 + e3)
        d = self.decoder128(d * e2 + e2)
        return self.decoder256(d * e1 + e1)


class RestorationGenerator(nn.Module):
    """A plain U-Net face restorer (the 'fake' of IFQA training): degraded -> restored, in [0, 1]."""

    def __init__(self, width: int = 32, depth: int = 3):
        super().__init__()
        self.downs, self.ups = nn.ModuleList(), nn.ModuleList()
        c, chans = 3, []
        for i in range(depth):
            out = width * 2**i
            self.downs.append(nn.Sequential(nn.Conv2d(c, out, 3, 1 if i == 0 else 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(out, out, 3, 1, 1), nn.LeakyReLU(0.2)))
            chans.append(out)
            c = out
        for i in reversed(range(depth - 1)):
            self.ups.append(nn.Sequential(nn.Conv2d(c + chans[i], chans[i], 3, 1, 1), nn.LeakyReLU(0.2)))
            c = chans[i]
        self.out = nn.Conv2d(c, 3, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips, h = [], x
        for d in self.downs:
            h = d(h)
            skips.append(h)
        for up, s in zip(self.ups, reversed(skips[:-1])):
            h = up(torch.cat([F.interpolate(h, size=s.shape[-2:], mode="bilinear", align_corners=False), s], 1))
        return (x + self.out(h)).clamp(0, 1)  # residual restoration


IFQA_INFO = ModelInfo(
    name="ifqa",
    description="IFQA: per-pixel realness map of a U-Net discriminator trained against a face restorer; score = map mean.",
    inputs=("aligned", "landmarks"),
    alignment="gfiqa",
    input_size=256,
    paper="Jo et al., IFQA (WACV 2023, seed 003) + AIM-SKKU/IFQA model.py",
    trainable=True,
    extras=("primary_region_score",),
)


class IFQA(QualityModel):
    info = IFQA_INFO

    def __init__(self, config: str = "lite", **overrides):
        cfg = resolve_preset("ifqa", IFQA_PRESETS, config, overrides)
        super().__init__(config=config, **overrides)
        self.cfg = cfg
        self.info = replace(IFQA_INFO, input_size=cfg.input_size)
        self.D = IFQADiscriminator(cfg.widths, cfg.bottleneck)

    def quality_map(self, x: torch.Tensor) -> torch.Tensor:
        """D's per-pixel realness of the face (B, 1, S, S); with ``mirror_average`` the mean of the maps of the face and
        of its mirror image (flipped back, so the map stays aligned with the face and its landmarks)."""
        x = resize_square(x, self.cfg.input_size)
        if not self.cfg.mirror_average:
            return self.D(x)
        face, mirror = self.D(torch.cat([x, x.flip(-1)])).chunk(2)  # one call: a CAM hook sees both views as a batch
        return (face + mirror.flip(-1)) / 2

    def merge_cam_views(self, heat: np.ndarray) -> np.ndarray:
        """With ``mirror_average`` the CAM layer saw the face and its mirror image: their maps averaged (flipped back)."""
        if self.cfg.mirror_average and len(heat) == 2:
            return (heat[0] + heat[1][:, ::-1]) / 2
        return heat[0]

    def _primary(self, batch, size: int) -> torch.Tensor | None:
        lm = batch.get("landmarks")
        if lm is None:
            return None
        return primary_region_masks(lm * size, size).to(batch["aligned"])

    def forward(self, batch):
        pmap = self.quality_map(batch["aligned"])[:, 0]
        if self.cfg.region_weight == 1.0:
            return pmap.mean((1, 2))
        mask = self._primary(batch, pmap.shape[-1])
        if mask is None:
            return pmap.mean((1, 2))
        w = 1 + (self.cfg.region_weight - 1) * mask
        return (pmap * w).sum((1, 2)) / w.sum((1, 2))

    def cam_target_layer(self) -> nn.Module:
        return self.D.encoder8

    def explanation_maps(self, x, landmarks):
        return {"per-pixel realness": self.quality_map(x)[0, 0].cpu().numpy()}

    def extras(self, batch):
        pmap = self.quality_map(batch["aligned"])[:, 0]
        mask = self._primary(batch, pmap.shape[-1])
        if mask is None:
            return {}
        val = (pmap * mask).sum((1, 2)) / mask.sum((1, 2)).clamp_min(1)
        return {"primary_region_score": torch.where(mask.sum((1, 2)) > 0, val, pmap.mean((1, 2)))}


@register_model(IFQA_INFO)
def ifqa(**kw) -> IFQA:
    return IFQA(**kw)


def load_official(path: str | os.PathLike) -> IFQA:
    """The public ``IFQA_Metric.pth`` (dict with key ``"D"``) into the paper config."""
    ckpt = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    state = ckpt.get("D", ckpt) if isinstance(ckpt, dict) else ckpt
    model = IFQA("paper")
    missing, unexpected = model.D.load_state_dict(state, strict=False)
    if missing or unexpected:
        from ..errors import CheckpointError  # noqa: PLC0415

        raise CheckpointError(f"{path}: not an IFQA discriminator (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.eval()


# ----------------------------------------------------------------------------- facial primary regions, FPRS, losses
PRIMARY_GROUPS = {"left_eye": range(36, 42), "right_eye": range(42, 48), "nose": range(27, 36), "mouth": range(48, 68)}


def primary_region_masks(landmarks: torch.Tensor, size: int, grow: float = 1.4) -> torch.Tensor:
    """(B, 68, 2) pixels -> (B, S, S) {0, 1}: boxes around eyes, nose and mouth (grown by ``grow``).

    Rows with missing (NaN) landmarks give an empty mask.
    """
    b = landmarks.shape[0]
    yy, xx = torch.meshgrid(torch.arange(size, device=landmarks.device), torch.arange(size, device=landmarks.device), indexing="ij")
    mask = torch.zeros(b, size, size, device=landmarks.device)
    for idx in PRIMARY_GROUPS.values():
        pts = landmarks[:, list(idx)]
        ok = torch.isfinite(pts).all(-1).all(-1)
        lo, hi = pts.nan_to_num(0).amin(1), pts.nan_to_num(0).amax(1)
        c, half = (lo + hi) / 2, ((hi - lo) / 2 * grow).clamp_min(3)
        inside = ((xx[None] - c[:, None, None, 0]).abs() <= half[:, None, None, 0]) & ((yy[None] - c[:, None, None, 1]).abs() <= half[:, None, None, 1])
        mask = torch.maximum(mask, (inside & ok[:, None, None]).float())
    return mask


def fprs(real: torch.Tensor, fake: torch.Tensor, masks: torch.Tensor, prob: float = 0.5, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Facial primary region swap: per sample (with ``prob``) paste the fake's primary regions into
    the real face. Returns the mixed images and their per-pixel labels (1 real, 0 fake)."""
    b = real.shape[0]
    swap = (torch.rand(b, generator=generator) < prob).to(real.device).float()[:, None, None, None]
    m = masks[:, None] * swap
    mixed = real * (1 - m) + fake * m
    return mixed, 1 - m


AUGMENTS = ("color", "flip", "translation")


def check_augment(policy: Sequence[str]) -> None:
    """Raise ValueError naming any augmentation :func:`diff_augment` does not know."""
    bad = set(policy) - set(AUGMENTS)
    if bad:
        raise ValueError(f"unknown augmentation(s) {sorted(bad)}; choose from {AUGMENTS}")


def diff_augment(images: torch.Tensor, pixel_maps: Sequence[torch.Tensor], policy: Sequence[str], generator=None
                 ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """DiffAugment (Zhao et al., NeurIPS 2020) for a discriminator trained on few faces: one random colour shift,
    horizontal flip and circular shift per sample, applied to every input of D alike - real, restored, degraded - so
    D cannot separate them by content it has memorised. None of them blurs, resamples or quantises, so no
    degradation is added. ``pixel_maps`` (per-pixel labels ``(B, 1, S, S)``, region masks ``(B, S, S)``) flip and shift
    with their image. Differentiable, so G's adversarial term can see D through it.

    ``color``: brightness +-0.1, saturation x0.6..1.4, contrast x0.7..1.3 (narrower than the paper's, faces are not
    CIFAR); ``flip``: p = 0.5; ``translation``: up to 1/8 of the side, wrapping round (no padding seam to learn).
    """
    check_augment(policy)
    b, dev = images.shape[0], images.device
    r = torch.rand(b, 6, generator=generator).to(dev)  # one draw per sample, used or not, so policies share a stream
    x, maps = images, list(pixel_maps)
    if "color" in policy:
        x = x + (r[:, 0, None, None, None] - 0.5) * 0.2
        grey = x.mean(1, keepdim=True)
        x = (x - grey) * (0.6 + 0.8 * r[:, 1, None, None, None]) + grey
        x = (x - x.mean((1, 2, 3), keepdim=True)) * (0.7 + 0.6 * r[:, 2, None, None, None]) + x.mean((1, 2, 3), keepdim=True)
    if "flip" in policy:
        f = r[:, 3] < 0.5
        x = torch.where(f[:, None, None, None], x.flip(-1), x)
        maps = [torch.where(f.view(-1, *[1] * (m.dim() - 1)), m.flip(-1), m) for m in maps]
    if "translation" in policy:
        size = x.shape[-1]
        shift = ((r[:, 4:6] - 0.5) * 2 * (size // 8)).round().long().tolist()
        x = torch.stack([xi.roll(tuple(s), (-2, -1)) for xi, s in zip(x, shift)])
        maps = [torch.stack([mi.roll(tuple(s), (-2, -1)) for mi, s in zip(m, shift)]) for m in maps]
    return x, maps


def discriminator_loss(pmap: torch.Tensor, labels: torch.Tensor, primary: torch.Tensor | None = None, region_weight: float = 2.0) -> torch.Tensor:
    """Per-pixel BCE, primary-region pixels weighted ``region_weight`` times."""
    w = torch.ones_like(labels) if primary is None else 1 + (region_weight - 1) * primary[:, None]
    bce = F.binary_cross_entropy(pmap.clamp(1e-6, 1 - 1e-6), labels, reduction="none")
    return (bce * w).sum() / w.sum()


def generator_loss(pmap_fake: torch.Tensor, restored: torch.Tensor, target: torch.Tensor, adv_weight: float = 0.01) -> torch.Tensor:
    """L1 restoration + a small adversarial term (the restorer tries to make every pixel look real)."""
    adv = F.binary_cross_entropy(pmap_fake.clamp(1e-6, 1 - 1e-6), torch.ones_like(pmap_fake))
    return F.l1_loss(restored, target) + adv_weight * adv


def count_parameters(module: nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))

