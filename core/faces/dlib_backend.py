"""dlib backend: HOG or CNN (MMOD) detection, 68/5-point landmarks, 128-d embeddings.

All weights ship inside PyPI packages (``dlib-bin`` + ``face-recognition-models``), so this
works offline. ``face_recognition_models/__init__`` imports ``pkg_resources`` (gone from
current setuptools), so the ``models/*.dat`` files are located through ``importlib``
without importing the package.
"""
from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailableError

MODEL_FILES = {
    "shape_68": "shape_predictor_68_face_landmarks.dat",
    "shape_5": "shape_predictor_5_face_landmarks.dat",
    "cnn": "mmod_human_face_detector.dat",
    "embed": "dlib_face_recognition_resnet_model_v1.dat",
}


def _dlib():
    try:
        import dlib  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - dependency
        raise BackendUnavailableError("dlib is not installed: pip install dlib-bin") from exc
    return dlib


@cache
def models_dir() -> Path:
    """Folder holding face-recognition-models' ``.dat`` files (found without importing it)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailableError("face-recognition-models is not installed: pip install face-recognition-models")
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "models"
        if (d / MODEL_FILES["shape_68"]).is_file():
            return d
    raise BackendUnavailableError(f"face-recognition-models has no models/ folder in {list(spec.submodule_search_locations)}")


def model_path(key: str) -> str:
    path = models_dir() / MODEL_FILES[key]
    if not path.is_file():
        raise BackendUnavailableError(f"missing dlib model file {path}")
    return str(path)


@cache
def hog_detector():
    return _dlib().get_frontal_face_detector()


@cache
def cnn_detector():
    return _dlib().cnn_face_detection_model_v1(model_path("cnn"))


@cache
def shape_predictor(points: int = 68):
    return _dlib().shape_predictor(model_path("shape_68" if points == 68 else "shape_5"))


@cache
def embedder():
    return _dlib().face_recognition_model_v1(model_path("embed"))


def detect(image: np.ndarray, method: str = "hog", upsample: int = 1) -> list[tuple[tuple[float, float, float, float], float]]:
    """Boxes ``(x1, y1, x2, y2)`` and detector scores on an RGB uint8 image."""
    if method == "hog":
        rects, scores, _ = hog_detector().run(image, upsample, 0.0)
        return [((r.left(), r.top(), r.right() + 1, r.bottom() + 1), float(s)) for r, s in zip(rects, scores)]
    if method == "cnn":
        dets = cnn_detector()(image, upsample)
        return [((d.rect.left(), d.rect.top(), d.rect.right() + 1, d.rect.bottom() + 1), float(d.confidence)) for d in dets]
    raise ValueError(f"unknown dlib detector {method!r} (hog | cnn)")


def _rect(box):
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    return _dlib().rectangle(x1, y1, x2 - 1, y2 - 1)


def landmarks(image: np.ndarray, box, points: int = 68) -> np.ndarray:
    """``(points, 2)`` float32 landmarks inside ``box`` from dlib's shape predictor."""
    shape = shape_predictor(points)(image, _rect(box))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def embedding(image: np.ndarray, box, landmarks68: np.ndarray | None = None, jitter: int = 0) -> np.ndarray:
    """128-d dlib ResNet face embedding (unit-ish norm; same person if distance < 0.6)."""
    dlib = _dlib()
    if landmarks68 is None:
        landmarks68 = landmarks(image, box, 68)
    pts = [dlib.point(int(round(x)), int(round(y))) for x, y in landmarks68]
    shape = dlib.full_object_detection(_rect(box), pts)
    image = np.ascontiguousarray(image, dtype=np.uint8)  # dlib refuses strided / read-only views
    if not image.flags.writeable:
        image = image.copy()
    return np.array(embedder().compute_face_descriptor(image, shape, jitter), dtype=np.float32)
