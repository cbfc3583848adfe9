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


@pytest.fixture(scope="session")
def face512(astronaut, astronaut_face) -> np.ndarray:
    """The astronaut's face, GFIQA-aligned at 512 px."""
    from core.faces import align_gfiqa

    return align_gfiqa(astronaut, astronaut_face, 512).image


@pytest.fixture(scope="session")
def face_ladder(tmp_path_factory, astronaut, astronaut_face):
    """The astronaut's aligned face, clean and under 5 degradation types x 3 levels: (folder, labels, images)."""
    import cv2

    from core.analysis.embed import reference_set
    from core.faces import align_gfiqa

    d = tmp_path_factory.mktemp("ladder")
    crop = align_gfiqa(astronaut, astronaut_face, 128).image
    imgs, meta = reference_set(crop, types=("gaussian_blur", "gaussian_noise", "jpeg", "overexposure", "motion_blur"))
    names = []
    for i, img in enumerate(imgs):
        names.append(f"img_{i:02d}.png")
        cv2.imwrite(str(d / names[-1]), img[..., ::-1])
    t = meta.assign(image=names, mos=1 - meta.level / 5)
    t.to_csv(d / "labels.csv", index=False)
    return d, t, imgs


@pytest.fixture(scope="session")
def sample_stats(tmp_path_factory):
    """`faceiqa data stats` over a labelled copy of the samples (MOS, split, gender from the table)."""
    import pandas as pd

    from core.cli import main

    d = tmp_path_factory.mktemp("explorer")
    names = ["astronaut.jpg", "astronaut_blurred.jpg", "astronaut_jpeg_q8.jpg", "astronaut_noisy.jpg", "two_faces.jpg", "no_face_coffee.jpg"]
    labels = pd.DataFrame({"image": [str(SAMPLES / n) for n in names], "mos": [0.9, 0.2, 0.15, 0.35, 0.7, 0.5],
                           "split": ["train", "test", "test", "train", "train", "test"],
                           "gender": ["female", "female", "female", "female", "male", None]})
    labels.to_csv(d / "labels.csv", index=False)
    out = d / "stats.parquet"
    assert main(["data", "stats", str(d / "labels.csv"), "--out", str(out), "-q"]) == 0
    return out


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(cmd: list[str], url: str, env: dict, what: str, timeout: float = 120):
    """Start ``cmd`` and wait until ``url`` answers; fails the test with the server's output otherwise."""
    import subprocess
    import time
    import urllib.request

    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited: {proc.stdout.read().decode()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc
        except OSError:
            time.sleep(1)
    proc.kill()
    pytest.fail(f"{what} did not serve within {timeout:.0f} s")


def plotly_values(v):
    """Plotly JSON stores arrays as base64 ``bdata``; plain lists otherwise."""
    import base64

    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
    return np.asarray(v)
