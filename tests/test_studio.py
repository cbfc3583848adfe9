import numpy as np
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

    from studio.app import score_image

    from studio.app import score_on_change

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
