"""Training MobileFIQA (``core.models.mobile_fiqa``): frozen ImageNet features, a head trained on synthetic
ladders and human ratings, recipes chosen on the rated validation split, a monotone calibration fitted
on the rated training split.

    faceiqa train mobile-fiqa --build BUILD --ratings ratings/real-faces --out w.safetensors [--recipe YAML]

1. Features of every face (the backbone is frozen: what a 2-core CPU can train, and what keeps
   ImageNet's general statistics intact on a few thousand faces) are computed once through the same
   input path as ``faceiqa score --aligned`` and cached (``.npz`` per image list, resumable by chunks).
2. Two views are fitted on features standardised over the rated training faces: a ridge on the rated
   training MOS (people's scale, few faces: a strongly penalised linear map) and, per recipe, an MLP on
   the pseudo-MOS (optionally with ranking within each source face's degradation ladder).
3. Every (recipe, ridge alpha, mix) is scored by :func:`selection_score` - rated validation SRCC counted
   twice, the build's validation people once - and the best is kept; its mixed score is mapped to MOS by
   an isotonic fit on the rated training split, made strictly increasing so ranks survive.

Synthetic rows of people in the rated validation / test splits are dropped, so no rated test face's
identity is seen in training.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..models.checkpoint import save_checkpoint
from ..models.mobile_fiqa import MixHead, MobileFIQA


@dataclass(frozen=True)
class HeadRecipe:
    """One way of training the head (all weights relative; 0 switches a term off)."""

    name: str = "synthetic-mlp"
    epochs: int = 80
    lr: float = 1e-3
    weight_decay: float = 1e-2
    hidden: int = 128
    dropout: float = 0.2
    synthetic_mse: float = 1.0  # regression on the pseudo-MOS
    synthetic_rank: float = 0.0  # pairwise ranking within each source face's ladder (pseudo-MOS order)
    seed: int = 0


@dataclass
class MobileTrainConfig:
    recipes: list[HeadRecipe] = field(default_factory=lambda: [HeadRecipe()])
    alphas: list[float] = field(default_factory=lambda: [1000.0, 3000.0, 10000.0])  # human ridge penalties
    mixes: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])  # weight of the synthetic view
    backbone: str = "mobilenet_v2"
    batch: int = 16  # feature extraction batch
    calibration_knots: int = 32

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> MobileTrainConfig:
        import yaml  # noqa: PLC0415

        raw = yaml.safe_load(Path(path).read_text()) or {}
        if raw.pop("model", "mobile-fiqa") != "mobile-fiqa":
            raise ValueError(f"{path}: not a mobile-fiqa recipe")
        base = raw.pop("base", {})
        recipes = [HeadRecipe(**{**base, **r}) for r in raw.pop("recipes", [{}])]
        return cls(recipes=recipes, **raw)


# ----------------------------------------------------------------------------- features
def _batch_for(scorer, path: str) -> dict[str, torch.Tensor] | None:
    """The exact input ``faceiqa score --aligned`` gives the model for this aligned crop (None: unreadable)."""
    from ..api import prepare_faces  # noqa: PLC0415
    from ..errors import FaceIQAError  # noqa: PLC0415

    try:
        rgb, faces = scorer.detect(path, aligned=True)
    except FaceIQAError:
        return None
    return prepare_faces(rgb, faces, scorer.model)[0]


@torch.inference_mode()
def extract_features(model: MobileFIQA, paths: list[str], cache: str | os.PathLike | None = None,
                     batch: int = 16, progress: bool = True) -> np.ndarray:
    """(N, feature_dim) float32 features of aligned crops (NaN rows: unreadable). With ``cache``, finished chunks
    are kept in ``cache`` (an ``.npz`` keyed by the path list and the backbone) and a rerun resumes."""
    from tqdm.auto import tqdm  # noqa: PLC0415

    from ..api import Scorer  # noqa: PLC0415
    from ..faces import FaceDetector  # noqa: PLC0415

    key = hashlib.sha256(json.dumps([model.cfg.backbone, model.cfg.backbone_size, list(paths)]).encode()).hexdigest()[:16]
    feats = np.full((len(paths), model.feature_dim), np.nan, np.float32)
    done = np.zeros(len(paths), bool)
    cache = Path(cache) if cache else None
    if cache and cache.is_file():
        with np.load(cache) as z:
            if str(z["key"]) == key:
                feats, done = z["feats"], z["done"]
    scorer = Scorer(model.eval(), detector=FaceDetector())
    todo = np.flatnonzero(~done)
    bar = tqdm(total=len(todo), desc="features", disable=not progress)
    for start in range(0, len(todo), batch):
        idx = todo[start : start + batch]
        inputs = [(i, _batch_for(scorer, paths[i])) for i in idx]
        ok = [(i, b) for i, b in inputs if b is not None]
        if ok:
            x = torch.cat([b["aligned"] for _, b in ok])
            feats[[i for i, _ in ok]] = model.features(x.to(model.device)).float().cpu().numpy()
        done[idx] = True
        bar.update(len(idx))
        if cache and (start // batch) % 20 == 19 or cache and start + batch >= len(todo):
            tmp = cache.with_name(cache.name + ".tmp.npz")
            np.savez(tmp, key=key, feats=feats, done=done)
            os.replace(tmp, cache)
    bar.close()
    return feats


# ----------------------------------------------------------------------------- head
def _pair_loss(pred: torch.Tensor, target: torch.Tensor, same: torch.Tensor | None, min_gap: float = 0.02,
               margin: float = 0.02) -> torch.Tensor:
    """Hinge on every ordered pair whose targets differ by more than ``min_gap`` (within groups when ``same``)."""
    d_t = target[:, None] - target[None, :]
    mask = d_t > min_gap
    if same is not None:
        mask &= same
    if not mask.any():
        return pred.sum() * 0
    d_p = pred[:, None] - pred[None, :]
    return F.relu(margin - d_p[mask]).mean()


def train_synthetic(head: torch.nn.Module, recipe: HeadRecipe, z: np.ndarray, y: np.ndarray, group: np.ndarray) -> None:
    """Fit ``head`` (standardised features -> score) to pseudo-MOS: regression plus ranking within each source
    face's ladder, ladders kept whole in each batch of 32 sources."""
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    head.train()
    opt = torch.optim.AdamW(head.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    zx, zy, g_all = torch.from_numpy(z.astype(np.float32)), torch.from_numpy(y.astype(np.float32)), torch.from_numpy(group)
    groups = [np.flatnonzero(group == g) for g in np.unique(group)]
    steps = max(1, len(groups) // 32)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, recipe.lr, total_steps=recipe.epochs * steps)
    for _ in range(recipe.epochs):
        order = rng.permutation(len(groups))
        for s in range(steps):
            idx = torch.from_numpy(np.concatenate([groups[i] for i in order[s * 32 : (s + 1) * 32]]))
            p = head(zx[idx]).squeeze(1)
            g = g_all[idx]
            loss = recipe.synthetic_mse * F.smooth_l1_loss(p, zy[idx], beta=0.1)
            if recipe.synthetic_rank:
                loss = loss + recipe.synthetic_rank * _pair_loss(p, zy[idx], g[:, None] == g[None, :])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    head.eval()


def fit_human(linear: torch.nn.Linear, z: np.ndarray, y: np.ndarray, alpha: float) -> None:
    """Closed-form ridge of the rated MOS on standardised features into ``linear``."""
    from sklearn.linear_model import Ridge  # noqa: PLC0415

    r = Ridge(alpha=alpha).fit(z, y)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(r.coef_.astype(np.float32))[None])
        linear.bias.fill_(float(r.intercept_))


def fit_calibration(model: MobileFIQA, raw: np.ndarray, mos: np.ndarray) -> dict:
    """Store a monotone raw -> MOS map fitted on (raw, mos): isotonic regression sampled on a grid over the raw
    range, made strictly increasing (1e-3 per knot) so faces the head ranks apart never get the same score."""
    from sklearn.isotonic import IsotonicRegression  # noqa: PLC0415

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, mos)
    k = len(model.cal_x)
    lo, hi = np.percentile(raw, [0.5, 99.5])
    span = hi - lo
    xs = np.linspace(lo - 0.25 * span, hi + 0.25 * span, k)  # a margin beyond the rated range keeps extremes apart
    ys = iso.predict(xs) + np.linspace(-0.5, 0.5, k) * 1e-3 * k
    ys = np.clip(np.maximum.accumulate(ys), 0.0, 1.0)
    model.cal_x.copy_(torch.from_numpy(xs.astype(np.float32)))
    model.cal_y.copy_(torch.from_numpy(ys.astype(np.float32)))
    return {"knots": k, "raw_range": [float(lo), float(hi)]}


def rated_identities(rated: pd.DataFrame, splits=("val", "test")) -> set[str]:
    """Identity keys of rated faces in ``splits`` as synthetic builds name them (LFW folder; file stem otherwise)."""
    keep = rated[rated["split"].isin(splits)]
    out = set(keep["identity"].astype(str))
    out |= {Path(s).parent.name if "lfw/" in s else Path(s).stem for s in keep["source"].astype(str)}
    return out


def selection_score(rated_val: float, synthetic_val: float) -> float:
    """People first: rated-validation SRCC counts double the synthetic-validation SRCC."""
    return (2.0 * rated_val + synthetic_val) / 3.0


def train_mobile(build: pd.DataFrame, rated: pd.DataFrame, out: str | os.PathLike, cfg: MobileTrainConfig,
                 work: str | os.PathLike, progress: bool = True) -> dict:
    """Train MobileFIQA's head on cached frozen features, choose its settings on validation data, calibrate on the rated
    training split and save to ``out`` (safetensors + JSON, the report in ``extra``; ``.selection.csv`` beside it).

    ``build``: ``faceiqa data build`` labels (absolute ``image``, ``mos``, ``identity``, ``source``, ``split``; its
    ``val`` people are the synthetic validation); ``rated``: ``faceiqa rate export`` (``image``, ``mos``, ``split``).
    Candidates: every recipe's synthetic head x every ridge ``alphas`` x every ``mixes``; the winner maximises
    :func:`selection_score`."""
    from ..analysis.metrics import srcc  # noqa: PLC0415

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    model = MobileFIQA(pretrained=True, backbone=cfg.backbone, calibration_knots=cfg.calibration_knots)
    model.eval()
    syn_x = extract_features(model, build["image"].tolist(), work / "features_build.npz", cfg.batch, progress)
    rat_x = extract_features(model, rated["image"].tolist(), work / "features_rated.npz", cfg.batch, progress)
    keep = ~build["identity"].astype(str).isin(rated_identities(rated)).to_numpy()
    ok = ~np.isnan(syn_x).any(1) & keep
    syn_x, build = syn_x[ok], build[ok].reset_index(drop=True)
    syn_y = build["mos"].to_numpy(np.float32)
    syn_group = pd.factorize(build["source"].astype(str))[0].astype(np.int64)
    syn_val = (build["split"] == "val").to_numpy() if "split" in build else np.zeros(len(build), bool)
    split = rated["split"].to_numpy()
    good = ~np.isnan(rat_x).any(1)
    tr, va, te = ((split == s) & good for s in ("train", "val", "test"))
    hum_y = rated["mos"].to_numpy(np.float32)
    # standardise on the rated training faces: the human ridge's penalty then treats every feature alike
    model.feat_mean.copy_(torch.from_numpy(rat_x[tr].mean(0)))
    model.feat_std.copy_(torch.from_numpy(rat_x[tr].std(0) + 1e-6))
    z = lambda x: model.standardise(torch.from_numpy(x)).numpy()  # noqa: E731
    z_syn, z_rat = z(syn_x), z(rat_x)

    def outputs(head, zx):
        with torch.inference_mode():
            return head.human(torch.from_numpy(zx)).squeeze(1).numpy(), head.synthetic(torch.from_numpy(zx)).squeeze(1).numpy()

    rows, best = [], None
    for recipe in cfg.recipes:
        head = MixHead(model.feature_dim, recipe.hidden, recipe.dropout)
        train_synthetic(head.synthetic, recipe, z_syn[~syn_val], syn_y[~syn_val], syn_group[~syn_val])
        for alpha in cfg.alphas:
            fit_human(head.human, z_rat[tr], hum_y[tr], alpha)
            h_tr, s_tr = outputs(head, z_rat[tr])
            head.scale.copy_(torch.tensor([h_tr.mean(), h_tr.std() + 1e-8, s_tr.mean(), s_tr.std() + 1e-8]))
            with torch.inference_mode():
                h_r, s_r = (v.numpy() for v in head.parts(torch.from_numpy(z_rat)))
                h_s, s_s = (v.numpy() for v in head.parts(torch.from_numpy(z_syn[syn_val])))
            for mix in cfg.mixes:
                row = {"recipe": recipe.name, "alpha": alpha, "mix": mix,
                       "rated_val_srcc": srcc(h_r[va] + mix * s_r[va], hum_y[va]),
                       "synthetic_val_srcc": srcc(h_s + mix * s_s, syn_y[syn_val]) if syn_val.any() else float("nan")}
                row["score"] = selection_score(row["rated_val_srcc"], row["synthetic_val_srcc"])
                rows.append(row)
                if best is None or row["score"] > best[0]["score"]:
                    best = (row, recipe, {k: v.clone() for k, v in head.state_dict().items()}, mix)
    row, recipe, state, mix = best
    model.head = MixHead(model.feature_dim, recipe.hidden, recipe.dropout)
    model.head.load_state_dict(state)
    model.head.mix.fill_(mix)
    model.config.update(hidden=recipe.hidden, dropout=recipe.dropout)
    model.eval()
    raw = lambda m: _head_raw(model, rat_x[m])  # noqa: E731
    cal = fit_calibration(model, raw(tr), hum_y[tr])
    report = {"selected": {**asdict(recipe), "alpha": row["alpha"], "mix": mix}, "selection_row": row,
              "calibration": cal, "excluded_synthetic_rows": int((~keep).sum()),
              "n": {"synthetic": int(len(syn_x)), "rated_train": int(tr.sum()), "rated_val": int(va.sum())}}
    if te.any():
        score = model.calibrate(torch.from_numpy(raw(te))).numpy()
        report["rated_test"] = {"n": int(te.sum()), "srcc": srcc(score, hum_y[te])}
    save_checkpoint(model, out, extra=report)
    pd.DataFrame(rows).to_csv(Path(out).with_suffix(".selection.csv"), index=False)
    return report


def _head_raw(model: MobileFIQA, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model.head_score(torch.from_numpy(x)).numpy()
