"""Checkpoints: ``name.safetensors`` (tensors) + ``name.json`` (model name, config, sha256).

Nothing is ever unpickled: ``.pt/.pth/.ckpt/.pkl/.bin`` files are refused with a typed
:class:`~core.errors.CheckpointError`. The JSON carries the registry name and the
constructor config so :func:`load_checkpoint` rebuilds the exact model; the sha256 of the
tensor file is checked on load (a truncated or swapped file fails loudly).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import CheckpointError
from .registry import build_from_config

FORMAT = "faceiqa-checkpoint"
VERSION = 1
PICKLE_SUFFIXES = {".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".tar"}


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _paths(path: str | os.PathLike) -> tuple[Path, Path]:
    p = Path(path)
    if p.suffix == ".json":
        p = p.with_suffix(".safetensors")
    elif p.suffix != ".safetensors":
        p = p.with_name(p.name + ".safetensors") if p.suffix == "" else p
    return p, p.with_suffix(".json")


def save_checkpoint(model, path: str | os.PathLike, extra: dict | None = None, half: bool = False) -> Path:
    """Write ``model``'s state dict and config; returns the ``.safetensors`` path.

    ``half`` stores floating-point tensors as float16 (half the file; loading casts them back).
    """
    from safetensors.torch import save_file  # noqa: PLC0415

    st_path, js_path = _paths(path)
    if st_path.suffix != ".safetensors":
        raise CheckpointError(f"{path}: checkpoints are written as .safetensors")
    st_path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    tmp = st_path.with_name(st_path.name + ".tmp")
    save_file(state, os.fspath(tmp), metadata={"format": FORMAT, "model": model.info.name})
    os.replace(tmp, st_path)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "model": model.info.name,
        "config": model.config,
        "info": model.info.as_dict(),
        "sha256": sha256_file(st_path),
        "extra": extra or {},
    }
    js_path.write_text(json.dumps(meta, indent=2, sort_keys=True))
    return st_path


def read_config(path: str | os.PathLike) -> dict:
    """The JSON config that belongs to a checkpoint (validated)."""
    st_path, js_path = _paths(path)
    if not js_path.is_file():
        raise CheckpointError(f"{js_path}: missing checkpoint config (expected beside {st_path.name})")
    try:
        meta = json.loads(js_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{js_path}: not valid JSON ({exc})") from exc
    if meta.get("format") != FORMAT or "model" not in meta:
        raise CheckpointError(f"{js_path}: not a {FORMAT} config")
    return meta


def load_checkpoint(path: str | os.PathLike, expect_model: str | None = None, **overrides):
    """Rebuild and load a model saved by :func:`save_checkpoint` (strict key/shape check)."""
    from safetensors import SafetensorError  # noqa: PLC0415
    from safetensors.torch import load_file  # noqa: PLC0415


    p = Path(path)
    if p.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{p}: pickle-based checkpoints are refused (they can run arbitrary code). "
            "Convert once in a trusted environment to .safetensors + .json (core.models.checkpoint.save_checkpoint)."
        )
    st_path, _ = _paths(p)
    if not st_path.is_file():
        raise CheckpointError(f"{st_path}: no such checkpoint file")
    meta = read_config(st_path)
    if expect_model is not None and meta["model"] != expect_model:
        raise CheckpointError(f"{st_path}: checkpoint is for model {meta['model']!r}, not {expect_model!r}")
    if meta.get("sha256") and sha256_file(st_path) != meta["sha256"]:
        raise CheckpointError(f"{st_path}: sha256 mismatch with its config (corrupt or replaced file)")
    try:
        state = load_file(os.fspath(st_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{st_path}: unreadable safetensors file ({exc})") from exc
    model = build_from_config(meta["model"], {**meta.get("config", {}), **overrides})
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}")
        if wrong:
            parts.append("shape mismatch " + ", ".join(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in wrong[:5]))
        raise CheckpointError(f"{st_path}: does not fit model {meta['model']!r}: " + "; ".join(parts))
    model.load_state_dict(state, strict=True)
    return model
