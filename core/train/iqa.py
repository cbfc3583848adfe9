"""Training MOS-supervised face IQA models (StyleGAN-IQA, DSL-FIQA, ResNet baseline) and IFQA.

One loop for the MOS-supervised models, each with its paper's loss:

* ``stylegan-iqa`` - Eq. 11: L2 reconstruction + latent regularisation + L1 quality (the
  perceptual and identity terms join when differentiable VGG / ArcFace callables are given);
* ``dsl-fiqa`` - Charbonnier (Eq. 7) on one random fixed-size crop per image (paper section
  3.1); its degradation encoder is first trained by DSL (:func:`core.models.dsl_fiqa.pretrain_degradation`, Eq. 6)
  and then frozen (section 3.4);
* ``resnet50-iqa`` - L1 regression (the GFIQA baseline).

IFQA has no MOS in its objective: :func:`train_ifqa` trains the per-pixel discriminator
against a restoration generator with facial primary region swaps (our reconstruction).

Inputs are tables with ``path`` (an aligned face image) and ``mos`` (0..1); landmarks, when a
model needs them, are estimated once on the aligned crop and cached. Every run writes
``metrics.csv`` per epoch, the best-on-validation-SRCC checkpoint (safetensors + JSON) and a
resumable ``last.*`` state; rerunning the same command after a kill resumes.

Multi-GPU (or multi-process CPU): launch the same command with ``torchrun --nproc_per_node N``.
Each process takes its share of every global batch, PyTorch's DistributedDataParallel averages
the gradients (NCCL on CUDA, gloo on CPU), rank 0 validates, logs and writes checkpoints.
"""
from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..analysis.metrics import plcc, srcc
from ..errors import FaceIQAError
from ..models.backbones import load_imagenet
from ..models.checkpoint import save_checkpoint
from ..tensors import resize_square
from .state import resume_state, run_settings, save_state

MOS_MODELS = ("stylegan-iqa", "dsl-fiqa", "resnet50-iqa")


@dataclass
class IQATrainConfig:
    epochs: int = 25
    batch: int = 16
    lr: float = 5e-5
    weight_decay: float = 0.0
    step_epochs: int = 10  # lr x gamma every step_epochs (0: cosine over the run)
    gamma: float = 0.1
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # mixed precision on CUDA
    max_steps_per_epoch: int = 0  # 0: the whole table
    dsl_pretrain_steps: int = 0  # DSL-FIQA: degradation-encoder steps before the IQA net
    model: dict = field(default_factory=dict)  # constructor arguments (e.g. {"config": "lite"})
    tensorboard: bool = False  # also log to out_dir/tb (needs the tensorboard package)
    rank_weight: float = 0.0  # + pairwise ranking hinge in each batch (0: the paper's loss only)
    face_batches: bool = False  # batches hold every copy of a few source faces (needs a `source` column)
    jpeg_copies: int = 0  # + this many on-the-fly JPEG copies of clean rows per batch, labelled like `faceiqa data build`


#: the papers' hyper-parameters ("paper"), CPU-sized ones ("lite"), and a smoke-test size
PRESETS: dict[str, dict[str, IQATrainConfig]] = {
    "stylegan-iqa": {
        "paper": IQATrainConfig(epochs=25, batch=16, lr=5e-5, step_epochs=10, model={"config": "paper"}),
        "lite": IQATrainConfig(epochs=12, batch=16, lr=2e-4, step_epochs=5, model={"config": "lite"}),
    },
    "dsl-fiqa": {
        # Adam 1e-5, wd 1e-5, batch 16 (public config); 500 epochs there, fewer here by default
        "paper": IQATrainConfig(epochs=100, batch=16, lr=1e-5, weight_decay=1e-5, step_epochs=0, dsl_pretrain_steps=2000,
                                model={"config": "paper"}),
        "lite": IQATrainConfig(epochs=12, batch=16, lr=3e-4, weight_decay=1e-5, step_epochs=0, dsl_pretrain_steps=200,
                               model={"config": "lite"}),
    },
    "resnet50-iqa": {
        "paper": IQATrainConfig(epochs=25, batch=16, lr=5e-5, step_epochs=10, model={"config": "paper"}),
        "lite": IQATrainConfig(epochs=12, batch=16, lr=3e-4, step_epochs=5, model={"config": "lite"}),
    },
}


# ----------------------------------------------------------------------------- data
def load_faces(paths, size: int) -> torch.Tensor:
    """Aligned face images -> uint8 (N, 3, size, size) (resized when needed)."""
    from PIL import Image  # noqa: PLC0415

    from ..io import load_image  # noqa: PLC0415

    out = np.empty((len(paths), size, size, 3), np.uint8)
    for i, p in enumerate(paths):
        rgb = load_image(p)
        if rgb.shape[0] != size or rgb.shape[1] != size:
            rgb = np.asarray(Image.fromarray(rgb).resize((size, size), Image.BICUBIC))
        out[i] = rgb
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def face_landmarks(paths, cache: str | os.PathLike | None = None) -> np.ndarray:
    """(N, 68, 2) landmarks of aligned crops, divided by the crop size (NaN where none); cached as Parquet."""
    from ..faces import whole_image_face  # noqa: PLC0415
    from ..io import load_image  # noqa: PLC0415

    paths = [str(p) for p in paths]
    known: dict[str, np.ndarray] = {}
    if cache and Path(cache).is_file():
        t = pd.read_parquet(cache)
        known = {p: np.asarray(v, np.float32).reshape(68, 2) for p, v in zip(t["path"], t["landmarks"])}
    new = []
    for p in paths:
        if p in known:
            continue
        try:
            rgb = load_image(p)
            lm = whole_image_face(rgb).landmarks.astype(np.float32) / rgb.shape[0]
        except Exception:  # noqa: BLE001 - no landmarks is a valid input (NaN), never a dropped face
            lm = np.full((68, 2), np.nan, np.float32)
        known[p] = lm
        new.append({"path": p, "landmarks": lm.ravel().tolist()})
    if cache and new:
        old = pd.read_parquet(cache) if Path(cache).is_file() else pd.DataFrame(columns=["path", "landmarks"])
        tmp = Path(str(cache) + ".tmp")
        pd.concat([old, pd.DataFrame(new)], ignore_index=True).to_parquet(tmp, index=False)
        os.replace(tmp, cache)
    return np.stack([known[p] for p in paths])


def pairwise_rank_loss(pred: torch.Tensor, mos: torch.Tensor, min_gap: float = 0.02) -> torch.Tensor:
    """Mean over ordered pairs (MOS_i > MOS_j + min_gap) of ``relu((MOS_i - MOS_j) - (pred_i - pred_j))``.

    Zero once every predicted gap is at least the label gap; a regression loss alone lets a model
    shrink gaps between copies of one face (what a newcomer compares) while fitting the mean.
    """
    dm = mos[:, None] - mos[None, :]
    dp = pred[:, None] - pred[None, :]
    pairs = dm > min_gap
    if not pairs.any():
        return pred.sum() * 0.0
    return F.relu(dm - dp)[pairs].mean()


def jpeg_copies(x: torch.Tensor, mos: torch.Tensor, rng: np.random.Generator, shrink: tuple[float, float] = (1.0, 2.5),
                qualities: tuple[int, ...] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """JPEG copies of clean aligned crops ``x`` (B, 3, S, S in 0..1) and their labels, made like a whole-photo JPEG.

    Each crop is shrunk by a random factor in ``shrink`` (a photo whose face is smaller than the crop), compressed at a
    quality of the ``jpeg`` levels (50..5; or of ``qualities``) and enlarged back, so the 8x8 blocks land 8-20 px apart as after alignment.
    Label: the clean row's MOS x pseudo-MOS(copy, clean) on the face box x the blocking fidelity where the codec ran -
    the build's formula, so a few hundred labelled JPEG faces per epoch instead of the handful a build holds.
    """
    from ..data.degrade import SPECS, codec  # noqa: PLC0415
    from ..data.pseudo_mos import GFIQA_FACE_BOX, blocking_fidelity, pseudo_mos  # noqa: PLC0415

    size = x.shape[-1]
    copies, fidelity = [], []
    for i in range(x.shape[0]):
        small = resize_square(x[i : i + 1].float(), max(64, round(size / rng.uniform(*shrink))))
        coded = codec(small, "JPEG", int(rng.choice(qualities or SPECS["jpeg"].values)))
        fidelity.append(blocking_fidelity(coded, small, GFIQA_FACE_BOX))
        copies.append(F.interpolate(coded, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1))
    out = torch.cat(copies).to(x.dtype)
    with torch.no_grad():
        labels = mos * pseudo_mos(out.float(), x.float(), GFIQA_FACE_BOX).to(mos) * torch.cat(fidelity).to(mos)
    return out, labels


def face_batch_order(sources, rng: np.random.Generator) -> np.ndarray:
    """A permutation of the rows where whole faces (rows sharing a source) sit next to each other.

    Faces are shuffled, then the rows of each face in random order, so a batch of B rows holds
    all copies of about B / copies faces - the within-face pairs the ranking term needs.
    """
    codes, uniques = pd.factorize(pd.Series(list(sources)))
    groups = [np.flatnonzero(codes == k) for k in range(len(uniques))]
    return np.concatenate([rng.permutation(groups[k]) for k in rng.permutation(len(groups))]) if groups else np.arange(0)


@torch.no_grad()
def predict_table(model, faces: torch.Tensor, landmarks: np.ndarray | None, batch: int = 16) -> np.ndarray:
    model.eval()
    dev = next(model.parameters(), torch.empty(0, device=getattr(model, "device", "cpu"))).device  # parameter-free models too
    out = []
    for i in range(0, len(faces), batch):
        b = {"aligned": faces[i : i + batch].to(dev).float() / 255.0}
        if landmarks is not None:
            b["landmarks"] = torch.from_numpy(landmarks[i : i + batch]).to(dev)
        out.append(model(b).float().cpu())
    return torch.cat(out).numpy()


# ----------------------------------------------------------------------------- distribution
def distributed_context(device: str) -> tuple[int, int, str]:
    """(rank, world size, device) - initialises torch.distributed when launched by ``torchrun``."""
    import torch.distributed as dist  # noqa: PLC0415

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    rank = dist.get_rank()
    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", rank))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    return rank, world, device


class _LossModule(torch.nn.Module):
    """Wraps a model so its training loss is one ``forward`` (what DistributedDataParallel syncs on)."""

    def __init__(self, model: torch.nn.Module, rank_weight: float = 0.0):
        super().__init__()
        self.model, self.rank_weight = model, rank_weight

    def forward(self, x, lm, mos, rng):
        loss, pred = self.model.training_loss(x, lm, mos, rng)
        return loss + self.rank_weight * pairwise_rank_loss(pred, mos) if self.rank_weight else loss


class _Logger:
    """metrics.csv always; TensorBoard scalars when asked and installed."""

    def __init__(self, out: Path, tensorboard: bool):
        self.out, self.tb = out, None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415

                self.tb = SummaryWriter(str(out / "tb"))
            except ImportError:
                import warnings  # noqa: PLC0415

                warnings.warn("tensorboard is not installed: logging metrics.csv only", stacklevel=3)

    def epoch(self, history: list[dict]) -> None:
        _write_csv(self.out / "metrics.csv", history)
        if self.tb is not None:
            rec = history[-1]
            for k, v in rec.items():
                if k != "epoch":
                    self.tb.add_scalar(k, v, rec["epoch"])
            self.tb.flush()


# ----------------------------------------------------------------------------- the loop
def train_iqa(name: str, train: pd.DataFrame, val: pd.DataFrame, out_dir: str | os.PathLike, cfg: IQATrainConfig,
              progress: bool = True, log=print) -> tuple[torch.nn.Module, pd.DataFrame]:
    """Train ``name`` on ``train`` (path, mos), select on ``val`` SRCC; resumable. Returns (best model, history)."""
    from tqdm.auto import tqdm  # noqa: PLC0415

    from ..models import create_model  # noqa: PLC0415

    if name not in MOS_MODELS:
        raise ValueError(f"train_iqa trains {MOS_MODELS}; use train_ifqa / train_tinyfqnet for {name!r}")
    if cfg.face_batches and "source" not in train.columns:
        raise ValueError("face_batches needs a 'source' column (the photo each copy was made from), as `faceiqa data build` writes")
    if cfg.jpeg_copies and "degradation" not in train.columns:
        raise ValueError("jpeg_copies needs a 'degradation' column ('clean' rows get the JPEG copies), as `faceiqa data build` writes")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    rank, world, device = distributed_context(device)
    lead = rank == 0
    progress = progress and lead
    torch.manual_seed(cfg.seed)
    model = create_model(name, pretrained=False, device=device, **cfg.model).train()
    load_imagenet(model)  # a pretrained encoder starts from ImageNet (a resumed run then loads its own state)
    size = model.info.input_size
    need_lm = "landmarks" in model.info.inputs
    x_tr, x_va = load_faces(train["path"], size), load_faces(val["path"], size)
    y_tr = torch.tensor(train["mos"].to_numpy(), dtype=torch.float32)
    y_va = val["mos"].to_numpy()
    lm_tr = lm_va = None
    if need_lm:
        cache = out / "landmarks.parquet"
        if world > 1 and not lead:  # rank 0 fills the cache first; the others read it
            torch.distributed.barrier()
        lm_tr, lm_va = face_landmarks(train["path"], cache), face_landmarks(val["path"], cache)
        if world > 1 and lead:
            torch.distributed.barrier()

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = -(-len(x_tr) // cfg.batch)
    if cfg.max_steps_per_epoch:
        steps = min(steps, cfg.max_steps_per_epoch)
    sched = (torch.optim.lr_scheduler.StepLR(opt, cfg.step_epochs, cfg.gamma) if cfg.step_epochs
             else torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs))
    meta = resume_state(out, model, opt, sched, run_settings(cfg, epochs_fixed=not cfg.step_epochs, train=train, val=val))
    if meta["epoch"] == 0:  # a new run (a saved state holds at least one finished epoch)
        meta.update(model.pretrain(x_tr, y_tr, cfg, device, log=log if progress else None))
    model.prepare_training()
    step_fn = _LossModule(model, cfg.rank_weight)
    clean_tr = (train["degradation"] == "clean").to_numpy() if cfg.jpeg_copies else None
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel  # noqa: PLC0415

        step_fn = DistributedDataParallel(step_fn, find_unused_parameters=True)
    logger = _Logger(out, cfg.tensorboard) if lead else None
    history = meta["history"]
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and device.startswith("cuda"))
    for epoch in range(meta["epoch"], cfg.epochs):
        model.train()
        model.prepare_training()
        rng = np.random.default_rng(cfg.seed * 1000 + epoch)
        order = face_batch_order(train["source"], rng) if cfg.face_batches else rng.permutation(len(x_tr))
        losses = []
        for s in tqdm(range(steps), desc=f"{name} epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False):
            b = order[s * cfg.batch : (s + 1) * cfg.batch][rank::world]  # this process's share of the global batch
            if len(b) == 0:
                break
            x = x_tr[b].to(device).float() / 255.0
            lm = torch.from_numpy(lm_tr[b]).to(device) if lm_tr is not None else None
            y = y_tr[b].to(device)
            if cfg.jpeg_copies:  # own generator: the batch order and DSL's crops stay those of a run without copies
                jrng = np.random.default_rng((cfg.seed, epoch, s, rank))
                pick = np.flatnonzero(clean_tr[b])[: cfg.jpeg_copies]
                if len(pick):
                    xj, yj = jpeg_copies(x[pick], y[pick], jrng)
                    x, y = torch.cat([x, xj]), torch.cat([y, yj])
                    lm = torch.cat([lm, lm[pick]]) if lm is not None else None
            with torch.autocast("cuda", enabled=cfg.amp and device.startswith("cuda")):
                loss = step_fn(x, lm, y, rng)
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            losses.append(loss.item())
        sched.step()
        if lead:
            pred = predict_table(model, x_va, lm_va)
            rec = {"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"], "train_loss": float(np.mean(losses)),
                   "val_srcc": srcc(pred, y_va), "val_plcc": plcc(pred, y_va), "val_l1": float(np.mean(np.abs(pred - y_va)))}
            history.append(rec)
            if progress:
                log(f"{name} epoch {epoch + 1}: loss {rec['train_loss']:.4f}, val SRCC {rec['val_srcc']:.3f}")
            if rec["val_srcc"] > meta["best_srcc"]:
                meta["best_srcc"] = rec["val_srcc"]
                save_checkpoint(model, out / f"{name}.safetensors",
                                extra={"train": asdict(cfg), "best_epoch": epoch + 1, "val": rec, "world_size": world})
            meta.update(epoch=epoch + 1, history=history)
            save_state(out, model, opt, sched, meta)
            logger.epoch(history)
        else:
            meta.update(epoch=epoch + 1)
        if world > 1:
            torch.distributed.barrier()
    if world > 1:
        torch.distributed.barrier()
    best = create_model(name, weights=out / f"{name}.safetensors", device="cpu")
    return best, pd.DataFrame(history)


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


# ----------------------------------------------------------------------------- IFQA (adversarial, no MOS)
@dataclass
class IFQATrainConfig:
    epochs: int = 10
    batch: int = 8
    lr_d: float = 1e-4
    lr_g: float = 1e-4
    fprs_prob: float = 0.5
    region_weight: float = 2.0
    adv_weight: float = 0.01
    seed: int = 0
    device: str = "auto"
    max_steps_per_epoch: int = 0
    extra_reals: int = 0  # clean faces from ``reals`` added to each D batch as real (label 1)
    reals_min_sharpness: float = 0.0  # of those, only faces whose Crete sharpness (build column) reaches this
    augment: tuple[str, ...] = ()  # DiffAugment policy for D's inputs (``core.models.ifqa.AUGMENTS``); () = off, as the paper
    model: dict = field(default_factory=lambda: {"config": "lite"})


IFQA_PRESETS = {
    "paper": IFQATrainConfig(epochs=50, batch=16, model={"config": "paper"}),
    "lite": IFQATrainConfig(),
}


def restoration_pairs(table: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """IFQA's training pairs: each degraded training image with its source's clean crop (``clean_path``), from a
    ``faceiqa data build`` table (columns ``source``, ``degradation``, ``path``)."""
    if not {"source", "degradation"} <= set(table.columns):
        raise FaceIQAError("ifqa trains on (degraded, clean) pairs: labels need 'source' and 'degradation' (faceiqa data build)")
    clean = table[table.degradation == "clean"].set_index("source")["path"]
    return train[train.degradation != "clean"].assign(clean_path=lambda d: d.source.map(clean)).dropna(subset=["clean_path"])


def select_reals(reals: pd.DataFrame, bench: pd.DataFrame, min_sharpness: float = 0.0) -> list[str]:
    """Paths of the clean faces of a ``faceiqa data build`` table (``reals``) that IFQA may show D as extra reals: at
    least ``min_sharpness`` sharp (``source_sharpness``), and no photo that is a validation / test source of ``bench``."""

    need = {"path", "degradation", "source", "source_sharpness"}
    if not need <= set(reals.columns):
        raise FaceIQAError(f"the reals table needs {sorted(need)} (a `faceiqa data build` labels file); has {sorted(reals.columns)}")
    held = set(bench.loc[bench.split != "train", "source"]) if {"split", "source"} <= set(bench.columns) else set()
    keep = reals[(reals.degradation == "clean") & (reals.source_sharpness >= min_sharpness) & ~reals.source.isin(held)]
    if keep.empty:
        raise FaceIQAError(f"no clean face in the reals table is at least {min_sharpness} sharp outside the validation / test photos")
    return keep["path"].tolist()


def train_ifqa(pairs: pd.DataFrame, val: pd.DataFrame, out_dir: str | os.PathLike, cfg: IFQATrainConfig,
               progress: bool = True, log=print, reals: Sequence[str] | None = None) -> tuple[torch.nn.Module, pd.DataFrame]:
    """``pairs``: (path = degraded face, clean_path = the same face clean). ``val``: (path, mos) for SRCC.
    ``reals``: optional aligned clean faces with no degraded copy; ``cfg.extra_reals`` of them join each D batch as real.

    Per step: the restorer G maps degraded -> restored; D sees real faces (label 1), restored
    faces (0), the degraded inputs (0) and FPRS mixes (per-pixel labels); G minimises L1 to the clean face plus a
    small adversarial term. Selection and the log use validation SRCC of D's mean map vs the MOS.
    """
    from tqdm.auto import tqdm  # noqa: PLC0415

    from ..models import create_model  # noqa: PLC0415
    from ..models.ifqa import (  # noqa: PLC0415
        RestorationGenerator,
        check_augment,
        diff_augment,
        discriminator_loss,
        fprs,
        generator_loss,
        primary_region_masks,
    )

    check_augment(cfg.augment)  # before any face is loaded
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    torch.manual_seed(cfg.seed)
    model = create_model("ifqa", pretrained=False, device=device, **cfg.model).train()
    size = model.info.input_size
    gen = RestorationGenerator(model.cfg.generator_width).to(device)
    x_deg, x_clean = load_faces(pairs["path"], size), load_faces(pairs["clean_path"], size)
    lm = face_landmarks(pairs["clean_path"], out / "landmarks.parquet")  # geometry of the clean face holds for both
    x_va, y_va = load_faces(val["path"], size), val["mos"].to_numpy()
    masks_all = primary_region_masks(torch.from_numpy(lm) * size, size)
    if cfg.extra_reals and not reals:
        raise ValueError("extra_reals > 0 needs reals (aligned clean faces)")
    if cfg.extra_reals:
        x_real2 = load_faces(list(reals), size)
        masks_real2 = primary_region_masks(torch.from_numpy(face_landmarks(list(reals), out / "reals_landmarks.parquet")) * size, size)

    class Both(torch.nn.Module):  # one optimizer state file for D and G
        def __init__(self):
            super().__init__()
            self.d, self.g = model, gen

    both = Both()
    opt = torch.optim.Adam([{"params": model.parameters(), "lr": cfg.lr_d}, {"params": gen.parameters(), "lr": cfg.lr_g}], betas=(0.5, 0.999))
    more = {"reals": pd.DataFrame({"path": list(reals)})} if cfg.extra_reals else {}
    meta = resume_state(out, both, opt, None, run_settings(cfg, pairs=pairs, val=val, **more))
    history = meta["history"]
    steps = -(-len(x_deg) // cfg.batch)
    if cfg.max_steps_per_epoch:
        steps = min(steps, cfg.max_steps_per_epoch)
    g = torch.Generator().manual_seed(cfg.seed)  # FPRS swaps; its state is saved each epoch, so a resume continues it
    if "fprs_rng" in meta:
        g.set_state(torch.tensor(meta["fprs_rng"], dtype=torch.uint8))
    for epoch in range(meta["epoch"], cfg.epochs):
        both.train()
        order = np.random.default_rng(cfg.seed * 1000 + epoch).permutation(len(x_deg))
        d_losses, g_losses = [], []
        for s in tqdm(range(steps), desc=f"ifqa epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False):
            b = order[s * cfg.batch : (s + 1) * cfg.batch]
            if len(b) == 0:
                break
            deg = x_deg[b].to(device).float() / 255.0
            real = x_clean[b].to(device).float() / 255.0
            masks = masks_all[b].to(device)
            restored = gen(deg)
            mixed, mixed_labels = fprs(real, restored.detach(), masks, cfg.fprs_prob, generator=g)
            ones = torch.ones_like(real[:, :1])
            d_in = torch.cat([mixed, restored.detach(), deg])
            d_lab = torch.cat([mixed_labels, 0 * ones, 0 * ones])  # degraded inputs are not real faces either
            d_masks = torch.cat([masks] * 3)
            if cfg.extra_reals:  # drawn from a per-(seed, epoch, step) stream, so a resumed epoch draws the same faces
                r = np.random.default_rng([cfg.seed, epoch, s]).choice(len(x_real2), min(cfg.extra_reals, len(x_real2)), replace=False)
                d_in = torch.cat([d_in, x_real2[r].to(device).float() / 255.0])
                d_lab = torch.cat([d_lab, torch.ones(len(r), *d_lab.shape[1:], device=device)])
                d_masks = torch.cat([d_masks, masks_real2[r].to(device)])
            g_in = restored
            if cfg.augment:  # the same kind of transform for D's step and G's (DiffAugment), from a per-step stream
                aug = torch.Generator().manual_seed(int(np.random.default_rng([cfg.seed, epoch, s, 7]).integers(2**62)))
                d_in, (d_lab, d_masks) = diff_augment(d_in, [d_lab, d_masks], cfg.augment, aug)
                g_in, _ = diff_augment(restored, [], cfg.augment, aug)
            d_loss = discriminator_loss(model.D(d_in), d_lab, d_masks, cfg.region_weight)
            opt.zero_grad()
            d_loss.backward()
            opt.step()
            g_loss = generator_loss(model.D(g_in), restored, real, cfg.adv_weight)
            opt.zero_grad()
            g_loss.backward()
            for p in model.parameters():  # only G steps here
                p.grad = None
            opt.step()
            d_losses.append(d_loss.item())
            g_losses.append(g_loss.item())
        pred = predict_table(model, x_va, None)
        rec = {"epoch": epoch + 1, "d_loss": float(np.mean(d_losses)), "g_loss": float(np.mean(g_losses)),
               "val_srcc": srcc(pred, y_va), "val_plcc": plcc(pred, y_va)}
        history.append(rec)
        if progress:
            log(f"ifqa epoch {epoch + 1}: D {rec['d_loss']:.4f} G {rec['g_loss']:.4f}, val SRCC {rec['val_srcc']:.3f}")
        if rec["val_srcc"] > meta["best_srcc"]:
            meta["best_srcc"] = rec["val_srcc"]
            save_checkpoint(model, out / "ifqa.safetensors", extra={"train": asdict(cfg), "best_epoch": epoch + 1, "val": rec})
        meta.update(epoch=epoch + 1, history=history, fprs_rng=g.get_state().tolist())
        save_state(out, both, opt, None, meta)
        _write_csv(out / "metrics.csv", history)
    best = create_model("ifqa", weights=out / "ifqa.safetensors", device="cpu")
    return best, pd.DataFrame(history)
