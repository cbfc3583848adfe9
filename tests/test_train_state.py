"""A training run resumes only with the settings it was started with (every loop: IQA, IFQA, tinyFQnet)."""
import json
from dataclasses import dataclass, field

import pandas as pd
import pytest
import torch

from core.errors import FaceIQAError
from core.train.state import resume_state, run_settings, save_state


@dataclass
class Cfg:
    epochs: int = 4
    lr: float = 0.1
    seed: int = 0
    device: str = "auto"
    model: dict = field(default_factory=lambda: {"config": "lite"})


def table(root="/data/a", mos=(0.1, 0.5, 0.9)):
    return pd.DataFrame({"path": [f"{root}/img{i}.png" for i in range(len(mos))], "mos": list(mos)})


def start(tmp_path, cfg, epochs_fixed=False, **tables):
    """A run of one epoch saved with ``cfg``'s settings; returns its folder."""
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr)
    meta = resume_state(tmp_path, net, opt, None, run_settings(cfg, epochs_fixed, **tables))
    assert meta["epoch"] == 0 and meta["history"] == []  # nothing there yet: a fresh run
    meta.update(epoch=1, history=[{"epoch": 1}])
    save_state(tmp_path, net, opt, None, meta)
    return tmp_path


def resume(out, cfg, epochs_fixed=False, **tables):
    net = torch.nn.Linear(2, 1)
    return resume_state(out, net, torch.optim.SGD(net.parameters(), lr=cfg.lr), None, run_settings(cfg, epochs_fixed, **tables))


def test_same_settings_resume_and_epochs_may_grow(tmp_path):
    out = start(tmp_path, Cfg(), train=table(), val=table(mos=(0.2, 0.3)))
    assert resume(out, Cfg(), train=table(), val=table(mos=(0.2, 0.3)))["epoch"] == 1
    # extending the run, running it elsewhere, and the data folder moved (same files and labels): all resume
    assert resume(out, Cfg(epochs=9, device="cpu"), train=table("/mnt/b"), val=table("/x", mos=(0.2, 0.3)))["epoch"] == 1


@pytest.mark.parametrize("change, named", [
    ({"cfg": Cfg(lr=0.01)}, "lr=0.1"),
    ({"cfg": Cfg(seed=3)}, "seed=0"),
    ({"cfg": Cfg(model={"config": "paper"})}, "model="),
    ({"train": table(mos=(0.1, 0.5, 0.8))}, "data.train="),  # other labels
    ({"train": table(mos=(0.1, 0.5))}, "'rows': 3"),  # fewer images
])
def test_other_settings_are_refused_with_each_difference_named(tmp_path, change, named):
    out = start(tmp_path, Cfg(), train=table())
    before = (out / "last.json").read_text()
    args = {"cfg": Cfg(), "train": table(), **change}
    with pytest.raises(FaceIQAError, match="another --out") as err:
        resume(out, args["cfg"], train=args["train"])
    assert named in str(err.value)
    assert (out / "last.json").read_text() == before  # nothing loaded into or written over the old run


def test_a_schedule_laid_out_over_the_epochs_fixes_them(tmp_path):
    out = start(tmp_path, Cfg(), epochs_fixed=True, train=table())
    with pytest.raises(FaceIQAError, match="cosine") as err:
        resume(out, Cfg(epochs=8), epochs_fixed=True, train=table())
    assert "epochs=4" in str(err.value) and "epochs=8" in str(err.value)
    assert resume(out, Cfg(), epochs_fixed=True, train=table())["epoch"] == 1


def test_a_state_saved_before_settings_were_kept_resumes_and_adopts_them(tmp_path):
    net = torch.nn.Linear(2, 1)
    save_state(tmp_path, net, torch.optim.SGD(net.parameters(), lr=0.1), None, {"epoch": 2, "best_srcc": 0.4, "history": []})
    meta = resume(tmp_path, Cfg(), train=table())
    assert meta["epoch"] == 2 and meta["settings"]["lr"] == 0.1 and meta["settings"]["data.train"]["rows"] == 3
    assert "settings" not in json.loads((tmp_path / "last.json").read_text())["meta"]  # written at the next epoch's save


@dataclass
class CfgWithNewField(Cfg):  # Cfg after a release added an option (paper-faithful default: off)
    augment: tuple = ()


def test_a_run_saved_before_a_field_existed_resumes_at_its_default_and_not_otherwise(tmp_path):
    out = start(tmp_path, Cfg(), train=table())
    assert "augment" not in json.loads((out / "last.json").read_text())["meta"]["settings"]
    assert resume(out, CfgWithNewField(), train=table())["epoch"] == 1  # the old run trained without it: the default
    with pytest.raises(FaceIQAError, match="another --out") as err:
        resume(out, CfgWithNewField(augment=("flip",)), train=table())
    assert "augment=None" in str(err.value) and "augment=['flip']" in str(err.value)
