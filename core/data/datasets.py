"""Face IQA dataset loaders: one typed table per dataset, images loaded on demand.

Every loader returns an :class:`IQADataset` whose ``table`` has at least ``image`` (absolute
path), ``mos`` (0..1, higher better), ``mos_raw`` and ``split``; the source MOS scale is kept
in ``mos_scale``. Missing files and bad rows are counted in ``report`` with first examples
(and dropped from ``table`` only when ``drop_missing``), never silently.

Formats, as published:

* GFIQA-20k - ``image/*`` + ``mos_val_rating.csv`` (``img_name`` + ``mos`` columns; MOS on the
  paper's [0.01, 1] slider scale). Splits: the 70/10/20 random protocol with seed 123 and
  10 repetitions as pyiqa generates it (``random.seed(123)``, the index list shuffled in
  place once per split, cut at ``int(0.7 n)`` and ``int(0.7 n) + int(0.1 n)``);
  ``split_index`` picks repetition 1..10.
* CGFIQA-40k - DSL-FIQA's layout ``{train,val,test}/img/*.png`` + ``{split}/label.json``
  (``{"Image": [...], "MOS": [...]}``), optional ``{split}/landmark/<stem>.npy``; or pyiqa's
  meta CSV ``img_path,score,official_split``. Official split 27,518 / 3,931 / 7,863.
* PIQ23 - ``Scores_{Overall,Details,Exposure}.csv`` (``IMAGE PATH`` with backslashes, ``JOD``
  scores, ``SCENE``, ``CONDITION`` ...) and ``Test split/{Device,Scene} Split.csv``
  (``IMAGE,SPLIT`` with Train/Test). JOD is relative, so MOS = min-max of JOD.
* generic - any CSV/Parquet with an image-path column and a MOS column (plus optional
  identity, gender, skin_tone, degradation ...), or a folder of images (no MOS).
"""
from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import FaceIQAError
from ..io import is_image_path, load_image

CGFIQA_SPLIT_SIZES = {"train": 27518, "val": 3931, "test": 7863}


class DatasetFormatError(FaceIQAError, ValueError):
    """A dataset folder or table is not in the expected format."""


@dataclass
class LoadReport:
    rows: int = 0
    missing_files: int = 0
    missing_examples: list[str] = field(default_factory=list)
    bad_rows: int = 0
    bad_examples: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"{self.rows} rows"]
        if self.missing_files:
            parts.append(f"{self.missing_files} missing files (e.g. {', '.join(self.missing_examples)})")
        if self.bad_rows:
            parts.append(f"{self.bad_rows} bad rows (e.g. {'; '.join(self.bad_examples)})")
        return ", ".join(parts)


@dataclass
class IQADataset:
    """A face IQA dataset: a table of images with 0..1 MOS and splits."""

    name: str
    root: Path
    table: pd.DataFrame
    mos_scale: tuple[float, float]
    report: LoadReport

    def __len__(self) -> int:
        return len(self.table)

    def split(self, name: str) -> pd.DataFrame:
        """Rows of one split (``train`` / ``val`` / ``test``)."""
        return self.table[self.table["split"] == name]

    def split_sizes(self) -> dict[str, int]:
        return self.table["split"].value_counts().to_dict()

    def image(self, i: int) -> np.ndarray:
        """The RGB image of row ``i``."""
        return load_image(self.table["image"].iloc[i])


def normalise_mos(raw: pd.Series, scale: tuple[float, float]) -> pd.Series:
    lo, hi = scale
    return ((raw - lo) / (hi - lo)).clip(0.0, 1.0)


def infer_scale(values: pd.Series) -> tuple[float, float]:
    """Guess a MOS scale from its values: [0,1], [1,5], [0,10] or [0,100]."""
    lo, hi = float(values.min()), float(values.max())
    if lo >= 0 and hi <= 1:
        return (0.0, 1.0)
    if lo >= 1 and hi <= 5:
        return (1.0, 5.0)
    if lo >= 0 and hi <= 10:
        return (0.0, 10.0)
    if lo >= 0 and hi <= 100:
        return (0.0, 100.0)
    return (lo, hi)


def _finish(name: str, root: Path, df: pd.DataFrame, scale, report: LoadReport, check_files: bool, drop_missing: bool) -> IQADataset:
    # bad rows: empty names, non-numeric / non-finite MOS, duplicate images
    mos = pd.to_numeric(df["mos_raw"], errors="coerce")
    bad = df["image"].isna() | (df["image"].astype(str).str.strip() == "") | ~np.isfinite(mos.fillna(np.nan))
    bad |= df["image"].duplicated(keep="first")
    if bad.any():
        report.bad_rows = int(bad.sum())
        report.bad_examples = [f"row {i}: {df.loc[i, 'image']!r} mos={df.loc[i, 'mos_raw']!r}" for i in df.index[bad][:3]]
    df = df[~bad].copy()
    df["mos_raw"] = mos[~bad].astype(float)
    if scale is None:
        scale = infer_scale(df["mos_raw"]) if len(df) else (0.0, 1.0)
    df["mos"] = normalise_mos(df["mos_raw"], scale)
    df["image"] = [str((root / p) if not os.path.isabs(p) else Path(p)) for p in df["image"].astype(str)]
    if check_files:
        exists = np.array([os.path.isfile(p) for p in df["image"]], dtype=bool)
        df["exists"] = exists
        if (~exists).any():
            report.missing_files = int((~exists).sum())
            report.missing_examples = [os.path.relpath(p, root) for p in df["image"][~exists][:3]]
            if drop_missing:
                df = df[exists]
    report.rows = len(df)
    cols = ["image", "mos", "mos_raw", "split"] + [c for c in df.columns if c not in ("image", "mos", "mos_raw", "split")]
    return IQADataset(name, root, df[cols].reset_index(drop=True), (float(scale[0]), float(scale[1])), report)


def gfiqa_splits(n: int, seed: int = 123, n_splits: int = 10, ratio=(0.7, 0.1, 0.2)) -> dict[int, dict[str, list[int]]]:
    """pyiqa's GFIQA protocol: ``n_splits`` cumulative shuffles of ``range(n)`` (Python ``random``)."""
    rng = random.Random(seed)
    index = list(range(n))
    out = {}
    for i in range(n_splits):
        rng.shuffle(index)
        a = int(n * ratio[0])
        b = a + int(n * ratio[1])
        out[i + 1] = {"train": index[:a], "val": index[a:b], "test": index[b:]}
    return out


def _pick(columns, *names) -> str | None:
    low = {c.lower().strip(): c for c in columns}
    for n in names:
        if n in low:
            return low[n]
    return None


def load_gfiqa(root, split_index: int = 1, seed: int = 123, check_files: bool = True, drop_missing: bool = True) -> IQADataset:
    """GFIQA-20k as released: ``image/`` + ``mos_val_rating.csv``."""
    root = Path(root)
    csv_path = root / "mos_val_rating.csv"
    if not csv_path.is_file():
        raise DatasetFormatError(f"{root}: no mos_val_rating.csv (expected GFIQA-20k layout image/ + mos_val_rating.csv)")
    raw = pd.read_csv(csv_path)
    img_col = _pick(raw.columns, "img_name", "image", "name", "filename")
    mos_col = _pick(raw.columns, "mos", "score", "mos_val")
    if img_col is None or mos_col is None:
        raise DatasetFormatError(f"{csv_path}: need an image-name and a MOS column, found {list(raw.columns)}")
    if not 1 <= split_index <= 10:
        raise ValueError("split_index must be 1..10")
    splits = gfiqa_splits(len(raw), seed=seed)[split_index]
    split = np.empty(len(raw), dtype=object)
    for name, idx in splits.items():
        split[idx] = name
    df = pd.DataFrame({"image": "image/" + raw[img_col].astype(str), "mos_raw": raw[mos_col], "split": split})
    return _finish("gfiqa-20k", root, df, (0.0, 1.0), LoadReport(), check_files, drop_missing)


def load_cgfiqa(root, check_files: bool = True, drop_missing: bool = True, meta_csv: str | None = None) -> IQADataset:
    """CGFIQA-40k in DSL-FIQA's layout (``{split}/label.json``) or with pyiqa's meta CSV."""
    root = Path(root)
    frames = []
    if meta_csv or not (root / "train" / "label.json").is_file():
        meta = Path(meta_csv) if meta_csv else next(iter(sorted(root.glob("meta_info_CGFIQA*.csv"))), None)
        if meta is None or not meta.is_file():
            raise DatasetFormatError(f"{root}: neither {{train,val,test}}/label.json nor a meta_info_CGFIQADataset.csv")
        raw = pd.read_csv(meta)
        need = {"img_path", "score", "official_split"}
        if not need <= set(raw.columns):
            raise DatasetFormatError(f"{meta}: columns {sorted(need)} expected, found {list(raw.columns)}")
        frames.append(pd.DataFrame({"image": raw["img_path"].astype(str), "mos_raw": raw["score"], "split": raw["official_split"].astype(str)}))
    else:
        for split in ("train", "val", "test"):
            label = root / split / "label.json"
            if not label.is_file():
                raise DatasetFormatError(f"{label}: missing")
            try:
                data = json.loads(label.read_text())
                names, mos = data["Image"], data["MOS"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise DatasetFormatError(f"{label}: expected {{'Image': [...], 'MOS': [...]}} ({exc})") from exc
            if len(names) != len(mos):
                raise DatasetFormatError(f"{label}: {len(names)} images but {len(mos)} MOS values")
            f = pd.DataFrame({"image": [f"{split}/img/{n}" for n in names], "mos_raw": mos, "split": split})
            f["landmarks"] = [str(root / split / "landmark" / (Path(n).stem + ".npy")) for n in names]
            frames.append(f)
    df = pd.concat(frames, ignore_index=True)
    ds = _finish("cgfiqa-40k", root, df, None, LoadReport(), check_files, drop_missing)
    if "landmarks" in ds.table and check_files:
        ds.table["landmarks"] = [p if os.path.isfile(p) else None for p in ds.table["landmarks"]]
    return ds


def load_piq23(root, attribute: str = "Overall", split: str = "device", check_files: bool = True, drop_missing: bool = True) -> IQADataset:
    """PIQ23: ``Scores_<attribute>.csv`` + the device or scene split (Train/Test)."""
    root = Path(root)
    scores = root / f"Scores_{attribute}.csv"
    if not scores.is_file():
        raise DatasetFormatError(f"{root}: no Scores_{attribute}.csv (PIQ23 layout)")
    raw = pd.read_csv(scores)
    if "IMAGE PATH" not in raw.columns or "JOD" not in raw.columns:
        raise DatasetFormatError(f"{scores}: 'IMAGE PATH' and 'JOD' columns expected, found {list(raw.columns)}")
    split_file = root / "Test split" / f"{split.capitalize()} Split.csv"
    if not split_file.is_file():
        raise DatasetFormatError(f"{split_file}: missing (split must be 'device' or 'scene')")
    sp = pd.read_csv(split_file)
    key = "IMAGE" if "IMAGE" in raw.columns else None
    sp_map = dict(zip(sp["IMAGE"].astype(str), sp["SPLIT"].astype(str).str.lower()))
    names = raw[key].astype(str) if key else raw["IMAGE PATH"].astype(str).str.split("\\").str[-1]
    df = pd.DataFrame({
        "image": raw["IMAGE PATH"].astype(str).str.replace("\\", "/", regex=False),
        "mos_raw": raw["JOD"],
        "split": [sp_map.get(n, sp_map.get(Path(n).name, "unassigned")) for n in names],
    })
    for col, new in (("SCENE", "scene"), ("SCENE IDX", "scene_idx"), ("CONDITION", "condition"), ("JOD STD", "jod_std")):
        if col in raw.columns:
            df[new] = raw[col].values
    jod = pd.to_numeric(df["mos_raw"], errors="coerce")
    scale = (float(jod.min()), float(jod.max()))
    return _finish(f"piq23-{attribute.lower()}-{split}", root, df, scale, LoadReport(), check_files, drop_missing)


def load_table(path, root=None, image_col: str | None = None, mos_col: str | None = None,
               mos_scale: tuple[float, float] | None = None, check_files: bool = True, drop_missing: bool = True) -> IQADataset:
    """A generic CSV / Parquet table (image path + MOS + optional columns), paths relative to ``root``."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"{path}: no such table")
    raw = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    img = image_col or _pick(raw.columns, "image", "img_path", "img_name", "path", "file", "filename")
    mos = mos_col or _pick(raw.columns, "mos", "score", "dmos", "quality")
    if img is None or mos is None:
        raise DatasetFormatError(f"{path}: need an image column and a MOS column, found {list(raw.columns)}")
    df = raw.rename(columns={img: "image", mos: "mos_raw"})
    if "split" not in df.columns:
        df["split"] = "all"
    return _finish(path.stem, Path(root) if root else path.parent, df, mos_scale, LoadReport(), check_files, drop_missing)


def load_folder(folder) -> IQADataset:
    """Every image under a folder, without MOS (for scoring or statistics)."""
    folder = Path(folder)
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and is_image_path(p)]
    df = pd.DataFrame({"image": [str(p) for p in files], "mos": np.nan, "mos_raw": np.nan, "split": "all"})
    return IQADataset(folder.name, folder, df, (0.0, 1.0), LoadReport(rows=len(df)))


def load_dataset(name_or_path, root=None, **kw) -> IQADataset:
    """By name (``gfiqa-20k``, ``cgfiqa-40k``, ``piq23``) with ``root``, or a table/folder path."""
    loaders = {"gfiqa-20k": load_gfiqa, "gfiqa": load_gfiqa, "cgfiqa-40k": load_cgfiqa, "cgfiqa": load_cgfiqa, "piq23": load_piq23}
    key = str(name_or_path).lower()
    if key in loaders:
        if root is None:
            raise ValueError(f"{name_or_path}: give root= (the folder you downloaded it to)")
        return loaders[key](root, **kw)
    p = Path(name_or_path)
    return load_folder(p) if p.is_dir() else load_table(p, root=root, **kw)
