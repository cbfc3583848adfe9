"""Quality models, one per file, all reachable through :func:`create_model`.

Importing this package registers every model family (each file calls ``register_model``).
"""
from . import dsl_fiqa, ifqa, mobile_fiqa, perceptual, resnet_iqa, stylegan_iqa, tinyfqnet  # noqa: F401,E402  (register on import)
from .base import ModelInfo, QualityModel
from .factory import create_model
from .registry import build_from_config, list_models, model_info, register_model

__all__ = ["ModelInfo", "QualityModel", "build_from_config", "create_model", "list_models", "model_info", "register_model"]
