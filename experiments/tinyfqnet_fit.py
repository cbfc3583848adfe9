"""What tinyFQnet's labels say vs what the network learnt, per degradation type, on its own label table.

    python -m experiments.tinyfqnet_fit RUN/labels.parquet [--weights W.safetensors] [--out CSV]

For every degraded copy in the label table of `faceiqa train tinyfqnet` (its `labels.parquet`),
compares it with the clean copy of the same photo: the share of copies whose Eq. 1 label is
lower (does the recognizer lose anything?) and the share whose *prediction* is lower (did the
network learn it?), split into light (levels 1-3) and heavy (4-5) damage, with median drops.
A type the labels rank but the network does not is a capacity / visibility limit, not a label one.
Writes ``experiments/results/tinyfqnet_fit.csv`` by default.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def fit_table(labels: pd.DataFrame, pred: np.ndarray) -> pd.DataFrame:
    """Rows per (degradation, light/heavy): copies, label-lower share / median drop, prediction-lower share / drop."""
    t = labels.assign(pred=pred)
    clean = t[t.degradation == "clean"].drop_duplicates("path").set_index("path")
    d = t[(t.degradation != "clean") & t.path.isin(clean.index)].copy()
    d["label_drop"] = clean.loc[d.path, "quality"].to_numpy() - d.quality.to_numpy()
    d["pred_drop"] = clean.loc[d.path, "pred"].to_numpy() - d.pred.to_numpy()
    d["damage"] = np.where(d.level >= 4, "heavy", "light")
    return (d.groupby(["degradation", "damage"])
            .agg(copies=("label_drop", "size"), label_lower=("label_drop", lambda x: (x > 0).mean()),
                 label_drop=("label_drop", "median"), pred_lower=("pred_drop", lambda x: (x > 0).mean()),
                 pred_drop=("pred_drop", "median"))
            .reset_index())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("labels", help="labels.parquet of a `faceiqa train tinyfqnet` run")
    ap.add_argument("--weights", default=None, help="tinyfqnet safetensors (default: the shipped one)")
    ap.add_argument("--out", default=str(ROOT / "experiments" / "results" / "tinyfqnet_fit.csv"))
    args = ap.parse_args()
    import sys  # noqa: PLC0415

    sys.path.insert(0, str(ROOT))
    from core.data.recognition_labels import add_quality  # noqa: PLC0415
    from core.models import create_model  # noqa: PLC0415
    from core.train.tinyfqnet import crops_tensor, predict  # noqa: PLC0415

    labels = add_quality(pd.read_parquet(args.labels))
    model = create_model("tinyfqnet", weights=args.weights, device="cpu")
    table = fit_table(labels, predict(model, crops_tensor(labels)))
    table.to_csv(args.out, index=False, float_format="%.4f")
    print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
