"""Streamlit page: degradation embeddings (DSL) on a t-SNE or UMAP map, selection, retrieval.

    streamlit run pages/4_Embeddings.py -- --table bench/labels.csv

The table needs an ``image`` column (paths, relative to the table) and may carry ``mos``,
``degradation``, ``skin_tone``, ``gender``, ``prediction`` (then the error is a colour too).
"""
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.errors import FaceIQAError
from studio.views import app_arg

st.set_page_config(page_title="FaceIQA - embeddings", layout="wide")
st.title("Degradation embeddings")
default = app_arg("--table", "labels.csv")
c1, c2 = st.columns([3, 1])
path = c1.text_input("Table of aligned faces (labels from `faceiqa data build`, predictions from `faceiqa evaluate`)", default)
limit = c2.number_input("at most (images)", 50, 50000, 1500, step=250)


@st.cache_data(show_spinner="reading the table")
def _table(p: str, n: int) -> pd.DataFrame:
    f = Path(p)
    if not f.is_file():
        raise FaceIQAError(f"{f}: no such table")
    t = pd.read_parquet(f) if f.suffix == ".parquet" else pd.read_csv(f)
    col = next((c for c in ("image", "path") if c in t.columns), None)
    if col is None:
        raise FaceIQAError(f"{f}: needs an 'image' column")
    t = t.head(int(n)).copy()
    t["file"] = [str(x) if Path(x).is_absolute() else str(f.parent / x) for x in t[col]]
    if {"mos", "prediction"} <= set(t.columns):
        t["error"] = t["prediction"] - t["mos"]
    if "degradation" in t.columns:
        t["degradation_type"] = t["degradation"].astype(str).str.split("+").str[0]
    return t.reset_index(drop=True)


@st.cache_resource(show_spinner="loading DSL-FIQA")
def _model():
    from core.models import create_model  # noqa: PLC0415

    return create_model("dsl-fiqa", device="cpu")


@st.cache_data(show_spinner="embedding faces (DSL degradation encoder)")
def _embed(files: tuple[str, ...]) -> np.ndarray:
    from core.analysis.embed import degradation_embeddings  # noqa: PLC0415

    return degradation_embeddings(list(files), _model())


@st.cache_data(show_spinner="projecting to 2-D")
def _project(emb: np.ndarray, method: str) -> np.ndarray:
    from core.analysis.embed import project_2d  # noqa: PLC0415

    return project_2d(emb, method)[0]


try:
    t = _table(path, limit)
    emb = _embed(tuple(t.file))
except (FaceIQAError, OSError, ValueError) as exc:
    st.info(str(exc))
    st.stop()

c1, c2 = st.columns(2)
method = c1.radio("Map", ["t-SNE", "UMAP"], horizontal=True)
colours = [c for c in ("mos", "degradation_type", "level", "skin_tone", "gender", "error") if c in t.columns]
colour = c2.selectbox("Colour by", colours or ["none"])
try:
    xy = _project(emb, "tsne" if method == "t-SNE" else "umap")
except ValueError as exc:
    st.info(str(exc))
    st.stop()
import plotly.express as px  # noqa: E402

plot = t.assign(x=xy[:, 0], y=xy[:, 1], row=np.arange(len(t)))
fig = px.scatter(plot, x="x", y="y", color=colour if colour in plot.columns else None, custom_data=["row"],
                 hover_data=[c for c in ("image", "mos", "degradation", "level") if c in plot.columns],
                 title=f"{method} of {len(t)} DSL degradation embeddings ({emb.shape[1]}-d)")
fig.update_layout(dragmode="lasso")
event = st.plotly_chart(fig, width="stretch", on_select="rerun", selection_mode=("lasso", "box"), key="map")
rows = sorted({int(p["customdata"][0]) for p in (event.selection.points if event and event.selection else []) if p.get("customdata")})
if rows:
    st.subheader(f"{len(rows)} selected")
    cols = st.columns(8)
    for i, r in enumerate(rows[:32]):
        cols[i % 8].image(t.file[r], caption=str(t.get("degradation", t.file).iloc[r]), width="stretch")
    st.dataframe(t.iloc[rows].drop(columns=["file"]), width="stretch")

st.subheader("Retrieval by degradation (DSL-FIQA Table 4 style)")
if "degradation_type" in t.columns:
    from core.analysis.embed import retrieval_map  # noqa: PLC0415

    single = ~t["degradation"].astype(str).str.contains(r"\+") & (t["degradation"].astype(str) != "clean")
    if single.sum() >= 3:
        m, per = retrieval_map(emb[single.to_numpy()], t.loc[single, "degradation_type"])
        st.metric("mAP (single-degradation images, query = every image)", f"{m:.3f}")
        st.dataframe(per.round(3), width="content")
q = st.selectbox("Query face", range(len(t)), format_func=lambda i: f"{i}: {Path(t.file[i]).name}")
from core.analysis.embed import nearest  # noqa: E402

hits = nearest(emb, int(q), 7)
cols = st.columns(8)
cols[0].image(t.file[q], caption="query", width="stretch")
for col, h in zip(cols[1:], hits):
    col.image(t.file[h], caption=f"{t.get('degradation', t.file).iloc[h]}", width="stretch")
