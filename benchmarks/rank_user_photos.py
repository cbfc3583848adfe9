"""A newcomer's check of every shipped model: real photos sharp vs blurred / noised / JPEG-crushed.

    python -m benchmarks.rank_user_photos [--n 40] [--models stylegan-iqa dsl-fiqa ...]

Photos: LFW people in the 20 % no shipped model trained on (identity split seed 0; soft 250-px news
photos), and the held-out deepface portraits (sharp, 440-2000 px; the same per-folder cut). Each photo is
degraded as a whole (`core.analysis.evaluate.USER_DEGRADATIONS`: PIL blur radius 2, noise sigma 25, JPEG
q8, and a blur scaled to the face - radius 2 x face width / 63 px, LFW's median face - so a 2000-px portrait
gets the blur LFW's faces get, not a sub-pixel one; and JPEG q8 of the photo shrunk so the face is 63 px wide,
against that shrunk photo), then every model scores the largest face with its own detector and alignment. Writes
``benchmarks/results/defaults/user_photos.csv`` (per photo set, model and kind: faces, share where the
sharp photo scores higher, mean and median gap) and, next to it, ``greyscale.csv`` (the colour photos vs their
greyscale copies: a colour bias, not a degradation) and prints both.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("stylegan-iqa", "dsl-fiqa", "ifqa", "tinyfqnet", "perceptual-combined")


def user_photo_table(data: Path, n: int, models, weights: dict[str, str] | None = None, verbose: bool = False) -> pd.DataFrame:
    """One row per model and kind: faces, share where the sharp photo scores higher, mean / median gap."""
    from core import Scorer  # noqa: PLC0415
    from core.analysis.evaluate import heldout_photos, sharp_vs_degraded  # noqa: PLC0415

    sets = {"lfw": heldout_photos(data / "lfw" / "images", n), "portraits": heldout_photos(data / "deepface-identities", n)}
    rows = []
    for name in models:
        scorer = Scorer(name, weights=(weights or {}).get(name))
        for photos_name, photos in sets.items():
            df = sharp_vs_degraded(scorer, photos)
            for kind, g in df.groupby("kind", sort=False).gap:
                rows.append({"photos": photos_name, "model": name, "kind": kind, "faces": len(g),
                             "sharp_higher": round(float((g > 0).mean()), 3), "mean_gap": round(float(g.mean()), 4),
                             "median_gap": round(float(g.median()), 4)})
            if verbose:
                print(pd.DataFrame(rows[-3:]).to_string(index=False), flush=True)
    return pd.DataFrame(rows).sort_values(["photos", "model"], kind="stable").reset_index(drop=True)


def greyscale_table(data: Path, n: int, models, weights: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per model: the colour held-out LFW photos and their greyscale copies - faces, share where the copy
    scores higher, mean / median gap (colour - greyscale; ~0 for a model without a colour bias)."""
    from core import Scorer  # noqa: PLC0415
    from core.analysis.evaluate import colour_vs_greyscale, heldout_photos  # noqa: PLC0415

    photos = heldout_photos(data / "lfw" / "images", n)
    rows = []
    for name in models:
        g = colour_vs_greyscale(Scorer(name, weights=(weights or {}).get(name)), photos).gap
        rows.append({"model": name, "faces": len(g), "greyscale_higher": round(float((g < 0).mean()), 3),
                     "mean_gap": round(float(g.mean()), 4), "median_gap": round(float(g.median()), 4)})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("FACEIQA_DATA", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--weights", nargs="*", default=[], metavar="NAME=FILE", help="score with these checkpoints instead of the shipped ones")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "defaults" / "user_photos.csv"))
    args = ap.parse_args()
    weights = dict(w.split("=", 1) for w in args.weights)
    table = user_photo_table(Path(args.data), args.n, args.models, weights, verbose=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False))
    grey = greyscale_table(Path(args.data), args.n, args.models, weights)
    grey.to_csv(Path(args.out).with_name("greyscale.csv"), index=False)
    print(grey.to_string(index=False))


if __name__ == "__main__":
    main()
