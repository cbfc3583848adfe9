"""Streamlit page: explore a face dataset - quality, image statistics, skin-tone / gender balance.

    faceiqa data stats gfiqa-20k --root ~/datasets/GFIQA-20k --out gfiqa_stats.parquet   # once (resumable)
    streamlit run pages/3_Explorer.py -- --stats gfiqa_stats.parquet

Or give a dataset (folder, labels CSV/Parquet, or gfiqa-20k / cgfiqa-40k / piq23 + root) and the
page runs the same analysis with a resumable cache beside it.
"""
from pathlib import Path

import streamlit as st

from core.errors import FaceIQAError
from studio.views import (
    app_arg,
    balance_figure,
    balance_table,
    filter_stats,
    load_stats,
    mos_histogram,
    stat_histograms,
)

st.set_page_config(page_title="FaceIQA - dataset explorer", layout="wide")
st.title("Dataset explorer")


@st.cache_data(show_spinner="reading statistics")
def _load(path: str):
    return load_stats(path)


@st.cache_data(show_spinner="analysing the dataset (faces, skin tone, gender, statistics); cached and resumable")
def _analyse(dataset: str, root: str, aligned: bool):
    from core.analysis.audit import audit  # noqa: PLC0415
    from core.data.datasets import load_dataset  # noqa: PLC0415

    ds = load_dataset(dataset, root=root or None)
    cache = Path(dataset if Path(dataset).is_dir() else Path(dataset).parent) / ".faceiqa_stats_cache"
    per_image, _ = audit(ds, cache, aligned=aligned, progress=False)
    return per_image


@st.cache_resource(show_spinner="loading the model")
def _scorer(model: str):
    from core import Scorer  # noqa: PLC0415

    return Scorer(model)


source = st.radio("Source", ["statistics table", "dataset"], horizontal=True, index=1 if app_arg("--dataset") else 0)
try:
    if source == "statistics table":
        df = _load(st.text_input("Statistics table (`faceiqa data stats ... --out T.parquet`)", app_arg("--stats", "stats.parquet")))
    else:
        c1, c2, c3 = st.columns([3, 2, 1])
        dataset = c1.text_input("Dataset: folder, labels table, or gfiqa-20k / cgfiqa-40k / piq23", app_arg("--dataset"))
        root = c2.text_input("Root (for named datasets)", app_arg("--root"))
        aligned = c3.checkbox("aligned crops", True)
        if not dataset:
            st.info("Give a dataset to analyse.")
            st.stop()
        df = _analyse(dataset, root, aligned)
except (FaceIQAError, ValueError, OSError) as exc:
    st.info(str(exc))
    st.stop()

with st.sidebar:
    st.header("Filters")
    mos_range = st.slider("MOS", 0.0, 1.0, (0.0, 1.0), 0.05) if "mos" in df and df["mos"].notna().any() else None
    picks = {}
    for col in ("split", "category", "skin_tone", "gender", "degradation"):
        if col in df.columns and df[col].nunique() > 1:
            picks[col] = st.multiselect(col.replace("_", " "), sorted(df[col].dropna().astype(str).unique()))
view = filter_stats(df, mos_range, **picks)

c = st.columns(5)
c[0].metric("images", f"{len(view)} / {len(df)}")
if "status" in view:
    c[1].metric("with a face", int((view["status"] == "ok").sum()))
if "mos" in view and view["mos"].notna().any():
    c[2].metric("mean MOS", f"{view['mos'].mean():.3f}")
if "identity_group" in view:
    c[3].metric("people (embedding groups)", int(view.loc[view.identity_group >= 0, "identity_group"].nunique()))
if "duplicate_group" in view:
    dup = view[view.duplicate_group >= 0].duplicate_group.duplicated(keep=False).sum()
    c[4].metric("near-duplicate images", int(dup))

tab_q, tab_s, tab_b, tab_g = st.tabs(["Quality", "Image statistics", "Balance", "Images"])
with tab_q:
    if "mos" in view and view["mos"].notna().any():
        st.plotly_chart(mos_histogram(view), width="stretch")
        st.dataframe(view["category"].value_counts().rename("images"), width="content")
    else:
        st.info("No MOS in this dataset.")
with tab_s:
    st.plotly_chart(stat_histograms(view), width="stretch")
with tab_b:
    for col in ("skin_tone", "gender"):
        if col in view.columns:
            st.plotly_chart(balance_figure(view, col), width="stretch")
            st.dataframe(balance_table(view, col).pivot(index="dataset", columns="class", values="share").round(1), width="stretch")
with tab_g:
    sort = st.selectbox("Order by", [c for c in ("mos", "sharpness", "brightness", "contrast") if c in view.columns])
    ascending = st.toggle("lowest first", True)
    grid = view.sort_values(sort, ascending=ascending).head(24)
    cols = st.columns(6)
    for i, row in enumerate(grid.itertuples()):
        caption = f"{Path(row.image).name} {sort}={getattr(row, sort):.2f}"
        try:
            cols[i % 6].image(row.image, caption=caption, width="stretch")
        except Exception:  # noqa: BLE001 - an unreadable file must not break the grid
            cols[i % 6].write(f"{row.image} (unreadable)")
    pick = st.selectbox("Full analysis of", ["-"] + list(grid.image))
    if pick != "-":
        from core.analysis.explain import explain_face  # noqa: PLC0415
        from core.io import load_image  # noqa: PLC0415
        from core.models import list_models  # noqa: PLC0415

        names = [m.name for m in list_models()]
        m1, m2 = st.columns(2)
        model = m1.selectbox("Model", names, index=names.index("dsl-fiqa") if "dsl-fiqa" in names else 0)
        method = m2.selectbox("CAM", ["GradCAM", "GradCAM++", "EigenCAM", "XGradCAM", "LayerCAM", "HiResCAM"])
        try:
            result, items = explain_face(_scorer(model), load_image(pick), 0, method, aligned=bool(source == "dataset" and aligned))
        except (FaceIQAError, IndexError) as exc:
            st.warning(str(exc))
        else:
            cols = st.columns(len(items))
            for col, (pic, cap) in zip(cols, items):
                col.image(pic, caption=cap, width="stretch")
st.dataframe(view.drop(columns=[c for c in ("embedding",) if c in view.columns]), width="stretch")
