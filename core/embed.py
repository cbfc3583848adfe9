"""Per-image face analysis for datasets: embedding, skin tone, image statistics; resumable.

``analyse_images(paths, cache_dir)`` detects the largest face of each image (or takes the
whole image as the face with ``aligned=True``), and records its 128-d dlib embedding, ITA skin
tone, and the GFIQA image statistics of the whole image. Results are written in Parquet
parts of ``chunk`` images (atomically), so an interrupted run resumes where it stopped and
40k-image datasets can be processed in worker processes.
"""
from __future__ import annotations

import os
from .parallel import process_pool
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InvalidImageError

_DETECTOR = None


def _detector():
    global _DETECTOR
    if _DETECTOR is None:
        from .faces import FaceDetector  # noqa: PLC0415

        _DETECTOR = FaceDetector()
    return _DETECTOR


def analyse_one(path: str, aligned: bool = False, fallback_whole: bool = True) -> dict:
    """One row of face analysis for one image (never raises for bad input: ``status`` says)."""
    from .faces import face_embedding, whole_image_face  # noqa: PLC0415
    from .io import load_image  # noqa: PLC0415
    from .stats import image_stats, skin_tone  # noqa: PLC0415

    row: dict = {"path": str(path)}
    try:
        rgb = load_image(path)
    except InvalidImageError as exc:
        return {**row, "status": f"error: {exc.cause}"}
    row.update({"width": rgb.shape[1], "height": rgb.shape[0], **image_stats(rgb)})
    faces = [] if aligned else _detector().detect(rgb)
    row["n_faces"] = len(faces)
    if faces:
        face, row["face_source"] = faces[0], "detected"
    elif aligned or fallback_whole:
        face, row["face_source"] = whole_image_face(rgb), "whole_image"
    else:
        return {**row, "status": "no_face"}
    row.update(dict(zip(("x1", "y1", "x2", "y2"), (float(v) for v in face.box))))
    row["detection_confidence"] = float(face.confidence)
    row.update(skin_tone(rgb, face.landmarks))
    row["embedding"] = face_embedding(rgb, face).astype(np.float32)
    row["status"] = "ok"
    return row


def _analyse_chunk(args) -> list[dict]:
    paths, aligned, fallback_whole = args
    return [analyse_one(p, aligned, fallback_whole) for p in paths]


def analyse_images(
    paths,
    cache_dir: str | os.PathLike,
    *,
    aligned: bool = False,
    fallback_whole: bool = True,
    chunk: int = 200,
    workers: int = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """Analyse ``paths`` into Parquet parts under ``cache_dir``; returns all rows (cached + new)."""
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    parts = sorted(cache.glob("part-*.parquet"))
    done = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True) if parts else pd.DataFrame({"path": []})
    have = set(done["path"].astype(str))
    todo = [str(p) for p in dict.fromkeys(str(p) for p in paths) if str(p) not in have]
    chunks = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]
    start = len(parts)
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm  # noqa: PLC0415

        bar = tqdm(total=len(todo), desc="analysing faces", unit="img")

    def write(i: int, rows: list[dict]) -> None:
        df = pd.DataFrame(rows)
        out = cache / f"part-{start + i:05d}.parquet"
        tmp = out.with_name(out.name + ".tmp")
        df.to_parquet(tmp, index=False)
        os.replace(tmp, out)
        if bar is not None:
            bar.update(len(rows))

    jobs = [(c, aligned, fallback_whole) for c in chunks]
    if workers > 1 and len(chunks) > 1:
        with process_pool(workers) as pool:
            for i, rows in enumerate(pool.map(_analyse_chunk, jobs)):
                write(i, rows)
    else:
        for i, job in enumerate(jobs):
            write(i, _analyse_chunk(job))
    if bar is not None:
        bar.close()
    parts = sorted(cache.glob("part-*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True) if parts else done


def embedding_matrix(df: pd.DataFrame) -> np.ndarray:
    """``(N, 128)`` float32 embeddings of the ``ok`` rows (in row order)."""
    ok = df[df["status"] == "ok"]
    return np.stack([np.asarray(e, np.float32) for e in ok["embedding"]]) if len(ok) else np.zeros((0, 128), np.float32)
