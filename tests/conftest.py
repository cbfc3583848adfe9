"""Shared fixtures. Real photos come from $FACEIQA_DATA (default ../shared/data)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "assets" / "samples"


def data_root() -> Path:
    return Path(os.environ.get("FACEIQA_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = data_root()
    if not (root / "lfw").is_dir():
        pytest.skip(f"shared face data not found at {root} (set FACEIQA_DATA to the folder holding lfw/, gfpgan-inputs/ ...)")
    return root


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from core.io import load_image

    return load_image(SAMPLES / "astronaut.jpg")


@pytest.fixture(scope="session")
def astronaut_face(astronaut):
    from core.faces import FaceDetector

    faces = FaceDetector().detect(astronaut)
    assert len(faces) == 1
    return faces[0]
