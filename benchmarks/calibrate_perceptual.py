"""Measure the training-free perceptual models on LFW under synthetic degradations.

Prints, per degradation and level, the median raw measure and 0..1 score of
``perceptual-blur`` / ``perceptual-jpeg`` / ``perceptual-combined`` on faces detected in the
clean photo (the same boxes/landmarks are reused on the degraded copies, so only the pixels
change), plus the logistic centre/width that put the clean median at 0.85 and Gaussian
sigma=2 at 0.15 for the blur model. Used to set BlurQuality's defaults.

    python benchmarks/calibrate_perceptual.py --n 200
"""
from __future__ import annotations

import argparse
import io
import math
import os
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from core.api import Scorer
from core.io import load_image


def degrade(rgb: np.ndarray, kind: str, level: float) -> np.ndarray:
    img = Image.fromarray(rgb)
    if kind == "gauss" and level > 0:
        img = img.filter(ImageFilter.GaussianBlur(level))
    if kind == "jpeg":
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=int(level))
        img = Image.open(buf)
    return np.asarray(img.convert("RGB"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("FACEIQA_DATA", "../shared/data"))
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    paths = sorted(Path(args.data, "lfw", "images").glob("*/*.jpg"))
    random.Random(args.seed).shuffle(paths)
    scorer = Scorer("perceptual-combined", device="cpu")
    blur = Scorer("perceptual-blur", device="cpu", detector=scorer.detector)
    settings = [("gauss", 0)] + [("gauss", s) for s in (0.5, 1, 2, 3)] + [("jpeg", q) for q in (90, 50, 30, 15, 8)]
    rows = {s: [] for s in settings}
    used = 0
    for p in paths:
        if used >= args.n:
            break
        rgb = load_image(p)
        faces = scorer.detector.detect(rgb)[:1]
        if not faces:
            continue
        used += 1
        for s in settings:
            fs = scorer.score_faces(degrade(rgb, *s), faces)[0]
            raw = blur.score_faces(degrade(rgb, *s), faces)[0].extras["log_laplacian_var"]
            rows[s].append((fs.extras["blur"], fs.extras["jpeg"], fs.score, raw))
    lap = {s: np.array([v[3] for v in vals]) for s, vals in rows.items()}
    print(f"faces: {used}")
    print(f"{'setting':<12}{'blur raw':>10}{'blur':>8}{'jpeg':>8}{'combined':>10}")
    for s, vals in rows.items():
        a = np.array(vals)
        print(f"{s[0] + ' ' + str(s[1]):<12}{np.median(lap[s]):>10.3f}{np.median(a[:, 0]):>8.3f}{np.median(a[:, 1]):>8.3f}{np.median(a[:, 2]):>10.3f}")
    hq = []
    for p in sorted(Path(args.data, "deepface-identities").glob("*.jpg")):
        rgb = load_image(p)
        faces = scorer.detector.detect(rgb)[:1]
        if faces:
            hq.append(blur.score_faces(rgb, faces)[0].extras["log_laplacian_var"])
    print(f"deepface-identities (high-res photos): {len(hq)} faces, blur raw median {np.median(hq):.3f}")
    hi, lo = np.median(hq), np.median(lap[("gauss", 1)])
    logit = math.log(0.85 / 0.15)
    width = (hi - lo) / (2 * logit)
    print(f"suggested blur centre={(hi + lo) / 2:.3f} width={width:.3f}")


if __name__ == "__main__":
    main()
