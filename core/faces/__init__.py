"""Face detection, landmarks, embeddings and alignment.

>>> from core.faces import FaceDetector
>>> faces = FaceDetector().detect(rgb)          # list[Face], largest first; [] when none

Backends: detector ``hog`` (dlib HOG, default), ``cnn`` (dlib MMOD) or ``robust`` (the
degradation-robust CNN of :mod:`core.faces.robust`); by default the robust detector runs as a
fallback whenever the fast path finds nothing (``fallback="robust"``). Landmarker ``dlib``
(68-point shape predictor, default) or ``fan`` (face-alignment's 2D-FAN, used only when its
weights are already in the local torch-hub cache; otherwise a warning and dlib). Every face
records which backend found it and that backend's confidence.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import BackendUnavailableError, FaceIQAError
from . import dlib_backend
from .align import AlignedFace, align_arcface, align_gfiqa, region_mask, transform_points
from .types import LANDMARK_GROUPS, REGION_GROUPS, Face

log = logging.getLogger(__name__)

__all__ = [
    "Face", "FaceDetector", "AlignedFace", "LANDMARK_GROUPS", "REGION_GROUPS",
    "align_gfiqa", "align_arcface", "region_mask", "transform_points", "face_embedding", "whole_image_face",
]


@dataclass
class FaceDetector:
    """Detect every face and its 68 landmarks.

    ``upsample="auto"`` upsamples once when the detection image's short side is under
    600 px (dlib HOG's smallest face is ~80 px, ~40 px after one upsample). Images whose
    long side exceeds ``max_side`` are detected on a downscaled copy; landmarks are always
    fitted at full resolution.
    """

    detector: str = "hog"
    landmarker: str = "dlib"
    upsample: int | str = "auto"
    max_side: int = 1280
    fallback: str | None = "robust"

    def __post_init__(self) -> None:
        if self.detector not in ("hog", "cnn", "robust"):
            raise ValueError(f"detector must be 'hog', 'cnn' or 'robust', got {self.detector!r}")
        if self.fallback not in (None, "none", "robust"):
            raise ValueError(f"fallback must be 'robust' or None, got {self.fallback!r}")
        self._robust = None
        if self.landmarker not in ("dlib", "fan"):
            raise ValueError(f"landmarker must be 'dlib' or 'fan', got {self.landmarker!r}")
        self._fan = None
        if self.landmarker == "fan":
            from .fan_backend import load_fan  # noqa: PLC0415

            self._fan = load_fan()  # None (with a logged warning) when unavailable
        self.landmark_backend = "fan" if self._fan is not None else "dlib"

    @property
    def name(self) -> str:
        return self._backend_name(self.detector)

    def _backend_name(self, detector: str) -> str:
        return f"{'robust-cnn' if detector == 'robust' else 'dlib-' + detector}+{self.landmark_backend}"

    def _robust_detector(self, required: bool):
        """The shipped robust detector; ``required`` (``detector="robust"``) raises when its weights are missing,
        as a fallback it is skipped with a warning so dlib's path keeps working."""
        if self._robust is None:
            from .robust import shipped_detector  # noqa: PLC0415

            try:
                self._robust = shipped_detector()
            except FaceIQAError as exc:  # weights missing or unreadable
                if required:
                    raise BackendUnavailableError(str(exc)) from exc
                log.warning("robust face detector unavailable (%s); no fallback", exc)
                self._robust = False
        if self._robust is False and required:
            raise BackendUnavailableError("robust face detector unavailable: its shipped weights are not installed")
        return self._robust or None

    def detect(self, image: np.ndarray) -> list[Face]:
        """All faces in an RGB uint8 image, largest first. No face gives ``[]``."""
        if self.detector == "robust":
            return self._detect_robust(image, required=True)
        faces = self._detect_dlib(image)
        if not faces and self.fallback == "robust":
            faces = self._detect_robust(image, required=False)
        return faces

    def _detect_robust(self, image: np.ndarray, required: bool) -> list[Face]:
        det = self._robust_detector(required)
        if det is None:
            return []
        faces = [Face(box=box, landmarks=self._landmarks(image, box), confidence=conf, backend=self._backend_name("robust"))
                 for box, conf in det.detect(image)]
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def _detect_dlib(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        det_img = image if scale == 1.0 else cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        up = self.upsample
        if up == "auto":
            up = 1 if min(det_img.shape[:2]) < 600 else 0
        found = dlib_backend.detect(det_img, self.detector, int(up))
        faces = []
        for box, conf in found:
            box = tuple(float(np.clip(v / scale, 0, lim)) for v, lim in zip(box, (w, h, w, h)))
            if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                continue
            faces.append(Face(box=box, landmarks=self._landmarks(image, box), confidence=conf, backend=self.name))
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def _landmarks(self, image: np.ndarray, box) -> np.ndarray:
        if self._fan is not None:
            return self._fan(image, box)
        return dlib_backend.landmarks(image, box, 68)


def whole_image_face(image: np.ndarray, landmarker: str = "dlib") -> Face:
    """Treat an already-aligned crop as one face (box = whole image); landmarks still fitted.

    The landmarks are fitted inside the face box that dlib HOG finds near the crop centre
    when it finds one, else inside the box an aligned crop's framing implies.
    """
    h, w = image.shape[:2]
    box = (0.0, 0.0, float(w), float(h))
    if landmarker == "fan":
        from .fan_backend import load_fan  # noqa: PLC0415

        fan = load_fan()
        if fan is not None:
            return Face(box, fan(image, box), 1.0, "aligned+fan")
    inner = None
    for det_box, _ in dlib_backend.detect(image, "hog", 1 if min(h, w) < 600 else 0):
        cx, cy = (det_box[0] + det_box[2]) / 2, (det_box[1] + det_box[3]) / 2
        if abs(cx - w / 2) < 0.25 * w and abs(cy - h / 2) < 0.25 * h and (inner is None or det_box[2] - det_box[0] > inner[2] - inner[0]):
            inner = det_box
    if inner is None:  # dlib-style box for a crop of 4x the eye distance (GFIQA / FFHQ framing)
        inner = (0.22 * w, 0.3 * h, 0.78 * w, 0.86 * h)
    return Face(box, dlib_backend.landmarks(image, inner, 68), 1.0, "aligned+dlib")


def face_embedding(image: np.ndarray, face: Face) -> np.ndarray:
    """128-d dlib ResNet embedding of one face (offline)."""
    return dlib_backend.embedding(image, face.box, face.landmarks)
