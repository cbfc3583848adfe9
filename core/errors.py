"""Typed errors raised by FaceIQA Studio. Catch :class:`FaceIQAError` for all of them."""
from __future__ import annotations


class FaceIQAError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidImageError(FaceIQAError, ValueError):
    """An input could not be decoded into an RGB image (names the source and the cause)."""

    def __init__(self, source: str, cause: str):
        self.source = source
        self.cause = cause
        super().__init__(f"{source}: {cause}")


class CheckpointError(FaceIQAError, ValueError):
    """A checkpoint is missing, of an unsafe format, or does not fit the model."""


class MissingWeightsError(CheckpointError, FileNotFoundError):
    """A model's shipped weights are not installed (and an untrained model was not asked for)."""


class ModelNotFoundError(FaceIQAError, KeyError):
    """No model of that name is registered."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class BackendUnavailableError(FaceIQAError, RuntimeError):
    """A face backend cannot run here (package or weights missing)."""


class NoFaceError(FaceIQAError, ValueError):
    """An image holds no face where one is required (e.g. to explain a score)."""
