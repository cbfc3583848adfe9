"""Streamlit page: explore a scores table from `faceiqa score`.

    streamlit run pages/1_Scores.py -- --scores scores.csv
"""
import streamlit as st
from PIL import Image

from core.errors import FaceIQAError
from studio.views import app_arg, load_scores, score_histogram, status_counts, worst_faces

st.set_page_config(page_title="FaceIQA - scores", layout="wide")
st.title("Scores explorer")
default = app_arg("--scores", "scores.csv")
path = st.text_input("Scores file (.csv or .parquet from `faceiqa score`)", default)
try:
    df = load_scores(path)
except FaceIQAError as exc:
    st.info(str(exc))
    st.stop()

counts = status_counts(df)
c1, c2, c3, c4 = st.columns(4)
c1.metric("faces scored", int((df.status == "ok").sum()))
c2.metric("files ok", int(counts["ok"]))
c3.metric("no face", int(counts["no_face"]))
c4.metric("errors", int(counts["error"]))
st.plotly_chart(score_histogram(df), width="stretch")

st.subheader("Lowest scores")
worst = worst_faces(df, 12)
cols = st.columns(6)
for i, row in enumerate(worst.itertuples()):
    try:
        crop = Image.open(row.path).convert("RGB").crop((row.x1, row.y1, row.x2, row.y2))
        cols[i % 6].image(crop, caption=f"{row.score:.2f} {row.category}", width="stretch")
    except OSError:
        cols[i % 6].write(f"{row.path} (unreadable)")
st.dataframe(df, width="stretch")
