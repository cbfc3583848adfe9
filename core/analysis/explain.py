"""Why a face scored what it did: CAM heatmaps and each model's own interpretable outputs.

* :func:`cam_heatmap` - a CAM-family heatmap (``grad-cam`` package: GradCAM, GradCAM++,
  EigenCAM, XGradCAM, LayerCAM, HiResCAM) of the model's *score* (a regression target, not a
  class) over the aligned face, from the model's last convolutional stage.
* :func:`model_maps` - what the paper's model itself explains with: DSL-FIQA's regional
  confidence and regional quality maps, IFQA's per-pixel realness map, StyleGAN-IQA's latent
  reference (the K-code reconstruction the face is compared with).
* :func:`overlay` - a heatmap blended over the face (OpenCV colormap), for apps and reports.

All maps are returned at the aligned crop's resolution, so they line up with the face.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn

from ..models.base import QualityModel
from ..tensors import image_to_tensor

CAM_METHODS = ("GradCAM", "GradCAM++", "EigenCAM", "XGradCAM", "LayerCAM", "HiResCAM")


class _ScoreOf(nn.Module):
    """Tensor in, (B, 1) score out: the interface the CAM package expects."""

    def __init__(self, model: QualityModel, landmarks: torch.Tensor | None):
        super().__init__()
        self.model, self.landmarks = model, landmarks

    def forward(self, x):
        batch = {"aligned": x}
        if self.landmarks is not None:
            batch["landmarks"] = self.landmarks.to(x.device)
        return self.model(batch)[:, None]


def cam_heatmap(model: QualityModel, aligned: np.ndarray, landmarks: np.ndarray | None = None, method: str = "GradCAM") -> np.ndarray:
    """HxW heatmap in [0, 1] over the aligned face (HxWx3 uint8); ``landmarks`` (68, 2) / crop size."""
    import pytorch_grad_cam as pgc  # noqa: PLC0415
    from pytorch_grad_cam.utils.model_targets import RawScoresOutputTarget  # noqa: PLC0415

    classes = {"GradCAM": pgc.GradCAM, "GradCAM++": pgc.GradCAMPlusPlus, "EigenCAM": pgc.EigenCAM, "XGradCAM": pgc.XGradCAM,
               "LayerCAM": pgc.LayerCAM, "HiResCAM": pgc.HiResCAM}
    if method not in classes:
        raise ValueError(f"method must be one of {CAM_METHODS}, got {method!r}")
    dev = model.device
    lm = torch.from_numpy(np.asarray(landmarks, np.float32))[None] if landmarks is not None else None
    wrapper = _ScoreOf(model, lm).eval()
    x = image_to_tensor(aligned)[None].to(dev)
    with model.cam_pass(), classes[method](model=wrapper, target_layers=[model.cam_target_layer()]) as cam:
        heat = cam(input_tensor=x, targets=[RawScoresOutputTarget()])
    heat = model.merge_cam_views(heat)  # several views of the face in one pass (DSL-FIQA crops, IFQA mirror) -> one map
    heat = cv2.resize(np.asarray(heat, np.float32), (aligned.shape[1], aligned.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip(np.nan_to_num(heat), 0, 1)


@torch.no_grad()
def model_maps(model: QualityModel, aligned: np.ndarray, landmarks: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The model's own explanation images (``explanation_maps()``), fitted to the crop: HxW maps in [0, 1] or RGB images."""
    h, w = aligned.shape[:2]
    x = image_to_tensor(aligned)[None].to(model.device)
    lm = torch.from_numpy(np.asarray(landmarks, np.float32))[None].to(x) if landmarks is not None else None
    out = {}
    for name, pic in model.explanation_maps(x, lm).items():
        out[name] = cv2.resize(pic, (w, h), interpolation=cv2.INTER_LINEAR) if pic.ndim == 3 else _fit(pic, w, h)
    return out


def _fit(m: np.ndarray, w: int, h: int) -> np.ndarray:
    return np.clip(cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST), 0, 1)


def overlay(rgb: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a [0, 1] heatmap (turbo colormap) over an RGB uint8 image of the same size."""
    colour = cv2.applyColorMap((np.clip(heat, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_TURBO)[..., ::-1]
    return cv2.addWeighted(rgb, 1 - alpha, colour, alpha, 0)


def explain_face(scorer, image: np.ndarray, face_index: int = 0, method: str = "GradCAM", aligned: bool = False,
                 result=None) -> tuple[object, list[tuple[np.ndarray, str]]]:
    """Score ``image`` with ``scorer`` (a :class:`core.Scorer`) and explain face ``face_index``.

    Returns (the assessment, [(picture, caption)]): the aligned face, the CAM overlay of the
    score, and the model's own maps (overlaid) or latent reference. Raises
    :class:`~core.errors.NoFaceError` / ``IndexError`` with a message for a person to read.
    """
    from ..errors import NoFaceError  # noqa: PLC0415

    result = result if result is not None else scorer.assess(image, aligned=aligned, keep_crops=True)
    if not result.faces:
        raise NoFaceError("No face found to explain (tick 'already aligned' for a face crop).")
    idx = int(face_index or 0)
    if not 0 <= idx < len(result.faces):
        raise IndexError(f"Face #{idx} does not exist: this photo has faces #0..#{len(result.faces) - 1}.")
    face = result.faces[idx]
    m = scorer.model
    if face.aligned is None:
        raise ValueError(f"{result.model} scores no aligned crop (inputs {m.info.inputs}): nothing to explain it on")
    crop, lm = face.aligned, face.aligned_landmarks  # what the scoring pass aligned: no second alignment
    items = [(crop, f"#{idx}: {face.score:.2f} {face.category} ({result.model})")]
    try:
        heat = cam_heatmap(m, crop, lm if "landmarks" in m.info.inputs else None, method)
        items.append((overlay(crop, heat), f"{method} of the score"))
    except ValueError as exc:  # training-free models have no conv layer
        items.append((crop, f"no CAM: {exc}"))
    for name, pic in model_maps(m, crop, lm).items():
        items.append((pic if pic.ndim == 3 else overlay(crop, pic), name))
    return result, items


def explain_models(scorers: list, image: np.ndarray, face_index: int = 0, method: str = "GradCAM",
                   aligned: bool = False) -> list[tuple[object, list[tuple[np.ndarray, str]]]]:
    """:func:`explain_face` of one face with several scorers: the faces are detected once (by the first scorer's
    detector) and each model scores and explains them from that detection."""
    if not scorers:
        return []
    rgb, found = scorers[0].detect(image, aligned=aligned)
    return [explain_face(s, image, face_index, method, aligned, result=s.assess_faces(image, rgb, found, keep_crops=True))
            for s in scorers]
