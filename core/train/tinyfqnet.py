"""Training tinyFQnet on recognition-oriented labels (seed 004, sections III-C to III-E).

Input: the table of :func:`core.data.recognition_labels.build_recognition_labels` (64x64 ArcFace crops
and Eq. 1 labels). Training set resampled by :func:`core.data.recognition_labels.smooth_sample`; L2 loss
(Eq. 2); SGD, lr 0.01 x0.1 every 5 epochs, 17 epochs, weight decay 1e-4 (the ``paper``
preset). Horizontal flips only: every other change of the pixels would change the label.
With dlib features the cosines are compressed (LFW: 0.85..0.99, std 0.02), which starves the
L2 gradient; by default the labels are mapped linearly from the training set's 1st..99th
percentile to 0..1 (monotone, so every rank metric is unchanged; the range is stored in the
checkpoint card).
Optional stages on :func:`core.data.recognition_labels.build_damage_pairs`' (clean, damaged) crops: damage
pre-training (``pretrain_epochs``: the same network as a clean-vs-damaged classifier first) and a
ranking hinge during the regression (``rank_weight``); the shipped run uses both (JPEG q8 ranked
for 90 % of held-out photos instead of 42.5 %, val SRCC 0.575 instead of 0.495).
Best epoch on validation SRCC is kept; an interrupted run resumes from ``last.*`` (and skips a
finished pre-training, ``pretrained.safetensors``).
"""
from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..analysis.metrics import plcc, srcc
from ..data.recognition_labels import decode_crop, smooth_sample
from ..models.checkpoint import save_checkpoint
from ..models.tinyfqnet import TinyFQNetQuality
from ..tensors import luma
from .state import resume_state, run_settings, save_state


@dataclass
class TinyFQTrainConfig:
    epochs: int = 17
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    step_epochs: int = 5
    gamma: float = 0.1
    batch: int = 128
    smooth_sampling: bool = True
    label_range: str = "percentile"  # "percentile": map the train labels' 1st..99th percentile to 0..1; "raw": cos as is
    pair_weight: float = 0.0  # weight of the within-photo contrast loss (0 = Eq. 2 alone, the paper)
    rank_weight: float = 0.0  # weight of the heavy-damage ranking hinge (needs ``damage_pairs``; 0 = off)
    rank_margin: float = 0.1  # the clean crop must score this much above its heavily damaged copy
    pretrain_epochs: int = 0  # epochs of damage pre-training (clean vs damaged, BCE, constant lr) before Eq. 2; needs ``damage_pairs``
    #: share of training crops shown in greyscale (label kept: dlib's embedding of a greyscale copy keeps cos 0.993 to
    #: the colour one's, ~0.06 on the label scale); pairs go grey together. 0 = colour only (the paper)
    grey_prob: float = 0.0
    seed: int = 0
    device: str = "auto"


PRESETS = {
    "paper": TinyFQTrainConfig(),
    "lite": TinyFQTrainConfig(batch=64),  # the network is tiny: the paper schedule already fits a CPU
    "smoke": TinyFQTrainConfig(epochs=6, step_epochs=6, batch=32, lr=0.05),
}


def crops_tensor(table: pd.DataFrame, column: str = "crop") -> torch.Tensor:
    arr = np.stack([decode_crop(b) for b in table[column]])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()  # uint8 (N, 3, 64, 64)


def damage_tensors(pairs: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, 3, 64, 64) clean and damaged crops of :func:`core.data.recognition_labels.build_damage_pairs`' table."""
    return crops_tensor(pairs, "clean"), crops_tensor(pairs, "damaged")


def photo_siblings(paths: np.ndarray) -> np.ndarray:
    """(N, k) row indices of other copies of each row's photo (k = the most copies of any photo, minus one).

    Rows of a photo with fewer copies repeat them; a photo with a single row points at itself.
    """
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(paths):
        groups.setdefault(str(p), []).append(i)
    k = max(1, max(len(v) for v in groups.values()) - 1)
    out = np.empty((len(paths), k), np.int64)
    for rows in groups.values():
        for i in rows:
            others = [j for j in rows if j != i] or [i]
            out[i] = np.resize(others, k)
    return out


def pair_contrast_loss(pred: torch.Tensor, pred_sibling: torch.Tensor, y: torch.Tensor, y_sibling: torch.Tensor) -> torch.Tensor:
    """L2 between the predicted and the labelled difference of two copies of one photo.

    Whatever the photo's own level (identity, pose, lighting: the bulk of Eq. 1's spread), only
    the damage that separates the copies is left to explain.
    """
    return torch.mean(((pred - pred_sibling) - (y - y_sibling)) ** 2)


def damage_rank_loss(pred_clean: torch.Tensor, pred_damaged: torch.Tensor, margin: float) -> torch.Tensor:
    """Hinge: a clean crop should score ``margin`` above its heavily damaged copy (zero once it does)."""
    return torch.relu(margin - (pred_clean - pred_damaged)).mean()


def flipped(x_uint8: torch.Tensor, flip: torch.Tensor, device, grey: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 crops -> float [0, 1] on ``device``, mirrored where ``flip`` (bool, (B,)) is set and in greyscale (ITU-R
    601 luma in every channel) where ``grey`` is."""
    x = x_uint8.to(device).float() / 255.0
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if grey is not None:
        x = torch.where(grey[:, None, None, None], luma(x).expand_as(x), x)
    return x


def pretrain_on_damage(model: TinyFQNetQuality, pairs: tuple[torch.Tensor, torch.Tensor], cfg: TinyFQTrainConfig,
                       device: str, progress: bool = True) -> list[float]:
    """Damage pre-training: the same network as a clean-vs-damaged classifier on the damage pairs.

    BCE on the logit (clean = 1, its damaged copy = 0), both halves in one forward, SGD at a
    constant ``cfg.lr`` for ``cfg.pretrain_epochs`` passes over the pairs, random flips. Eq. 1's
    labels alone never teach the 64-px network JPEG blocking (a ~5 % share of the rows; measured:
    the shipped model's JPEG q5 copies of its own training photos score 0.002 *above* the clean
    ones), while this objective does (experiments/tinyfqnet_jpeg_probe.py: 93 % of held-out JPEG
    q8 pairs) and the regression started from it keeps it (98 % of heavy-JPEG training copies
    ranked, experiments/tinyfqnet_fit.py). Returns the mean loss per epoch.
    """
    from tqdm.auto import tqdm  # noqa: PLC0415

    net = model.net
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    g = np.random.default_rng(cfg.seed + 10_000)
    half = max(1, cfg.batch // 2)
    losses = []
    for epoch in range(cfg.pretrain_epochs):
        net.train()
        order, run = g.permutation(len(pairs[0])), []
        for s in tqdm(range(0, len(order), half), desc=f"damage pre-training {epoch + 1}/{cfg.pretrain_epochs}",
                      disable=not progress, leave=False):
            r = order[s : s + half]
            flip = torch.from_numpy(g.random(len(r)) < 0.5).to(device).repeat(2)
            grey = torch.from_numpy(g.random(len(r)) < cfg.grey_prob).to(device).repeat(2) if cfg.grey_prob > 0 else None
            x = flipped(torch.cat([pairs[0][r], pairs[1][r]]), flip, device, grey)
            y = torch.cat([torch.ones(len(r)), torch.zeros(len(r))]).to(device)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net.logit(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.append(loss.item())
        losses.append(float(np.mean(run)))
    return losses


def _pretrained(model: TinyFQNetQuality, pairs, cfg: TinyFQTrainConfig, out: Path, device: str, progress: bool) -> None:
    """Load ``out/pretrained.safetensors`` or run :func:`pretrain_on_damage` and write it (resume skips the stage)."""
    from safetensors.torch import load_file, save_file  # noqa: PLC0415

    path = out / "pretrained.safetensors"
    if path.is_file():
        from safetensors import safe_open  # noqa: PLC0415

        with safe_open(os.fspath(path), "pt") as f:
            info = f.metadata() or {}
        losses = info.get("bce_per_epoch") or ""
        passes = len(losses.split(",")) if losses else 0
        grey = float(info.get("grey_prob", 0.0))
        if passes != cfg.pretrain_epochs or grey != cfg.grey_prob:
            from ..errors import FaceIQAError  # noqa: PLC0415

            raise FaceIQAError(f"{path} holds {passes} damage pre-training passes with grey_prob={grey}, this run asks for "
                               f"{cfg.pretrain_epochs} with grey_prob={cfg.grey_prob}: use another --out or delete it")
        model.load_state_dict(load_file(os.fspath(path)))
        model.to(device)
        return
    losses = pretrain_on_damage(model, pairs, cfg, device, progress)
    tmp = out / "pretrained.safetensors.tmp"
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, os.fspath(tmp),
              metadata={"bce_per_epoch": ",".join(f"{v:.5f}" for v in losses), "grey_prob": str(cfg.grey_prob)})
    os.replace(tmp, path)


@torch.no_grad()
def predict(model: TinyFQNetQuality, x_uint8: torch.Tensor, batch: int = 512) -> np.ndarray:
    model.eval()
    dev = next(model.parameters()).device
    out = [model({"aligned": x_uint8[i : i + batch].to(dev).float() / 255.0}).cpu() for i in range(0, len(x_uint8), batch)]
    return torch.cat(out).numpy()


def train_tinyfqnet(train: pd.DataFrame, val: pd.DataFrame, out_dir: str | os.PathLike, cfg: TinyFQTrainConfig | None = None,
                    progress: bool = True, damage_pairs: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[TinyFQNetQuality, pd.DataFrame]:
    """Train, log ``metrics.csv``, write ``tinyfqnet.safetensors`` (best val SRCC) under ``out_dir``."""
    from tqdm.auto import tqdm  # noqa: PLC0415

    cfg = cfg or TinyFQTrainConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    torch.manual_seed(cfg.seed)
    model = TinyFQNetQuality().to(device)
    if cfg.pretrain_epochs > 0:
        if damage_pairs is None:
            raise ValueError("pretrain_epochs > 0 needs damage_pairs (core.data.recognition_labels.build_damage_pairs)")
        _pretrained(model, damage_pairs, cfg, out, device, progress)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, cfg.step_epochs, cfg.gamma)

    raw_tr = train["quality"].to_numpy()
    lo, hi = (np.percentile(raw_tr, 1), np.percentile(raw_tr, 99)) if cfg.label_range == "percentile" else (0.0, 1.0)
    scale = lambda q: np.clip((np.asarray(q) - lo) / max(hi - lo, 1e-6), 0, 1)  # noqa: E731 - monotone: ranks unchanged
    x_tr, y_tr = crops_tensor(train), torch.tensor(scale(raw_tr), dtype=torch.float32)
    x_va, y_va = crops_tensor(val), scale(val["quality"].to_numpy())
    idx = smooth_sample(y_tr.numpy(), seed=cfg.seed) if cfg.smooth_sampling else np.arange(len(y_tr))
    siblings = photo_siblings(train["path"].to_numpy()) if cfg.pair_weight > 0 else None

    meta = resume_state(out, model, opt, sched, run_settings(cfg, train=train, val=val))
    history = meta["history"]
    for epoch in range(meta["epoch"], cfg.epochs):
        model.train()
        g = np.random.default_rng(cfg.seed + epoch)
        order = g.permutation(idx)
        losses = []
        for s in tqdm(range(0, len(order), cfg.batch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False):
            b = order[s : s + cfg.batch]
            flip = torch.from_numpy(g.random(len(b)) < 0.5).to(device)
            grey = torch.from_numpy(g.random(len(b)) < cfg.grey_prob).to(device) if cfg.grey_prob > 0 else None

            def images(crops: torch.Tensor, rows: np.ndarray) -> torch.Tensor:  # this step's flips and greyscale rows
                return flipped(crops[rows], flip, device, grey)  # noqa: B023  (called in this iteration)

            pred_b, y_b = model({"aligned": images(x_tr, b)}), y_tr[b].to(device)
            loss = torch.mean((pred_b - y_b) ** 2)  # Eq. 2
            if siblings is not None:  # another copy of the same photo: its label difference is the damage alone
                s_idx = siblings[b, g.integers(0, siblings.shape[1], len(b))]
                loss = loss + cfg.pair_weight * pair_contrast_loss(pred_b, model({"aligned": images(x_tr, s_idx)}), y_b, y_tr[s_idx].to(device))
            if damage_pairs is not None and cfg.rank_weight > 0:  # a clean crop above its heavily damaged copy
                # both halves in one forward: BatchNorm (train mode) must not normalise a batch of only damaged crops
                # on its own statistics - that hides the damage (measured: after training on 380 JPEG/WebP pairs
                # fed in separate forwards, eval mode ranked 50 % of the JPEG ones; in one forward 87 %)
                r = g.integers(0, len(damage_pairs[0]), len(b))
                both = torch.cat([images(damage_pairs[0], r), images(damage_pairs[1], r)])
                loss = loss + cfg.rank_weight * damage_rank_loss(*model({"aligned": both}).split(len(b)), cfg.rank_margin)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        sched.step()
        pred = predict(model, x_va)
        rec = {"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"], "train_l2": float(np.mean(losses)),
               "val_l2": float(np.mean((pred - y_va) ** 2)), "val_srcc": srcc(pred, y_va), "val_plcc": plcc(pred, y_va)}
        history.append(rec)
        score = rec["val_srcc"] if np.isfinite(rec["val_srcc"]) else -1.0  # constant predictions: NaN, still a checkpoint
        if score > meta["best_srcc"]:
            meta["best_srcc"] = score
            save_checkpoint(model.cpu(), out / "tinyfqnet.safetensors",
                            extra={"train": asdict(cfg), "label_range": [float(lo), float(hi)], "best_epoch": epoch + 1, "val": rec, "train_images": int(len(train)),
                                   "resampled": int(len(idx))})
            model.to(device)
        meta.update(epoch=epoch + 1, history=history)
        save_state(out, model, opt, sched, meta)
        with open(out / "metrics.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(history[0]))
            w.writeheader()
            w.writerows(history)
    from ..models import create_model  # noqa: PLC0415

    best = create_model("tinyfqnet", weights=out / "tinyfqnet.safetensors", device="cpu")
    return best, pd.DataFrame(history)
