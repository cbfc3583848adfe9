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


# ----------------------------------------------------------------------------- fairness / failure views
def load_predictions(path: str | os.PathLike) -> pd.DataFrame:
    """A predictions table from `faceiqa evaluate` / `faceiqa compare` (needs mos and prediction)."""
    p = Path(path)
    if not p.is_file():
        raise FaceIQAError(f"{p}: no such predictions file (make one with `faceiqa compare` or `faceiqa evaluate`)")
    df = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
    missing = {"mos", "prediction"} - set(df.columns)
    if missing:
        raise FaceIQAError(f"{p}: missing column(s) {sorted(missing)}")
    return df


def subgroup_figure(sub: pd.DataFrame, grouping: str):
    """Bar chart of SRCC per group of one grouping, the best-worst gap in the title."""
    import plotly.express as px  # noqa: PLC0415

    part = sub[sub.grouping == grouping].sort_values("SRCC")
    gap = float(part.gap.iloc[0]) if len(part) else float("nan")
    fig = px.bar(part, x="group", y="SRCC", text=part.n.map(lambda n: f"n={n}"), title=f"SRCC by {grouping} (gap {gap:.3f})")
    fig.update_yaxes(range=[min(0.0, float(part.SRCC.min()) - 0.05) if len(part) else 0, 1])
    return fig


def prediction_scatter(df: pd.DataFrame, colour: str | None = None):
    """Predicted vs MOS, one point per image, coloured by a subgroup column."""
    import plotly.express as px  # noqa: PLC0415

    fig = px.scatter(df, x="mos", y="prediction", color=colour if colour in df.columns else None, opacity=0.7,
                     hover_data=[c for c in ("image", "identity", "degradation", "level") if c in df.columns])
    fig.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line={"dash": "dot"})
    return fig
