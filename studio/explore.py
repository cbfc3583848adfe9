"""Streamlit main script: the analysis pages under ``pages/`` in one app (``faceiqa explore``).

    streamlit run studio/explore.py -- --stats stats.parquet --predictions preds.csv --table bench/labels.csv
"""
from pathlib import Path

import streamlit as st

PAGES = Path(__file__).resolve().parents[1] / "pages"
nav = st.navigation([
    st.Page(str(PAGES / "3_Explorer.py"), title="Dataset explorer", icon=":material/dataset:", default=True),
    st.Page(str(PAGES / "4_Embeddings.py"), title="Embeddings", icon=":material/scatter_plot:"),
    st.Page(str(PAGES / "5_Failures.py"), title="Failure review", icon=":material/report:"),
    st.Page(str(PAGES / "2_Fairness.py"), title="Fairness", icon=":material/balance:"),
    st.Page(str(PAGES / "6_Frames.py"), title="Frame picker", icon=":material/burst_mode:"),
    st.Page(str(PAGES / "1_Scores.py"), title="Scores", icon=":material/table:"),
])
nav.run()
