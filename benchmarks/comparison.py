"""The comparison report of the shipped models -> ``docs/comparison.md`` (+ CSVs in ``benchmarks/results/defaults``).

    python -m benchmarks.comparison --work DIR      # DIR of `faceiqa train defaults` (its finished runs, else the shipped weights)

`faceiqa compare` of every seed model, tinyFQnet and the perceptual baselines on the held-out people, real degraded
prints against clean photos of the same person, the same photos aged by the opt-in `old_print` degradation, a
newcomer's photos (sharp vs blurred / noised / JPEG-crushed), a colour-bias table and the repeated-runs section.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd

from benchmarks.old_print_check import old_print_md, old_print_tables
from benchmarks.rank_user_photos import MODELS as USER_MODELS
from benchmarks.rank_user_photos import greyscale_table, user_photo_table
from core import Scorer
from core.analysis.evaluate import as_greyscale, compare_runs, is_greyscale, to_markdown
from core.io import iter_image_paths, load_image
from core.train.defaults import RESULTS, ROOT, build, faceiqa, load_recipe, runs_and_medians, seed_model_weights


def write_comparison(data: Path, work: Path, results: Path = RESULTS) -> None:
    """`faceiqa compare` of every seed model (this work folder's finished run, else the shipped checkpoint), the shipped
    tinyFQnet and the perceptual baselines on the held-out people, the GFPGAN pairs, the newcomer table and the seeds
    section -> docs/comparison.md."""
    recipe = load_recipe()
    test_labels = build(recipe, data, work / "heldout", recipe.heldout_build)
    weights = [f"{n}={seed_model_weights(work, n)}" for n in recipe.models]
    faceiqa("compare", "--labels", str(test_labels), "--split", "", "--models", *[w.split("=")[0] for w in weights], "tinyfqnet",
            "perceptual-combined", "perceptual-blur", "perceptual-jpeg", "perceptual-pose", "--weights", *weights,
            "--out", str(results / "comparison"), "-q")
    trained = dict(w.split("=", 1) for w in weights)  # name -> checkpoint of this run
    pairs = real_pairs(data, trained)
    pairs.to_csv(results / "real_pairs.csv", index=False)
    print(pairs.to_string(index=False))
    header = f"""<!-- produced by: faceiqa train defaults --work DIR --ship && python -m benchmarks.comparison --work DIR -->
Agreement with **people** (rated real faces, the default `mobile-fiqa`, BRISQUE): [comparison_rated.md](comparison_rated.md).
Below: the seed models on synthetic labels.

Held-out people: `faceiqa data build {recipe.source_args} {' '.join(recipe.heldout_build)}` - the 20 % of each folder's identities
that no shipped model (detector, tinyFQnet, seed models) trained on (LFW people; UTKFace and deepface files count as
their own identities - deepface has several photos per celebrity, so a person can sit on both sides there). Labels
are full-reference pseudo-MOS of synthetic degradations ((MS-SSIM + (1 - GMSD/0.35) + detail fidelity) / 3 on the face
vs the clean crop, x a JPEG blocking fidelity, x an absolute sharpness term of the clean crop), not human opinion; half of the degraded copies
are made on the whole photo before alignment, half on the aligned crop.
Seed models: the shipped defaults (`core/assets/*.md`), one training run each in the tables below (2 CPU cores, no
GPU); repeated runs with other seeds, where CPU time allowed, are in the last section.

"""
    body = (results / "comparison" / "comparison.md").read_text()
    pairs_md = ("\n## Real degraded photos vs clean photos of the same person\n\n" + REAL_PAIRS_TEXT + "\n\n"
                + to_markdown(pairs_summary(pairs)) + "\n\n" + to_markdown(pairs) + "\n")

    aged, aged_faces = old_print_tables(data, 40, USER_MODELS, trained)
    aged.to_csv(results / "old_print.csv", index=False)
    aged_faces.to_csv(results / "old_print_faces.csv", index=False)
    pairs_md += old_print_md(aged, aged_faces)
    pairs_md += old_print_training_md(results)  # the CSVs of experiments/old_print_training.py, when it was run

    user = user_photo_table(data, 40, USER_MODELS, trained)
    user.to_csv(results / "user_photos.csv", index=False)
    user_md = ("\n## A newcomer's photos: sharp vs blurred / noised / JPEG-crushed\n\n"
               "40 held-out LFW photos (`lfw`) and the 13 held-out deepface portraits (`portraits`, sharp 440-2000 px "
               "photos), each degraded as a whole photo before any alignment (PIL blur radius 2, "
               "Gaussian noise sigma 25, JPEG quality 8, and `blurred_face_scaled`: blur radius 2 x face width / 63 px, "
               "LFW's median face, so a portrait's face gets the blur an LFW face gets - radius 2 on a 2000-px "
               "portrait is sub-pixel at the models' input, MS-SSIM 0.98 of the aligned crops; and `jpeg_face_scaled`: "
               "the photo first shrunk so the face is 63 px wide, JPEG quality 8 of that, compared with the shrunk "
               "photo - JPEG q8 of a 2000-px portrait is mild at the models' input, MS-SSIM 0.97 of the 256-px "
               "aligned crops vs LFW's 0.91); share of faces where the sharp photo scores higher and the "
               "mean gap (`benchmarks/rank_user_photos.py`, `benchmarks/results/defaults/user_photos.csv`):\n\n"
               + to_markdown(user, 3) + "\n")
    grey = greyscale_table(data, 40, USER_MODELS, trained)
    grey.to_csv(results / "greyscale.csv", index=False)
    (ROOT / "docs" / "comparison.md").write_text(header + body + pairs_md + user_md + greyscale_md(grey) + seeds_md(results))


GREYSCALE_TEXT = ("The same 40 held-out LFW photos and a greyscale copy of each (ITU-R 601 luma; not a degradation - a "
                  "black-and-white photo can be perfect, and dlib's recognition embedding of the copy keeps cos 0.993 "
                  "to the colour photo's, mean of the 40, vs 0.997 for blur level 2 and 0.957 for JPEG q10): share where "
                  "the copy scores higher and the colour - greyscale gap; ~0 means no colour bias "
                  "(`benchmarks/results/defaults/greyscale.csv`).")


def greyscale_md(grey) -> str:
    return "\n## Colour bias: colour photos vs their greyscale copies\n\n" + GREYSCALE_TEXT + "\n\n" + to_markdown(grey, 3) + "\n"


def welch_tests(runs):
    """GFIQA VI-C: Welch's t-test between every two models' per-seed SRCCs (models with >= 2 runs)."""

    runs = runs_and_medians(runs)[0]
    names, rows = list(runs.model.unique()), []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            sa, sb = runs[runs.model == a].srcc, runs[runs.model == b].srcc
            if len(sa) > 1 and len(sb) > 1:
                r = compare_runs(sa, sb)
                rows.append({"model A": a, "model B": b, "runs": f"{len(sa)} / {len(sb)}", "median SRCC A": r.median_a,
                             "median SRCC B": r.median_b, "Welch t": r.t, "p": r.p_value})
    return pd.DataFrame(rows)


def seeds_md(results: Path) -> str:
    """The repeated-runs section of docs/comparison.md from ``results/seeds.csv`` ('' when there is none)."""
    path = results / "seeds.csv"
    if not path.is_file():
        return ""
    table = pd.read_csv(path)
    tests = welch_tests(table)
    t_md = ("\nStudent's (Welch's) t-test between the models' per-seed SRCCs:\n\n" + to_markdown(tests, 4) + "\n"
            if len(tests) else "")
    previous = path.with_name("seeds_previous.csv")
    prev_md = ("\nRuns of configs that have since changed (`benchmarks/results/defaults/seeds_previous.csv`; the `config` column "
               "says which), kept for reference:\n\n"
               + to_markdown(pd.read_csv(previous), 4) + "\n") if previous.is_file() else ""
    return ("\n## Repeated runs (GFIQA VI-C protocol)\n\n"
            "The same config trained again with other seeds (`faceiqa train defaults --work DIR --models NAME "
            "--seeds 1 2`), each evaluated on the held-out people; `median` rows are what the papers report "
            "(`benchmarks/results/defaults/seeds.csv`):\n\n" + to_markdown(table, 4) + "\n" + t_md + prev_md)


#: real degraded crops (childhood prints and scans) of people who also have clean LFW photos: GFPGAN's examples and
#: CodeFormer's old-photo faces (no other person of either folder is in LFW)
REAL_DEGRADED = {
    "Justin_Timberlake": "gfpgan-inputs/Justin_Timberlake_crop.png",
    "Paris_Hilton": "gfpgan-inputs/Paris_Hilton_crop.png",
    "David_Beckham": "codeformer-inputs/gray_faces/067_David_Beckham_00.png",
    "Victoria_Beckham": "codeformer-inputs/gray_faces/099_Victoria_Beckham_00.png",
    "Robert_Downey_Jr": "codeformer-inputs/gray_faces/132_Robert_Downey_Jr_00.png",
    "John_Lennon": "codeformer-inputs/gray_faces/169_John_Lennon_00.png",
    "Marilyn_Monroe": "codeformer-inputs/gray_faces/170_Marilyn_Monroe_00.png",
}


REAL_PAIRS_TEXT = ("Real degraded crops - childhood photos printed, scanned and compressed: GFPGAN's examples and CodeFormer's "
                   "old-photo faces of the 7 people who also have LFW photos - against up to 10 clean LFW photos of the same "
                   "person (adult news photos, so age and setting differ too; a greyscale crop is compared with greyscale "
                   "copies of them). `clean_above`: the share of the clean photos scoring above the crop "
                   "(`benchmarks/results/defaults/real_pairs.csv`).")


def pairs_summary(pairs):
    """Per model: pairs, how many crops score below their person's clean mean, and the mean ``clean_above``."""
    g = pairs.groupby("model", sort=False)
    return g.agg(pairs=("person", "size"), degraded_below_clean=("degraded_below_clean", "sum"),
                 clean_above=("clean_above", "mean")).round(3).reset_index()


def real_pairs(data: Path, weights: dict[str, str], models=None, max_clean: int = 10):
    """Real degraded crops vs up to ``max_clean`` clean LFW photos of the same person, per model: the crop's score,
    the clean photos' mean and the share of them scoring above the crop. A greyscale crop is compared with greyscale
    copies of the clean photos, so colour alone cannot decide the pair."""

    rows = []
    for name in models or [*weights, "tinyfqnet", "perceptual-combined"]:
        scorer = Scorer(name, weights=weights.get(name))
        for person, crop in REAL_DEGRADED.items():
            degraded = data / crop
            clean = iter_image_paths([data / "lfw" / "images" / person])[:max_clean] if (data / "lfw" / "images" / person).is_dir() else []
            if not degraded.is_file() or not clean:
                continue
            img = load_image(degraded)
            grey = is_greyscale(img)
            d = scorer.assess(img, aligned=True).faces[0].score
            c = [f.score for p in clean for f in scorer.assess(as_greyscale(load_image(p)) if grey else load_image(p), faces="largest").faces]
            if not c:
                continue
            mean = sum(c) / len(c)
            rows.append({"model": name, "person": person, "source": crop.split("-")[0], "greyscale": grey, "degraded": round(d, 4),
                         "clean_mean": round(mean, 4), "clean_photos": len(c), "clean_above": round(sum(v > d for v in c) / len(c), 3),
                         "degraded_below_clean": d < mean})
    return pd.DataFrame(rows)


TYPES_NOTE = "single degradation types of the held-out build; chained copies left out"


def old_print_training_md(results: Path) -> str:
    """The comparison page's section, from the two CSVs (empty when they were never made)."""
    s, t = results / "old_print_training.csv", results / "old_print_training_types.csv"
    if not (s.is_file() and t.is_file()):
        return ""
    types = pd.read_csv(t).pivot_table(index="degradation", columns=["model", "build"], values="srcc")
    types.columns = [f"{m} {b}" for m, b in types.columns]
    return ("\n## Training on aged prints (`--extra-types old_print`)\n\n"
            "The shipped default (15 default types, build seed 0) against the same run on other builds of the same "
            "sources (`python -m experiments.old_print_training --work DIR --builds ...`; one training seed each): "
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
    ap.add_argument("--work", required=True, help="the work folder of `faceiqa train defaults` (held-out build, runs)")
    ap.add_argument("--results", default=str(RESULTS))
    args = ap.parse_args()
    write_comparison(Path(args.data), Path(args.work), Path(args.results))


if __name__ == "__main__":
    main()
