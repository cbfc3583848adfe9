"""Human opinion: a rating store, MOS with confidence intervals, pairwise JOD scaling, rated splits.

A *rating set* is a folder:

* ``items.csv`` - one row per face to rate: ``item`` (stable id), ``source`` (image path relative to the data
  root), ``face`` (detection index), ``dataset``, ``identity``, ``eye_px`` (inter-ocular distance in the source
  pixels, NaN for an already aligned crop), ``split``. Committed; the images are not (they stay in the data root).
* ``faces/<item>.png`` - the GFIQA-aligned 512 crop the rater sees and a model scores, rebuilt from ``items.csv``
  by :func:`materialise` (a cache, not committed).
* ``ratings.jsonl`` - append-only; one JSON record per judgement, fsynced, a torn last line ignored and repaired on
  the next write. A judgement is ``absolute`` (1..5 on GFIQA's Bad / Poor / Fair / Good / Excellent, half steps
  allowed) or ``pair`` (``winner`` of ``item`` vs ``other``). Records carry ``rater``, ``pass`` (1 = first look,
  2 = repeat for test-retest) and a ``key``; re-recording the same key replaces the earlier judgement, so
  re-submitting a sheet never double counts.

An absolute rating r maps onto the 0..1 MOS at its category's bin centre, ``(r - 0.5) / 5`` (Bad -> 0.1,
Excellent -> 0.9), so a face people call Bad lands in :func:`core.api.category`'s Bad bin.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import FaceIQAError

CATEGORY_SCALE = {1: "Bad", 2: "Poor", 3: "Fair", 4: "Good", 5: "Excellent"}
ITEM_COLUMNS = ["item", "source", "face", "dataset", "identity", "eye_px", "split"]


class RatingError(FaceIQAError, ValueError):
    """A rating that cannot be recorded (out of range, unknown item, malformed sheet answer)."""


def rating_to_mos(r) -> np.ndarray:
    """Absolute rating 1..5 -> 0..1 MOS at the category's bin centre."""
    return (np.asarray(r, float) - 0.5) / 5.0


def item_id(source: str, face: int = 0) -> str:
    """Stable short id of one face of one image (12 hex digits of sha1 of ``source#face``)."""
    return hashlib.sha1(f"{source}#{face}".encode()).hexdigest()[:12]


# ----------------------------------------------------------------------------- store
class RatingStore:
    """``ratings.jsonl`` of one rating set: atomic appends, torn tails repaired, latest judgement per key wins."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.path = self.root / "ratings.jsonl"

    def _repair(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):  # a write killed mid-line: drop the partial record
            cut = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as f:
                f.truncate(cut)
                f.flush()
                os.fsync(f.fileno())

    def add(self, records: Iterable[dict]) -> int:
        """Append judgements (validated); returns how many were written."""
        lines = []
        for r in records:
            r = dict(r)
            kind = r.get("kind", "absolute")
            if not r.get("rater") or not r.get("item"):
                raise RatingError(f"a rating needs a rater and an item: {r}")
            if kind == "absolute":
                v = float(r["rating"])
                if not (1.0 <= v <= 5.0) or (v * 2) % 1:
                    raise RatingError(f"rating must be 1..5 in half steps (1 Bad .. 5 Excellent), got {r['rating']!r}")
                r["rating"] = v
            elif kind == "pair":
                if r.get("winner") not in (r["item"], r.get("other")) or r["item"] == r.get("other"):
                    raise RatingError(f"a pair judgement needs two different items and the winner among them: {r}")
            else:
                raise RatingError(f"unknown judgement kind {kind!r} (absolute or pair)")
            r.setdefault("pass", 1)
            r.setdefault("time", time.time())
            r.setdefault("key", f"{r['rater']}|{kind}|{r['item']}|{r.get('other', '')}|{r['pass']}")
            r["kind"] = kind
            lines.append(json.dumps(r, sort_keys=True))
        if not lines:
            return 0
        self.root.mkdir(parents=True, exist_ok=True)
        self._repair()
        with open(self.path, "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return len(lines)

    def load(self, kind: str | None = "absolute") -> pd.DataFrame:
        """Every current judgement (the latest per key) as a table; ``kind=None`` for all kinds."""
        rows = []
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:  # torn tail of a killed write
                    continue
        df = pd.DataFrame(rows)
        if df.empty:
            return pd.DataFrame(columns=["rater", "item", "kind", "rating", "pass", "time", "key"])
        df = df.drop_duplicates("key", keep="last").reset_index(drop=True)
        return df if kind is None else df[df["kind"] == kind].reset_index(drop=True)


# ----------------------------------------------------------------------------- aggregation
def mos_table(ratings: pd.DataFrame, passes: Sequence[int] = (1, 2)) -> pd.DataFrame:
    """Per item: ``mos`` (0..1), ``mos_rating`` (1..5 mean), ``n``, ``ci95`` (half-width of the 95 % t interval
    on the 0..1 scale; NaN with one judgement) over every rater and the given passes."""
    from scipy import stats  # noqa: PLC0415

    r = ratings[ratings["pass"].isin(passes)]
    g = r.groupby("item")["rating"]
    out = pd.DataFrame({"mos_rating": g.mean(), "n": g.size(), "sd": g.std(ddof=1)})
    out["mos"] = rating_to_mos(out["mos_rating"])
    t = stats.t.ppf(0.975, np.maximum(out["n"] - 1, 1))
    out["ci95"] = np.where(out["n"] > 1, t * out["sd"] / np.sqrt(out["n"]) / 5.0, np.nan)
    return out.drop(columns="sd").reset_index()


def test_retest(ratings: pd.DataFrame, rater: str | None = None) -> dict:
    """Agreement of a rater's second look with the first on the items rated twice: SRCC, PLCC,
    mean |difference| (rating steps) and the share within half a category step."""
    from scipy import stats  # noqa: PLC0415

    r = ratings if rater is None else ratings[ratings["rater"] == rater]
    wide = r.pivot_table(index=["rater", "item"], columns="pass", values="rating", aggfunc="mean").dropna()
    if 1 not in wide.columns or 2 not in wide.columns or len(wide) < 3:
        return {"n": int(len(wide)), "srcc": float("nan"), "plcc": float("nan"), "mad": float("nan"), "within_half": float("nan")}
    a, b = wide[1].to_numpy(), wide[2].to_numpy()
    return {"n": int(len(wide)), "srcc": float(stats.spearmanr(a, b)[0]), "plcc": float(stats.pearsonr(a, b)[0]),
            "mad": float(np.abs(a - b).mean()), "within_half": float((np.abs(a - b) <= 0.5).mean())}


def jod_scale(pairs: pd.DataFrame, prior: float = 0.1) -> pd.Series:
    """Thurstone Case V scaling of pairwise preferences in JOD units (as pwcmp / PIQ23): 1 JOD = 75 % of
    judgements prefer one image. MAP estimate with a weak Gaussian prior (``prior``) that keeps images
    that always win or lose finite; the mean is pinned to 0. Index: item id."""
    from scipy import optimize, stats  # noqa: PLC0415

    items = sorted(set(pairs["item"]) | set(pairs["other"]))
    idx = {k: i for i, k in enumerate(items)}
    win = np.array([idx[w] for w in pairs["winner"]])
    lose = np.array([idx[o if w == i else i] for i, o, w in zip(pairs["item"], pairs["other"], pairs["winner"])])
    sigma = 1.0 / stats.norm.ppf(0.75)  # a 1-JOD difference -> P(win) = 0.75

    def nll(q):
        d = (q[win] - q[lose]) / sigma
        p = stats.norm.logcdf(d)
        pdf_ratio = np.exp(stats.norm.logpdf(d) - p)
        grad = np.zeros_like(q)
        np.add.at(grad, win, -pdf_ratio / sigma)
        np.add.at(grad, lose, pdf_ratio / sigma)
        return -p.sum() + 0.5 * prior * (q ** 2).sum(), grad + prior * q

    res = optimize.minimize(nll, np.zeros(len(items)), jac=True, method="L-BFGS-B")
    q = res.x - res.x.mean()
    return pd.Series(q, index=items, name="jod")


# ----------------------------------------------------------------------------- items and splits
def split_items(items: pd.DataFrame, ratios=(0.5, 0.15, 0.35), seed: int = 0, real: str = "real") -> pd.Series:
    """Identity-disjoint train / val / test split; the real degraded faces (``dataset`` starting with
    ``real``) are split separately so that at least half of them are in test."""
    rng = np.random.default_rng(seed)
    split = pd.Series("train", index=items.index)
    for is_real in (True, False):
        sub = items[items["dataset"].astype(str).str.startswith(real) == is_real]
        ids = sorted(sub["identity"].astype(str).unique())
        rng.shuffle(ids)
        r = (0.3, 0.15, 0.55) if is_real else ratios
        n_tr, n_va = int(round(r[0] * len(ids))), int(round(r[1] * len(ids)))
        part = {k: "train" for k in ids[:n_tr]} | {k: "val" for k in ids[n_tr:n_tr + n_va]} | {k: "test" for k in ids[n_tr + n_va:]}
        split[sub.index] = sub["identity"].astype(str).map(part)
    return split


def read_items(root: str | os.PathLike) -> pd.DataFrame:
    path = Path(root) / "items.csv"
    if not path.is_file():
        raise RatingError(f"{path}: no items table (make one with `faceiqa rate items`)")
    return pd.read_csv(path, keep_default_na=True)


def materialise(root: str | os.PathLike, data_root: str | os.PathLike, items: pd.DataFrame | None = None,
                progress: bool = True) -> dict[str, Path]:
    """The 512 GFIQA-aligned crop of every item under ``root/faces/`` (made once, then reused): item -> path.
    Already aligned sources (``eye_px`` NaN) are resized to 512; others are detected (dlib, robust fallback) and
    the ``face``-th face (largest first) aligned."""
    from PIL import Image  # noqa: PLC0415
    from tqdm.auto import tqdm  # noqa: PLC0415

    from ..faces import FaceDetector  # noqa: PLC0415
    from ..faces.align import align_gfiqa  # noqa: PLC0415
    from ..io import load_image  # noqa: PLC0415

    items = read_items(root) if items is None else items
    out = Path(root) / "faces"
    out.mkdir(parents=True, exist_ok=True)
    det, paths = None, {}
    for row in tqdm(items.itertuples(), total=len(items), desc="face crops", disable=not progress):
        p = out / f"{row.item}.png"
        paths[row.item] = p
        if p.exists():
            continue
        img = load_image(Path(data_root) / row.source)
        if not np.isfinite(row.eye_px):
            crop = np.asarray(Image.fromarray(img).resize((512, 512), Image.BICUBIC)) if img.shape[:2] != (512, 512) else img
        else:
            det = det or FaceDetector(fallback="robust")
            faces = det.detect(img)
            if len(faces) <= int(row.face):
                raise RatingError(f"{row.source}: face {row.face} not found any more (found {len(faces)})")
            crop = align_gfiqa(img, faces[int(row.face)]).image
        tmp = p.with_suffix(".tmp.png")
        Image.fromarray(crop).save(tmp)
        os.replace(tmp, p)
    return paths


def build_items(sources: Sequence[tuple[str, str, bool]], data_root: str | os.PathLike, out: str | os.PathLike,
                identity_of=None, min_eye_px: float = 10.0) -> pd.DataFrame:
    """Items table from ``(source path relative to data_root, dataset name, already_aligned)``: the largest
    face of each photo (skipped when none is found or its eyes are under ``min_eye_px`` apart). Writes
    ``out/items.csv`` with an identity-disjoint split."""
    from ..faces import FaceDetector  # noqa: PLC0415
    from ..io import load_image  # noqa: PLC0415

    det, rows = FaceDetector(fallback="robust"), []
    for src, dataset, aligned in sources:
        ident = identity_of(src, dataset) if identity_of else src
        if aligned:
            eye = float("nan")
        else:
            faces = det.detect(load_image(Path(data_root) / src))
            if not faces:
                continue
            left, right = faces[0].eye_centres
            eye = float(np.hypot(*(np.asarray(right) - np.asarray(left))))
            if eye < min_eye_px:
                continue
        rows.append({"item": item_id(src, 0), "source": src, "face": 0, "dataset": dataset, "identity": ident, "eye_px": eye})
    items = pd.DataFrame(rows, columns=ITEM_COLUMNS[:-1])
    items["split"] = split_items(items)
    Path(out).mkdir(parents=True, exist_ok=True)
    items.to_csv(Path(out) / "items.csv", index=False)
    return items


def labels(root: str | os.PathLike, data_root: str | os.PathLike | None = None, passes: Sequence[int] = (1,)) -> pd.DataFrame:
    """The rated labels table ``faceiqa train / evaluate / compare`` read: ``image`` (the aligned crop), ``mos``,
    ``ci95``, ``n``, ``split`` and the item's metadata; items nobody rated are left out. With ``data_root`` the
    crops are made when missing."""
    root = Path(root)
    items = read_items(root)
    ratings = RatingStore(root).load()
    mos = mos_table(ratings, passes=passes)
    df = items.merge(mos, on="item", how="inner")
    if data_root is not None:
        materialise(root, data_root, df, progress=False)
    df.insert(0, "image", [str((root / "faces" / f"{i}.png").resolve()) for i in df["item"]])
    return df


# ----------------------------------------------------------------------------- contact sheets (terminal raters)
def next_sheet(root: str | os.PathLike, rater: str, per_sheet: int = 12, pass_: int = 1, retest: int = 60,
               seed: int = 0) -> list[str]:
    """The next ``per_sheet`` items this rater has not judged in this pass, in a random order fixed by the
    rater and seed. Pass 2 draws from a fixed random subset of ``retest`` items the rater judged in pass 1."""
    items = read_items(root)
    done = RatingStore(root).load()
    done = done[done["rater"] == rater]
    rng = np.random.default_rng([seed, int(hashlib.sha1(rater.encode()).hexdigest()[:8], 16), pass_])
    pool = items["item"].tolist()
    if pass_ == 2:
        first = set(done.loc[done["pass"] == 1, "item"])
        pool = [i for i in pool if i in first]
        pool = sorted(np.random.default_rng([seed, 2]).permutation(pool)[:retest].tolist())
    order = rng.permutation(pool).tolist()
    seen = set(done.loc[done["pass"] == pass_, "item"])
    return [i for i in order if i not in seen][:per_sheet]


def contact_sheet(paths: Sequence[Path], tile: int = 320, cols: int = 4) -> np.ndarray:
    """A numbered grid of face crops (1..N, top-left to bottom-right) as an RGB array."""
    from PIL import Image, ImageDraw  # noqa: PLC0415

    rows = (len(paths) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * tile, rows * (tile + 28)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for k, p in enumerate(paths):
        im = Image.open(p).convert("RGB").resize((tile, tile), Image.LANCZOS)
        x, y = (k % cols) * tile, (k // cols) * (tile + 28)
        sheet.paste(im, (x, y + 28))
        draw.text((x + 6, y + 6), str(k + 1), fill=(0, 0, 0), font_size=20)
    return np.asarray(sheet)


def parse_answers(text: str, n: int) -> list[float]:
    """``"4 3.5 2 ..."`` or ``"1:4 2:3.5 ..."`` -> n ratings in slot order."""
    toks = text.replace(",", " ").split()
    if toks and all(":" in t for t in toks):
        got = {int(a): float(b) for a, b in (t.split(":", 1) for t in toks)}
        if sorted(got) != list(range(1, n + 1)):
            raise RatingError(f"answers name slots {sorted(got)}, the sheet has 1..{n}")
        return [got[k] for k in range(1, n + 1)]
    try:
        vals = [float(t) for t in toks]
    except ValueError as e:
        raise RatingError(f"answers must be numbers 1..5: {e}") from None
    if len(vals) != n:
        raise RatingError(f"{len(vals)} answers for a sheet of {n} faces")
    return vals
