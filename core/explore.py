"""Tables and plotly figures over ``faceiqa score`` outputs (used by the Streamlit pages)."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .api import CATEGORIES
from .errors import FaceIQAError


def load_scores(path: str | os.PathLike) -> pd.DataFrame:
    """Read a scores ``.csv`` / ``.parquet`` written by ``faceiqa score`` (validated)."""
    p = Path(path)
    if not p.is_file():
        raise FaceIQAError(f"{p}: no such scores file")
    df = pd.read_parquet(p) if p.suffix.lower() == ".parquet" else pd.read_csv(p)
    missing = {"path", "status", "score", "category"} - set(df.columns)
    if missing:
        raise FaceIQAError(f"{p}: not a faceiqa scores table (missing columns {sorted(missing)})")
    return df


def status_counts(df: pd.DataFrame) -> pd.Series:
    """Files per status (``ok`` / ``no_face`` / ``error``), errors grouped together."""
    per_file = df.groupby("path")["status"].first().str.replace(r"^error:.*", "error", regex=True)
    return per_file.value_counts().reindex(["ok", "no_face", "error"], fill_value=0)


def score_histogram(df: pd.DataFrame, bins: int = 20):
    """Plotly histogram of face scores coloured by GFIQA category."""
    import plotly.express as px  # noqa: PLC0415

    ok = df[df["status"] == "ok"]
    fig = px.histogram(ok, x="score", color="category", nbins=bins, range_x=(0, 1),
                       category_orders={"category": list(CATEGORIES)},
                       title=f"{len(ok)} faces, model {', '.join(sorted(ok['model'].astype(str).unique()))}")
    fig.update_layout(bargap=0.05, xaxis_title="score (0..1, higher is better)", yaxis_title="faces")
    return fig


def worst_faces(df: pd.DataFrame, k: int = 12) -> pd.DataFrame:
    """The ``k`` lowest-scoring faces (for failure-case review)."""
    return df[df["status"] == "ok"].nsmallest(k, "score")
