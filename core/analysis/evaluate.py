"""Evaluation the way the papers report it, plus the fairness and degradation views they lack.

* :func:`predict_aligned` - scores for a table of aligned face crops with any registered model
  (through :class:`core.api.Scorer`, so every model gets the inputs and alignment it declares).
* :func:`metrics_table` - SRCC / KRCC / PLCC / RMSE per model (GFIQA Table III, DSL Table 2 shape).
* :func:`subgroup_metrics` - the same per skin-tone group, gender, degradation type ... with the
  gap (best minus worst SRCC) per grouping, so a fairness gap is a number, not an impression.
* :func:`ladder_srcc` - within-face rank agreement: for each source face and degradation type,
  SRCC between the score and the (negated) level, averaged per type.
* :func:`user_degradations` / :func:`sharp_vs_degraded` (on :func:`heldout_lfw_photos`) - a newcomer's check on real photos:
  each photo blurred, noised and JPEG-crushed *as a photo* (before any alignment, with PIL /
  numpy, not the data engine), scored with the model's own face pipeline; per kind, the share
  of faces where the sharp photo scores higher and the mean gap.
* :func:`compare_runs` - the GFIQA protocol (section VI-C): medians over repeated runs and a
  two-sample t-test (Welch) between two models' per-run SRCCs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .metrics import evaluate


def predict_aligned(model, paths, progress: bool = False) -> np.ndarray:
    """0..1 (higher better) score of the single aligned face in each image (NaN when it cannot be read)."""
    from tqdm.auto import tqdm  # noqa: PLC0415

    from ..api import Scorer  # noqa: PLC0415
    from ..errors import FaceIQAError  # noqa: PLC0415

    scorer = model if hasattr(model, "assess") else Scorer(model)
    out = np.full(len(paths), np.nan)
    for i, p in enumerate(tqdm(list(paths), desc=f"scoring ({scorer.model.info.name})", disable=not progress)):
        try:
            faces = scorer.assess(p, aligned=True).faces
        except FaceIQAError:
            continue
        if faces:
            out[i] = faces[0].score
    return out


def metrics_table(predictions: dict[str, pd.DataFrame], mos_col: str = "mos", pred_col: str = "prediction") -> pd.DataFrame:
    """One row per model: n, SRCC, KRCC, PLCC, RMSE (rows with a missing prediction are counted and left out)."""
    rows = []
    for name, df in predictions.items():
        ok = df[pred_col].notna()
        s = evaluate(df.loc[ok, pred_col].to_numpy(), df.loc[ok, mos_col].to_numpy())
        rows.append({"model": name, "n": int(ok.sum()), "missing": int((~ok).sum()), "SRCC": s.srcc, "KRCC": s.krcc,
                     "PLCC": s.plcc, "RMSE": s.rmse})
    return pd.DataFrame(rows).sort_values("SRCC", ascending=False).reset_index(drop=True)


def subgroup_metrics(df: pd.DataFrame, by=("skin_tone", "gender", "degradation"), mos_col: str = "mos",
                     pred_col: str = "prediction", min_n: int = 5) -> pd.DataFrame:
    """SRCC / PLCC / RMSE per value of each grouping column present; ``gap`` = max - min SRCC within a grouping."""
    rows = []
    for col in [c for c in by if c in df.columns]:
        part = []
        for value, g in df.dropna(subset=[pred_col]).groupby(col):
            if len(g) < min_n or g[mos_col].nunique() < 2:
                continue
            s = evaluate(g[pred_col].to_numpy(), g[mos_col].to_numpy())
            part.append({"grouping": col, "group": value, "n": len(g), "SRCC": s.srcc, "PLCC": s.plcc, "RMSE": s.rmse})
        if part:
            srccs = [r["SRCC"] for r in part]
            for r in part:
                r["gap"] = max(srccs) - min(srccs)
            rows += part
    return pd.DataFrame(rows, columns=["grouping", "group", "n", "SRCC", "PLCC", "RMSE", "gap"])


def ladder_srcc(df: pd.DataFrame, pred_col: str = "prediction") -> pd.DataFrame:
    """Mean within-face SRCC(score, -level) per degradation type; needs source, degradation, level columns
    (level 0 / "clean" rows of a source join every type's ladder)."""
    from scipy.stats import spearmanr  # noqa: PLC0415

    rows = []
    clean = df[df["degradation"] == "clean"]
    for kind, g in df[df["degradation"] != "clean"].groupby("degradation"):
        vals = []
        for src, h in g.groupby("source"):
            h = pd.concat([h, clean[clean["source"] == src]]).dropna(subset=[pred_col])
            if h["level"].nunique() >= 3:
                vals.append(spearmanr(h[pred_col], -h["level"]).statistic)
        if vals:
            rows.append({"degradation": kind, "faces": len(vals), "ladder_SRCC": float(np.nanmean(vals))})
    return pd.DataFrame(rows, columns=["degradation", "faces", "ladder_SRCC"])


@dataclass
class RunComparison:
    median_a: float
    median_b: float
    t: float
    p_value: float


def compare_runs(srcc_a, srcc_b) -> RunComparison:
    """GFIQA VI-C: medians of repeated runs and Welch's t-test between two models' SRCCs."""
    from scipy.stats import ttest_ind  # noqa: PLC0415

    a, b = np.asarray(srcc_a, float), np.asarray(srcc_b, float)
    res = ttest_ind(a, b, equal_var=False)
    return RunComparison(float(np.median(a)), float(np.median(b)), float(res.statistic), float(res.pvalue))


def side_by_side(tables: dict[str, pd.DataFrame], key: str, value: str) -> pd.DataFrame:
    """One ``value`` column per model, joined on ``key`` (e.g. ladder SRCC per degradation type)."""
    cols = [t.set_index(key)[value].rename(name) for name, t in tables.items()]
    return pd.concat(cols, axis=1).reset_index() if cols else pd.DataFrame()


def stacked(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per-model tables one under the other, with a ``model`` column."""
    parts = [t.assign(model=name) for name, t in tables.items() if len(t)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def by_dataset(tables: dict[str, pd.DataFrame], metrics=("SRCC", "PLCC")) -> pd.DataFrame:
    """DSL-FIQA Table 2 shape: one row per model, ``<dataset> SRCC`` / ``<dataset> PLCC`` columns."""
    wide = None
    for ds, t in tables.items():
        part = t.set_index("model")[list(metrics)].rename(columns={m: f"{ds} {m}" for m in metrics})
        wide = part if wide is None else wide.join(part, how="outer")
    return wide.reset_index() if wide is not None else pd.DataFrame(columns=["model"])


def to_markdown(table: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub Markdown table (no extra dependency); missing / undefined numbers print as "-"."""
    cols = list(table.columns)

    def fmt(v) -> str:
        if isinstance(v, (float, np.floating)):
            return "-" if np.isnan(v) else f"{v:.{digits}f}"
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(" --- " for _ in cols) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


#: a newcomer's degradations of a whole photo: (name, description)
USER_DEGRADATIONS = {"blurred": "PIL Gaussian blur radius 2", "noised": "Gaussian noise sigma 25 (0..255)", "jpeg": "JPEG quality 8",
                     "blurred_face_scaled": "PIL Gaussian blur radius 2 x face width / 63 px (the same blur relative to the face)",
                     "jpeg_face_scaled": "JPEG quality 8 of the photo resized so the face is 63 px wide, against that resized photo"}
#: the sharp version each kind is compared with (default: the photo itself)
USER_REFERENCE = {"jpeg_face_scaled": "sharp_face_scaled"}
#: median width (px) of the default detector's face box on held-out LFW photos (measured, 40 photos): the face size
#: a radius-2 blur was chosen on. A 2000-px portrait's face is ~4x wider, so radius 2 there is sub-pixel at any
#: model's input (MS-SSIM of the 256-px aligned crops 0.984 vs LFW's 0.868).
LFW_FACE_PX = 63.0


def user_degradations(image: np.ndarray, seed: int = 0, face_width: float | None = None) -> dict[str, np.ndarray]:
    """The sharp RGB photo and its :data:`USER_DEGRADATIONS` copies (whole photo, before alignment).

    ``blurred_face_scaled`` is made only when ``face_width`` (px) is given: radius ``2 * face_width / LFW_FACE_PX``;
    so are ``sharp_face_scaled`` (the photo shrunk by ``LFW_FACE_PX / face_width``, Lanczos; never enlarged) and
    ``jpeg_face_scaled`` (that photo at JPEG quality 8): JPEG's 8x8 blocks then cover as much of the face as on LFW.
    """
    import io  # noqa: PLC0415

    from PIL import Image, ImageFilter  # noqa: PLC0415

    im = Image.fromarray(image)
    noisy = np.clip(image + np.random.default_rng(seed).normal(0, 25, image.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=8)
    out = {"sharp": image, "blurred": np.asarray(im.filter(ImageFilter.GaussianBlur(2))), "noised": noisy,
           "jpeg": np.asarray(Image.open(buf).convert("RGB"))}
    if face_width is not None:
        out["blurred_face_scaled"] = np.asarray(im.filter(ImageFilter.GaussianBlur(2.0 * face_width / LFW_FACE_PX)))
        shrink = min(1.0, LFW_FACE_PX / face_width)
        small = im.resize((max(1, round(im.width * shrink)), max(1, round(im.height * shrink))), Image.LANCZOS) if shrink < 1 else im
        buf = io.BytesIO()
        small.save(buf, "JPEG", quality=8)
        out["sharp_face_scaled"], out["jpeg_face_scaled"] = np.asarray(small), np.asarray(Image.open(buf).convert("RGB"))
    return out


def heldout_photos(root, n: int | None = None, seed: int = 5, holdout: float = 0.2, split_seed: int = 0) -> list[np.ndarray]:
    """Up to ``n`` photos (RGB) of identities in the held-out part of the shipped models' split of ``root``.

    Identity = the parent folder (LFW's identity folders) or the file name in a flat folder (UTKFace,
    deepface), as in ``faceiqa data build``; the split is :func:`core.data.build.identity_split` with
    ``(1 - holdout, 0, holdout)`` and ``split_seed`` - the cut of ``--identities heldout``. Shuffled by ``seed``.
    """
    import random  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from ..data.build import identity_cut  # noqa: PLC0415
    from ..io import load_image  # noqa: PLC0415

    test = [f for f, _, held_out in identity_cut(Path(root), holdout, split_seed) if held_out]
    random.Random(seed).shuffle(test)
    return [load_image(f) for f in test[:n]]


def heldout_lfw_photos(lfw_root, n: int, seed: int = 5, holdout: float = 0.2, split_seed: int = 0) -> list[np.ndarray]:
    """``n`` held-out LFW photos: :func:`heldout_photos` of the folder of identity folders."""
    return heldout_photos(lfw_root, n, seed, holdout, split_seed)


def sharp_vs_degraded(scorer, photos, kinds=tuple(USER_DEGRADATIONS)) -> pd.DataFrame:
    """Per photo and kind: sharp score, degraded score and gap (largest face; photos without one are skipped).

    ``photos`` are RGB arrays; ``scorer`` a :class:`core.api.Scorer`. Summarise with
    ``df.groupby("kind").gap.agg(["count", lambda g: (g > 0).mean(), "mean"])``. The face width that
    the ``*_face_scaled`` kinds scale by comes from the default detector (the same copies for every model);
    ``jpeg_face_scaled`` is compared with its own shrunk sharp photo (:data:`USER_REFERENCE`).
    """
    sizer = None
    if any(k.endswith("_face_scaled") for k in kinds):
        from ..faces import FaceDetector  # noqa: PLC0415

        sizer = FaceDetector()
    rows = []
    for i, photo in enumerate(photos):
        width = None
        if sizer is not None:
            found = sizer.detect(photo)
            width = max((f.box[2] - f.box[0] for f in found), default=None)
        versions = user_degradations(photo, seed=i, face_width=width)
        todo = [k for k in kinds if k in versions]
        refs = {USER_REFERENCE.get(k, "sharp") for k in todo}
        faces = {k: scorer.assess(versions[k], faces="largest").faces for k in ("sharp", *sorted(refs - {"sharp"}), *todo)}
        if not faces["sharp"]:
            continue
        for k in todo:
            ref = faces[USER_REFERENCE.get(k, "sharp")]
            if faces[k] and ref:
                sharp = ref[0].score
                rows.append({"photo": i, "kind": k, "sharp": sharp, "degraded": faces[k][0].score, "gap": sharp - faces[k][0].score})
    return pd.DataFrame(rows, columns=["photo", "kind", "sharp", "degraded", "gap"])


def is_greyscale(rgb: np.ndarray, tol: float = 8.0) -> bool:
    """True for a photo whose colour channels agree: mean |R - G| and |R - B| below ``tol`` grey levels (a toned
    black-and-white print, mean channel gaps ~5, counts; a hand-coloured one, ~35, does not)."""
    a = np.asarray(rgb, dtype=np.float32)
    return bool(np.abs(a[..., 0] - a[..., 1]).mean() < tol and np.abs(a[..., 0] - a[..., 2]).mean() < tol)


def as_greyscale(rgb: np.ndarray) -> np.ndarray:
    """The ITU-R 601 luma of an RGB photo in all three channels (what PIL's ``convert("L")`` keeps), ``uint8``."""
    from .stats import grey  # noqa: PLC0415

    y = grey(rgb, np.float32)
    return np.repeat(np.clip(y + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def colour_vs_greyscale(scorer, photos) -> pd.DataFrame:
    """Per colour photo: its score, its greyscale copy's score and the gap (largest face). Not a degradation - a
    black-and-white photo can be perfect - so a model without a colour bias keeps the gap near 0."""
    rows = []
    for i, photo in enumerate(photos):
        if is_greyscale(photo):
            continue
        colour, grey = (scorer.assess(x, faces="largest").faces for x in (photo, as_greyscale(photo)))
        if colour and grey:
            rows.append({"photo": i, "colour": colour[0].score, "greyscale": grey[0].score, "gap": colour[0].score - grey[0].score})
    return pd.DataFrame(rows, columns=["photo", "colour", "greyscale", "gap"])
