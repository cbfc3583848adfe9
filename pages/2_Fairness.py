"""Streamlit page: how a model's accuracy differs across skin tone, gender and degradation.

    streamlit run pages/2_Fairness.py -- --predictions comparison/predictions_tinyfqnet.csv
"""
import streamlit as st

from core.analysis.evaluate import metrics_table, subgroup_metrics
from core.errors import FaceIQAError
from studio.views import app_arg, load_predictions, prediction_scatter, subgroup_figure

st.set_page_config(page_title="FaceIQA - fairness", layout="wide")
st.title("Fairness and failure review")
default = app_arg("--predictions", "predictions.csv")
path = st.text_input("Predictions file (from `faceiqa compare` or `faceiqa evaluate`)", default)


@st.cache_data(show_spinner=False)
def _load(p: str):
    df = load_predictions(p)
    return df, subgroup_metrics(df)


try:
    df, sub = _load(path)
except FaceIQAError as exc:
    st.info(str(exc))
    st.stop()

overall = metrics_table({"model": df}).iloc[0]
c1, c2, c3, c4 = st.columns(4)
c1.metric("images", int(overall.n))
c2.metric("SRCC", f"{overall.SRCC:.3f}")
c3.metric("PLCC", f"{overall.PLCC:.3f}")
c4.metric("RMSE", f"{overall.RMSE:.3f}")
if sub.empty:
    st.warning("No subgroup columns (skin_tone, gender, degradation) with enough images in this file.")
    st.stop()
groupings = list(dict.fromkeys(sub.grouping))
gaps = sub.groupby("grouping").gap.first()
cols = st.columns(len(groupings))
for col, g in zip(cols, groupings):
    col.metric(f"SRCC gap by {g}", f"{gaps[g]:.3f}")
choice = st.radio("Grouping", groupings, horizontal=True)
st.plotly_chart(subgroup_figure(sub, choice), width="stretch")
st.plotly_chart(prediction_scatter(df, choice), width="stretch")
st.subheader("Largest errors")
worst = df.assign(abs_error=(df.prediction - df.mos).abs()).sort_values("abs_error", ascending=False).head(20)
st.dataframe(worst, width="stretch")
st.dataframe(sub, width="stretch")
