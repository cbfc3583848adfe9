"""face-alignment (2D-FAN, Bulat & Tzimiropoulos 2017) landmarks, used only when cached.

face-alignment downloads its weights on first use, which fails offline, so this backend
looks for them in the torch-hub cache first (``$TORCH_HOME/hub/checkpoints``:
``2DFAN4-11f355bf06.pth.tar`` and its detector's ``s3fd-619a316812.pth``) and only then
builds ``face_alignment.FaceAlignment``. Both files load with ``weights_only=True`` inside
face-alignment (no arbitrary unpickling). Anything missing -> a logged warning and ``None``,
and the caller falls back to dlib. Boxes always come from our detector, so FAN's own
detector never runs.
"""
from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FAN_FILES = ("2DFAN4-11f355bf06.pth.tar", "s3fd-619a316812.pth")


def hub_checkpoints_dir() -> Path:
    """torch-hub's checkpoint folder (honours TORCH_HOME), where face-alignment caches."""
    import torch  # noqa: PLC0415

    return Path(torch.hub.get_dir()) / "checkpoints"


def missing_weights() -> list[str]:
    """Names of the FAN weight files not present in the local cache."""
    d = hub_checkpoints_dir()
    return [f for f in FAN_FILES if not (d / f).is_file()]


@lru_cache(maxsize=2)
def load_fan(device: str | None = None):
    """A ``(image, box) -> (68, 2)`` landmark function, or ``None`` with a warning."""
    try:
        import face_alignment  # noqa: PLC0415
    except ImportError:
        log.warning("landmarker 'fan' needs the face-alignment package (pip install --no-deps face-alignment); using dlib")
        return None
    missing = missing_weights()
    if missing:
        log.warning("landmarker 'fan': weights %s not in %s (offline, not downloading); using dlib",
                    ", ".join(missing), hub_checkpoints_dir())
        return None
    import torch  # noqa: PLC0415

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        fa = face_alignment.FaceAlignment(
            face_alignment.LandmarksType.TWO_D, device=device, flip_input=False, compile=False,
            face_detector="sfd",
            face_detector_kwargs={"path_to_detector": os.fspath(hub_checkpoints_dir() / FAN_FILES[1])},
        )
    except Exception as exc:  # corrupt cache, version mismatch
        log.warning("landmarker 'fan' failed to load (%s); using dlib", exc)
        return None

    def predict(image: np.ndarray, box) -> np.ndarray:
        x1, y1, x2, y2 = box
        out = fa.get_landmarks_from_image(image, detected_faces=[np.array([x1, y1, x2, y2, 1.0])])
        if not out:
            raise RuntimeError("FAN returned no landmarks")
        return np.asarray(out[0][:, :2], dtype=np.float32)

    return predict
