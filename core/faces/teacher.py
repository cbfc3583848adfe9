"""Teacher labels for the robust face backend: dlib boxes + 68 landmarks on clean photos.

dlib HOG finds 100 % of clean LFW faces, so its output on the clean photo is the label that
every degraded copy of that photo inherits (teacher-student training, issue 4).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..parallel import process_pool


def _label_chunk(paths: list[str]) -> list[dict]:
    from ..errors import InvalidImageError  # noqa: PLC0415
    from ..io import load_image  # noqa: PLC0415
    from . import FaceDetector  # noqa: PLC0415

    det = FaceDetector()
    rows = []
    for p in paths:
        try:
            rgb = load_image(p)
        except InvalidImageError:
            continue
        faces = det.detect(rgb)
        rows.append({
            "path": p, "width": rgb.shape[1], "height": rgb.shape[0], "n_faces": len(faces),
            "boxes": [list(map(float, f.box)) for f in faces],
            "landmarks": [f.landmarks.astype(np.float32).ravel().tolist() for f in faces],
            "scores": [float(f.confidence) for f in faces],
        })
    return rows


def teacher_labels(paths, out: str | os.PathLike, workers: int = 1, chunk: int = 100) -> pd.DataFrame:
    """Label ``paths`` (all faces per photo) into a Parquet file; reuses rows already there."""
    out = Path(out)
    done = pd.read_parquet(out) if out.is_file() else pd.DataFrame({"path": []})
    have = set(done["path"])
    todo = [str(p) for p in paths if str(p) not in have]
    chunks = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]
    rows: list[dict] = []
    if workers > 1 and len(chunks) > 1:
        with process_pool(workers) as pool:
            for r in pool.map(_label_chunk, chunks):
                rows += r
    else:
        for c in chunks:
            rows += _label_chunk(c)
    table = pd.concat([done, pd.DataFrame(rows)], ignore_index=True) if rows else done
    tmp = out.with_name(out.name + ".tmp")
    table.to_parquet(tmp, index=False)
    os.replace(tmp, out)
    return table
