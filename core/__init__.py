"""FaceIQA Studio core: face image quality assessment, offline, CPU or GPU.

>>> import core
>>> core.list_models()
>>> core.assess("photo.jpg").faces[0].score
"""
from __future__ import annotations

from .api import CATEGORIES, DEFAULT_MODEL, AssessResult, FaceScore, Scorer, assess, category
from .errors import BackendUnavailableError, CheckpointError, FaceIQAError, InvalidImageError, ModelNotFoundError
from .io import load_image
from .models import create_model, list_models, model_info

__version__ = "0.1.0"

__all__ = [
    "assess", "Scorer", "AssessResult", "FaceScore", "category", "CATEGORIES", "DEFAULT_MODEL",
    "create_model", "list_models", "model_info", "load_image",
    "FaceIQAError", "InvalidImageError", "CheckpointError", "ModelNotFoundError", "BackendUnavailableError",
]
