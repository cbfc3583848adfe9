"""Training runs as data: one YAML per model x dataset (``configs/train/<model>/<dataset>.yaml``).

A run file names the model, the dataset (a :func:`core.data.datasets.load_dataset` name such as
``gfiqa-20k`` with the folder you downloaded it to, or a labels CSV/Parquet from
``faceiqa data build``), the preset it starts from and any overrides::

    model: stylegan-iqa
    dataset: gfiqa-20k
    root: ~/datasets/GFIQA-20k      # or --root on the command line
    dataset_args: {split_index: 1}
    preset: paper                   # the paper's hyper-parameters (core.train.iqa.PRESETS)
    train: {epochs: 25, batch: 16, lr: 5.0e-5, step_epochs: 10, gamma: 0.1}

Unknown keys are errors (a typo must not silently train with a default).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import pandas as pd

from ..errors import FaceIQAError

RUN_KEYS = {"model", "dataset", "root", "dataset_args", "preset", "train", "notes"}


@dataclass
class RunConfig:
    model: str
    dataset: str
    root: str | None = None
    dataset_args: dict = field(default_factory=dict)
    preset: str = "lite"
    train: object = None  # IQATrainConfig or IFQATrainConfig, preset + overrides
    source: str | None = None


def train_config(model: str, preset: str, overrides: dict | None = None):
    """The preset's training config for ``model`` with ``overrides`` applied (checked field names)."""
    from .iqa import IFQA_PRESETS, PRESETS  # noqa: PLC0415

    presets = IFQA_PRESETS if model == "ifqa" else PRESETS.get(model)
    if presets is None:
        raise FaceIQAError(f"no training presets for {model!r}; choose from {sorted(PRESETS) + ['ifqa']}")
    if preset not in presets:
        raise FaceIQAError(f"{model}: unknown preset {preset!r}; choose from {sorted(presets)}")
    base = presets[preset]
    overrides = dict(overrides or {})
    known = {f.name for f in fields(base)}
    bad = sorted(set(overrides) - known)
    if bad:
        raise FaceIQAError(f"{model}: unknown training keys {bad}; known: {sorted(known)}")
    if "model" in overrides:
        overrides["model"] = {**base.model, **overrides["model"]}
    return replace(base, **overrides)


def load_run_config(path: str | Path) -> RunConfig:
    """Parse and check one run file."""
    import yaml  # noqa: PLC0415

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise FaceIQAError(f"{path}: cannot read the run config ({exc})") from exc
    bad = sorted(set(raw) - RUN_KEYS)
    if bad:
        raise FaceIQAError(f"{path}: unknown keys {bad}; known: {sorted(RUN_KEYS)}")
    for key in ("model", "dataset"):
        if key not in raw:
            raise FaceIQAError(f"{path}: '{key}' is required")
    preset = raw.get("preset", "lite")
    return RunConfig(model=raw["model"], dataset=str(raw["dataset"]), root=raw.get("root"), dataset_args=raw.get("dataset_args") or {},
                     preset=preset, train=train_config(raw["model"], preset, raw.get("train")), source=str(path))


def load_training_table(dataset: str, root: str | None = None, dataset_args: dict | None = None) -> pd.DataFrame:
    """A table with ``path`` (absolute image path), ``mos`` (0..1) and ``split`` for any dataset the engine reads."""
    from ..data.datasets import load_dataset  # noqa: PLC0415

    root_path = str(Path(root).expanduser()) if root else None
    ds = load_dataset(dataset, root=root_path, **(dataset_args or {}))
    t = ds.table.copy()
    t["path"] = t["image"]  # the loaders already joined each image to its root
    if "split" not in t.columns:
        raise FaceIQAError(f"{dataset}: no 'split' column (train / val / test)")
    return t
