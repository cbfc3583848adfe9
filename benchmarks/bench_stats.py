"""Throughput of the dataset statistics on CPU, in images per second.

    python benchmarks/bench_stats.py --n 300 --workers 2

Measures (1) the vectorised image statistics alone (brightness/sharpness/contrast on
512x512 crops, batch of 64) and (2) the full per-image face analysis of ``faceiqa data stats``
(landmarks, 128-d embedding, ITA skin tone, statistics) on UTKFace crops with ``--aligned``
and with detection, using a fresh cache each time.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from core.analysis.embed import analyse_images
from core.analysis.stats import batch_image_stats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("FACEIQA_DATA", "../shared/data"))
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 255, (64, 512, 512, 3), dtype=np.uint8)
    t = time.perf_counter()
    for _ in range(3):
        batch_image_stats(batch)
    print(f"image statistics only (512x512): {3 * 64 / (time.perf_counter() - t):8.1f} images/s")
    files = sorted(Path(args.data, "utkface", "images").glob("*.jpg"))[: args.n]
    for aligned in (True, False):
        with tempfile.TemporaryDirectory() as cache:
            t = time.perf_counter()
            analyse_images(files, cache, aligned=aligned, workers=args.workers, chunk=50, progress=False)
            dt = time.perf_counter() - t
        mode = "aligned crops (no detection)" if aligned else "with HOG detection"
        print(f"full face analysis, {mode}, {args.workers} worker(s): {len(files) / dt:6.1f} images/s "
              f"-> 40k images in {40000 / (len(files) / dt) / 60:.0f} min")


if __name__ == "__main__":
    main()
