"""Base class of every quality model, and the per-face inputs a model can ask for.

A model declares in :class:`ModelInfo` which inputs it consumes:

* ``"aligned"``   - ``(B, 3, S, S)`` float RGB in [0, 1], the face aligned by ``alignment``
  (``"gfiqa"``: eye-midpoint, 4x eye distance; ``"arcface"``: 5-point template) at ``input_size``;
* ``"landmarks"`` - ``(B, 68, 2)`` iBUG landmarks in the aligned frame, divided by ``S``;
* ``"grid_crop"`` - ``(B, 3, 128, 128)`` un-resampled pixels around the face, cut on the
  8-pixel JPEG block grid of the original image (for compression measures).

``forward(batch) -> (B,)`` raw scores in ``info.score_range``; :meth:`QualityModel.to_mos`
maps them onto the common 0..1 higher-is-better MOS scale.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    score_range: tuple[float, float] = (0.0, 1.0)
    lower_better: bool = False
    inputs: tuple[str, ...] = ("aligned",)
    alignment: str = "gfiqa"
    input_size: int = 512
    paper: str = ""
    trainable: bool = False
    extras: tuple[str, ...] = field(default_factory=tuple)  # names of extra per-face outputs

    def as_dict(self) -> dict:
        return asdict(self)


class QualityModel(nn.Module):
    """A face quality model: ``forward(batch: dict) -> (B,)`` raw scores."""

    info: ModelInfo

    def __init__(self, **config):
        super().__init__()
        self.config = dict(config)  # JSON-serialisable constructor arguments

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def extras(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Optional named ``(B,)`` side outputs (e.g. head-pose angles)."""
        return {}

    @contextmanager
    def cam_pass(self) -> Iterator[None]:
        """Set-up for one CAM pass (``core.analysis.explain.cam_heatmap``): a model that splits a face over several network calls
        makes it one call here, so the CAM layer's hook sees every view of the face once."""
        yield

    def merge_cam_views(self, heat: np.ndarray) -> np.ndarray:
        """``(V, h, w)`` CAM maps of the V views of one face that the CAM layer saw -> the face's ``(h, w)`` map.
        Default: a single view."""
        return heat[0]

    # -- hooks: what a model does besides scoring. Each model answers for itself, so adding a model touches its file only.
    def cam_target_layer(self) -> nn.Module:
        """The convolutional layer a CAM of the score is taken from (``core.analysis.explain.cam_heatmap``)."""
        raise ValueError(f"{self.info.name}: no convolutional layer to take a CAM from (training-free model)")

    def explanation_maps(self, x: torch.Tensor, landmarks: torch.Tensor | None) -> dict[str, np.ndarray]:
        """The paper's own explanation images of one aligned face ``x`` (1, 3, S, S) in [0, 1] (``landmarks``
        (1, 68, 2) divided by S, or None): HxW maps in [0, 1] or HxWx3 uint8 pictures at any resolution (the caller
        fits them to the crop). Default: none."""
        return {}

    def training_loss(self, x: torch.Tensor, landmarks: torch.Tensor | None, mos: torch.Tensor,
                      rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(the paper's training loss, the predicted scores) of one batch of aligned faces (``core.train.iqa``).
        Default: L1 regression on the MOS (the GFIQA baseline)."""
        pred = self({"aligned": x})
        return F.l1_loss(pred, mos), pred

    def pretrain(self, images: torch.Tensor, mos: torch.Tensor, cfg, device: str, log=None) -> dict:
        """A stage before MOS training, run once at the start of a new run on the training faces (uint8
        ``(N, 3, S, S)`` and their MOS); returns what the run's state keeps of it. Default: none."""
        return {}

    def prepare_training(self) -> None:
        """Called after ``train()`` at every epoch of MOS training: parts the paper keeps fixed are frozen here."""

    def to_mos(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw scores -> 0..1, higher better."""
        lo, hi = self.info.score_range
        mos = (raw - lo) / (hi - lo)
        return (1.0 - mos if self.info.lower_better else mos).clamp(0.0, 1.0)

    @property
    def device(self) -> torch.device:
        for t in list(self.parameters()) + list(self.buffers()):
            return t.device
        return getattr(self, "_device", torch.device("cpu"))

    def _apply(self, fn, *args, **kwargs):  # track device for parameter-free models
        out = super()._apply(fn, *args, **kwargs)
        probe = fn(torch.zeros(()))
        self._device = probe.device
        return out


def resolve_preset(model: str, presets: dict, config: str, overrides: dict):
    """``presets[config]`` (a dataclass) with ``overrides`` applied (JSON lists back to tuples)."""
    from dataclasses import replace  # noqa: PLC0415

    if config not in presets:
        raise ValueError(f"{model} config must be one of {sorted(presets)}, got {config!r}")
    return replace(presets[config], **{k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()})
