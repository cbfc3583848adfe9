"""Resumable training state without pickle: tensors in safetensors, the rest in JSON.

``save_state`` writes ``<dir>/last.safetensors`` (model weights as ``model.*``, optimizer
tensors as ``optim.<param index>.<name>``) and ``<dir>/last.json`` (epoch, optimizer
hyper-parameters and scalar state, scheduler state, RNG seeds, metrics so far), atomically.
``load_state`` restores them into a freshly built model/optimizer/scheduler.
"""
from __future__ import annotations

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
