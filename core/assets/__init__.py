"""The files this package ships: default weights (``<name>.safetensors`` + ``<name>.json``) and model cards
(``<name>.md``), installed as package data so a wheel scores exactly like a source checkout.

:func:`asset` is the one place that knows where they live; a missing file raises
:class:`~core.errors.MissingWeightsError` naming what is gone and how to get it back.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import MissingWeightsError

#: the folder of the shipped files (``core/assets`` in a checkout and in site-packages alike)
ASSETS = Path(__file__).resolve().parent


def asset(name: str, required: bool = True) -> Path | None:
    """Path of the shipped file ``name`` (e.g. ``"ifqa.safetensors"``); ``required=False`` returns None if absent."""
    p = ASSETS / name
    if p.is_file():
        return p
    if not required:
        return None
    raise MissingWeightsError(
        f"{name} is not in {ASSETS}: this installation lacks the shipped weights (a wheel built without package data, "
        "or a deleted file). Reinstall faceiqa-studio from a release wheel or a full checkout (`pip install .`), "
        "or pass weights=... explicitly."
    )


def shipped_weights(name: str) -> Path | None:
    """The default checkpoint shipped for model ``name`` (its ``.json`` config beside it), or None."""
    p = asset(f"{name}.safetensors", required=False)
    return p if p is not None and p.with_suffix(".json").is_file() else None
