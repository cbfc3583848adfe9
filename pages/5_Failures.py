"""Streamlit page: review where a model fails - worst errors with their heatmaps, tagged by cause.

    faceiqa evaluate dsl-fiqa --labels bench/labels.csv --out preds.csv
    streamlit run pages/5_Failures.py -- --predictions preds.csv

Tags are saved to ``preds.review.csv`` beside the predictions as soon as they are given.
"""
from pathlib import Path

import streamlit as st

from core.errors import FaceIQAError
from studio.views import CAUSES, app_arg, cause_counts, load_predictions, load_review, prediction_scatter, tag_failure

st.set_page_config(page_title="FaceIQA - failure review", layout="wide")
st.title("Failure-case review")
default = app_arg("--predictions", "predictions.csv")
c1, c2 = st.columns([3, 1])
path = c1.text_input("Predictions file (from `faceiqa evaluate` or `faceiqa compare`)", default)


@st.cache_data(show_spinner=False)
def _load(p: str):
    return load_predictions(p)


@st.cache_resource(show_spinner="loading the model")
def _scorer(model: str):
    from core import Scorer  # noqa: PLC0415

    return Scorer(model)


try:
    df = _load(path)
except FaceIQAError as exc:
    st.info(str(exc))
    st.stop()
from core.models import list_models  # noqa: E402

names = [m.name for m in list_models()]
guess = next((n for n in names if n in Path(path).stem), "dsl-fiqa")
model = c2.selectbox("Model that made the predictions (for heatmaps)", names, index=names.index(guess))
df = df.assign(abs_error=(df.prediction - df.mos).abs())
colour = next((c for c in ("degradation", "skin_tone", "gender") if c in df.columns), None)
st.plotly_chart(prediction_scatter(df, colour), width="stretch")
k = st.slider("Worst errors to review", 1, 30, 6)
review = load_review(path)
tagged = dict(zip(review.image, review.cause))
root = Path(path).parent
show_maps = st.toggle("heatmaps and latent references", True)
for row in df.nlargest(k, "abs_error").itertuples():
    img_path = Path(row.image) if Path(str(row.image)).is_absolute() else root / str(row.image)
    with st.container(border=True):
        cols = st.columns([1, 1, 1, 2])
        cols[0].markdown(f"**{Path(str(row.image)).name}**  \nMOS {row.mos:.3f}, predicted {row.prediction:.3f} "
                         f"(error {row.prediction - row.mos:+.3f})")
        if show_maps:
            try:
                from core.analysis.explain import explain_face  # noqa: PLC0415
                from core.io import load_image  # noqa: PLC0415

                _, items = explain_face(_scorer(model), load_image(img_path), 0, "GradCAM", aligned=True)
                for col, (pic, cap) in zip(cols[:3], items[:3]):
                    col.image(pic, caption=cap, width="stretch")
            except (FaceIQAError, OSError, IndexError) as exc:
                cols[1].warning(str(exc))
        with cols[3]:
            current = tagged.get(str(row.image))
            cause = st.selectbox("Cause", ["-"] + list(CAUSES), index=(CAUSES.index(current) + 1) if current in CAUSES else 0,
                                 key=f"cause-{row.Index}")
            note = st.text_input("Note", key=f"note-{row.Index}")
            if cause != "-" and cause != current:
                review = tag_failure(path, str(row.image), cause, note)
                tagged = dict(zip(review.image, review.cause))
                st.success(f"saved: {cause}")
st.subheader("Causes")
review = load_review(path)
if len(review):
    st.plotly_chart(cause_counts(review), width="stretch")
    st.dataframe(review, width="stretch")
else:
    st.caption("No failure tagged yet.")
