"""Distillation labels: a teacher's scores as the MOS of a student's training table.

The seed models (StyleGAN-IQA, DSL-FIQA, the GFIQA baseline) learn from a labels table. Trained on
full-reference pseudo-MOS they learn the synthetic label, which disagrees with people on real damage
(the pseudo-MOS view of mobile-fiqa ranks the real degraded faces at 0.27). The default model is
fitted to people; scoring many synthetic faces with it gives a dense, human-aligned label for every
face of a ``faceiqa data build`` - the teacher-student recipe that won the VQualA 2025 face IQA
challenge. The table it writes::

    image, mos, label, pseudo_mos, split, identity, source, degradation

``split``: the build's train and test people -> ``train`` (teacher scores), the rated train faces ->
``train`` too (their human MOS, ``human_repeat`` times), the rated val / test faces -> ``val`` /
``test`` (human MOS: a student's epochs are chosen by people), the build's val people ->
``synthetic_val`` (kept for reports, not used by the trainer). Build rows of people in the rated
val / test splits are dropped, so no face of a person the selection or the test sees is trained on.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..errors import FaceIQAError
from .mobile import rated_identities


def teacher_scores(paths: list[str], teacher: str = "mobile-fiqa", weights: str | None = None, batch: int = 16,
                   progress: bool = True) -> np.ndarray:
    """``teacher``'s score of each aligned crop in ``paths`` (NaN where a file cannot be read), through the trainer's
    own loading and scoring (:func:`~core.train.iqa.load_faces`, :func:`~core.train.iqa.predict_table`): the label
    is computed on the very pixels the student trains on."""
    from tqdm.auto import tqdm  # noqa: PLC0415

    from ..models import create_model  # noqa: PLC0415
    from .iqa import load_faces, predict_table  # noqa: PLC0415

    model = create_model(teacher, weights=weights, device="cpu")
    size = model.info.input_size
    out = np.full(len(paths), np.nan, np.float32)
    for i in tqdm(range(0, len(paths), batch), desc=f"teacher {teacher}", disable=not progress):
        rows, faces = [], []
        for j in range(i, min(i + batch, len(paths))):
            try:
                faces.append(load_faces([paths[j]], size))
            except FaceIQAError:  # unreadable: keeps NaN and is dropped by distillation_table
                continue
            rows.append(j)
        if rows:
            with torch.inference_mode():
                out[rows] = predict_table(model, torch.cat(faces), None, batch)
    return out


def distillation_table(build: pd.DataFrame, rated: pd.DataFrame, teacher: np.ndarray, teacher_name: str = "mobile-fiqa",
                       human_repeat: int = 3) -> pd.DataFrame:
    """The student's labels table (see the module docstring). ``build``: ``faceiqa data build`` labels with absolute
    ``image``; ``rated``: ``faceiqa rate export`` rows; ``teacher``: scores of ``build`` rows (same order)."""
    if len(teacher) != len(build):
        raise FaceIQAError(f"{len(teacher)} teacher scores for {len(build)} build rows")
    for col in ("image", "mos", "identity", "split"):
        if col not in build.columns:
            raise FaceIQAError(f"build labels need a '{col}' column")
    for col in ("image", "mos", "split"):
        if col not in rated.columns:
            raise FaceIQAError(f"rated labels need a '{col}' column")
    held = rated_identities(rated)
    keep = (~build["identity"].astype(str).isin(held) & np.isfinite(teacher)).to_numpy()
    b = build[keep]
    syn = pd.DataFrame({
        "image": b["image"].astype(str).to_numpy(),
        "mos": teacher[keep].astype(float),
        "label": f"teacher:{teacher_name}",
        "pseudo_mos": b["mos"].astype(float).to_numpy(),
        "split": np.where(b["split"].to_numpy() == "val", "synthetic_val", "train"),
        "identity": b["identity"].astype(str).to_numpy(),
        "source": (b["source"] if "source" in b else b["image"]).astype(str).to_numpy(),
        "degradation": (b["degradation"] if "degradation" in b else pd.Series("unknown", index=b.index)).astype(str).to_numpy(),
    })
    ident = rated["identity"] if "identity" in rated else rated["image"]
    hum = pd.DataFrame({"image": rated["image"].astype(str).to_numpy(), "mos": rated["mos"].astype(float).to_numpy(),
                        "label": "human", "pseudo_mos": np.nan, "split": rated["split"].astype(str).to_numpy(),
                        "identity": ident.astype(str).to_numpy(), "source": rated["image"].astype(str).to_numpy(),
                        "degradation": "real"})
    hum = hum[hum["split"].isin(("train", "val", "test"))]
    human_train = hum[hum["split"] == "train"]
    parts = [syn, *(human_train for _ in range(max(human_repeat, 0))), hum[hum["split"] != "train"]]
    return pd.concat(parts, ignore_index=True)
