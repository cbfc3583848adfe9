"""Model registry in the style of timm / pyiqa: names -> factories and :class:`~core.models.base.ModelInfo`.

It imports no model: each model file registers itself with :func:`register_model` when
``core.models`` imports it (as timm's ``_registry.py``). :func:`~core.models.factory.create_model`
builds a registered model with its weights.
"""
from __future__ import annotations

from collections.abc import Callable

from ..errors import ModelNotFoundError

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


def list_models() -> list:
    """``ModelInfo`` of every registered model, sorted by name."""
    return [_INFOS[k] for k in sorted(_INFOS)]


def model_info(name: str):
    """The ``ModelInfo`` of one registered model."""
    if name not in _INFOS:
        raise ModelNotFoundError(f"unknown model {name!r}; available: {', '.join(sorted(_INFOS))}")
    return _INFOS[name]


def build_from_config(name: str, config: dict):
    """A fresh (untrained) model from its factory and constructor config; no weights, no device move."""
    model_info(name)
    return _FACTORIES[name](**config)
