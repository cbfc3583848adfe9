"""Per-image face analysis for datasets: embedding, skin tone, image statistics; resumable.

``analyse_images(paths, cache_dir)`` detects the largest face of each image (or takes the
whole image as the face with ``aligned=True``), and records its 128-d dlib embedding, ITA skin
tone, and the GFIQA image statistics of the whole image. Results are written in Parquet
parts of ``chunk`` images (atomically), so an interrupted run resumes where it stopped and
40k-image datasets can be processed in worker processes.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InvalidImageError
from ..parallel import process_pool

_DETECTOR = None


def _detector():
    global _DETECTOR
    if _DETECTOR is None:
        from ..faces import FaceDetector  # noqa: PLC0415

        _DETECTOR = FaceDetector()
    return _DETECTOR


def analyse_one(path: str, aligned: bool = False, fallback_whole: bool = True) -> dict:
    """One row of face analysis for one image (never raises for bad input: ``status`` says)."""
    from ..faces import face_embedding, whole_image_face  # noqa: PLC0415
    from ..io import load_image  # noqa: PLC0415
    from .stats import image_stats, skin_tone  # noqa: PLC0415

    row: dict = {"path": str(path), "analysis_version": ANALYSIS_VERSION}
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


#: bumped when a cached row's meaning changes; older rows are analysed again (2: black-and-white faces have no skin
#: tone, Nov 28 2026 - before, ITA read their grey level as "very light" or "dark")
ANALYSIS_VERSION = 2


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
    """Analyse ``paths`` into Parquet parts under ``cache_dir``; returns all rows (cached + new), one per path.

    Rows cached by an older analysis (:data:`ANALYSIS_VERSION`) are analysed again; the newer row wins."""
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    parts = sorted(cache.glob("part-*.parquet"))
    done = _latest(parts) if parts else pd.DataFrame({"path": []})
    current = done["analysis_version"].eq(ANALYSIS_VERSION) if "analysis_version" in done.columns else pd.Series(False, index=done.index)
    have = set(done.loc[current, "path"].astype(str))
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
    return _latest(parts) if parts else done


def _latest(parts: list[Path]) -> pd.DataFrame:
    """All cached rows, the last one of each path (parts are numbered in the order they were written)."""
    df = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    return df.drop_duplicates("path", keep="last").reset_index(drop=True)


def embedding_matrix(df: pd.DataFrame) -> np.ndarray:
    """``(N, 128)`` float32 embeddings of the ``ok`` rows (in row order)."""
    ok = df[df["status"] == "ok"]
    return np.stack([np.asarray(e, np.float32) for e in ok["embedding"]]) if len(ok) else np.zeros((0, 128), np.float32)


# ----------------------------------------------------------------------------- degradation embeddings
def degradation_embeddings(images, model=None, batch: int = 32, progress: bool = False) -> np.ndarray:
    """``(N, E)`` DSL degradation embeddings (psi, unit length) of aligned face images or paths.

    ``model``: a DSL-FIQA model (default: the shipped ``dsl-fiqa``); the whole crop, resized to
    the model's input, goes through its degradation encoder (the features DSL trains to ignore
    content and keep degradation).
    """
    import torch  # noqa: PLC0415

    from ..io import load_image  # noqa: PLC0415
    from ..tensors import image_to_tensor, resize_square  # noqa: PLC0415

    if model is None:
        from ..models import create_model  # noqa: PLC0415

        model = create_model("dsl-fiqa")
    if not hasattr(model, "degradation"):
        raise ValueError(f"{model.info.name}: has no degradation encoder (use dsl-fiqa)")
    enc = model.degradation.eval()
    dev = next(enc.parameters()).device
    size = model.cfg.input_size
    out = []
    it = range(0, len(images), batch)
    if progress:
        from tqdm.auto import tqdm  # noqa: PLC0415

        it = tqdm(it, desc="degradation embeddings", unit="batch")
    with torch.inference_mode():
        for i in it:
            chunk = [load_image(x) if not isinstance(x, np.ndarray) else x for x in images[i : i + batch]]
            x = torch.stack([resize_square(image_to_tensor(c)[None], size)[0] for c in chunk]).to(dev)
            emb = enc(x)[1].float()
            out.append(torch.nn.functional.normalize(emb, dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, enc.embed_dim), np.float32)


def project_2d(embeddings: np.ndarray, method: str = "umap", seed: int = 0, neighbours: int = 15):
    """2-D map of embeddings: ``(coords (N, 2), reducer)``; the UMAP reducer can place new points (``.transform``).

    ``method``: ``umap`` (umap-learn, imported lazily: its first import compiles for ~13 s) or
    ``tsne`` (scikit-learn; no reducer for new points, returned as None).
    """
    n = len(embeddings)
    if n < 3:
        raise ValueError(f"need at least 3 embeddings for a 2-D map, got {n}")
    if method == "tsne":
        from sklearn.manifold import TSNE  # noqa: PLC0415

        tsne = TSNE(2, perplexity=float(min(30, max(2, (n - 1) // 3))), init="pca", random_state=seed, metric="cosine")
        return tsne.fit_transform(embeddings), None
    if method != "umap":
        raise ValueError(f"method must be 'umap' or 'tsne', not {method!r}")
    import umap  # noqa: PLC0415

    reducer = umap.UMAP(n_neighbors=min(neighbours, n - 1), random_state=seed, metric="cosine", n_jobs=1)
    return reducer.fit_transform(embeddings), reducer


def retrieval_map(embeddings: np.ndarray, labels) -> tuple[float, pd.DataFrame]:
    """DSL Table 4 style retrieval: each image queries all others by cosine similarity of its
    degradation embedding; a hit shares its degradation label. Returns (mAP, AP per label)."""
    from sklearn.metrics import average_precision_score  # noqa: PLC0415

    labels = np.asarray(labels).astype(str)
    e = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    sim = e @ e.T
    aps = []
    for i in range(len(e)):
        others = np.arange(len(e)) != i
        rel = labels[others] == labels[i]
        aps.append(average_precision_score(rel, sim[i, others]) if rel.any() else np.nan)
    per = pd.DataFrame({"label": labels, "ap": aps}).groupby("label").ap.agg(["mean", "count"]).rename(columns={"mean": "AP", "count": "queries"})
    return float(np.nanmean(aps)), per.reset_index()


def nearest(embeddings: np.ndarray, query: int, k: int = 8) -> np.ndarray:
    """Indices of the ``k`` images whose degradation embeddings are closest to image ``query`` (itself excluded)."""
    e = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    sim = e @ e[query]
    sim[query] = -np.inf
    return np.argsort(-sim)[:k]


def reference_set(image: np.ndarray, types=None, levels=(1, 3, 5), seed: int = 0) -> tuple[list[np.ndarray], pd.DataFrame]:
    """A labelled reference set built offline from one clean face: every degradation type at
    ``levels`` plus the clean crop (for placing an upload on a map of known degradations)."""
    from ..data.degrade import TYPES, degrade  # noqa: PLC0415

    imgs, rows = [image], [{"degradation": "clean", "level": 0}]
    for kind in types or TYPES:
        for lv in levels:
            imgs.append(degrade(image, kind, lv, seed=seed)[0])
            rows.append({"degradation": kind, "level": lv})
    return imgs, pd.DataFrame(rows)
