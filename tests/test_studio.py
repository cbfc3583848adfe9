from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLES

from core.io import load_image


def test_score_image_callback():
    from studio.app import TABLE_COLUMNS, score_image

    img = load_image(SAMPLES / "two_faces.jpg")
    annotated, table, crops, status = score_image(img, "perceptual-combined", "all", False)
    assert annotated.shape == img.shape and not np.array_equal(annotated, img)  # boxes drawn
    assert list(table.columns) == TABLE_COLUMNS and len(table) == 2
    assert table.score.between(0, 1).all() and len(crops) == 2 and crops[0][0].shape == (512, 512, 3)
    assert "2 face(s)" in status
    _, empty, no_crops, msg = score_image(load_image(SAMPLES / "no_face_coffee.jpg"))
    assert len(empty) == 0 and no_crops == [] and "No face" in msg


def test_score_image_errors():
    import gradio as gr

    from studio.app import score_image, score_on_change

    with pytest.raises(gr.Error, match="Upload a photo"):
        score_image(None)
    img, table, crops, msg = score_on_change(None)
    assert img is None and len(table) == 0 and crops == [] and msg == ""


def test_build_app():
    import gradio as gr

    from studio.app import build_app

    app = build_app()
    assert isinstance(app, gr.Blocks)


def test_detector_choice_reaches_the_scorer():
    from studio.app import DETECTORS, get_scorer, score_image

    img = load_image(SAMPLES / "astronaut.jpg")
    _, table, _, _ = score_image(img, "perceptual-combined", "all", False, "robust CNN (degraded photos)")
    assert len(table) == 1 and table.backend.iloc[0] == "robust-cnn+dlib"
    assert get_scorer("perceptual-combined", "robust").detector.detector == "robust"
    assert set(DETECTORS.values()) == {"hog", "robust"}


@pytest.mark.parametrize("model,maps", [("dsl-fiqa", {"regional confidence", "regional quality"}), ("ifqa", {"per-pixel realness"}),
                                        ("stylegan-iqa", {"latent reference"}), ("tinyfqnet", set())])
def test_explain_face_callback(model, maps):
    from studio.app import explain_face

    img = load_image(SAMPLES / "astronaut.jpg")
    items = explain_face(img, model, 0, "GradCAM++")
    captions = [c for _, c in items]
    assert "GradCAM++ of the score" in captions and maps <= set(captions)
    crop = items[0][0]
    assert all(p.shape[:2] == crop.shape[:2] for p, _ in items)  # every map lines up with the face crop
    import gradio as gr

    with pytest.raises(gr.Error, match="Face #3 does not exist"):
        explain_face(img, model, 3)


def test_cam_heatmap_methods_and_training_free_model():
    from core.analysis.explain import CAM_METHODS, cam_heatmap
    from core.models import create_model

    m = create_model("resnet50-iqa", device="cpu", pretrained=False)
    crop = (np.random.default_rng(0).random((256, 256, 3)) * 255).astype(np.uint8)
    for method in ("GradCAM", "EigenCAM"):
        h = cam_heatmap(m, crop, method=method)
        assert h.shape == (256, 256) and 0 <= h.min() and h.max() <= 1
    with pytest.raises(ValueError, match="method must be one of"):
        cam_heatmap(m, crop, method="Magic")
    with pytest.raises(ValueError, match="no convolutional layer"):
        cam_heatmap(create_model("perceptual-blur", device="cpu"), crop)
    assert "GradCAM++" in CAM_METHODS


def test_compare_models_and_downloads(tmp_path):
    import json

    from studio.app import compare_models, export_results, score_image

    img = load_image(SAMPLES / "two_faces.jpg")
    _, table, _, _ = score_image(img, "perceptual-combined")
    cmp = compare_models(img, ["perceptual-blur", "tinyfqnet"])
    assert list(cmp.columns) == ["face", "perceptual-blur", "tinyfqnet"] and len(cmp) == 2
    assert all(float(v.split()[0]) <= 1 for v in cmp["tinyfqnet"])
    csv_path, json_path = export_results(table, cmp)
    back = pd.read_csv(csv_path)
    assert len(back) == 2 and list(back.score.round(3)) == list(table.score.round(3)) and "tinyfqnet" in back.columns
    assert [r["face"] for r in json.loads(Path(json_path).read_text())] == [0, 1]
    assert export_results(pd.DataFrame()) == [] and compare_models(None, ["tinyfqnet"]).empty


def test_score_many_files_reports_every_file(tmp_path):
    from studio.app import score_files

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    table, files = score_files([str(SAMPLES / "two_faces.jpg"), str(SAMPLES / "no_face_coffee.jpg"), str(broken)], "perceptual-combined")
    assert list(table.status) == ["ok", "ok", "no_face", f"error: {table.status.iloc[3][7:]}"]
    assert "broken.jpg" in table.status.iloc[3] and len(files) == 2


@pytest.mark.slow
def test_embedding_on_reference_umap():
    from studio.app import embedding_on_map, reference_map

    fig = embedding_on_map(load_image(SAMPLES / "astronaut_blurred.jpg"), 0)
    table = reference_map()[0]
    assert len(table) == 1 + 15 * 3  # clean + every type at levels 1, 3, 5
    star = [t for t in fig.data if t.name == "face #0"]
    assert len(star) == 1 and len(star[0].x) == 1
    assert sum(len(t.x) for t in fig.data if t.name != "face #0") == len(table)


def test_explain_tabs_show_every_seed_models_maps():
    from studio.app import SEED_MAPS, explain_tabs

    img = load_image(SAMPLES / "astronaut.jpg")
    cam, dsl, ifqa, sg = explain_tabs(img, "tinyfqnet", 0, "EigenCAM")
    assert [c for _, c in cam][1] == "EigenCAM of the score"
    assert {c for _, c in dsl[1:]} == {"regional confidence", "regional quality"}
    assert [c for _, c in ifqa[1:]] == ["per-pixel realness"] and [c for _, c in sg[1:]] == ["latent reference"]
    assert len(SEED_MAPS) == 3
    cam, dsl, _, _ = explain_tabs(img, "dsl-fiqa", 0)  # the chosen seed model's tab repeats its maps, not its CAM
    assert "GradCAM of the score" in [c for _, c in cam] and "GradCAM of the score" not in [c for _, c in dsl]


def test_explain_tabs_detect_once_and_explain_from_each_scoring_pass(monkeypatch):
    """One Explain click: one detection for all four models; each explanation uses its own scoring pass's crop and
    landmarks (no second alignment)."""
    import core.analysis.explain as explain
    from core.faces import FaceDetector
    from studio.app import explain_tabs

    calls = {"detect": 0, "align": 0}
    detect = FaceDetector.detect
    monkeypatch.setattr(FaceDetector, "detect", lambda self, img: calls.__setitem__("detect", calls["detect"] + 1) or detect(self, img))
    img = load_image(SAMPLES / "astronaut.jpg")
    seen = []
    real = explain.explain_face
    monkeypatch.setattr(explain, "explain_face", lambda s, *a, **k: seen.append(k["result"].faces[0].aligned_landmarks) or real(s, *a, **k))
    cam, dsl, ifqa, sg = explain_tabs(img, "tinyfqnet", 0, "GradCAM")
    assert calls["detect"] == 1 and len(seen) == 4
    assert all(lm is not None and lm.shape == (68, 2) and 0.2 < lm.mean() < 0.8 for lm in seen)  # in the crop frame, / size
    assert len(cam) >= 2 and any("regional" in c for _, c in dsl) and any("latent reference" in c for _, c in sg)
