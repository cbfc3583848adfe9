"""Frame selection (tinyFQnet, seed 004, Fig. 2): rank the frames of one person, keep the best k.

>>> from core.analysis.frames import select_frames, read_video
>>> ranking = select_frames(read_video("clip.mp4", every=5), k=3)
>>> ranking.best          # indices of the k best frames, best first

Every frame is scored on its largest face; a frame with no detectable face ranks last
(score NaN) instead of being dropped, so the indices always refer to the input sequence.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InvalidImageError
from ..io import ImageSource


@dataclass
class FrameRanking:
    table: pd.DataFrame  # frame, score, category, box, backend (rank order)
    k: int

    @property
    def best(self) -> list[int]:
        """Input indices of the k best frames that have a face, best first."""
        ok = self.table.dropna(subset=["score"])
        return [int(i) for i in ok["frame"].head(self.k)]


def select_frames(frames: list[ImageSource], k: int = 3, model: str = "tinyfqnet", scorer=None, progress: bool = False) -> FrameRanking:
    """Score the largest face of every frame with ``model`` and rank (stable: ties keep input order)."""
    from tqdm.auto import tqdm  # noqa: PLC0415

    from ..api import Scorer  # noqa: PLC0415

    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    scorer = scorer or Scorer(model)
    rows = []
    for i, frame in enumerate(tqdm(frames, desc="frames", disable=not progress)):
        try:
            res = scorer.assess(frame, faces="largest")
        except InvalidImageError as exc:
            rows.append({"frame": i, "score": np.nan, "category": "", "box": None, "backend": "", "error": str(exc)})
            continue
        f = res.faces[0] if res.faces else None
        rows.append({"frame": i, "score": f.score if f else np.nan, "category": f.category if f else "no_face",
                     "box": f.box if f else None, "backend": f.backend if f else "", "error": ""})
    table = pd.DataFrame(rows)
    table = table.sort_values("score", ascending=False, na_position="last", kind="stable").reset_index(drop=True)
    return FrameRanking(table, k)


def read_video(path: str | os.PathLike, every: int = 1, max_frames: int = 300) -> list[np.ndarray]:
    """RGB frames of a video file (every ``every``-th, at most ``max_frames``)."""
    import cv2  # noqa: PLC0415

    if every < 1:
        raise ValueError("every must be >= 1")
    cap = cv2.VideoCapture(os.fspath(path))
    if not cap.isOpened():
        raise InvalidImageError(f"{path}: cannot open as a video")
    frames, i = [], 0
    try:
        while len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            if i % every == 0:
                frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            i += 1
    finally:
        cap.release()
    if not frames:
        raise InvalidImageError(f"{path}: no decodable frames")
    return frames


VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v")


def frames_from_files(files: list[tuple[str, bytes]], every: int = 1, max_frames: int = 300) -> tuple[list[np.ndarray], list[str]]:
    """Uploaded (name, bytes): videos are decoded (every ``every``-th frame), photos kept; returns (frames, names)."""
    import tempfile  # noqa: PLC0415

    from ..io import load_image  # noqa: PLC0415

    frames: list[np.ndarray] = []
    names: list[str] = []
    for name, data in files:
        suffix = Path(name).suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            with tempfile.NamedTemporaryFile(suffix=suffix) as fh:
                fh.write(data)
                fh.flush()
                video = read_video(fh.name, every=every, max_frames=max_frames)
            frames += video
            names += [f"{name} #{i * every}" for i in range(len(video))]
        else:
            frames.append(load_image(data))
            names.append(name)
    return frames, names
