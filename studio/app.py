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

    from core.analysis.explain import explain_face as explain  # noqa: PLC0415

    if image is None:
        raise gr.Error("Upload a photo first.")
    try:
        return explain(get_scorer(model, DETECTORS.get(detector, detector)), np.asarray(image), face_index, method, aligned)[1]
    except (FaceIQAError, IndexError) as exc:
        raise gr.Error(str(exc)) from exc


SEED_MAPS = {"dsl-fiqa": "DSL-FIQA regional maps", "ifqa": "IFQA per-pixel map", "stylegan-iqa": "StyleGAN-IQA latent reference"}


def explain_tabs(image: np.ndarray | None, model: str = DEFAULT_MODEL, face_index: int = 0, method: str = "GradCAM",
                 aligned: bool = False, detector: str = "hog"):
    """Gradio callback: (CAM of the chosen model, DSL maps, IFQA map, latent reference) galleries for one face.

    The first is the chosen model's explanation (CAM and maps); the others come from each seed model's shipped
    weights whatever model is chosen, so every explanation is one click away. The photo is detected once; each
    model scores that detection once and explains from its own scoring pass.
    """
    import gradio as gr  # noqa: PLC0415

    from core.analysis.explain import explain_models  # noqa: PLC0415

    if image is None:
        raise gr.Error("Upload a photo first.")
    names = [model] + [n for n in SEED_MAPS if n != model]
    det = DETECTORS.get(detector, detector)
    try:
        explained = dict(zip(names, (items for _, items in explain_models([get_scorer(n, det) for n in names], np.asarray(image),
                                                                          face_index, method, aligned))))
    except (FaceIQAError, IndexError) as exc:
        raise gr.Error(str(exc)) from exc
    chosen = explained[model]
    return (chosen, *([explained[n][0]] + explained[n][2:] for n in SEED_MAPS))


def compare_models(image: np.ndarray | None, models: list[str] | None, aligned: bool = False, detector: str = "hog") -> pd.DataFrame:
    """Gradio callback: one row per face, one score column per model (side-by-side comparison)."""
    import gradio as gr  # noqa: PLC0415

    if image is None or not models:
        return pd.DataFrame(columns=["face"])
    rows: dict[int, dict] = {}
    for name in models:
        try:
            result = get_scorer(name, DETECTORS.get(detector, detector)).assess(image, aligned=aligned)
        except FaceIQAError as exc:
            raise gr.Error(f"{name}: {exc}") from exc
        for f in result.faces:
            rows.setdefault(f.index, {"face": f.index})[name] = f"{f.score:.3f} {f.category}"
    return pd.DataFrame(list(rows.values()), columns=["face", *models])


def export_results(table: pd.DataFrame | None, comparison: pd.DataFrame | None = None) -> list[str]:
    """Gradio callback: the per-face table (and comparison) as CSV and JSON files to download."""
    import tempfile  # noqa: PLC0415

    if table is None or len(table) == 0:
        return []
    df = pd.DataFrame(table)
    if comparison is not None and len(comparison) and "face" in comparison:
        df = df.merge(pd.DataFrame(comparison), on="face", how="left", suffixes=("", " (compare)"))
    out = Path(tempfile.mkdtemp(prefix="faceiqa-")) / "faces"
    df.to_csv(out.with_suffix(".csv"), index=False)
    df.to_json(out.with_suffix(".json"), orient="records", indent=2)
    return [str(out.with_suffix(".csv")), str(out.with_suffix(".json"))]


@lru_cache(maxsize=1)
def reference_map():
    """UMAP of the bundled sample face under every degradation type (levels 1, 3, 5): (table, reducer, model)."""
    from core.analysis.embed import degradation_embeddings, project_2d, reference_set  # noqa: PLC0415
    from core.faces import FaceDetector, align_gfiqa  # noqa: PLC0415
    from core.io import load_image  # noqa: PLC0415
    from core.models import create_model  # noqa: PLC0415

    model = create_model("dsl-fiqa", device="cpu")
    img = load_image(SAMPLES / "astronaut.jpg")
    face = FaceDetector().detect(img)[0]
    imgs, table = reference_set(align_gfiqa(img, face, model.cfg.input_size).image)
    xy, reducer = project_2d(degradation_embeddings(imgs, model), "umap")
    return table.assign(x=xy[:, 0], y=xy[:, 1]), reducer, model


def embedding_on_map(image: np.ndarray | None, face_index: int = 0, aligned: bool = False, detector: str = "hog"):
    """Gradio callback: the face's DSL degradation embedding placed on the reference UMAP (plotly)."""
    import gradio as gr  # noqa: PLC0415
    import plotly.express as px  # noqa: PLC0415

    from core.analysis.embed import degradation_embeddings  # noqa: PLC0415

    if image is None:
        raise gr.Error("Upload a photo first.")
    try:
        result = get_scorer("dsl-fiqa", DETECTORS.get(detector, detector)).assess(image, aligned=aligned, keep_crops=True)
    except FaceIQAError as exc:
        raise gr.Error(str(exc)) from exc
    idx = int(face_index or 0)
    if not 0 <= idx < len(result.faces):
        raise gr.Error("No such face." if result.faces else "No face found.")
    table, reducer, model = reference_map()
    xy = reducer.transform(degradation_embeddings([result.faces[idx].aligned], model))[0]
    fig = px.scatter(table, x="x", y="y", color="degradation", symbol="level", hover_data=["degradation", "level"],
                     title="Degradation embedding (DSL) on a UMAP of a reference face under every degradation")
    fig.add_scatter(x=[xy[0]], y=[xy[1]], mode="markers+text", text=[f"face #{idx}"], textposition="top center",
                    marker={"size": 18, "symbol": "star", "color": "black"}, name=f"face #{idx}")
    return fig


def score_files(files: list | None, model: str = DEFAULT_MODEL, aligned: bool = False, detector: str = "hog"):
    """Gradio callback: score every face of many photos -> (table, [CSV, JSON])."""
    import gradio as gr  # noqa: PLC0415

    from core.io import load_image  # noqa: PLC0415

    if not files:
        raise gr.Error("Add some photos first.")
    rows = []
    scorer = get_scorer(model, DETECTORS.get(detector, detector))
    for f in files:
        path = getattr(f, "name", f)
        try:
            result = scorer.assess(load_image(path), aligned=aligned)
        except FaceIQAError as exc:
            rows.append({"file": Path(path).name, "face": None, "score": None, "category": "", "status": f"error: {exc}"})
            continue
        if not result.faces:
            rows.append({"file": Path(path).name, "face": None, "score": None, "category": "", "status": "no_face"})
        for face in result.faces:
            rows.append({"file": Path(path).name, "face": face.index, "score": round(face.score, 3), "category": face.category,
                         "status": "ok"})
    table = pd.DataFrame(rows)
    return table, export_results(table)


def build_app(default_model: str = DEFAULT_MODEL):
    """The Gradio Blocks app."""
    import gradio as gr  # noqa: PLC0415

    names = [i.name for i in list_models()]
    with gr.Blocks(title="FaceIQA Studio") as app:
        gr.Markdown("# FaceIQA Studio\nUpload a photo: every face is detected, aligned and scored "
                    "(0..1, GFIQA categories Bad / Poor / Fair / Good / Excellent).")
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.Image(type="numpy", label="Photo", image_mode="RGB", sources=["upload", "webcam", "clipboard"])
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
                with gr.Row():
                    others = gr.CheckboxGroup([n for n in names if n != default_model], label="Compare with (side by side)")
                comparison = gr.Dataframe(label="Model comparison per face", interactive=False)
                downloads = gr.File(label="Download (CSV, JSON)", file_count="multiple", interactive=False)
        with gr.Accordion("Why this score? (CAM heatmap, regional maps, latent reference)", open=False):
            from core.analysis.explain import CAM_METHODS  # noqa: PLC0415

            with gr.Row():
                face_index = gr.Number(0, precision=0, label="Face #")
                method = gr.Dropdown(list(CAM_METHODS), value="GradCAM", label="CAM method")
                explain = gr.Button("Explain")
            with gr.Tabs():
                with gr.Tab("CAM of the chosen model"):
                    explained = gr.Gallery(label="Explanations", columns=4, height="auto", object_fit="contain", allow_preview=False)
                tabs = []
                for title in SEED_MAPS.values():
                    with gr.Tab(title):
                        tabs.append(gr.Gallery(label=title, columns=4, height="auto", object_fit="contain", allow_preview=False))
        with gr.Accordion("Degradation embedding on a UMAP (DSL encoder)", open=False):
            place = gr.Button("Place face on the map")
            umap_plot = gr.Plot(label="UMAP")
        with gr.Accordion("Many photos", open=False):
            many = gr.File(label="Photos", file_count="multiple", file_types=["image"])
            run_many = gr.Button("Score all")
            many_table = gr.Dataframe(label="Every face", interactive=False)
            many_files = gr.File(label="Download (CSV, JSON)", file_count="multiple", interactive=False)
        samples = sorted(str(p) for p in SAMPLES.glob("*.jpg"))
        if samples:
            gr.Examples([[p] for p in samples], inputs=[image], label="Samples")
        outputs = [annotated, table, crops, status]
        inputs = [image, model, faces, aligned, detector]
        cmp_inputs = [image, others, aligned, detector]
        run.click(score_image, inputs, outputs).then(compare_models, cmp_inputs, [comparison]).then(
            export_results, [table, comparison], [downloads], api_name="export_results")
        image.change(score_on_change, inputs, outputs).then(  # uploads and examples
            compare_models, cmp_inputs, [comparison], api_name="compare_models").then(export_results, [table, comparison], [downloads])
        others.change(compare_models, cmp_inputs, [comparison]).then(export_results, [table, comparison], [downloads])
        explain.click(explain_tabs, [image, model, face_index, method, aligned, detector], [explained, *tabs], api_name="explain")
        place.click(embedding_on_map, [image, face_index, aligned, detector], [umap_plot], api_name="embedding_on_map")
        run_many.click(score_files, [many, model, aligned, detector], [many_table, many_files], api_name="score_files")
    return app
