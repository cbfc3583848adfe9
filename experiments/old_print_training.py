"""Does training on the opt-in `old_print` degradation teach a model the real degraded prints?

    python -m experiments.old_print_training --work DIR [--models dsl-fiqa] [--builds old_print default_seed1 ...]

Per model: the shipped default (trained on the 15 default degradation types) against the same `lfw-bench` run
trained on the same sources built with `--extra-types old_print` (16 types; the draws differ, so every image of
the build is another copy). Both are measured on the held-out people (default types only: overall and per-type
SRCC), on the real degraded prints vs clean LFW photos of the same person (`benchmarks.comparison.real_pairs`) and on
held-out LFW photos aged by `old_print` (`old_print_check`). Writes ``benchmarks/results/defaults/
old_print_training.csv`` and ``old_print_training_types.csv``; ``benchmarks/comparison.py`` quotes them in
docs/comparison.md. Steps already done in ``--work`` are skipped (a finished run holds ``done``); a later call with
other ``--builds`` adds its rows to the tables (a row of the same model and build is replaced).

Builds (``BUILDS``): ``old_print`` (the 16 types, the shipped build's seed 0), ``default_seed1`` (the control: the 15
default types drawn with seed 1 - adding a type redraws every copy, so this is how far a redraw alone moves a run) and
``old_print_seed1`` (the 16 types, seed 1).
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def measure(name: str, weights: str, build: str, data: Path, test_labels: Path, out: Path) -> tuple[dict, pd.DataFrame]:
    """One row of the summary (held-out metrics, real pairs, aged levels) and the per-type SRCC of one checkpoint."""
    from benchmarks.comparison import real_pairs  # noqa: PLC0415
    from benchmarks.old_print_check import old_print_tables  # noqa: PLC0415
    from core.train.defaults import faceiqa  # noqa: PLC0415

    preds, metrics = out / f"predictions_{name}_{build}.csv", out / f"{name}_{build}.json"
    faceiqa("evaluate", name, "--weights", weights, "--labels", str(test_labels), "--split", "", "--out", str(preds), "--metrics", str(metrics))
    m = json.loads(metrics.read_text())
    pairs = real_pairs(data, {name: weights}, models=[name])
    aged, _ = old_print_tables(data, 40, [name], {name: weights})
    row = {"model": name, "build": build, "heldout_srcc": m["srcc"], "heldout_plcc": m["plcc"],
           "real_pairs": len(pairs), "real_below_clean": int(pairs.degraded_below_clean.sum()),
           "real_clean_above": round(float(pairs.clean_above.mean()), 3)}
    for lv in (1, 3, 5):
        row[f"aged_L{lv}_clean_higher"] = float(aged.loc[aged.level == lv, "clean_higher"].iloc[0])
    return row, per_type_srcc(pd.read_csv(preds), name, build)


def per_type_srcc(predictions: pd.DataFrame, model: str, build: str) -> pd.DataFrame:
    """SRCC per single degradation type of a ``faceiqa evaluate`` predictions file (chains and clean crops left out)."""
    from core.analysis.evaluate import subgroup_metrics  # noqa: PLC0415

    single = predictions[~predictions.degradation.str.contains("+", regex=False) & (predictions.degradation != "clean")]
    sub = subgroup_metrics(single, by=("degradation",))
    return pd.DataFrame({"model": model, "build": build, "degradation": sub.group, "n": sub.n, "srcc": sub.SRCC.round(3)})


#: training builds: ``faceiqa data build`` options (each with a value) replaced in or added to the release recipe's ``train_build``
BUILDS = {"old_print": {"--extra-types": "old_print"}, "default_seed1": {"--seed": "1"},
          "old_print_seed1": {"--extra-types": "old_print", "--seed": "1"}}


def _merge(old: Path, new: pd.DataFrame) -> pd.DataFrame:
    """``new`` rows replace the rows of ``old`` (a CSV, when there) with the same model and build."""
    if not old.is_file():
        return new
    prev = pd.read_csv(old)
    keep = ~prev.set_index(["model", "build"]).index.isin(new.set_index(["model", "build"]).index)
    return pd.concat([prev[keep], new], ignore_index=True)


def old_print_training(data: Path, work: Path, models, results: Path, builds=("old_print",)) -> tuple[pd.DataFrame, pd.DataFrame]:
    from core.train.defaults import build, build_options, load_recipe, train  # noqa: PLC0415

    recipe = load_recipe()

    unknown = sorted(set(builds) - set(BUILDS))
    if unknown:
        raise SystemExit(f"unknown build {unknown}; choose from {sorted(BUILDS)}")
    test_labels = build(recipe, data, work / "heldout", recipe.heldout_build)
    done = pd.read_csv(results / "old_print_training.csv") if (results / "old_print_training.csv").is_file() else pd.DataFrame(columns=["model", "build"])
    rows, types = [], []
    for name in models:
        todo = [("default", ROOT / "core" / "assets" / f"{name}.safetensors")] if not ((done.model == name) & (done.build == "default")).any() else []
        for b in builds:
            run = work / "runs" / f"{name}-{b}"  # the first experiment's run folder was <name>-old_print: kept
            train(recipe, name, run, build(recipe, data, work / f"bench_{b}", build_options(recipe.train_build, BUILDS[b])))
            todo.append((b, run / f"{name}.safetensors"))
        for build_name, weights in todo:
            row, t = measure(name, str(weights), build_name, data, test_labels, work)
            rows.append(row)
            types.append(t)
            print(pd.DataFrame([row]).to_string(index=False), flush=True)
    summary = _merge(results / "old_print_training.csv", pd.DataFrame(rows))
    per_type = _merge(results / "old_print_training_types.csv", pd.concat(types, ignore_index=True))
    summary.to_csv(results / "old_print_training.csv", index=False)
    per_type.to_csv(results / "old_print_training_types.csv", index=False)
    return summary, per_type


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("FACEIQA_DATA", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--work", required=True)
    ap.add_argument("--models", nargs="+", default=["dsl-fiqa"])
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "defaults"))
    ap.add_argument("--builds", nargs="+", default=["old_print"], choices=sorted(BUILDS), help="training builds to compare with the shipped one")
    args = ap.parse_args()
    summary, _ = old_print_training(Path(args.data), Path(args.work), args.models, Path(args.results), args.builds)
    print(summary.to_string(index=False))


if __name__ == "__main__":
    main()
