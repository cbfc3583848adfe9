"""tinyFQnet (seed 004, Table I): a 64x64 MobileNetV2-style face quality network.

Table I, as printed (each conv followed by BN; ReLU after every conv except the block's
linear 1x1 projection, which Fig. 4 draws as "1x1 conv -> BN -> (+)"):

    conv 3x3, 11, stride 2                      64x64x3 -> 32x32x11
    block [1x1 8,  dw3x3 8,  1x1 2 ],  s1       -> 32x32x2
    block [1x1 8,  dw3x3 8,  1x1 5 ],  s2       -> 16x16x5
    block [1x1 20, dw3x3 20, 1x1 5 ],  s1       -> 16x16x5
    block [1x1 20, dw3x3 20, 1x1 11],  s2       -> 8x8x11
    block [1x1 44, dw3x3 44, 1x1 11] x2, s1 (residual)
    block [1x1 44, dw3x3 44, 1x1 22],  s1       -> 8x8x22
    conv 1x1, 256                               -> 8x8x256
    avgpool, fc 256 -> 1, sigmoid

The text says "7 blocks, 5 non-residual and 2 residual": the two repeated 11->11 blocks are
the residual ones (the 5->5 block, which could be, is counted as non-residual).

The paper disagrees with itself on size: the text gives 21.806k parameters and 2.356 MFLOPs,
but Table I with bias-free convolutions, BN affine parameters and the FC layer gives
**13,366 parameters** and **1.33 M multiply-adds** (derived in ``tests/test_tinyfqnet.py``),
which matches Table VI's "mobilenet t4 w0.35 64x64: 0.013M params, 1.43 Mflops" with the same
85.21 TPR as tinyFQnet. We build Table I exactly.
"""
from __future__ import annotations

import torch
from torch import nn

from ..tensors import resize_square
from .base import ModelInfo, QualityModel
from .registry import register_model

#: (in, expansion, out, stride, residual) per block, Table I order
TABLE_I_BLOCKS = (
    (11, 8, 2, 1, False),
    (2, 8, 5, 2, False),
    (5, 20, 5, 1, False),
    (5, 20, 11, 2, False),
    (11, 44, 11, 1, True),
    (11, 44, 11, 1, True),
    (11, 44, 22, 1, False),
)


class Block(nn.Module):
    """Fig. 4: 1x1 expand -> BN -> ReLU -> 3x3 depthwise -> BN -> ReLU -> 1x1 project -> BN (-> +)."""

    def __init__(self, cin: int, expand: int, cout: int, stride: int, residual: bool):
        super().__init__()
        if residual and (cin != cout or stride != 1):
            raise ValueError("a residual block needs cin == cout and stride 1")
        self.residual = residual
        self.body = nn.Sequential(
            nn.Conv2d(cin, expand, 1, bias=False), nn.BatchNorm2d(expand), nn.ReLU(inplace=True),
            nn.Conv2d(expand, expand, 3, stride, 1, groups=expand, bias=False), nn.BatchNorm2d(expand), nn.ReLU(inplace=True),
            nn.Conv2d(expand, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class TinyFQNet(nn.Module):
    """64x64 RGB in [0, 1] (ArcFace-aligned face, resized) -> quality in (0, 1)."""

    def __init__(self, blocks=TABLE_I_BLOCKS, stem: int = 11, head: int = 256):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, 2, 1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(*(Block(*b) for b in blocks))
        last = blocks[-1][2]
        self.head = nn.Sequential(nn.Conv2d(last, head, 1, bias=False), nn.BatchNorm2d(head), nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(head, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))

    def logit(self, x: torch.Tensor) -> torch.Tensor:
        """The pre-sigmoid score, (B,)."""
        return self.fc(self.pool(self.features(x)).flatten(1)).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logit(x))


def count_macs(model: nn.Module, input_shape=(1, 3, 64, 64)) -> int:
    """Multiply-adds of the convolutions and linear layers for one forward pass."""
    total = 0

    def conv_hook(m, _inp, out):
        nonlocal total
        total += out.numel() // out.shape[0] * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def fc_hook(m, _inp, out):
        nonlocal total
        total += m.in_features * m.out_features

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(fc_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(input_shape))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return total


# ----------------------------------------------------------------------------- registry entry
TINYFQNET_INFO = ModelInfo(
    name="tinyfqnet",
    description="Recognition-oriented face quality: 13k-parameter MobileNetV2-style net on the ArcFace-aligned 64x64 face.",
    score_range=(0.0, 1.0),
    inputs=("aligned",),
    alignment="arcface",
    input_size=64,
    paper="tinyFQnet (seed 004), Table I; labels quality(x) = cos(f_x, u_y), Eq. 1",
    trainable=True,
)


class TinyFQNetQuality(QualityModel):
    """Registry wrapper: ``batch["aligned"]`` (B, 3, 64, 64) in [0, 1] -> predicted cos(f_x, u_y).

    ``config="paper"`` is Table I; ``"lite"`` is the same network (it already trains in
    minutes on a CPU). ``stem``/``head``/``blocks`` may be overridden for ablations.
    """

    info = TINYFQNET_INFO

    def __init__(self, config: str = "paper", stem: int = 11, head: int = 256, blocks=None):
        if config not in ("paper", "lite"):
            raise ValueError(f"tinyfqnet config must be 'paper' or 'lite', got {config!r}")
        blocks = [list(b) for b in (blocks or TABLE_I_BLOCKS)]
        super().__init__(config=config, stem=stem, head=head, blocks=blocks)
        self.net = TinyFQNet(tuple(tuple(b) for b in blocks), stem=stem, head=head)

    def forward(self, batch):
        return self.net(resize_square(batch["aligned"], 64))

    def cam_target_layer(self) -> nn.Module:
        return self.net.head


@register_model(TINYFQNET_INFO)
def tinyfqnet(**kw) -> TinyFQNetQuality:
    return TinyFQNetQuality(**kw)
