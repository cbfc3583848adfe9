"""Model registry in the style of timm / pyiqa: ``create_model(name)``, ``list_models()``.

Each entry is a factory returning a :class:`~core.models.base.QualityModel` whose ``info``
declares its score range, ``lower_better``, the inputs it needs and the paper it follows.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

from ..errors import ModelNotFoundError

log = logging.getLogger(__name__)
_FACTORIES: dict[str, Callable] = {}
_INFOS: dict[str, object] = {}


def register_model(info) -> Callable:
    """Decorator: register a factory under ``info.name`` (``info`` is a ``ModelInfo``)."""

    def deco(factory: Callable) -> Callable:
        if info.name in _FACTORIES:
            raise ValueError(f"model {info.name!r} is already registered")
        _FACTORIES[info.name] = factory
        _INFOS[info.name] = info
        return factory

    return deco


def _ensure_builtin() -> None:
    from . import dsl_fiqa, ifqa, perceptual, resnet_iqa, stylegan_iqa, tinyfqnet  # noqa: F401,PLC0415  (registers on import)


def list_models() -> list:
    """``ModelInfo`` of every registered model, sorted by name."""
    _ensure_builtin()
    return [_INFOS[k] for k in sorted(_INFOS)]


def model_info(name: str):
    """The ``ModelInfo`` of one registered model."""
    _ensure_builtin()
    if name not in _INFOS:
        raise ModelNotFoundError(f"unknown model {name!r}; available: {', '.join(sorted(_INFOS))}")
    return _INFOS[name]


#: shipped default weights of trainable models: ``assets/models/<name>.safetensors`` (+ ``.json`` card)
SHIPPED = Path(__file__).resolve().parents[2] / "assets" / "models"


def shipped_weights(name: str) -> Path | None:
    """The default checkpoint committed for ``name``, or None."""
    p = SHIPPED / f"{name}.safetensors"
    return p if p.is_file() and p.with_suffix(".json").is_file() else None


def create_model(name: str, weights: str | os.PathLike | None = None, device=None, pretrained: bool = True, **kwargs):
    """Build a registered model, optionally load a safetensors checkpoint, move to ``device``.

    ``weights`` is a ``.safetensors`` file (its ``.json`` config beside it) saved by
    :func:`core.checkpoint.save_checkpoint`; without it a trainable model loads its shipped
    default weights (``pretrained=True``) or starts from random initialisation (``False``).
    ``kwargs`` override the factory's defaults. The model is returned in eval mode.
    """
    import torch  # noqa: PLC0415

    info = model_info(name)
    if weights is None and pretrained and info.trainable:
        weights = shipped_weights(name)
        if weights is None:
            log.warning("%s: no shipped weights under %s; the model is untrained", name, SHIPPED)
        else:  # the shipped file serves only the configuration it was trained in
            from ..checkpoint import read_config  # noqa: PLC0415

            shipped_cfg = read_config(weights)["config"]
            if any(shipped_cfg.get(k) != v for k, v in kwargs.items()):
                log.warning("%s: shipped weights are for %s, not %s; the model is untrained", name, shipped_cfg, kwargs)
                weights = None
    if weights is not None:
        from ..checkpoint import load_checkpoint  # noqa: PLC0415

        model = load_checkpoint(weights, expect_model=info.name, **kwargs)
    else:
        model = _FACTORIES[name](**kwargs)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return model.to(torch.device(device)).eval()


def build_from_config(name: str, config: dict):
    """Factory call used by the checkpoint loader (no weights, no device move)."""
    model_info(name)
    return _FACTORIES[name](**config)
