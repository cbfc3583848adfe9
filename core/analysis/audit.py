"""Dataset audit: per-image statistics joined with the dataset table, and balance summaries.

``audit(dataset, cache_dir)`` runs the resumable face analysis (:mod:`core.analysis.embed`) over every
image, estimates gender where the dataset has no ``gender`` column (:mod:`core.analysis.demographics`,
'unknown' when unsure or faceless), groups identities and near-duplicates from embeddings,
and returns the per-image table plus summary tables (skin tone, gender, MOS categories,
image statistics) in the shape of GFIQA Fig. 5 / DSL-FIQA Table 1.
"""
from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd

from ..data.datasets import IQADataset
from .stats import identity_groups, mos_bins, near_duplicates, share_table

SKIN_ORDER = ("Light", "Medium", "Dark")
GENDER_ORDER = ("male", "female")


def audit(dataset: IQADataset, cache_dir: str | os.PathLike, *, aligned: bool = False, workers: int = 1,
          progress: bool = True) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Per-image audit table and summary tables for ``dataset``."""
    from .demographics import GenderEstimator  # noqa: PLC0415
    from .embed import analyse_images  # noqa: PLC0415

    table = dataset.table
    t0 = time.perf_counter()
    rows = analyse_images(list(table["image"]), cache_dir, aligned=aligned, workers=workers, progress=progress)
    elapsed = time.perf_counter() - t0
    df = table.merge(rows.rename(columns={"path": "image"}), on="image", how="left", suffixes=("", "_face"))
    ok = df["status"].eq("ok")
    emb = np.stack([np.asarray(e, np.float32) for e in df.loc[ok, "embedding"]]) if ok.any() else np.zeros((0, 128), np.float32)
    if "gender" not in table.columns or table["gender"].isna().all():
        df["gender"] = "unknown"
        df["gender_source"] = "none"
        if ok.any():
            labels, conf = GenderEstimator.load().predict(emb)
            df.loc[ok, "gender"] = labels
            df.loc[ok, "gender_confidence"] = conf
            df.loc[ok, "gender_source"] = "estimated"
    else:
        df["gender_source"] = "dataset"
    if "skin_tone" in table.columns and table["skin_tone"].notna().any():
        df["skin_tone"] = table["skin_tone"].values
    df["skin_tone"] = df["skin_tone"].fillna("unknown")
    df.loc[~ok, "gender"] = df.loc[~ok, "gender"].where(df["gender_source"] == "dataset", "unknown")
    df["identity_group"] = -1
    df["duplicate_group"] = -1
    if ok.any():
        df.loc[ok, "identity_group"] = identity_groups(emb)
        df.loc[ok, "duplicate_group"] = near_duplicates(emb)
    summary = {
        "skin_tone": share_table(df["skin_tone"], SKIN_ORDER),
        "gender": share_table(df["gender"], GENDER_ORDER),
        "mos_category": pd.DataFrame({"count": pd.Series(mos_bins(df["mos"]))}),
        "image_stats": df[["brightness", "sharpness", "contrast", "mos"]].describe().T.round(3),
        "groups": pd.DataFrame({"count": {
            "images": len(df), "faces analysed": int(ok.sum()),
            "identity groups": int(df.loc[ok, "identity_group"].nunique()),
            "images in near-duplicate groups": int(df.loc[ok, "duplicate_group"].duplicated(keep=False).sum()),
        }}),
        "speed": pd.DataFrame({"value": {"images analysed now": int(len(rows)), "seconds": round(elapsed, 2)}}),
    }
    return df.drop(columns=["embedding"]), summary
