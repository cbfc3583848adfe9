"""Measure one IFQA training run the way the shipped default is judged, and log it as a trial.

    python -m experiments.ifqa_trial --run RUN --heldout HELDOUT/labels.csv --trial "what changed" [--append]

``RUN`` is a ``faceiqa train model ifqa`` folder (its best ``ifqa.safetensors`` and ``metrics.csv``; ``core/assets``
measures the shipped weights); ``HELDOUT`` the held-out build of ``faceiqa train defaults`` (people no shipped
model saw). Prints and, with ``--append``, adds to
``experiments/results/ifqa_trials.csv``: the best validation epoch and its SRCC, held-out SRCC / PLCC, the bundled
astronaut (sharp, blurred, noisy, JPEG q8) and ``two_faces.jpg`` (sharp left, blurred right) - the newcomer check of
``tests/test_shipped_defaults.py`` - and the astronaut's score along a blur / JPEG ladder (is D monotonic there?).
"""
from __future__ import annotations

import argparse
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "assets" / "samples"
TRIALS = ROOT / "experiments" / "results" / "ifqa_trials.csv"
BLUR_RADII = (0, 1, 2, 3, 4, 6)
JPEG_QUALITIES = (95, 50, 30, 15, 8, 5)


def astronaut_ladders(scorer) -> dict[str, float]:
    """The astronaut's score at each PIL blur radius and JPEG quality of the whole photo."""
    from PIL import Image, ImageFilter  # noqa: PLC0415

    base = Image.open(SAMPLES / "astronaut.jpg").convert("RGB")

    def score(im) -> float:
        return float(scorer.assess(np.asarray(im)).faces[0].score)

    def jpeg(q: int):
        buf = io.BytesIO()
        base.save(buf, "JPEG", quality=q)
        return Image.open(buf).convert("RGB")

    out = {f"blur_{r}": score(base.filter(ImageFilter.GaussianBlur(r)) if r else base) for r in BLUR_RADII}
    out.update({f"jpeg_{q}": score(jpeg(q)) for q in JPEG_QUALITIES})
    return out


def measure(run: Path, heldout: Path) -> dict:
    from core import Scorer  # noqa: PLC0415
    from core.io import load_image  # noqa: PLC0415
    from core.train.defaults import faceiqa  # noqa: PLC0415

    weights = run / "ifqa.safetensors"
    scorer = Scorer("ifqa", weights=str(weights))
    hist = pd.read_csv(run / "metrics.csv") if (run / "metrics.csv").is_file() else None  # absent: shipped weights
    best = hist.loc[hist.val_srcc.idxmax()] if hist is not None else pd.Series({"epoch": np.nan, "val_srcc": np.nan})
    with tempfile.TemporaryDirectory() as tmp:  # held-out metrics exactly as the shipped defaults' are made
        faceiqa("evaluate", "ifqa", "--weights", str(weights.resolve()), "--labels", str(heldout.resolve()), "--split", "",
                "--out", f"{tmp}/predictions.csv", "--metrics", f"{tmp}/metrics.json")
        m = json.loads(Path(tmp, "metrics.json").read_text())
    row = {"epoch": best.epoch, "val_srcc": round(float(best.val_srcc), 4), "heldout_srcc": round(m["srcc"], 4),
           "heldout_plcc": round(m["plcc"], 4)}
    for kind in ("", "_blurred", "_noisy", "_jpeg_q8"):
        row[f"astronaut{kind or '_sharp'}"] = round(float(scorer.assess(load_image(SAMPLES / f"astronaut{kind}.jpg")).faces[0].score), 4)
    left, right = sorted(scorer.assess(load_image(SAMPLES / "two_faces.jpg")).faces, key=lambda f: f.box[0])
    row.update(two_faces_sharp=round(float(left.score), 4), two_faces_blurred=round(float(right.score), 4))
    row["ladders"] = json.dumps({k: round(v, 3) for k, v in astronaut_ladders(scorer).items()})
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--heldout", type=Path, required=True, help="labels.csv of the held-out build")
    ap.add_argument("--trial", required=True, help="what this run changed (the trials table's first column)")
    ap.add_argument("--append", action="store_true", help=f"add the row to {TRIALS.relative_to(ROOT)}")
    args = ap.parse_args()
    row = {"trial": args.trial, **measure(args.run, args.heldout)}
    print(json.dumps(row, indent=1))
    if args.append:
        old = pd.read_csv(TRIALS)
        pd.concat([old, pd.DataFrame([row])], ignore_index=True).to_csv(TRIALS, index=False)
        print(f"appended to {TRIALS}")


if __name__ == "__main__":
    main()
