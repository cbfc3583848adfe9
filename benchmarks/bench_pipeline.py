"""Throughput of detect + align + score on CPU (or --device cuda), in faces per second.

    python benchmarks/bench_pipeline.py                      # assets/samples + shared gfpgan-inputs
    python benchmarks/bench_pipeline.py --lfw 200 --threads 2

Times each stage separately over the images (decoded once, excluded from timing), after
one warm-up pass, and prints a table plus the end-to-end faces/s.
"""
from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

import torch

from core.api import Scorer
from core.io import iter_image_paths, load_image


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="perceptual-combined")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data", default=os.environ.get("FACEIQA_DATA", "../shared/data"))
    ap.add_argument("--lfw", type=int, default=100, help="how many LFW photos to add (0: none)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    root = Path(__file__).resolve().parents[1]
    paths = list(iter_image_paths([root / "assets" / "samples"]))
    data = Path(args.data)
    if (data / "gfpgan-inputs").is_dir():
        paths += iter_image_paths([data / "gfpgan-inputs"])
    if args.lfw and (data / "lfw").is_dir():
        lfw = sorted((data / "lfw" / "images").glob("*/*.jpg"))
        paths += random.Random(0).sample(lfw, min(args.lfw, len(lfw)))
    images = [load_image(p) for p in paths]
    scorer = Scorer(args.model, device=args.device)
    for img in images[:3]:  # warm-up
        scorer.score_faces(img, scorer.detector.detect(img))
    t_det = t_score = 0.0
    n_faces = 0
    for _ in range(args.repeat):
        for img in images:
            t0 = time.perf_counter()
            faces = scorer.detector.detect(img)
            t1 = time.perf_counter()
            scorer.score_faces(img, faces)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t2 = time.perf_counter()
            t_det += t1 - t0
            t_score += t2 - t1
            n_faces += len(faces)
    n_img = len(images) * args.repeat
    total = t_det + t_score
    print(f"model={args.model} device={args.device} torch_threads={torch.get_num_threads()} "
          f"images={len(images)} x{args.repeat} faces={n_faces}")
    print(f"detect+landmarks : {1000 * t_det / n_img:7.1f} ms/image")
    print(f"align+score      : {1000 * t_score / max(n_faces, 1):7.1f} ms/face")
    print(f"end to end       : {n_faces / total:7.1f} faces/s, {n_img / total:6.1f} images/s")


if __name__ == "__main__":
    main()
