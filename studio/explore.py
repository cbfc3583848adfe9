"""Streamlit main script: the analysis pages under ``pages/`` in one app (``faceiqa explore``).

    streamlit run studio/explore.py -- --stats stats.parquet --predictions preds.csv --table bench/labels.csv
"""
from pathlib import Path

import streamlit as st

PAGES = Path(__file__).resolve().parents[1] / "pages"
nav = st.navigation([
    st.Page(str(PAGES / "3_Explorer.py"), url_path="explorer", title="Dataset explorer", icon=":material/dataset:", default=True),
    st.Page(str(PAGES / "4_Embeddings.py"), url_path="embeddings", title="Embeddings", icon=":material/scatter_plot:"),
    st.Page(str(PAGES / "5_Failures.py"), url_path="failures", title="Failure review", icon=":material/report:"),
    st.Page(str(PAGES / "2_Fairness.py"), url_path="fairness", title="Fairness", icon=":material/balance:"),
    st.Page(str(PAGES / "6_Frames.py"), url_path="frames", title="Frame picker", icon=":material/burst_mode:"),
    st.Page(str(PAGES / "7_Rate.py"), url_path="rate", title="Rate faces", icon=":material/star_rate:"),
    st.Page(str(PAGES / "1_Scores.py"), url_path="scores", title="Scores", icon=":material/table:"),
])
nav.run()
