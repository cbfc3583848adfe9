"""Upload-and-score demo: boxes, landmarks and a quality score per face.

Run with ``faceiqa studio`` (or ``python -m studio``). Also the entry point of a Hugging
Face Space (``app = build_app()``).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from core import DEFAULT_MODEL, FaceIQAError, Scorer, list_models

SAMPLES = Path(__file__).resolve().parents[1] / "assets" / "samples"
COLOURS = {"Bad": (220, 40, 40), "Poor": (240, 130, 30), "Fair": (230, 200, 40), "Good": (120, 200, 60), "Excellent": (30, 170, 90)}
TABLE_COLUMNS = ["face", "score", "category", "raw", "detector conf.", "backend", "box", "details"]


DETECTORS = {"dlib HOG, robust CNN when it finds nothing": "hog", "robust CNN (degraded photos)": "robust"}


@lru_cache(maxsize=8)
def get_scorer(model: str, detector: str = "hog") -> Scorer:
    """One scorer per (model, detector), built on first use and kept."""
    from core.faces import FaceDetector  # noqa: PLC0415

    return Scorer(model, detector=FaceDetector(detector=detector))


def draw_results(image: np.ndarray, result) -> np.ndarray:
    """Boxes, 68 landmarks and ``#i 0.87 Excellent`` labels drawn on a copy of ``image``."""
    out = image.copy()
    thick = max(2, round(max(image.shape[:2]) / 400))
    for f in result.faces:
        colour = COLOURS[f.category]
        x1, y1, x2, y2 = (int(round(v)) for v in f.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick)
        for x, y in f.landmarks:
            cv2.circle(out, (int(x), int(y)), max(1, thick - 1), (255, 255, 255), -1)
        label = f"#{f.index} {f.score:.2f} {f.category}"
        scale = max(0.4, max(image.shape[:2]) / 1400)
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = max(y1, th + 6)
        cv2.rectangle(out, (x1, ty - th - 6), (x1 + tw + 6, ty), colour, -1)
        cv2.putText(out, label, (x1 + 3, ty - 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick, cv2.LINE_AA)
    return out


def score_image(image: np.ndarray | None, model: str = DEFAULT_MODEL, faces: str = "all", aligned: bool = False,
                detector: str = "hog"):
    """Gradio callback: (annotated image, per-face table, aligned crops, status line)."""
    import gradio as gr  # noqa: PLC0415

    if image is None:
        raise gr.Error("Upload a photo first.")
    try:
        result = get_scorer(model, DETECTORS.get(detector, detector)).assess(image, faces=faces, aligned=aligned, keep_crops=True)
    except FaceIQAError as exc:
        raise gr.Error(str(exc)) from exc
    rows = [
        {
            "face": f.index, "score": round(f.score, 3), "category": f.category, "raw": round(f.raw, 4),
            "detector conf.": round(f.detection_confidence, 2), "backend": f.backend,
            "box": ", ".join(f"{v:.0f}" for v in f.box),
            "details": ", ".join(f"{k}={v:.2f}" for k, v in f.extras.items()),
        }
        for f in result.faces
    ]
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    crops = [(f.aligned, f"#{f.index}: {f.score:.2f} {f.category}") for f in result.faces if f.aligned is not None]
    if result.faces:
        status = f"{len(result.faces)} face(s) scored with {result.model} (0..1, higher is better)."
    else:
        status = "No face found. Tick 'already aligned' if this is a face crop."
    return draw_results(np.asarray(image), result), table, crops, status


def score_on_change(image, model=DEFAULT_MODEL, faces="all", aligned=False, detector="hog"):
    """Like :func:`score_image`, but a cleared image just clears the outputs."""
    if image is None:
        return None, pd.DataFrame(columns=TABLE_COLUMNS), [], ""
    return score_image(image, model, faces, aligned, detector)


def explain_face(image: np.ndarray | None, model: str = DEFAULT_MODEL, face_index: int = 0, method: str = "GradCAM",
                 aligned: bool = False, detector: str = "hog"):
    """Gradio callback: [(picture, caption)] explaining one face - CAM overlay and the model's own maps."""
    import gradio as gr  # noqa: PLC0415

    from core.explain import explain_face as explain  # noqa: PLC0415

    if image is None:
        raise gr.Error("Upload a photo first.")
    try:
        return explain(get_scorer(model, DETECTORS.get(detector, detector)), np.asarray(image), face_index, method, aligned)[1]
    except (FaceIQAError, IndexError) as exc:
        raise gr.Error(str(exc)) from exc


def build_app(default_model: str = DEFAULT_MODEL):
    """The Gradio Blocks app."""
    import gradio as gr  # noqa: PLC0415

    names = [i.name for i in list_models()]
    with gr.Blocks(title="FaceIQA Studio") as app:
        gr.Markdown("# FaceIQA Studio\nUpload a photo: every face is detected, aligned and scored "
                    "(0..1, GFIQA categories Bad / Poor / Fair / Good / Excellent).")
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.Image(type="numpy", label="Photo", image_mode="RGB")
                model = gr.Dropdown(names, value=default_model, label="Model")
                faces = gr.Radio(["all", "largest"], value="all", label="Faces")
                detector = gr.Dropdown(list(DETECTORS), value=list(DETECTORS)[0], label="Face detector")
                aligned = gr.Checkbox(False, label="already aligned face crop (skip detection)")
                run = gr.Button("Score", variant="primary")
            with gr.Column(scale=2):
                annotated = gr.Image(type="numpy", label="Faces and scores")
                status = gr.Markdown()
                table = gr.Dataframe(headers=TABLE_COLUMNS, label="Per face", interactive=False)
                crops = gr.Gallery(label="Aligned faces the model saw", columns=6, height="auto", object_fit="contain", allow_preview=False)
        with gr.Accordion("Why this score? (CAM heatmap, regional maps, latent reference)", open=False):
            from core.explain import CAM_METHODS  # noqa: PLC0415

            with gr.Row():
                face_index = gr.Number(0, precision=0, label="Face #")
                method = gr.Dropdown(list(CAM_METHODS), value="GradCAM", label="CAM method")
                explain = gr.Button("Explain")
            explained = gr.Gallery(label="Explanations", columns=4, height="auto", object_fit="contain", allow_preview=False)
        samples = sorted(str(p) for p in SAMPLES.glob("*.jpg"))
        if samples:
            gr.Examples([[p] for p in samples], inputs=[image], label="Samples")
        outputs = [annotated, table, crops, status]
        inputs = [image, model, faces, aligned, detector]
        run.click(score_image, inputs, outputs)
        image.change(score_on_change, inputs, outputs)  # uploads and examples
        explain.click(explain_face, [image, model, face_index, method, aligned, detector], [explained])
    return app
