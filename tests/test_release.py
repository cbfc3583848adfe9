"""The release: the shipped files install with the package (a wheel scores like the checkout), and the pipeline that
made them (`faceiqa train defaults`, recipes in configs/release/) runs from this checkout - CI reproduces its short
recipe's committed numbers."""
import json
import os
import subprocess
import sys
import zipfile

import pytest
from conftest import REPO, SAMPLES

SAMPLE_NAMES = ("astronaut.jpg", "astronaut_blurred.jpg", "astronaut_noisy.jpg", "astronaut_jpeg_q8.jpg", "two_faces.jpg")
SCORE_SCRIPT = """
import json, sys
import core
from core.faces import FaceDetector
out = {"core": core.__file__}
for model in ("mobile-fiqa", "stylegan-iqa", "dsl-fiqa", "ifqa", "tinyfqnet"):
    s = core.Scorer(model, device="cpu")
    out[model] = [[f.score for f in s.assess(p).faces] for p in sys.argv[1:]]
out["robust"] = [f.box for f in FaceDetector(detector="robust").detect(core.load_image(sys.argv[1]))]
from core.analysis.demographics import GenderEstimator
out["gender_bias"] = float(GenderEstimator.load().bias)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The project's wheel, built from this checkout without network (the build backend is already installed)."""
    import shutil

    out = tmp_path_factory.mktemp("wheel")
    src = out / "src"  # a copy: setuptools builds in the source tree (build/, *.egg-info), which must stay clean
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__", ".pytest_cache",
                                                             ".ruff_cache", "docs", "tests", "benchmarks", "experiments"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (whl,) = out.glob("faceiqa_studio-*.whl")
    return whl


def _score(python_path, cwd):
    env = {**os.environ, "PYTHONPATH": str(python_path), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", SCORE_SCRIPT, *[str(SAMPLES / n) for n in SAMPLE_NAMES]], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_wheel_ships_the_weights_and_scores_like_the_checkout(wheel, tmp_path):
    names = zipfile.ZipFile(wheel).namelist()
    for stem in ("mobile-fiqa", "stylegan-iqa", "dsl-fiqa", "ifqa", "tinyfqnet", "robust-face", "gender-dlib128"):
        assert f"core/assets/{stem}.safetensors" in names and f"core/assets/{stem}.json" in names, stem
    assert "core/assets/ifqa.md" in names and not any(n.startswith(("tests/", "benchmarks/", "experiments/")) for n in names)
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    installed = _score(site, tmp_path)  # run outside the checkout: only the installed copy is importable
    checkout = _score(REPO, REPO)
    assert installed["core"].startswith(str(site)) and checkout["core"].startswith(str(REPO))
    for key in ("mobile-fiqa", "stylegan-iqa", "dsl-fiqa", "ifqa", "tinyfqnet"):
        assert installed[key] == checkout[key], key
        sharp, blurred = installed[key][0][0], installed[key][1][0]
        assert sharp > blurred + 0.02, (key, sharp, blurred)  # trained weights, not a random net's constant
    assert installed["robust"] == checkout["robust"] and len(installed["robust"]) == 1
    assert installed["gender_bias"] == checkout["gender_bias"]


def test_missing_shipped_weights_are_an_error_not_an_untrained_model(tmp_path, monkeypatch):
    import core.assets
    import core.models.factory
    from core.errors import CheckpointError, MissingWeightsError
    from core.models import create_model

    monkeypatch.setattr(core.models.factory, "shipped_weights", lambda name: None)
    with pytest.raises(MissingWeightsError, match="pretrained=False for an untrained model"):
        create_model("dsl-fiqa", device="cpu")
    assert create_model("dsl-fiqa", pretrained=False, device="cpu").training is False  # asked for explicitly
    assert create_model("perceptual-blur", device="cpu") is not None  # nothing to ship: no error
    monkeypatch.undo()
    with pytest.raises(MissingWeightsError, match="resnet50-iqa: no shipped weights"):
        create_model("resnet50-iqa", device="cpu")
    with pytest.raises(CheckpointError, match="shipped weights were trained with"):
        create_model("ifqa", device="cpu", config="paper")
    with pytest.raises(MissingWeightsError, match="not in"):
        core.assets.asset("nothing.safetensors")


def test_missing_detector_and_gender_weights_say_so(tmp_path, monkeypatch, astronaut):
    import core.faces.robust as robust
    from core.analysis.demographics import GenderEstimator
    from core.errors import BackendUnavailableError, MissingWeightsError
    from core.faces import FaceDetector

    robust.shipped_detector.cache_clear()
    monkeypatch.setattr(robust, "WEIGHTS", tmp_path / "robust-face.safetensors")
    monkeypatch.setattr(robust.load_robust, "__defaults__", (tmp_path / "robust-face.safetensors",))
    try:
        with pytest.raises(BackendUnavailableError, match="robust face weights"):
            FaceDetector(detector="robust").detect(astronaut)
        assert len(FaceDetector().detect(astronaut)) == 1  # as a fallback it is skipped: dlib still finds the face
    finally:
        robust.shipped_detector.cache_clear()
    import core.analysis.demographics as demo

    monkeypatch.setattr(demo, "DEFAULT_WEIGHTS", tmp_path / "gender.safetensors")
    with pytest.raises(MissingWeightsError, match="gender estimator weights"):
        GenderEstimator.load(tmp_path / "gender.safetensors")


def test_recipes_are_data_and_checked(tmp_path):
    from core.errors import FaceIQAError
    from core.train.defaults import build_options, load_recipe

    r = load_recipe()
    assert r.models == ("stylegan-iqa", "dsl-fiqa", "ifqa") and r.run_file_of("ifqa") == "configs/train/ifqa/lfw-bench.yaml"
    assert r.train_build[:2] == ["--identities", "train"] and r.train_build[-1] == "-q"
    assert build_options(r.train_build, {}) == r.train_build
    ci = load_recipe(REPO / "configs" / "release" / "ci.yaml")
    assert set(ci.models) == set(r.models) and all((REPO / ci.run_file_of(m)).is_file() for m in ci.models)
    (tmp_path / "bad.yaml").write_text("models: [ifqa]\nsources: [lfw]\ntrain_build: {}\nheldout_build: {}\nepochs: 3\n")
    with pytest.raises(FaceIQAError, match="unknown: \\['epochs'\\]"):
        load_recipe(tmp_path / "bad.yaml")
    with pytest.raises(FaceIQAError, match="no release recipe"):
        load_recipe(tmp_path / "none.yaml")
    from core.cli import main

    assert main(["train", "defaults", "--work", str(tmp_path), "--models", "tinyfqnet"]) == 1  # not in the recipe


#: CI's short recipe: its held-out metrics as committed (benchmarks/results/ci/, written by the command below on 2 CPU
#: cores); a rerun at the same thread count reproduces them, so the tolerance is float noise, not training noise.
CI_RESULTS = REPO / "benchmarks" / "results" / "ci"


@pytest.mark.slow
@pytest.mark.data
def test_short_release_recipe_reproduces_its_committed_numbers(shared_data, tmp_path):
    env = {**os.environ, "FACEIQA_DATA": str(shared_data)}
    r = subprocess.run([sys.executable, "-m", "core.cli", "train", "defaults", "--recipe", "configs/release/ci.yaml",
                        "--data", str(shared_data), "--work", str(tmp_path / "work"), "--results", str(tmp_path / "results")],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for name in ("stylegan-iqa", "dsl-fiqa", "ifqa"):
        committed = json.loads((CI_RESULTS / f"{name}.json").read_text())
        again = json.loads((tmp_path / "results" / f"{name}.json").read_text())
        assert again["n"] == committed["n"], name
        for k in ("srcc", "krcc", "plcc", "rmse"):
            assert again[k] == pytest.approx(committed[k], abs=2e-3), (name, k, again, committed)


def test_ship_keeps_the_committed_bytes_of_an_equal_checkpoint(tmp_path):
    """`faceiqa train defaults --ship` replaces a shipped checkpoint only when tensors or config changed."""
    import torch

    from core.models import create_model
    from core.models.checkpoint import save_checkpoint
    from core.train.defaults import same_checkpoint
    m = create_model("tinyfqnet", pretrained=False, device="cpu")
    a = save_checkpoint(m, tmp_path / "a.safetensors", extra={"test": {"srcc": 0.5}})
    b = save_checkpoint(m, tmp_path / "b.safetensors", extra={"test": {"srcc": 0.5}})
    assert same_checkpoint(a, b)
    c = save_checkpoint(m, tmp_path / "c.safetensors", extra={"test": {"srcc": 0.6}})
    assert not same_checkpoint(a, c)  # the card's metrics changed
    with torch.no_grad():
        next(m.parameters()).add_(1e-3)
    d = save_checkpoint(m, tmp_path / "d.safetensors", extra={"test": {"srcc": 0.5}})
    assert not same_checkpoint(a, d) and not same_checkpoint(a, tmp_path / "missing.safetensors")


def test_model_builds_change_only_their_models_training_set(tmp_path):
    """IFQA trains on its own build (more faces, one copy each, JPEG 4x as likely); the card says so; a later call for
    one model keeps the other models' repeated runs; a model without a finished run is compared by its shipped weights."""
    import pandas as pd

    from core.train.defaults import _copies_text, _weights_text, load_recipe, seed_model_weights, seed_table

    recipe = load_recipe()
    TRAIN_BUILD = recipe.train_build
    assert list(recipe.model_builds) == ["ifqa"] and recipe.train_build_of("dsl-fiqa") == TRAIN_BUILD  # only IFQA has its own
    card = (REPO / "core" / "assets" / "ifqa.md").read_text()
    assert " ".join(recipe.train_build_of("ifqa")) in card and "--labels bench_ifqa/labels.csv" in card and "mirror image" in card
    ifqa = recipe.train_build_of("ifqa")
    assert ifqa[ifqa.index("--per-source") + 1] == "1" and ifqa.count("--per-source") == 1
    assert ifqa[ifqa.index("--type-weights") + 1] == "jpeg=4" and ifqa[ifqa.index("--seed") + 1] == "0"
    assert _copies_text(ifqa) == "1 random degradation" and _copies_text(TRAIN_BUILD) == "4 random degradations"
    assert _weights_text(ifqa) == ", jpeg 4x as likely" and _weights_text(TRAIN_BUILD) == ""

    results = tmp_path / "results"
    results.mkdir()
    old = [{"model": m, "seed": s, "srcc": v, "plcc": v, "rmse": 0.1} for m, vs in (("dsl-fiqa", [0.68, 0.64]), ("ifqa", [0.40, 0.48]))
           for s, v in enumerate(vs)]
    pd.DataFrame(old + [{"model": "ifqa", "seed": "median", "srcc": 0.44}]).to_csv(results / "seeds.csv", index=False)
    (results / "ifqa.json").write_text(json.dumps({"srcc": 0.55, "plcc": 0.52, "rmse": 0.3}))
    out = seed_table(recipe, ["ifqa"], [], tmp_path, {}, tmp_path / "heldout.csv", results)  # no new seeds: no training
    runs = out[out.seed.astype(str) != "median"]
    assert runs.model.tolist() == ["dsl-fiqa", "dsl-fiqa", "ifqa"] and runs.srcc.tolist() == [0.68, 0.64, 0.55]
    med = out[out.seed.astype(str) == "median"].set_index("model")
    assert med.srcc["dsl-fiqa"] == pytest.approx(0.66) and med.srcc["ifqa"] == pytest.approx(0.55)
    assert len(pd.read_csv(results / "seeds.csv")) == 5  # written: 3 runs + 2 medians

    assert seed_model_weights(tmp_path, "ifqa") == REPO / "core" / "assets" / "ifqa.safetensors"
    (tmp_path / "runs" / "ifqa").mkdir(parents=True)
    (tmp_path / "runs" / "ifqa" / "done").touch()
    assert seed_model_weights(tmp_path, "ifqa") == tmp_path / "runs" / "ifqa" / "ifqa.safetensors"


def _people(shared_data, dest, n, min_photos=1):
    """``dest/<person>/``: links to the photos of the first ``n`` LFW people with at least ``min_photos`` photos."""
    people = [d for d in sorted((shared_data / "lfw" / "images").iterdir()) if len(list(d.glob("*.jpg"))) >= min_photos][:n]
    for d in people:
        (dest / d.name).mkdir(parents=True)
        for f in sorted(d.glob("*.jpg")):
            (dest / d.name / f.name).symlink_to(f)
    return dest


def short_trainer_runs(shared_data, work):
    """The other two trainers' short CI recipes (configs/release/ci-runs/): tinyFQnet (labels, damage pre-training,
    regression) and the robust detector (30 steps); returns what benchmarks/results/ci/trainers.json commits."""
    import pandas as pd

    from core.cli import main

    runs = REPO / "configs" / "release" / "ci-runs"
    photos = _people(shared_data, work / "tiny_photos", 16, min_photos=10)
    assert main(["train", "tinyfqnet", str(photos), "--config", str(runs / "tinyfqnet.yaml"), "--out", str(work / "tiny"),
                 "--workers", "1"]) == 0
    hist = pd.read_csv(work / "tiny" / "metrics.csv")
    faces = _people(shared_data, work / "det_photos", 6)
    out = work / "robust.safetensors"
    assert main(["train", "robust-face", str(faces), "--config", str(runs / "robust-face.yaml"), "--out", str(out),
                 "--workers", "1", "--holdout", "0"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    return {"tinyfqnet": {"rows": len(pd.read_parquet(work / "tiny" / "labels.parquet")),
                          "val_srcc": [round(float(v), 5) for v in hist.val_srcc],
                          "train_l2": [round(float(v), 5) for v in hist.train_l2]},
            "robust-face": {"steps": card["steps"], "loss": [c["loss"] for c in card["curve"]]}}


@pytest.mark.slow
@pytest.mark.data
def test_short_tinyfqnet_and_detector_runs_reproduce_their_committed_numbers(shared_data, tmp_path):
    got = short_trainer_runs(shared_data, tmp_path)
    committed = json.loads((CI_RESULTS / "trainers.json").read_text())
    assert got["tinyfqnet"]["rows"] == committed["tinyfqnet"]["rows"]
    for k in ("val_srcc", "train_l2"):
        assert got["tinyfqnet"][k] == pytest.approx(committed["tinyfqnet"][k], abs=2e-3), k
    assert got["robust-face"]["steps"] == committed["robust-face"]["steps"] == 30
    assert got["robust-face"]["loss"] == pytest.approx(committed["robust-face"]["loss"], abs=2e-3)
