"""Quality models, one per file, all reachable through :func:`create_model`."""
from .base import ModelInfo, QualityModel
from .registry import create_model, list_models, model_info, register_model

__all__ = ["ModelInfo", "QualityModel", "create_model", "list_models", "model_info", "register_model"]
