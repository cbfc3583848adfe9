"""Embeddings, failure-review and frame-picker pages (Streamlit AppTest) and their core helpers."""
import cv2
import numpy as np
import pandas as pd
import plotly.io
import pytest
from conftest import REPO, plotly_values


@pytest.fixture
def ladder(face_ladder):
    return face_ladder


def test_degradation_embeddings_retrieval_and_maps(ladder):
    from core.analysis.embed import degradation_embeddings, nearest, project_2d, retrieval_map
    from core.models import create_model

    d, t, imgs = ladder
    model = create_model("dsl-fiqa")
    emb = degradation_embeddings([str(d / n) for n in t.image], model)
    assert emb.shape[0] == 16 and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)
    again = degradation_embeddings(imgs, model)
    assert np.allclose(emb, again, atol=1e-2)  # files and arrays give the same embedding (PNG is lossless)
    m, per = retrieval_map(emb[1:], t.degradation[1:])
    assert 0 < m <= 1 and set(per.label) == set(t.degradation[1:]) and (per.queries == 3).all()
    # a perfect embedding (one-hot of the label) gets mAP 1; a constant one gets the base rate
    onehot = pd.get_dummies(t.degradation[1:]).to_numpy(float)
    assert retrieval_map(onehot, t.degradation[1:])[0] == pytest.approx(1.0)
    assert 0 not in nearest(emb, 0, 5) and len(nearest(emb, 0, 5)) == 5
    xy, reducer = project_2d(emb, "tsne")
    assert xy.shape == (16, 2) and reducer is None
    with pytest.raises(ValueError, match="at least 3"):
        project_2d(emb[:2], "tsne")


def test_embeddings_page_maps_and_retrieves(ladder):
    from streamlit.testing.v1 import AppTest

    from core.analysis.embed import degradation_embeddings, retrieval_map

    d, t, _ = ladder
    at = AppTest.from_file(str(REPO / "pages" / "4_Embeddings.py"), default_timeout=180)
    at.run()
    assert not at.exception and "no such table" in at.info[0].value
    at.text_input[0].input(str(d / "labels.csv")).run()
    assert not at.exception, at.exception
    fig = plotly.io.from_json(at.get("plotly_chart")[0].proto.spec)
    assert fig.layout.title.text.startswith("t-SNE of 16 DSL degradation embeddings")
    assert sum(len(plotly_values(tr.x)) for tr in fig.data) == 16
    emb = degradation_embeddings([str(d / n) for n in t.image])
    single = t.degradation != "clean"
    expected = retrieval_map(emb[single.to_numpy()], t.degradation[single])[0]
    assert {m.label: m.value for m in at.metric}["mAP (single-degradation images, query = every image)"] == f"{expected:.3f}"
    assert len(at.get("image")) >= 8  # the query and its 7 nearest faces
    at.selectbox[0].set_value("degradation_type").run()  # colour by degradation: one trace per type
    fig = plotly.io.from_json(at.get("plotly_chart")[0].proto.spec)
    assert {tr.name for tr in fig.data} == set(t.degradation.astype(str))


def test_failure_review_tags_are_saved_and_counted(ladder):
    from streamlit.testing.v1 import AppTest

    from core.errors import FaceIQAError
    from studio.views import cause_counts, load_review, review_path, tag_failure

    d, t, _ = ladder
    preds = t.assign(prediction=np.linspace(0.9, 0.1, len(t)))
    path = d / "predictions_dsl-fiqa.csv"
    preds.to_csv(path, index=False)
    with pytest.raises(FaceIQAError, match="unknown cause"):
        tag_failure(path, "x.png", "gremlins")
    at = AppTest.from_file(str(REPO / "pages" / "5_Failures.py"), default_timeout=180)
    at.run()
    at.text_input[0].input(str(path)).run()
    assert not at.exception, at.exception
    at.toggle[0].set_value(False).run()  # no heatmaps: fast
    worst = preds.assign(e=(preds.prediction - preds.mos).abs()).nlargest(6, "e").image.tolist()
    cause_boxes = [s for s in at.selectbox if s.label == "Cause"]
    assert len(cause_boxes) == 6
    cause_boxes[0].set_value("occlusion").run()
    cause_boxes = [s for s in at.selectbox if s.label == "Cause"]
    cause_boxes[1].set_value("unusual lighting").run()
    assert not at.exception
    review = load_review(path)
    assert review_path(path).is_file() and dict(zip(review.image, review.cause)) == {worst[0]: "occlusion", worst[1]: "unusual lighting"}
    tag_failure(path, worst[0], "rotated face")  # re-tagging replaces, never duplicates
    review = load_review(path)
    assert len(review) == 2 and dict(zip(review.image, review.cause))[worst[0]] == "rotated face"
    counts = cause_counts(review)
    assert dict(zip(counts.data[0].x, counts.data[0].y))["rotated face"] == 1
    at2 = AppTest.from_file(str(REPO / "pages" / "5_Failures.py"), default_timeout=180)  # a new session sees the saved review
    at2.run()
    at2.text_input[0].input(str(path)).run()
    at2.toggle[0].set_value(False).run()
    assert [s.value for s in at2.selectbox if s.label == "Cause"][:2] == ["rotated face", "unusual lighting"]


def test_frames_from_uploads_and_page(astronaut, tmp_path):
    from streamlit.testing.v1 import AppTest

    from core.analysis.frames import frames_from_files, select_frames

    video = tmp_path / "clip.mp4"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (256, 256))
    base = cv2.resize(astronaut, (256, 256))
    for sigma in (0, 4, 0.5, 8, 2, 6):
        f = base if sigma == 0 else cv2.GaussianBlur(base, (0, 0), sigma)
        w.write(f[..., ::-1])
    w.release()
    ok, png = cv2.imencode(".png", base[..., ::-1])
    frames, names = frames_from_files([("clip.mp4", video.read_bytes()), ("still.png", png.tobytes())], every=1)
    assert len(frames) == 7 and names[0] == "clip.mp4 #0" and names[-1] == "still.png"
    ranking = select_frames(frames, 2, model="perceptual-blur")
    assert set(ranking.best) <= {0, 2, 6}  # sharp frames first, not the 4-8 px blurs
    at = AppTest.from_file(str(REPO / "pages" / "6_Frames.py"), default_timeout=120)
    at.run()
    assert not at.exception and "Upload a video" in at.info[0].value
    burst = tmp_path / "burst"
    burst.mkdir()
    (burst / "clip.mp4").write_bytes(video.read_bytes())
    at.selectbox[0].set_value("perceptual-blur")
    at.number_input[1].set_value(1)  # every frame
    at.text_input[0].input(str(burst)).run()
    assert not at.exception, at.exception
    found, total = {m.label: m.value for m in at.metric}["frames with a face"].split(" / ")
    assert total == "6" and int(found) >= 5  # the 8-px blur may lose its face
    assert len(at.get("image")) == 3  # the best k frames
    table = at.dataframe[0].value
    assert len(table) == 6 and table.name.str.startswith("clip.mp4 #").all()
    assert set(table.frame.head(3)) == {0, 2, 4}  # sigma 0, 0.5 and 2: the three sharpest frames rank first


def test_explore_main_script_lists_every_page(sample_stats):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "studio" / "explore.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Dataset explorer"]  # the default page runs inside the navigation
    src = (REPO / "studio" / "explore.py").read_text()
    pages = sorted(p.name for p in (REPO / "pages").glob("*.py"))
    assert all(p in src for p in pages), pages  # every page is reachable from `faceiqa explore`


def test_rate_page_records_blind_ratings_and_resumes(tmp_path, face512):
    import pandas as pd
    from PIL import Image
    from streamlit.testing.v1 import AppTest

    from core.data.ratings import RatingStore

    root = tmp_path / "set"
    (root / "faces").mkdir(parents=True)
    ids = [f"item{i}" for i in range(3)]
    pd.DataFrame({"item": ids, "source": [f"x/{i}.png" for i in ids], "face": 0, "dataset": "test", "identity": ids,
                  "eye_px": float("nan"), "split": "test"}).to_csv(root / "items.csv", index=False)
    for i in ids:
        Image.fromarray(face512).save(root / "faces" / f"{i}.png")
    at = AppTest.from_file(str(REPO / "pages" / "7_Rate.py"), default_timeout=120)
    at.run()
    at.text_input[0].input(str(root)).run()
    assert "Enter your rater name" in at.info[0].value
    at.text_input[1].input("tester").run()
    assert not at.exception, at.exception
    at.select_slider[0].set_value(4.5).run()
    at.button[0].click().run()
    assert not at.exception, at.exception
    got = RatingStore(root).load()
    assert len(got) == 1 and got.rating[0] == 4.5 and got.rater[0] == "tester" and got.item[0] in ids
    assert "1 of 3" in at.get("progress")[0].proto.text  # resumes: the rated face is not shown again
    at.radio[0].set_value("pairs").run()
    at.button[0].click().run()
    assert not at.exception and len(RatingStore(root).load(kind="pair")) == 1
