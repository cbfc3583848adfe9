"""Gender estimation for dataset balance views: logistic regression on 128-d dlib embeddings.

Trained offline on UTKFace's labelled crops (``train_gender_estimator``); the shipped weights
live in ``core/assets/gender-dlib128.safetensors`` (package data) with a JSON card (accuracy overall and
per race label on a held-out split). Predictions below ``min_confidence`` are ``unknown``
and so are faces without an embedding: the balance view reports them as their own share,
never as a guess. Dataset columns (``gender``), when present, always win over estimates.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..assets import ASSETS
from ..errors import CheckpointError, MissingWeightsError

DEFAULT_WEIGHTS = ASSETS / "gender-dlib128.safetensors"
UTK_GENDER = {"0": "male", "1": "female"}
UTK_RACE = {"0": "White", "1": "Black", "2": "Asian", "3": "Indian", "4": "Others"}


def parse_utkface_name(name: str) -> dict:
    """``[age]_[gender]_[race]_[date].jpg.chip.jpg`` -> labels (``None`` where malformed)."""
    parts = Path(name).name.split("_")
    ok = len(parts) >= 4 and parts[0].isdigit()
    return {
        "age": int(parts[0]) if ok else None,
        "gender": UTK_GENDER.get(parts[1]) if ok else None,
        "race": UTK_RACE.get(parts[2]) if ok else None,
    }


@dataclass
class GenderEstimator:
    """``p(female) = sigmoid(w . (e - mean) / scale + b)`` on dlib embeddings."""

    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray
    bias: float
    min_confidence: float = 0.8
    card: dict | None = None

    def proba_female(self, embeddings: np.ndarray) -> np.ndarray:
        z = ((np.asarray(embeddings, np.float64) - self.mean) / self.scale) @ self.weight + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def predict(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels 'female'/'male'/'unknown', confidence of the predicted label)."""
        p = self.proba_female(embeddings)
        conf = np.maximum(p, 1 - p)
        labels = np.where(p >= 0.5, "female", "male").astype(object)
        labels[conf < self.min_confidence] = "unknown"
        return labels, conf

    def save(self, path: str | Path = DEFAULT_WEIGHTS) -> Path:
        from safetensors.numpy import save_file  # noqa: PLC0415

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({"mean": self.mean.astype(np.float32), "scale": self.scale.astype(np.float32),
                   "weight": self.weight.astype(np.float32), "bias": np.array([self.bias], np.float32)}, str(path))
        card = {"model": "gender-dlib128", "format": "faceiqa-checkpoint", "min_confidence": self.min_confidence, **(self.card or {})}
        path.with_suffix(".json").write_text(json.dumps(card, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path = DEFAULT_WEIGHTS) -> GenderEstimator:
        from safetensors.numpy import load_file  # noqa: PLC0415

        path = Path(path)
        if not path.is_file() or not path.with_suffix(".json").is_file():
            error = MissingWeightsError if path == DEFAULT_WEIGHTS else CheckpointError  # the shipped file: not installed
            raise error(f"{path}: gender estimator weights or card missing")
        t = load_file(str(path))
        if set(t) != {"mean", "scale", "weight", "bias"} or t["weight"].shape != (128,):
            raise CheckpointError(f"{path}: not a gender-dlib128 checkpoint (keys {sorted(t)})")
        card = json.loads(path.with_suffix(".json").read_text())
        return cls(t["mean"].astype(np.float64), t["scale"].astype(np.float64), t["weight"].astype(np.float64),
                   float(t["bias"][0]), float(card.get("min_confidence", 0.8)), card)


def train_gender_estimator(embeddings: np.ndarray, genders, groups=None, test_size: float = 0.2,
                           seed: int = 0, min_confidence: float = 0.8) -> tuple[GenderEstimator, pd.DataFrame]:
    """Fit on a stratified split; returns the estimator and held-out accuracy per group (+ overall)."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.model_selection import train_test_split  # noqa: PLC0415

    x = np.asarray(embeddings, np.float64)
    y = (np.asarray(genders) == "female").astype(int)
    g = np.asarray(groups if groups is not None else ["all"] * len(y), dtype=object)
    strat = np.char.add(y.astype(str), g.astype(str))
    idx_tr, idx_te = train_test_split(np.arange(len(y)), test_size=test_size, random_state=seed, stratify=strat)
    mean, scale = x[idx_tr].mean(0), x[idx_tr].std(0) + 1e-8
    clf = LogisticRegression(C=1.0, max_iter=2000).fit((x[idx_tr] - mean) / scale, y[idx_tr])
    est = GenderEstimator(mean, scale, clf.coef_[0].astype(np.float64), float(clf.intercept_[0]), min_confidence)
    labels, _ = est.predict(x[idx_te])
    p = est.proba_female(x[idx_te])
    truth = np.where(y[idx_te] == 1, "female", "male")
    rows = []
    for name in ["overall"] + sorted(set(g[idx_te])):
        m = np.ones(len(idx_te), bool) if name == "overall" else g[idx_te] == name
        known = m & (labels != "unknown")
        rows.append({
            "group": name, "n": int(m.sum()),
            "accuracy": round(float(((p[m] >= 0.5) == (y[idx_te][m] == 1)).mean()), 4),
            "unknown_share": round(float((labels[m] == "unknown").mean()), 4),
            "accuracy_when_known": round(float((labels[known] == truth[known]).mean()), 4) if known.any() else float("nan"),
        })
    report = pd.DataFrame(rows)
    est.card = {"trained_on": "UTKFace crops (shared/data/utkface), dlib 128-d embeddings", "test_size": test_size,
                "seed": seed, "n_train": int(len(idx_tr)), "n_test": int(len(idx_te)), "held_out": rows}
    return est, report
