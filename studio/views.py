"""Tables and plotly figures over ``faceiqa score`` outputs (used by the Streamlit pages)."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from core.api import CATEGORIES
from core.errors import FaceIQAError


def app_arg(flag: str, default: str = "") -> str:
    """The value after ``flag`` in the app's command line (``streamlit run page.py -- --flag value``)."""
    import sys  # noqa: PLC0415

    return sys.argv[sys.argv.index(flag) + 1] if flag in sys.argv[:-1] else default


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


# ----------------------------------------------------------------------------- dataset explorer
#: DSL-FIQA Table 1: skin tone (Light = Fitzpatrick I-II, Medium III-IV, Dark V-VI) and gender shares in %
DSL_TABLE1 = pd.DataFrame(
    [("PIQ23", 5116, 74.5, 9.0, 16.5, 94.0, 6.0),
     ("GFIQA-20k", 20000, 81.6, 6.7, 11.7, 64.2, 35.8),
     ("CGFIQA-40k", 39312, 53.83, 24.91, 21.26, 51.50, 48.50)],
    columns=["dataset", "size", "Light", "Medium", "Dark", "male", "female"],
)
BALANCE_CLASSES = {"skin_tone": ("Light", "Medium", "Dark"), "gender": ("male", "female")}


def load_stats(path: str | os.PathLike) -> pd.DataFrame:
    """A per-image table from ``faceiqa data stats`` (needs image and at least one statistic)."""
    p = Path(path)
    if not p.is_file():
        raise FaceIQAError(f"{p}: no such statistics table (make one with `faceiqa data stats DATASET --out {p.name}`)")
    df = pd.read_parquet(p) if p.suffix.lower() == ".parquet" else pd.read_csv(p)
    if "image" not in df.columns or not {"brightness", "sharpness", "contrast"} & set(df.columns):
        raise FaceIQAError(f"{p}: not a `faceiqa data stats` table (columns {list(df.columns)[:8]}...)")
    if "mos" in df.columns and df["mos"].notna().any() and "category" not in df.columns:
        from core.api import category  # noqa: PLC0415

        df["category"] = [category(m) if pd.notna(m) else "unknown" for m in df["mos"]]
    return df


def filter_stats(df: pd.DataFrame, mos: tuple[float, float] | None = None, **equal: list) -> pd.DataFrame:
    """Rows with MOS in ``mos`` (inclusive) and, per column given, a value in the list (empty list: no filter)."""
    keep = pd.Series(True, index=df.index)
    if mos is not None and "mos" in df.columns:
        keep &= df["mos"].between(*mos) | df["mos"].isna()
    for col, values in equal.items():
        if values and col in df.columns:
            keep &= df[col].astype(str).isin([str(v) for v in values])
    return df[keep]


def balance_table(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Shares (%) of ``column``'s classes in this table beside DSL Table 1's datasets (long form)."""
    classes = BALANCE_CLASSES[column]
    known = df[column].astype(str).str.lower() if column == "gender" else df[column].astype(str)
    known = known[known.isin(classes)]
    rows = [{"dataset": "this dataset", "class": c, "share": 100.0 * float((known == c).mean()) if len(known) else float("nan"),
             "n": int((known == c).sum())} for c in classes]
    for r in DSL_TABLE1.itertuples():
        rows += [{"dataset": r.dataset, "class": c, "share": float(getattr(r, c)), "n": None} for c in classes]
    return pd.DataFrame(rows)


def balance_figure(df: pd.DataFrame, column: str):
    """Grouped bars: this dataset's skin-tone or gender shares against PIQ23 / GFIQA-20k / CGFIQA-40k."""
    import plotly.express as px  # noqa: PLC0415

    t = balance_table(df, column)
    unknown = int((~df[column].astype(str).str.lower().isin([c.lower() for c in BALANCE_CLASSES[column]])).sum())
    fig = px.bar(t, x="class", y="share", color="dataset", barmode="group", text=t.share.round(1),
                 title=f"{column.replace('_', ' ')} (%), this dataset vs DSL-FIQA Table 1 ({unknown} images unknown)")
    fig.update_layout(yaxis_title="% of faces with a known value")
    return fig


def mos_histogram(df: pd.DataFrame, bins: int = 25):
    """MOS histogram coloured by GFIQA category (Bad < 0.2 ... Excellent >= 0.8)."""
    import plotly.express as px  # noqa: PLC0415

    part = df[df["mos"].notna()] if "mos" in df.columns else df.iloc[:0]
    fig = px.histogram(part, x="mos", color="category" if "category" in part.columns else None, nbins=bins, range_x=(0, 1),
                       category_orders={"category": list(CATEGORIES)}, title=f"MOS of {len(part)} images")
    fig.update_layout(bargap=0.05, yaxis_title="images")
    return fig


def stat_histograms(df: pd.DataFrame, columns=("brightness", "sharpness", "contrast")):
    """One plotly figure with a histogram per image statistic (GFIQA Fig. 5 style)."""
    import plotly.graph_objects as go  # noqa: PLC0415
    from plotly.subplots import make_subplots  # noqa: PLC0415

    cols = [c for c in columns if c in df.columns]
    fig = make_subplots(rows=1, cols=max(1, len(cols)), subplot_titles=cols)
    for i, c in enumerate(cols, start=1):
        fig.add_trace(go.Histogram(x=df[c].dropna(), nbinsx=30, name=c, showlegend=False), row=1, col=i)
    fig.update_layout(title="Image statistics", bargap=0.05)
    return fig


# ----------------------------------------------------------------------------- failure review (tags saved to a file)
CAUSES = ("rotated face", "occlusion", "non-frontal", "unusual lighting", "label noise", "small / low-res face",
          "heavy makeup / filter", "not a face / bad crop", "other")


def review_path(predictions: str | os.PathLike) -> Path:
    """Where the review of a predictions file lives: ``<predictions>.review.csv`` beside it."""
    p = Path(predictions)
    return p.with_name(p.stem + ".review.csv")


def load_review(predictions: str | os.PathLike) -> pd.DataFrame:
    """The saved tags (image, cause, note) of a predictions file; empty when none yet."""
    p = review_path(predictions)
    if not p.is_file():
        return pd.DataFrame(columns=["image", "cause", "note"])
    return pd.read_csv(p, dtype=str, keep_default_na=False)


def tag_failure(predictions: str | os.PathLike, image: str, cause: str, note: str = "") -> pd.DataFrame:
    """Record (or replace) the cause of one image's failure; written atomically, returns the review."""
    if cause not in CAUSES:
        raise FaceIQAError(f"unknown cause {cause!r}; choose from {', '.join(CAUSES)}")
    review = load_review(predictions)
    review = review[review.image != str(image)]
    review = pd.concat([review, pd.DataFrame([{"image": str(image), "cause": cause, "note": note}])], ignore_index=True)
    p = review_path(predictions)
    tmp = p.with_name(p.name + ".tmp")
    review.to_csv(tmp, index=False)
    os.replace(tmp, p)
    return review


def cause_counts(review: pd.DataFrame):
    """Plotly bar chart of tagged failures per cause."""
    import plotly.express as px  # noqa: PLC0415

    counts = review.cause.value_counts().reindex(CAUSES, fill_value=0).rename_axis("cause").reset_index(name="failures")
    return px.bar(counts, x="cause", y="failures", title=f"{len(review)} tagged failures by cause")
