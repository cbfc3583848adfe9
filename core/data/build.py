"""Benchmark builder: a GFIQA-style proxy dataset from a folder of real face photos.

For each source photo: detect the largest face, GFIQA-align it to 512x512, keep the clean
crop and ``per_source`` degraded copies (random type and level, or a random composition
with probability ``compose_prob``), each labelled with the full-reference pseudo-MOS of
:func:`core.data.pseudo_mos.pseudo_mos` on the face region times :func:`core.data.pseudo_mos.blocking_fidelity` (JPEG block edges, measured
on the image the codec saw). With probability ``photo_prob`` a copy is
degraded *as a photo* - the whole source image, then aligned with the clean photo's face
geometry - which is how users' photos arrive: noise grains and 8x8 JPEG blocks get resampled
by the alignment, blur acts at the photo's scale. The rest degrade the aligned crop (the
GFIQA-20k / KADID way). The ``stage`` column says which (``photo`` / ``crop`` / ``clean``).
Splits are by identity (the source's parent folder, as in LFW), 70/10/20 by default, so no
person is in two splits. An optional "ladder" holds every source at levels 0..5 of one
degradation (on the crop), for rank tests.

Output folder: ``images/*.png|jpg``, ``labels.csv`` (image, mos, split, identity, source,
degradation, level, params, ms_ssim, gmsd, detail, blocking, fr_mos, source_sharpness, source_factor, origin, stage), ``ladder.csv`` when asked, and ``build.json``
(the settings and counts). Re-running with the same settings reuses finished images.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ..errors import FaceIQAError, InvalidImageError
from ..faces import FaceDetector, align_gfiqa
from ..io import iter_image_paths, load_image
from .degrade import LEVELS, SPECS, TYPES, degrade, random_composition
from .pseudo_mos import GFIQA_FACE_BOX, blocking_fidelity, pseudo_mos_parts, source_sharpness


@dataclass
class BuildConfig:
    per_source: int = 4
    compose_prob: float = 0.25
    photo_prob: float = 0.5  # share of degraded copies made on the source photo before alignment
    types: tuple[str, ...] = TYPES
    levels: tuple[int, ...] = LEVELS
    ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)
    seed: int = 0
    size: int = 512
    image_format: str = "png"
    max_sources: int | tuple[int, ...] | None = None  # faces to use; one cap per source folder when given a tuple
    max_per_identity: int | None = 2
    ladder: str | None = None
    identities: str = "all"  # "all", or "train" / "heldout": the parts of a whole-source identity split
    holdout: float = 0.2  # share of the source's identities held out (never trained on by the shipped models)
    holdout_seed: int = 0
    source_weight: float = 0.5  # share of the label scaled by the clean crop's absolute sharpness (0: relative labels only)
    type_weights: dict[str, float] | None = None  # relative odds of each type in single-degradation copies (unnamed: 1)


@dataclass
class BuildSummary:
    sources_seen: int = 0
    sources_used: int = 0
    no_face: int = 0
    unreadable: int = 0
    images: int = 0
    identities: dict[str, int] = field(default_factory=dict)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def identity_split(identities, ratios=(0.7, 0.1, 0.2), seed: int = 0) -> dict[str, str]:
    """Assign each identity to train/val/test (shuffled with ``seed``, cut by ``ratios``)."""
    ids = sorted(set(identities))
    order = np.random.default_rng(seed).permutation(len(ids))
    a = int(round(len(ids) * ratios[0]))
    b = a + int(round(len(ids) * ratios[1]))
    names = np.empty(len(ids), dtype=object)
    names[order[:a]], names[order[a:b]], names[order[b:]] = "train", "val", "test"
    return dict(zip(ids, names))


def _origin(root: Path) -> str:
    """Dataset name of a source folder: ``lfw`` for ``.../lfw/images``, else the folder's own name."""
    return root.parent.name if root.name == "images" and root.parent.name else root.name


def source_identity(path: Path, root: Path) -> str:
    """Identity of a photo under ``root``: its parent folder (LFW's identity folders), or its file name in a flat folder."""
    return path.parent.name if path.parent != root else path.stem


def identity_cut(root, holdout: float = 0.2, split_seed: int = 0) -> list[tuple[Path, str, bool]]:
    """(photo, identity, held out?) for every image under a source folder: the per-folder identity cut of
    ``faceiqa data build --identities train | heldout`` (:func:`identity_split` with ``(1 - holdout, 0, holdout)``)."""
    root = Path(root)
    files = sorted(iter_image_paths([root]))
    ident = {f: source_identity(f, root) for f in files}
    split = identity_split(set(ident.values()), (1 - holdout, 0.0, holdout), seed=split_seed)
    return [(f, ident[f], split[ident[f]] == "test") for f in files]


def _pick_sources(root: Path, cfg: BuildConfig, rng: np.random.Generator) -> list[tuple[str, Path]]:
    """(identity, photo) pairs of one source folder: identity cut, per-person cap, shuffled with ``rng``."""
    cut = identity_cut(root, cfg.holdout, cfg.holdout_seed)  # same cut as `faceiqa train ... --holdout`
    if not cut:
        raise FaceIQAError(f"{root}: no images found")
    by_id: dict[str, list[Path]] = {}
    for p, ident, held_out in cut:
        if cfg.identities == "all" or held_out == (cfg.identities == "heldout"):
            by_id.setdefault(ident, []).append(p)
    chosen: list[tuple[str, Path]] = []
    for ident in sorted(by_id):
        files = by_id[ident][: cfg.max_per_identity] if cfg.max_per_identity else by_id[ident]
        chosen += [(ident, f) for f in files]
    order = rng.permutation(len(chosen))
    return [chosen[i] for i in order]


def type_probabilities(types: tuple[str, ...], weights: dict[str, float] | None) -> np.ndarray | None:
    """Draw probabilities of ``types`` from relative ``weights`` (unnamed types weigh 1); None when uniform."""
    if not weights:
        return None
    unknown = sorted(set(weights) - set(types))
    if unknown:
        raise FaceIQAError(f"type_weights names unknown degradation types {unknown}; known: {', '.join(types)}")
    w = np.array([float(weights.get(t, 1.0)) for t in types])
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise FaceIQAError(f"type_weights must be finite, >= 0 and not all 0, got {weights}")
    return w / w.sum()


def draw_type(rng: np.random.Generator, types: tuple[str, ...], weights: dict[str, float] | None = None) -> str:
    """One degradation type: uniform (the original draw, so unweighted builds keep their images) or by ``weights``."""
    p = type_probabilities(types, weights)
    return str(rng.choice(list(types)) if p is None else rng.choice(list(types), p=p))


def _save(arr: np.ndarray, path: Path, fmt: str) -> np.ndarray:
    """Write (atomically) and return the pixels as they will be read back."""
    if not path.is_file():
        tmp = path.with_name(path.name + ".tmp")
        if fmt == "png":
            Image.fromarray(arr).save(tmp, "PNG", compress_level=1)
        else:
            Image.fromarray(arr).save(tmp, "JPEG", quality=95)
        os.replace(tmp, path)
    return load_image(path)


def build_benchmark(src, out, config: BuildConfig | None = None, progress: bool = True) -> tuple[pd.DataFrame, BuildSummary]:
    """Build the dataset under ``out`` from the photos under ``src``; returns (labels, summary)."""
    cfg = config or BuildConfig()
    if cfg.ladder is not None and cfg.ladder not in SPECS:
        raise FaceIQAError(f"unknown ladder degradation {cfg.ladder!r}; known: {', '.join(SPECS)}")
    unknown = sorted(set(cfg.types) - set(SPECS))
    if unknown:
        raise FaceIQAError(f"unknown degradation types {unknown}; known: {', '.join(SPECS)}")
    if cfg.identities not in ("all", "train", "heldout"):
        raise FaceIQAError(f"identities must be 'all', 'train' or 'heldout', not {cfg.identities!r}")
    if not 0.0 <= cfg.source_weight <= 1.0:
        raise FaceIQAError(f"source_weight must be in 0..1, not {cfg.source_weight}")
    type_probabilities(tuple(cfg.types), cfg.type_weights)  # fail before any work
    roots = [Path(p) for p in ([src] if isinstance(src, (str, os.PathLike)) else src)]
    out = Path(out)
    caps = cfg.max_sources if isinstance(cfg.max_sources, (tuple, list)) else (cfg.max_sources,) * len(roots)
    if len(caps) != len(roots):
        raise FaceIQAError(f"max_sources names {len(caps)} caps for {len(roots)} source folders")
    rng = np.random.default_rng(cfg.seed)
    chosen: list[tuple[str, Path, int]] = []  # (identity, photo, root index)
    for k, root in enumerate(roots):
        picked = _pick_sources(root, cfg, rng)
        chosen += [(ident, f, k) for ident, f in (picked[: caps[k] * 2] if caps[k] else picked)]  # headroom for no-face photos
    img_dir = out / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    detector = FaceDetector()
    summary = BuildSummary()
    used = [0] * len(roots)
    rows, ladder_rows = [], []
    iterator = chosen
    if progress:
        from tqdm.auto import tqdm  # noqa: PLC0415

        iterator = tqdm(chosen, desc="building benchmark", unit="photo")
    ext = "png" if cfg.image_format == "png" else "jpg"
    for ident, path, k in iterator:
        if caps[k] and used[k] >= caps[k]:
            continue
        summary.sources_seen += 1
        try:
            rgb = load_image(path)
        except InvalidImageError:
            summary.unreadable += 1
            continue
        faces = detector.detect(rgb)
        if not faces:
            summary.no_face += 1
            continue
        summary.sources_used += 1
        used[k] += 1
        clean = align_gfiqa(rgb, faces[0], cfg.size).image

        def align(photo: np.ndarray, face=faces[0]) -> np.ndarray:
            return align_gfiqa(photo, face, cfg.size).image

        stem = f"{_slug(ident)}__{_slug(path.stem)}"
        clean = _save(clean, img_dir / f"{stem}__clean.{ext}", cfg.image_format)
        sharp = float(source_sharpness(clean, GFIQA_FACE_BOX))
        extra = {"origin": _origin(roots[k]), "source_sharpness": round(sharp, 5),
                 "source_factor": round(1.0 - cfg.source_weight * (1.0 - sharp), 5)}
        seed0 = int(rng.integers(2**31))
        height, width = rgb.shape[:2]
        photo_box = (faces[0].box[0] / width, faces[0].box[1] / height, faces[0].box[2] / width, faces[0].box[3] / height)
        variants = [("clean", 0, [], clean, "clean", 1.0)]
        for j in range(cfg.per_source):
            s = seed0 + j
            stage = "photo" if np.random.default_rng(s + 3).random() < cfg.photo_prob else "crop"
            base = rgb if stage == "photo" else clean
            if np.random.default_rng(s).random() < cfg.compose_prob:
                arr, recs = random_composition(base, seed=s, types=cfg.types, levels=cfg.levels)
            else:
                kind = draw_type(np.random.default_rng(s + 1), cfg.types, cfg.type_weights)
                level = int(np.random.default_rng(s + 2).choice(list(cfg.levels)))
                arr, rec = degrade(base, kind, level, seed=s)
                recs = [rec]
            # block edges are measured where the codec put them: on the photo (face box) or on the crop
            blocking = float(blocking_fidelity(arr, base, photo_box if stage == "photo" else GFIQA_FACE_BOX))
            if stage == "photo":
                arr = align(arr)
            name = "+".join(r["type"] for r in recs)
            variants.append((name, max(r["level"] for r in recs), recs, arr, stage, blocking))
        for j, (name, level, recs, arr, stage, blocking) in enumerate(variants):
            tag = "P" if stage == "photo" else ""
            file = img_dir / (f"{stem}__clean.{ext}" if j == 0 else f"{stem}__{j}{tag}_{_slug(name)}_L{level}.{ext}")
            stored = clean if j == 0 else _save(arr, file, cfg.image_format)
            rows.append(_label_row(file, out, stored, clean, ident, path, name, level, recs, blocking, {**extra, "stage": stage}))
        if cfg.ladder:
            for level in (0,) + tuple(LEVELS):
                arr = clean if level == 0 else degrade(clean, cfg.ladder, level, seed=seed0)[0]
                file = img_dir / f"{stem}__ladder_{cfg.ladder}_L{level}.{ext}"
                stored = clean if level == 0 else _save(arr, file, cfg.image_format)
                blocking = float(blocking_fidelity(arr, clean, GFIQA_FACE_BOX)) if level else 1.0
                ladder_rows.append(_label_row(file if level else img_dir / f"{stem}__clean.{ext}", out, stored, clean, ident, path,
                                              cfg.ladder, level, [], blocking, {**extra, "stage": "crop" if level else "clean"}))
    if not rows:
        raise FaceIQAError(f"{src}: no face found in {summary.sources_seen} photos")
    labels = pd.DataFrame(rows)
    split = identity_split(labels["identity"], cfg.ratios, cfg.seed)
    labels.insert(2, "split", labels["identity"].map(split))
    summary.images = len(labels)
    summary.identities = labels.groupby("split")["identity"].nunique().to_dict()
    _write_csv(labels, out / "labels.csv")
    if ladder_rows:
        ladder = pd.DataFrame(ladder_rows)
        ladder.insert(2, "split", ladder["identity"].map(split))
        _write_csv(ladder, out / "ladder.csv")
    meta = {"config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}, "summary": asdict(summary),
            "source": [str(r) for r in roots],
            "mos": "pseudo-MOS = (MS-SSIM + (1 - GMSD/0.35) + detail fidelity) / 3 on the face region vs. the clean crop, "
                   "x blocking fidelity (JPEG grid edges where the codec ran) "
                   f"x (1 - {cfg.source_weight:g} (1 - source sharpness)): Crete blur of the clean face region"}
    (out / "build.json").write_text(json.dumps(meta, indent=2))
    return labels, summary


def _label_row(file: Path, out: Path, stored: np.ndarray, clean: np.ndarray, ident: str, source: Path, name: str, level: int, recs,
               blocking: float, extra: dict) -> dict:
    mos, s, g, d = pseudo_mos_parts(stored, clean, GFIQA_FACE_BOX)
    mos = float(mos) * blocking
    return {
        "image": str(file.relative_to(out)),
        "mos": round(mos * extra["source_factor"], 5),
        "identity": ident,
        "source": str(source),
        "degradation": name,
        "level": int(level),
        "params": json.dumps(recs),
        "ms_ssim": round(float(s), 5),
        "gmsd": round(float(g), 5),
        "detail": round(float(d), 5),
        "blocking": round(blocking, 5),
        "fr_mos": round(mos, 5),
        **extra,
    }


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)
