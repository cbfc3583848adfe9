"""Resumable training state without pickle: tensors in safetensors, the rest in JSON.

``save_state`` writes ``<dir>/last.safetensors`` (model weights as ``model.*``, optimizer
tensors as ``optim.<param index>.<name>``) and ``<dir>/last.json`` (epoch, optimizer
hyper-parameters and scalar state, scheduler state, RNG seeds, metrics so far), atomically.
``load_state`` restores them into a freshly built model/optimizer/scheduler; :func:`resume_state`
does so only for a run made with the same settings (:func:`run_settings`, kept in ``meta["settings"]``).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch


def save_state(directory: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler=None,
               meta: dict | None = None) -> Path:
    from safetensors.torch import save_file  # noqa: PLC0415

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    scalars: dict[str, dict] = {}
    for idx, st in opt["state"].items():
        for name, val in st.items():
            if torch.is_tensor(val) and val.dim() > 0:
                tensors[f"optim.{idx}.{name}"] = val.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[name] = float(val.item() if torch.is_tensor(val) else val)
    info = {
        "meta": meta or {},
        "param_groups": opt["param_groups"],
        "optim_scalars": scalars,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
    }
    tmp = d / "last.safetensors.tmp"
    save_file(tensors, os.fspath(tmp))
    os.replace(tmp, d / "last.safetensors")
    tmpj = d / "last.json.tmp"
    tmpj.write_text(json.dumps(info, indent=1, default=float))
    os.replace(tmpj, d / "last.json")
    return d / "last.safetensors"


def load_state(directory: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler=None) -> dict | None:
    """Restore the last saved state into ``model``/``optimizer``/``scheduler``; returns its meta or None."""
    from safetensors.torch import load_file  # noqa: PLC0415

    d = Path(directory)
    if not (d / "last.safetensors").is_file() or not (d / "last.json").is_file():
        return None
    tensors = load_file(os.fspath(d / "last.safetensors"))
    info = json.loads((d / "last.json").read_text())
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, idx, name = k.split(".", 2)
            state.setdefault(int(idx), {})[name] = v
    for idx, sc in info["optim_scalars"].items():
        for name, val in sc.items():
            state.setdefault(int(idx), {})[name] = torch.tensor(val)
    optimizer.load_state_dict({"state": state, "param_groups": info["param_groups"]})
    if scheduler is not None and info.get("scheduler") is not None:
        scheduler.load_state_dict(info["scheduler"])
    return info["meta"]


#: config fields a resumed run may change: where it runs and how it logs, and ``epochs`` (to extend a run) unless
#: the learning-rate schedule is laid out over the epoch count (a cosine one)
MAY_CHANGE = ("device", "amp", "tensorboard", "epochs")
#: columns of a data table that identify it (paths by file name, so a moved data folder still resumes)
_DATA_COLUMNS = ("path", "clean_path", "mos", "quality")


def table_fingerprint(table) -> dict:
    """Rows and a SHA-256 of the file names and labels of a training / validation table."""
    cols = [c for c in _DATA_COLUMNS if c in table.columns]
    h = hashlib.sha256()
    for c in cols:
        vals = table[c].map(lambda v: os.path.basename(str(v))) if c.endswith("path") else table[c].map(lambda v: f"{float(v):.6g}")
        h.update(c.encode() + b"\0" + "\n".join(vals).encode() + b"\0")
    return {"rows": int(len(table)), "sha256": h.hexdigest()[:16]}


def settings_changes(have: dict, want: dict) -> tuple[str, str] | None:
    """``("k=old, ...", "k=new, ...")`` over the keys whose values differ between two settings dicts; None when equal.

    A config field that ``have`` lacks (a run saved before the field existed) counts as its default when ``want``
    is a :func:`run_settings` result, so adding an option with a paper-faithful default does not orphan old runs."""
    defaults = getattr(want, "defaults", {})
    diff = sorted(k for k in have.keys() | want.keys() if have.get(k, defaults.get(k)) != want.get(k))
    if not diff:
        return None
    return ", ".join(f"{k}={have.get(k)!r}" for k in diff), ", ".join(f"{k}={want.get(k)!r}" for k in diff)


class RunSettings(dict):
    """A run's settings (a plain dict, as saved) that also knows its config class's defaults."""

    defaults: dict = {}


def run_settings(cfg, epochs_fixed: bool = False, **tables) -> dict:
    """What a resumed run must share with the run it resumes: every field of the training config ``cfg`` (a
    dataclass) but :data:`MAY_CHANGE` (``epochs`` kept when ``epochs_fixed``), and a fingerprint of each table."""
    from dataclasses import asdict  # noqa: PLC0415

    free = set(MAY_CHANGE) - ({"epochs"} if epochs_fixed else set())
    settings = {k: v for k, v in asdict(cfg).items() if k not in free}
    settings.update({f"data.{k}": table_fingerprint(t) for k, t in tables.items()})
    out = RunSettings(json.loads(json.dumps(settings)))  # tuples as lists, as JSON reads them back
    out.defaults = json.loads(json.dumps(asdict(type(cfg)()))) if _has_defaults(type(cfg)) else {}
    return out


def _has_defaults(cls) -> bool:
    from dataclasses import MISSING, fields  # noqa: PLC0415

    return all(f.default is not MISSING or f.default_factory is not MISSING for f in fields(cls))


def resume_state(directory: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler=None,
                 settings: dict | None = None) -> dict:
    """:func:`load_state` for a run made with the same ``settings`` (a fresh meta when there is no state).

    A run with other settings raises :class:`~core.errors.FaceIQAError` naming each difference, before anything is
    loaded or trained; a state saved before settings were kept is resumed and adopts ``settings``.
    """
    d = Path(directory)
    if settings is not None and (d / "last.json").is_file():
        have = json.loads((d / "last.json").read_text()).get("meta", {}).get("settings")
        changes = settings_changes(have, settings) if have is not None else None
        if changes:
            from ..errors import FaceIQAError  # noqa: PLC0415

            extend = ("only --epochs may change, to extend it" if "epochs" not in settings
                      else "--epochs cannot change: its cosine learning-rate schedule spans the epoch count")
            raise FaceIQAError(f"{d} holds a run started with {changes[0]}; this run asks for {changes[1]}. Resume it with "
                               f"its own settings ({extend}), or train into another --out")
    meta = load_state(d, model, optimizer, scheduler) or {"epoch": 0, "best_srcc": -2.0, "history": []}
    if settings is not None:
        meta["settings"] = settings
    return meta
