"""Do the shipped models see an aged, scanned print? The opt-in ``old_print`` degradation on held-out photos.

    python -m benchmarks.old_print_check [--n 40] [--models stylegan-iqa dsl-fiqa ...]

Photos: LFW people in the 20 % no shipped model trained on (`core.analysis.evaluate.heldout_photos`, as
``rank_user_photos.py``). Each whole photo is aged at levels 1..5 of ``old_print`` (sepia fade, print softness,
grain, dust specks, scratches; its spatial parts, set for a 512-px aligned crop, scaled by ``face width /
FACE_AT_512``), then every model scores the largest face with its own detector. No shipped model was trained on this
degradation (it is outside the 15 default types), so this measures what they generalise to. Writes
``benchmarks/results/defaults/old_print.csv`` (per model and level: faces, share where the clean photo scores
higher, mean gap) and ``old_print_faces.csv`` (per face: within-face SRCC of level vs score over levels 0..5).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.rank_user_photos import MODELS  # the newcomer table's models

ROOT = Path(__file__).resolve().parents[1]
#: detector face-box width (px) in a 512-px GFIQA-aligned crop (measured: median of 30 held-out crops), the size
#: old_print's spatial parameters are set for
FACE_AT_512 = 312.0


def aged_versions(photos, sizer) -> list[dict[int, np.ndarray]]:
    """Per photo (with a face): {0: the photo, 1..5: old_print at that level, scaled to the face}."""
    from core.data.degrade import LEVELS, degrade  # noqa: PLC0415

    out = []
    for i, photo in enumerate(photos):
        found = sizer.detect(photo)
        if not found:
            continue
        width = max(f.box[2] - f.box[0] for f in found)
        scale = width / FACE_AT_512
        out.append({0: photo, **{lv: degrade(photo, "old_print", lv, seed=i, spatial_scale=scale)[0] for lv in LEVELS}})
    return out


def old_print_tables(data: Path, n: int, models, weights: dict[str, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per model and level: faces, share where the clean photo scores higher, mean gap; per model and face: SRCC)."""
    from scipy.stats import spearmanr  # noqa: PLC0415
    from tqdm.auto import tqdm  # noqa: PLC0415

    from core import Scorer  # noqa: PLC0415
    from core.analysis.evaluate import heldout_photos  # noqa: PLC0415
    from core.faces import FaceDetector  # noqa: PLC0415

    versions = aged_versions(heldout_photos(data / "lfw" / "images", n), FaceDetector())
    summary, per_face = [], []
    for name in models:
        scorer = Scorer(name, weights=(weights or {}).get(name))
        scores = np.full((len(versions), 6), np.nan)
        for i, v in enumerate(tqdm(versions, desc=name, leave=False)):
            for lv, img in v.items():
                faces = scorer.assess(img, faces="largest").faces
                if faces:
                    scores[i, lv] = faces[0].score
        for lv in range(1, 6):
            ok = ~np.isnan(scores[:, 0]) & ~np.isnan(scores[:, lv])
            gap = scores[ok, 0] - scores[ok, lv]
            summary.append({"model": name, "level": lv, "faces": int(ok.sum()), "clean_higher": round(float((gap > 0).mean()), 3),
                            "mean_gap": round(float(gap.mean()), 4)})
        for i, row in enumerate(scores):
            ok = ~np.isnan(row)
            if ok.sum() >= 3:
                per_face.append({"model": name, "face": i, "levels_scored": int(ok.sum()),
                                 "srcc": round(float(-spearmanr(np.arange(6)[ok], row[ok]).statistic), 4)})
    return pd.DataFrame(summary), pd.DataFrame(per_face)


OLD_PRINT_TEXT = ("The 40 held-out LFW photos of the next section, each aged as a whole photo at levels 1-5 of the opt-in "
                  "`old_print` degradation (sepia fade, print softness, film grain, dust specks, scratches; sizes scaled to "
                  "the face) - a type no shipped model was trained on: share of faces where the clean photo scores higher, "
                  "the mean gap, and the median within-face SRCC of level vs score over levels 0-5 "
                  "(`benchmarks/old_print_check.py`, `benchmarks/results/defaults/old_print.csv`).")


def old_print_md(summary: pd.DataFrame, per_face: pd.DataFrame) -> str:
    """The comparison page's section: levels 1, 3, 5 side by side per model, and the within-face SRCC."""
    from core.analysis.evaluate import to_markdown  # noqa: PLC0415

    rows = []
    for name, g in summary.groupby("model", sort=False):
        r = {"model": name}
        for lv in (1, 3, 5):
            one = g[g.level == lv].iloc[0]
            r[f"L{lv} clean higher"], r[f"L{lv} gap"] = one.clean_higher, one.mean_gap
        f = per_face[per_face.model == name].srcc
        r["faces"], r["median within-face SRCC"] = len(f), round(float(f.median()), 3)
        rows.append(r)
    return ("\n## Aged prints (synthetic): clean photo vs the same photo printed, aged and scanned\n\n" + OLD_PRINT_TEXT + "\n\n"
            + to_markdown(pd.DataFrame(rows), 3) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("FACEIQA_DATA", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "defaults"))
    a = ap.parse_args()
    summary, per_face = old_print_tables(Path(a.data), a.n, a.models)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "old_print.csv", index=False)
    per_face.to_csv(out / "old_print_faces.csv", index=False)
    print(old_print_md(summary, per_face))


if __name__ == "__main__":
    main()
