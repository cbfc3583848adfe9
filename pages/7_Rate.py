"""Streamlit page: rate faces, blind to every model score (the human labels the default is calibrated on).

    streamlit run pages/7_Rate.py -- --ratings ratings/real-faces --data-root ../shared/data

One face at a time on GFIQA's five categories (half steps allowed), or two faces side by side (which looks better?).
Faces come in a random order fixed per rater, with a second pass over a fixed subset for test-retest; every answer
is appended to the set's ``ratings.jsonl`` at once (fsynced; the latest answer per face and pass counts), so closing
the tab loses nothing and reopening resumes. This page never loads a model.
"""
from pathlib import Path

import numpy as np
import streamlit as st

from core.data.ratings import RatingStore, materialise, mos_table, next_sheet, read_items, test_retest
from core.errors import FaceIQAError
from studio.views import app_arg

LABELS = ("Bad", "Poor", "Fair", "Good", "Excellent")
st.set_page_config(page_title="FaceIQA - rate faces", layout="wide")
st.title("Rate faces")
st.caption("How good does this face photo look? Judge the face itself (sharpness, noise, compression, colour); "
           "no model score is shown anywhere on this page.")
c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
root = Path(c1.text_input("Rating set folder", app_arg("--ratings", "ratings/real-faces")))
rater = c2.text_input("Your rater name", key="rater", help="ratings are kept per rater; use the same name to resume")
mode = c3.radio("Mode", ["one face", "pairs"], horizontal=True)
pass_ = int(c4.radio("Pass", [1, 2], horizontal=True, help="pass 2: the test-retest repeats"))
if not (root / "items.csv").is_file():
    st.info(f"{root} is not a rating set: make one with `faceiqa rate items DIR --data-root ... --source NAME=GLOB`.")
    st.stop()
if not rater.strip():
    st.info("Enter your rater name to start.")
    st.stop()
rater = rater.strip()
items = read_items(root)
store = RatingStore(root)


@st.cache_data(show_spinner="preparing the face crops (once)")
def _crops(folder: str, data_root: str) -> dict[str, str]:
    return {k: str(v) for k, v in materialise(folder, data_root, progress=False).items()}


faces_dir = root / "faces"
missing = [i for i in items["item"] if not (faces_dir / f"{i}.png").is_file()]
if missing:
    try:
        _crops(str(root), app_arg("--data-root", "../shared/data"))
    except FaceIQAError as exc:
        st.error(f"{len(missing)} face crops are missing and could not be made: {exc}")
        st.stop()


def _face(item: str) -> str:
    return str(faces_dir / f"{item}.png")


done = store.load()
mine = done[(done["rater"] == rater) & (done["pass"] == pass_)] if len(done) else done
pool = len(items) if pass_ == 1 else min(60, len(done[(done["rater"] == rater) & (done["pass"] == 1)]) if len(done) else 0)
st.progress(min(1.0, len(mine) / max(pool, 1)), text=f"{rater}: {len(mine)} of {pool} faces rated in pass {pass_}")

if mode == "one face":
    nxt = next_sheet(root, rater, per_sheet=1, pass_=pass_)
    if not nxt:
        st.success("All faces of this pass are rated. Thank you!")
    else:
        item = nxt[0]
        left, right = st.columns([3, 2])
        left.image(_face(item), width=512)
        right.markdown("**How good is this face photo?**")
        value = right.select_slider("rating", options=[1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5], value=3,
                                    format_func=lambda v: LABELS[int(v) - 1] if float(v).is_integer() else f"{v:g}",
                                    key=f"slider-{item}-{pass_}")
        right.caption("5 sharp, high-resolution detail · 4 clear, slight softness · 3 soft or visible artefacts, "
                      "features clear · 2 heavy blur / noise / compression · 1 unrecognisable")
        if right.button("Save and next", type="primary", key=f"save-{item}-{pass_}"):
            store.add([{"rater": rater, "item": item, "rating": float(value), "pass": pass_, "source": "streamlit"}])
            st.rerun()
else:
    rng = np.random.default_rng([len(store.load(kind="pair")), len(rater)])
    a, b = rng.choice(items["item"].to_numpy(), size=2, replace=False)
    left, right = st.columns(2)
    left.image(_face(a), width=420)
    right.image(_face(b), width=420)
    if left.button("Left looks better", key=f"L-{a}-{b}"):
        store.add([{"rater": rater, "kind": "pair", "item": a, "other": b, "winner": a, "source": "streamlit"}])
        st.rerun()
    if right.button("Right looks better", key=f"R-{a}-{b}"):
        store.add([{"rater": rater, "kind": "pair", "item": a, "other": b, "winner": b, "source": "streamlit"}])
        st.rerun()

with st.expander("Progress of every rater (no model scores)"):
    ratings = store.load()
    if len(ratings):
        per = ratings.groupby(["rater", "pass"]).size().rename("faces").reset_index()
        st.dataframe(per, hide_index=True)
        st.write(f"MOS of {len(mos_table(ratings))} faces; test-retest of {rater}: {test_retest(ratings, rater)}")
    st.write(f"{len(store.load(kind='pair'))} pair judgements. Export: `faceiqa rate export {root} --out labels.csv`.")
