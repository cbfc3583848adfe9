"""Streamlit page: pick the best frames of a short video or a burst (tinyFQnet ranks the faces).

    streamlit run pages/6_Frames.py
"""
from pathlib import Path

import streamlit as st

from core.errors import FaceIQAError
from studio.views import app_arg

st.set_page_config(page_title="FaceIQA - frame picker", layout="wide")
st.title("Frame picker")
st.caption("Upload a short video or a burst of photos: every frame's largest face is scored by tinyFQnet "
           "(recognition-oriented quality) and the best k are shown.")
files = st.file_uploader("Video (mp4, avi, mov, webm) or photos", type=["mp4", "avi", "mov", "webm", "mkv", "jpg", "jpeg", "png", "webp"],
                         accept_multiple_files=True)
c1, c2, c3 = st.columns(3)
k = c1.number_input("best k", 1, 20, 3)
every = c2.number_input("every n-th video frame", 1, 30, 5)
model = c3.selectbox("Model", ["tinyfqnet", "perceptual-combined", "perceptual-blur", "stylegan-iqa", "dsl-fiqa"])


@st.cache_resource(show_spinner="loading the model")
def _scorer(name: str):
    from core import Scorer  # noqa: PLC0415

    return Scorer(name)


@st.cache_data(show_spinner="reading frames")
def _frames(blobs: tuple[tuple[str, bytes], ...], every: int):
    from core.analysis.frames import frames_from_files  # noqa: PLC0415

    return frames_from_files(list(blobs), every)


folder = st.text_input("... or a folder of frames / videos on this machine", app_arg("--frames"))
blobs = [(f.name, f.getvalue()) for f in files or []]
if folder and Path(folder).is_dir():
    blobs += [(p.name, p.read_bytes()) for p in sorted(Path(folder).iterdir()) if p.is_file()]
if not blobs:
    st.info("Upload a video or some photos.")
    st.stop()
try:
    frames, names = _frames(tuple(blobs), int(every))
except (FaceIQAError, ValueError, OSError) as exc:
    st.error(str(exc))
    st.stop()
from core.analysis.frames import select_frames  # noqa: E402

ranking = select_frames(frames, int(k), scorer=_scorer(model))
table = ranking.table.assign(name=[names[i] for i in ranking.table.frame])
st.metric("frames with a face", f"{int(table.score.notna().sum())} / {len(frames)}")
best = ranking.best
if not best:
    st.warning("No face found in any frame.")
cols = st.columns(max(1, len(best)))
for col, i in zip(cols, best):
    row = table[table.frame == i].iloc[0]
    col.image(frames[i], caption=f"{names[i]}: {row.score:.3f} {row.category}", width="stretch")
st.dataframe(table.drop(columns=["box"]), width="stretch")
