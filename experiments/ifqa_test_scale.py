"""Does IFQA's D see JPEG better when it scores the face at a larger test-time input than it trained at?

    python -m experiments.ifqa_test_scale --labels HELDOUT/labels.csv --weights run0/ifqa.safetensors run1/... [--sizes 128 192 256]

Scores every aligned crop of a ``faceiqa data build`` table with each checkpoint's D at each input size (the mean of its
realness map, mirror-averaged when the checkpoint says so) and the mean of the trained size and each larger one;
writes held-out SRCC / PLCC and the SRCC of clean + one degradation type (JPEG, Gaussian blur, Gaussian noise) per
checkpoint and size to ``experiments/results/ifqa_test_scale.csv``. The crops are scored as built (no re-alignment), so
the trained size reads slightly off ``faceiqa evaluate`` (0.575 vs 0.588 for the shipped run).
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import pearsonr, spearmanr

ROOT = Path(__file__).resolve().parents[1]
TYPES = ("jpeg", "gaussian_blur", "gaussian_noise")


def scale_scores(weights: str | Path, imgs: torch.Tensor, sizes: list[int]) -> tuple[int, dict[str, np.ndarray]]:
    """The checkpoint's trained input size and its scores of ``imgs`` (N, 3, S, S in [0, 1]) per test-time input size
    (keys ``"128"``, ...), plus the mean of the trained size and each larger one (``"128+256"``)."""
    from core.models import create_model  # noqa: PLC0415

    m = create_model("ifqa", weights=weights).eval()
    trained, scores = m.cfg.input_size, {}
    with torch.inference_mode():
        for s in sorted({trained, *sizes}):
            m.cfg = dataclasses.replace(m.cfg, input_size=s)
            scores[str(s)] = torch.cat([m.quality_map(imgs[i : i + 32]).mean((1, 2, 3)) for i in range(0, len(imgs), 32)]).numpy()
    for s in sizes:
        if s > trained:
            scores[f"{trained}+{s}"] = (scores[str(trained)] + scores[str(s)]) / 2
    return trained, scores


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--labels", required=True)
    ap.add_argument("--weights", nargs="+", required=True)
    ap.add_argument("--sizes", nargs="+", type=int, default=[128, 160, 192, 256])
    ap.add_argument("--out", default=str(ROOT / "experiments" / "results" / "ifqa_test_scale.csv"))
    args = ap.parse_args()
    from core.io import load_image  # noqa: PLC0415
    from core.tensors import image_to_tensor  # noqa: PLC0415

    lab = pd.read_csv(args.labels)
    root = Path(args.labels).parent
    imgs = torch.stack([image_to_tensor(load_image(root / p)) for p in lab.image])
    rows = []
    for run, w in enumerate(args.weights):
        trained, scores = scale_scores(w, imgs, args.sizes)
        for size, v in scores.items():
            row = {"run": run, "weights": f"{Path(w).parent.name}/{Path(w).name}", "trained_size": trained, "test_size": size,
                   "srcc": spearmanr(v, lab.mos)[0], "plcc": pearsonr(v, lab.mos)[0]}
            for t in TYPES:
                sel = lab.degradation.isin([t, "clean"])
                row[f"srcc_clean+{t}"] = spearmanr(v[sel], lab.mos[sel])[0]
            rows.append(row)
    df = pd.DataFrame(rows).round(4)
    df.to_csv(args.out, index=False)
    print(df.drop(columns="weights").to_string(index=False))
    print(df.groupby("test_size", sort=False)[["srcc", "plcc", "srcc_clean+jpeg"]].median().to_string())


if __name__ == "__main__":
    main()
