"""``create_model(name)``: a registered model with its weights, on a device, in eval mode."""
from __future__ import annotations

import os

from ..assets import ASSETS, shipped_weights
from ..errors import CheckpointError, MissingWeightsError
from .checkpoint import load_checkpoint, read_config
from .registry import build_from_config, model_info


def create_model(name: str, weights: str | os.PathLike | None = None, device=None, pretrained: bool = True, **kwargs):
    """Build a registered model, load its weights, move it to ``device`` (default: CUDA when available).

    ``weights`` is a ``.safetensors`` file (its ``.json`` config beside it) saved by
    :func:`core.models.checkpoint.save_checkpoint`. Without it a trainable model loads the weights
    shipped in :mod:`core.assets`; a trainable model with no shipped weights, or ``kwargs`` that
    the shipped weights were not trained with, raises :class:`~core.errors.MissingWeightsError` /
    :class:`~core.errors.CheckpointError` - an untrained model is built only when asked for with
    ``pretrained=False``. ``kwargs`` override the factory's defaults.
    """
    import torch  # noqa: PLC0415

    info = model_info(name)
    if weights is None and pretrained and info.trainable:
        weights = shipped_weights(name)
        if weights is None:
            raise MissingWeightsError(
                f"{name}: no shipped weights in {ASSETS} ({name}.safetensors + .json). Pass weights=PATH to a "
                f"checkpoint you trained (faceiqa train model {name} ...), or pretrained=False for an untrained model.")
        shipped_cfg = read_config(weights)["config"]  # the shipped file serves only the configuration it was trained in
        differ = {k: v for k, v in kwargs.items() if shipped_cfg.get(k) != v}
        if differ:
            raise CheckpointError(f"{name}: the shipped weights were trained with {({k: shipped_cfg.get(k) for k in differ})}, "
                                  f"not {differ}; pass weights=PATH for that configuration, or pretrained=False for an untrained model")
    model = (load_checkpoint(weights, expect_model=info.name, **kwargs) if weights is not None
             else build_from_config(name, kwargs))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return model.to(torch.device(device)).eval()
