"""Recognition-oriented quality labels (tinyFQnet, seed 004, sections III-C and III-D).

``quality(x) = cos(f_x, u_y)`` (Eq. 1): the cosine between a face's recognition feature and
the centre of its identity. The paper takes ``u_y`` from the classifier weights of the FR
model; dlib's ResNet (the offline FR model here) has no classifier, so the centre is the
normalised mean of the unit features of the identity's *clean* photos (the angular class
centre the classifier weights approximate). Degraded copies of each photo (the data engine's
types and levels) are embedded with the clean photo's landmarks - the geometry is unchanged,
so only the pixels' damage moves the feature away from the centre.

:func:`smooth_sample` is section III-D: 100 equal-width score bins on 0..1, the images whose
scores are in the lowest 10 % and highest 5 % over-sampled, the middle bins down-sampled,
so the training distribution of scores is flatter than the raw, peaked one.
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..parallel import process_pool


def class_centres(features: np.ndarray, identities) -> dict[str, np.ndarray]:
    """Unit-norm mean of unit-norm features per identity."""
    f = np.asarray(features, np.float64)
    f = f / np.linalg.norm(f, axis=1, keepdims=True).clip(1e-12)
    ids = np.asarray(list(identities))
    out = {}
    for y in np.unique(ids):
        c = f[ids == y].mean(axis=0)
        out[str(y)] = c / max(np.linalg.norm(c), 1e-12)
    return out


def recognition_quality(features: np.ndarray, identities, centres: dict[str, np.ndarray]) -> np.ndarray:
    """Eq. 1: cos(f_x, u_y) for every row (identity without a centre -> NaN)."""
    f = np.asarray(features, np.float64)
    f = f / np.linalg.norm(f, axis=1, keepdims=True).clip(1e-12)
    out = np.full(len(f), np.nan)
    for i, y in enumerate(identities):
        c = centres.get(str(y))
        if c is not None:
            out[i] = float(f[i] @ c)
    return out


def smooth_sample(scores, bins: int = 100, low: float = 0.10, high: float = 0.05, per_bin: int | None = None,
                  seed: int = 0) -> np.ndarray:
    """Indices of a score-balanced resample (section III-D).

    Scores fall in ``bins`` equal intervals of 0..1. Every bin is brought to ``per_bin``
    images (default: the mean count of the non-empty bins): bins above it are down-sampled
    without replacement (their tail images kept first); bins holding images of the lowest
    ``low`` / highest ``high`` fraction of scores are over-sampled with replacement up to it.
    Other bins keep what they have (the paper over-samples only the tails).
    """
    s = np.clip(np.asarray(scores, np.float64), 0.0, 1.0)
    rng = np.random.default_rng(seed)
    which = np.minimum((s * bins).astype(int), bins - 1)
    counts = np.bincount(which, minlength=bins)
    target = int(per_bin or max(1, round(counts[counts > 0].mean())))
    lo_cut, hi_cut = np.quantile(s, low), np.quantile(s, 1.0 - high)
    tail = (s <= lo_cut) | (s >= hi_cut)
    picked = []
    for b in np.flatnonzero(counts):
        idx = np.flatnonzero(which == b)
        t, m = idx[tail[idx]], idx[~tail[idx]]
        if len(idx) > target:  # down-sample the middle, keeping the bin's tail images first
            keep = rng.choice(t, target, replace=False) if len(t) >= target else np.concatenate([t, rng.choice(m, target - len(t), replace=False)])
            picked.append(keep)
        elif len(t):  # a tail bin: over-sample up to the target
            picked.append(np.concatenate([idx, rng.choice(idx, target - len(idx), replace=True)]))
        else:
            picked.append(idx)
    return np.sort(np.concatenate(picked))


# ----------------------------------------------------------------------------- label generation stage
@dataclass
class LabelConfig:
    variants: int = 3  # degraded copies per photo (plus the clean one)
    min_images: int = 10  # identities with fewer photos are skipped (the paper: 100 on MS-Celeb-1M)
    max_per_identity: int = 20
    crop: int = 64  # tinyFQnet input (ArcFace 5-point alignment scaled to this size)
    seed: int = 0


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image  # noqa: PLC0415

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def decode_crop(data: bytes) -> np.ndarray:
    from PIL import Image  # noqa: PLC0415

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _photo_and_face(path):
    """(RGB photo, its largest HOG face) or None for an unreadable photo or one without a face."""
    from ..errors import InvalidImageError  # noqa: PLC0415
    from ..faces import FaceDetector  # noqa: PLC0415
    from ..io import load_image  # noqa: PLC0415

    try:
        rgb = load_image(path)
    except InvalidImageError:
        return None
    faces = FaceDetector(detector="hog", fallback="none").detect(rgb)
    return (rgb, faces[0]) if faces else None


def _label_photo(args) -> list[dict]:
    from ..faces import face_embedding  # noqa: PLC0415
    from ..faces.align import align_arcface  # noqa: PLC0415
    from .degrade import TYPES, degrade  # noqa: PLC0415

    path, identity, cfg, seed = args
    found = _photo_and_face(path)
    if found is None:
        return []
    rgb, face = found
    rng = np.random.default_rng(seed)
    rows = []
    for v in range(cfg.variants + 1):
        if v == 0:
            img, kind, level = rgb, "clean", 0
        else:
            kind, level = str(rng.choice(TYPES)), int(rng.integers(1, 6))
            img = degrade(rgb, kind, level, seed=int(rng.integers(2**31)))[0]
        rows.append({
            "path": str(path), "identity": identity, "degradation": kind, "level": level,
            "feature": face_embedding(img, face).astype(np.float32).tolist(),
            "crop": _png(align_arcface(img, face, cfg.crop).image),
        })
    return rows


def build_recognition_labels(photos, identities, out: str | os.PathLike, cfg: LabelConfig | None = None,
                             workers: int = 1, progress: bool = True) -> pd.DataFrame:
    """Pipeline stage: features, crops and Eq. 1 labels for (photo, identity) pairs -> Parquet.

    Resumable: photos already in ``out`` are skipped; the file is rewritten atomically every
    chunk. Returns the table with a ``quality`` column (cos to the clean-photo centre).
    """
    cfg = cfg or LabelConfig()
    out = Path(out)
    photos = [str(p) for p in photos]
    ids = [str(i) for i in identities]
    if len(photos) != len(ids):
        raise ValueError("photos and identities differ in length")
    by_id: dict[str, list[str]] = {}
    for p, y in zip(photos, ids):
        by_id.setdefault(y, []).append(p)
    rng = np.random.default_rng(cfg.seed)
    jobs = []
    for y in sorted(by_id):
        ps = sorted(by_id[y])
        if len(ps) < cfg.min_images:
            continue
        ps = [ps[i] for i in sorted(rng.permutation(len(ps))[: cfg.max_per_identity])]
        jobs += [(p, y) for p in ps]
    done = pd.read_parquet(out) if out.is_file() else None
    _check_copies(done, cfg.variants + 1, out)
    todo = [(p, y, cfg, cfg.seed * 1_000_003 + i) for i, (p, y) in enumerate(jobs)]
    table = _resumable_stage(todo, _label_photo, out, done, cfg, "recognition labels", workers, progress,
                             {"degradation": "no_face", "level": -1, "feature": None, "crop": None})
    if table.empty:
        table = pd.DataFrame(columns=["path", "identity", "degradation", "level", "feature", "crop"])
    return add_quality(table)


def _check_copies(done: pd.DataFrame | None, rows: int, out: Path, clean_row: bool = True) -> None:
    """Refuse to resume into a table with another number of rows per photo (never a silent mix of two tables).

    ``rows``: the rows this run writes per photo; ``clean_row``: one of them is the clean photo (label tables).
    """
    if done is None or not len(done):
        return
    have = done[done["degradation"] != "no_face"].groupby("path").size()
    if len(have) and (have != rows).any():
        from ..errors import FaceIQAError  # noqa: PLC0415

        k = int(clean_row)
        raise FaceIQAError(f"{out} holds {int(have.max()) - k} degraded copies per photo, this run asks for "
                           f"{rows - k}: resuming would mix two tables - use another --out or delete it")


def settings_path(out: str | os.PathLike) -> Path:
    """Where a stage table keeps the settings it was made with: ``labels.parquet`` -> ``labels.parquet.json``."""
    out = Path(out)
    return out.with_name(out.name + ".json")


def _check_settings(out: Path, cfg, done: pd.DataFrame | None) -> None:
    """Refuse to resume a stage table made with other settings (all of them, read from :func:`settings_path`).

    A new table gets the file; a table from before these files existed keeps only the row checks (its settings are
    not known, so none are written for it).
    """
    side, want = settings_path(out), json.loads(json.dumps(asdict(cfg)))  # tuples as lists, as JSON reads them back
    if done is not None and len(done):
        if not side.is_file():
            return
        from ..train.state import settings_changes  # noqa: PLC0415

        changes = settings_changes(json.loads(side.read_text()), want)
        if changes:
            from ..errors import FaceIQAError  # noqa: PLC0415

            raise FaceIQAError(f"{out} was made with {changes[0]}; this run asks for {changes[1]}: use another --out or delete it")
        return
    side.parent.mkdir(parents=True, exist_ok=True)
    side.write_text(json.dumps(want, indent=1) + "\n")


def _resumable_stage(todo: list[tuple], worker, out: Path, done: pd.DataFrame | None, cfg, desc: str, workers: int,
                     progress: bool, no_face: dict) -> pd.DataFrame:
    """Run ``worker`` over jobs ``(path, identity, ...)`` not yet in ``out``; Parquet rewritten atomically per chunk.

    ``cfg`` (a dataclass) is kept beside the table and a resume with other settings refused (:func:`_check_settings`).
    Photos without a detectable face get one ``no_face`` row so a rerun does not redo them.
    """
    from tqdm.auto import tqdm  # noqa: PLC0415

    _check_settings(out, cfg, done)

    have = set(done["path"]) if done is not None else set()
    todo = [j for j in todo if j[0] not in have]
    tables = [done] if done is not None else []
    chunk = 64
    bar = tqdm(total=len(todo), desc=desc, disable=not progress)
    ex = process_pool(workers) if workers > 1 else None
    try:
        for start in range(0, len(todo), chunk):
            part = todo[start : start + chunk]
            results = list(ex.map(worker, part)) if ex else [worker(j) for j in part]
            rows = [r for rs in results for r in rs]
            rows += [{"path": j[0], "identity": j[1], **no_face} for j, rs in zip(part, results) if not rs]
            tables = [pd.concat([*tables, pd.DataFrame(rows)], ignore_index=True)]
            tmp = out.with_name(out.name + ".tmp")
            out.parent.mkdir(parents=True, exist_ok=True)
            tables[0].drop(columns=["quality"], errors="ignore").to_parquet(tmp, index=False)
            os.replace(tmp, out)
            bar.update(len(part))
    finally:
        bar.close()
        if ex:
            ex.shutdown()
    return tables[0] if tables else pd.DataFrame()


# ----------------------------------------------------------------------------- damage-pair stage
@dataclass
class DamageConfig:
    """Heavily damaged copies of each training photo for tinyFQnet's ranking term (not labelled by Eq. 1)."""

    copies: int = 4  # damaged copies per photo
    kinds: tuple[str, ...] = ("jpeg", "webp", "any")  # each copy draws one: a data-engine type, or "any" (a random type)
    min_level: int = 3  # levels min_level..5
    crop: int = 64
    seed: int = 0
    #: each copy's photo is first enlarged by a random factor in [1, max_upscale] (Lanczos; 1 = never): the codec's
    #: 8x8 / 16x16 blocks then cover less of the face, as in a large sharp photo, where JPEG shows at the 64-px input
    #: as colour blotches rather than luma blocks; the clean crop of that copy is aligned from the same enlarged photo
    max_upscale: float = 1.0

    def __post_init__(self) -> None:
        from .degrade import TYPES  # noqa: PLC0415

        self.kinds = tuple(self.kinds)
        unknown = sorted(set(self.kinds) - {*TYPES, "any"})
        if unknown or not self.kinds:
            raise ValueError(f"damage kinds must be data-engine types ({', '.join(TYPES)}) or 'any'; got {list(self.kinds)}")
        if not 1.0 <= self.max_upscale <= 8.0:
            raise ValueError(f"damage max_upscale must be in [1, 8]; got {self.max_upscale}")
        if not 1 <= self.min_level <= 5 or self.copies < 1:
            raise ValueError(f"min_level must be 1..5 and copies >= 1, got {self.min_level}, {self.copies}")


def _damage_photo(args) -> list[dict]:
    from ..faces.align import align_arcface  # noqa: PLC0415
    from .degrade import TYPES, degrade  # noqa: PLC0415

    path, identity, cfg, seed = args
    found = _photo_and_face(path)
    if found is None:
        return []
    rgb, face = found
    clean = _png(align_arcface(rgb, face, cfg.crop).image)
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(cfg.copies):  # the whole photo is damaged, then aligned with the clean photo's face (as a user's photo)
        kind, level = str(rng.choice(cfg.kinds)), int(rng.integers(cfg.min_level, 6))
        kind = str(rng.choice(TYPES)) if kind == "any" else kind
        photo, at, sharp, scale = rgb, face, clean, 1.0
        if cfg.max_upscale > 1:  # draws nothing otherwise: a run without it makes the same pairs as before
            # never past ENLARGE_MAX_SIDE: a 2000-px portrait's face already spans many blocks (and 3x would be 6000 px)
            scale = min(float(rng.uniform(1.0, cfg.max_upscale)), max(1.0, ENLARGE_MAX_SIDE / max(rgb.shape[:2])))
            if scale > 1:
                photo, at = enlarged(rgb, face, scale)
                sharp = _png(align_arcface(photo, at, cfg.crop).image)
        img = degrade(photo, kind, level, seed=int(rng.integers(2**31)))[0]
        rows.append({"path": str(path), "identity": identity, "degradation": kind, "level": level, "clean": sharp,
                     "damaged": _png(align_arcface(img, at, cfg.crop).image), "upscale": round(scale, 3)})
    return rows


#: (px) the damage stage's enlarged photos stop at this longer side (LFW's 250-px photos reach 3x, large portraits none)
ENLARGE_MAX_SIDE = 1024


def enlarged(rgb: np.ndarray, face, scale: float):
    """The photo enlarged ``scale`` times (Lanczos) and the face moved with it (box and landmarks)."""
    from dataclasses import replace  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415

    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    big = np.asarray(Image.fromarray(rgb).resize(size, Image.LANCZOS))
    sx, sy = size[0] / w, size[1] / h
    x1, y1, x2, y2 = face.box
    # pixel centres: x_big + 0.5 = (x + 0.5) * s
    moved = (face.landmarks + 0.5) * np.array([sx, sy], np.float32) - 0.5
    return big, replace(face, box=(x1 * sx, y1 * sy, x2 * sx, y2 * sy), landmarks=moved.astype(np.float32))


def build_damage_pairs(photos, identities, out: str | os.PathLike, cfg: DamageConfig | None = None, workers: int = 1,
                       progress: bool = True) -> pd.DataFrame:
    """Pipeline stage: (clean, heavily damaged) crop pairs of each photo -> Parquet (resumable like the labels).

    Columns: path, identity, degradation, level, clean, damaged (PNG bytes), upscale (the photo's enlargement, 1 =
    none; ``DamageConfig.max_upscale``); photos without a face are dropped.
    """
    cfg = cfg or DamageConfig()
    out = Path(out)
    jobs = sorted({(str(p), str(y)) for p, y in zip(photos, identities)})
    done = pd.read_parquet(out) if out.is_file() else None
    _check_copies(done, cfg.copies, out, clean_row=False)
    if done is not None and len(done):
        from ..errors import FaceIQAError  # noqa: PLC0415
        from .degrade import TYPES  # noqa: PLC0415

        made = done.loc[done["degradation"] != "no_face"]  # the rows with pairs
        kinds = set(made["degradation"])
        if not kinds <= (set(TYPES) if "any" in cfg.kinds else set(cfg.kinds)):
            raise FaceIQAError(f"{out} holds {sorted(kinds)} copies, this run asks for {list(cfg.kinds)}: use another --out or delete it")
        enlarged_before = "upscale" in made and bool((made["upscale"] > 1).any())
        if len(made) and enlarged_before != (cfg.max_upscale > 1):
            raise FaceIQAError(f"{out} was made {'with' if enlarged_before else 'without'} enlarged photos, this run asks for "
                               f"max_upscale {cfg.max_upscale}: use another --out or delete it")
    todo = [(p, y, cfg, cfg.seed * 1_000_003 + i) for i, (p, y) in enumerate(jobs)]
    table = _resumable_stage(todo, _damage_photo, out, done, cfg, "damage pairs", workers, progress,
                             {"degradation": "no_face", "level": -1, "clean": None, "damaged": None, "upscale": 1.0})
    if table.empty:
        return pd.DataFrame(columns=["path", "identity", "degradation", "level", "clean", "damaged", "upscale"])
    return table[table["degradation"] != "no_face"].reset_index(drop=True)


def add_quality(table: pd.DataFrame) -> pd.DataFrame:
    """Eq. 1 labels from the ``feature`` column, centres from each identity's clean rows."""
    table = table[table["degradation"] != "no_face"].reset_index(drop=True)
    if table.empty:
        return table.assign(quality=pd.Series(dtype=float))
    feats = np.stack(table["feature"].to_numpy())
    clean = (table["degradation"] == "clean").to_numpy()
    centres = class_centres(feats[clean], table.loc[clean, "identity"])
    return table.assign(quality=recognition_quality(feats, table["identity"], centres))
