"""The face record every backend returns, and the iBUG 68-point landmark groups."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: iBUG-300W 68-point groups. "right"/"left" are the subject's own (iBUG convention):
#: the subject's right eye (36-41) appears on the image's left.
LANDMARK_GROUPS: dict[str, tuple[int, ...]] = {
    "jaw": tuple(range(0, 17)),
    "right_brow": tuple(range(17, 22)),
    "left_brow": tuple(range(22, 27)),
    "nose": tuple(range(27, 36)),
    "right_eye": tuple(range(36, 42)),
    "left_eye": tuple(range(42, 48)),
    "mouth": tuple(range(48, 68)),
}
#: Coarser groups used for region masks (IFQA-style facial primary regions).
REGION_GROUPS: dict[str, tuple[str, ...]] = {
    "eyes": ("right_eye", "left_eye"),
    "brows": ("right_brow", "left_brow"),
    "nose": ("nose",),
    "mouth": ("mouth",),
    "jaw": ("jaw",),
}


@dataclass
class Face:
    """One detected face in image pixel coordinates.

    ``box`` is ``(x1, y1, x2, y2)``; ``landmarks`` is ``(68, 2)`` float32 ``(x, y)`` in the
    iBUG layout; ``confidence`` is the detector's own score (backend-specific scale);
    ``backend`` names the detector+landmarker that produced it.
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    confidence: float
    backend: str
    meta: dict = field(default_factory=dict)

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)

    def group(self, name: str) -> np.ndarray:
        """Landmarks of one named group (see :data:`LANDMARK_GROUPS` and :data:`REGION_GROUPS`)."""
        if name in LANDMARK_GROUPS:
            return self.landmarks[list(LANDMARK_GROUPS[name])]
        if name in REGION_GROUPS:
            return np.concatenate([self.group(g) for g in REGION_GROUPS[name]])
        raise KeyError(f"unknown landmark group {name!r}; known: {sorted(LANDMARK_GROUPS) + sorted(REGION_GROUPS)}")

    @property
    def eye_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """(image-left eye centre, image-right eye centre), each ``(x, y)``."""
        return self.group("right_eye").mean(0), self.group("left_eye").mean(0)

    def five_points(self) -> np.ndarray:
        """ArcFace/RetinaFace 5 points from the 68: eye centres, nose tip, mouth corners."""
        le, re = self.eye_centres
        lm = self.landmarks
        return np.stack([le, re, lm[30], lm[48], lm[54]]).astype(np.float32)
