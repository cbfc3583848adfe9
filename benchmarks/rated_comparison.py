"""Agreement with people: every model, the Laplacian and BRISQUE on the rated faces -> ``docs/comparison_rated.md``.

    python -m benchmarks.rated_comparison --ratings ratings/real-faces --data-root ../shared/data \\
        [--heldout HELDOUT/labels.csv] [--brisque brisque.csv] [--cache benchmarks/results/rated/predictions.csv] \
        [--candidates "LABEL=RUN/model.safetensors" ...]

Scores each rated face's aligned crop through ``faceiqa score --aligned``'s path; predictions are cached per
(model, image) in ``--cache`` so a rerun (or a new model) scores only what is missing. BRISQUE runs in its own
numpy<2 environment (``benchmarks.brisque_side``, built on first use) on the same crops, unless ``--brisque`` gives
its CSV. With ``--heldout`` (the synthetic held-out build of the other cards) the SRCC there is added.
``--candidates`` adds trained checkpoints that are not shipped (e.g. ``faceiqa train model`` runs), each under its label
(cached under the label and the checkpoint's sha256, so a retrained file is scored again).
Reported per scorer: SRCC / PLCC on the rated test split, on its real degraded faces, on all rated faces, and
GFIQA-category agreement with people on the test split (exact, within one category).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from core.analysis.evaluate import to_markdown
from core.analysis.metrics import plcc, srcc
from core.api import CATEGORIES, category

MODELS = ("mobile-fiqa", "stylegan-iqa", "stylegan-iqa-tf", "dsl-fiqa", "ifqa", "tinyfqnet", "perceptual-blur")
RESULTS = Path("benchmarks/results/rated")


def cached_predictions(models, images: list[str], cache: Path, weights: dict[str, str] | None = None) -> pd.DataFrame:
    """(image, model, score) for every model x image, scoring only pairs missing from ``cache`` (appended per model).
    ``weights``: label -> checkpoint for models that are not registered names (candidates)."""
    from core import Scorer  # noqa: PLC0415
    from core.analysis.evaluate import predict_aligned  # noqa: PLC0415
    from core.models.checkpoint import read_config  # noqa: PLC0415

    weights = weights or {}
    have = pd.read_csv(cache) if cache.is_file() else pd.DataFrame(columns=["image", "model", "score"])
    for m in models:
        done = set(have.loc[have.model == m, "image"])
        todo = [p for p in images if p not in done]
        if todo:
            scorer = (Scorer(read_config(weights[m])["model"], weights=weights[m], device="cpu") if m in weights
                      else Scorer(m, device="cpu"))
            scores = predict_aligned(scorer, todo, progress=True)
            have = pd.concat([have, pd.DataFrame({"image": todo, "model": m, "score": scores})], ignore_index=True)
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(cache.name + ".tmp")
            have.to_csv(tmp, index=False)
            tmp.replace(cache)
    return have[have.model.isin(models) & have.image.isin(images)]


def agreement_table(rated: pd.DataFrame, scores: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per scorer (higher = better quality in ``scores``)."""
    test = (rated.split == "test").to_numpy()
    real = rated.dataset.astype(str).str.startswith("real").to_numpy()
    mos = rated.mos.to_numpy()
    idx = {c: i for i, c in enumerate(CATEGORIES)}
    rows = []
    for name, s in scores.items():
        row = {"scorer": name}
        for label, m in (("test", test), ("test real", test & real), ("all", np.ones_like(test))):
            ok = m & np.isfinite(s)
            row[f"SRCC {label}"], row[f"PLCC {label}"] = srcc(s[ok], mos[ok]), plcc(s[ok], mos[ok])
        if "negated" in name:
            row["category exact"] = row["category within 1"] = float("nan")  # not on the 0..1 scale
        else:
            ok = test & np.isfinite(s)
            d = np.array([abs(idx[category(a)] - idx[category(b)]) for a, b in zip(s[ok], mos[ok])])
            row["category exact"], row["category within 1"] = float((d == 0).mean()), float((d <= 1).mean())
        row["n test"] = int((test & np.isfinite(s)).sum())
        rows.append(row)
    return pd.DataFrame(rows).sort_values("SRCC test", ascending=False).reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ratings", default="ratings/real-faces")
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--heldout", default=None, help="synthetic held-out labels.csv (image relative to its folder)")
    ap.add_argument("--brisque", default=None, help="BRISQUE CSV of the rated crops (path, brisque, status); else computed")
    ap.add_argument("--cache", default=str(RESULTS / "predictions.csv"))
    ap.add_argument("--candidates", nargs="*", default=[], help="LABEL=checkpoint.safetensors of runs to compare (not shipped)")
    ap.add_argument("--out", default="docs/comparison_rated.md")
    args = ap.parse_args()

    from core.data.ratings import labels  # noqa: PLC0415
    from core.models.checkpoint import read_config  # noqa: PLC0415

    rated = labels(args.ratings, args.data_root).reset_index(drop=True)
    weights = {}
    for c in args.candidates:
        name, _, path = c.partition("=")
        if not path:
            ap.error(f"--candidates wants LABEL=PATH, got {c!r}")
        weights[f"{name} #{read_config(path)['sha256'][:8]}"] = path
    args.models = [*args.models, *weights]
    preds = cached_predictions(args.models, rated.image.tolist(), Path(args.cache), weights)
    scores = {m: rated.image.map(preds[preds.model == m].set_index("image").score).to_numpy(float) for m in args.models}
    from core.models.registry import model_info  # noqa: PLC0415

    negate = {m: m not in weights and model_info(m).lower_better for m in args.models}  # candidates: higher better
    name_of = {m: f"{m} (lower better, negated)" if negate[m] else m for m in args.models}
    scores = {name_of[m]: -v if negate[m] else v for m, v in scores.items()}
    if args.brisque:
        bq = pd.read_csv(args.brisque)
    else:
        from benchmarks.brisque_side import brisque_scores  # noqa: PLC0415

        bq = brisque_scores(rated.image.tolist())
    by_name = {Path(p).name: v for p, v in zip(bq.path, bq.brisque)}
    scores["brisque (crop, lower better, negated)"] = -rated.image.map(lambda p: by_name.get(Path(p).name, np.nan)).to_numpy(float)
    table = agreement_table(rated, scores)
    if args.heldout:
        h = pd.read_csv(args.heldout)
        paths = [str(Path(args.heldout).parent / p) for p in h.image]
        hp = cached_predictions(args.models, paths, Path(args.cache), weights)
        model_of = {v: k for k, v in name_of.items()}
        table["SRCC synthetic held-out"] = [
            (-1 if negate[model_of[n]] else 1)
            * srcc(pd.Series(paths).map(hp[hp.model == model_of[n]].set_index("image").score).to_numpy(float), h.mos.to_numpy())
            if n in model_of else float("nan") for n in table.scorer]
    RESULTS.mkdir(parents=True, exist_ok=True)
    table.to_csv(RESULTS / "agreement.csv", index=False)
    n_real = int(((rated.split == "test") & rated.dataset.str.startswith("real")).sum())
    md = ["<!-- produced by: python -m benchmarks.rated_comparison --data-root ../shared/data --heldout HELDOUT/labels.csv -->",
          "# Agreement with people (rated real faces)", "",
          f"Rating set `{args.ratings}` (its card: who rated and how): {len(rated)} faces, test split "
          f"{int((rated.split == 'test').sum())} ({n_real} real degraded faces from restoration projects). Each scorer sees "
          "the 512-px GFIQA-aligned crop; BRISQUE (PyPI `brisque` 0.2.0, SVR on LIVE human scores) the same crop in its own "
          "numpy<2 environment. Category agreement: the GFIQA category of the score vs that of the rated MOS. \"all\" "
          "includes the rated train faces `mobile-fiqa` was fitted on; judge it by the test columns. Synthetic held-out: "
          "the 600-image build of people no shipped model saw (`docs/comparison.md`).", "",
          *(["Rows marked `#sha256` are trained checkpoints given with `--candidates` (not the shipped weights): "
             + "; ".join(f"`{k}` = `{v}`" for k, v in weights.items())
             + ". The distilled seed models' recipes and card: `docs/pretrained_seeds.md`.", ""] if weights else []),
          to_markdown(table, 3)]
    Path(args.out).write_text("\n".join(md) + "\n")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
