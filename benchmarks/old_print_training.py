"""Does training on the opt-in `old_print` degradation teach a model the real degraded prints?

    python benchmarks/old_print_training.py --work DIR [--models dsl-fiqa] [--builds old_print default_seed1 ...]

Per model: the shipped default (trained on the 15 default degradation types) against the same `lfw-bench` run
trained on the same sources built with `--extra-types old_print` (16 types; the draws differ, so every image of
the build is another copy). Both are measured on the held-out people (default types only: overall and per-type
SRCC), on the real degraded prints vs clean LFW photos of the same person (`train_defaults.real_pairs`) and on
held-out LFW photos aged by `old_print` (`old_print_check`). Writes ``benchmarks/results/defaults/
old_print_training.csv`` and ``old_print_training_types.csv``; ``train_defaults.py --compare`` quotes them in
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
TYPES_NOTE = "single degradation types of the held-out build; chained copies left out"


def measure(name: str, weights: str, build: str, data: Path, test_labels: Path, out: Path) -> tuple[dict, pd.DataFrame]:
    """One row of the summary (held-out metrics, real pairs, aged levels) and the per-type SRCC of one checkpoint."""
    from old_print_check import old_print_tables  # noqa: PLC0415
    from train_defaults import faceiqa, real_pairs  # noqa: PLC0415

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
    from core.evaluate import subgroup_metrics  # noqa: PLC0415

    single = predictions[~predictions.degradation.str.contains("+", regex=False) & (predictions.degradation != "clean")]
    sub = subgroup_metrics(single, by=("degradation",))
    return pd.DataFrame({"model": model, "build": build, "degradation": sub.group, "n": sub.n, "srcc": sub.SRCC.round(3)})


#: training builds: ``faceiqa data build`` options (each with a value) replaced in or added to ``train_defaults.TRAIN_BUILD``
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
    from train_defaults import HELDOUT_BUILD, TRAIN_BUILD, build, build_options, train  # noqa: PLC0415

    unknown = sorted(set(builds) - set(BUILDS))
    if unknown:
        raise SystemExit(f"unknown build {unknown}; choose from {sorted(BUILDS)}")
    test_labels = build(data, work / "heldout", HELDOUT_BUILD)
    done = pd.read_csv(results / "old_print_training.csv") if (results / "old_print_training.csv").is_file() else pd.DataFrame(columns=["model", "build"])
    rows, types = [], []
    for name in models:
        todo = [("default", ROOT / "assets" / "models" / f"{name}.safetensors")] if not ((done.model == name) & (done.build == "default")).any() else []
        for b in builds:
            run = work / "runs" / f"{name}-{b}"  # the first experiment's run folder was <name>-old_print: kept
            train(name, run, build(data, work / f"bench_{b}", build_options(TRAIN_BUILD, BUILDS[b])))
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


def old_print_training_md(results: Path) -> str:
    """The comparison page's section, from the two CSVs (empty when they were never made)."""
    from core.evaluate import to_markdown  # noqa: PLC0415

    s, t = results / "old_print_training.csv", results / "old_print_training_types.csv"
    if not (s.is_file() and t.is_file()):
        return ""
    types = pd.read_csv(t).pivot_table(index="degradation", columns=["model", "build"], values="srcc")
    types.columns = [f"{m} {b}" for m, b in types.columns]
    return ("\n## Training on aged prints (`--extra-types old_print`)\n\n"
            "The shipped default (15 default types, build seed 0) against the same run on other builds of the same "
            "sources (`python benchmarks/old_print_training.py --work DIR --builds ...`; one training seed each): "
            "`old_print` adds the opt-in type (drawn as often as each default type), `default_seed1` is the control - the 15 "
            "default types drawn again with seed 1, as adding a type redraws every copy - and `old_print_seed1` both. "
            "Held-out SRCC / PLCC (default types), "
            "the 7 real prints below their person's clean mean and the mean share of clean photos above the print, "
            "and the aged held-out LFW photos (clean higher at levels 1, 3, 5):\n\n"
            + to_markdown(pd.read_csv(s), 3) + f"\n\nHeld-out SRCC per degradation type ({TYPES_NOTE}):\n\n"
            + to_markdown(types.reset_index(), 3) + "\n\nThe real prints are childhood photos against adult news photos (the "
            "section above), so those pairs mix age and setting with quality. Read each build's change against the "
            "control's: a redraw of the same 15 types moves every number here too, so only a change beyond the "
            "control's belongs to the extra type.\n")


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
