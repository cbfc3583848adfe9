"""benchmarks/brisque_side.py: BRISQUE (PyPI brisque 0.2.0) in a numpy-1.26 side venv, streamed per image.

Fast tests drive the worker protocol with a stand-in ``brisque`` module on this venv's python (crash, hang,
stray stdout, unreadable and tiny images); the slow ones build (or reuse) the real side env, which needs PyPI
the first time, and check that BRISQUE rises with blur and with JPEG compression."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from conftest import REPO, SAMPLES
from PIL import Image, ImageFilter

from benchmarks import brisque_side as bs

FAKE_BRISQUE = textwrap.dedent('''
    import os, signal, time

    class BRISQUE:
        def __init__(self, url=False):
            print("stray library output on stdout")  # must not corrupt the protocol

        def score(self, img):
            w = img.shape[1]
            if w == 77:
                os.kill(os.getpid(), signal.SIGSEGV)  # a hard crash in native code
            if w == 66:
                time.sleep(60)  # a hang
            print("more stray output")
            return float(img.mean())
''')


def _fake_python(tmp_path, with_brisque: bool = True):
    """A wrapper around this interpreter that sees the stand-in brisque (the worker strips PYTHONPATH itself)."""
    lib = tmp_path / "fakelib"
    if with_brisque:
        (lib / "brisque").mkdir(parents=True)
        (lib / "brisque" / "__init__.py").write_text(FAKE_BRISQUE)
    else:
        lib.mkdir()
    wrapper = tmp_path / "fakepython"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{lib}" exec "{sys.executable}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper


def _images(tmp_path):
    """(paths, expected mean) with a crash (width 77), a hang (66), a tiny image, a corrupt file and a grey one."""
    d = tmp_path / "imgs"
    d.mkdir()
    specs = [("a.png", (100, 90), 10), ("crash.png", (77, 80), 20), ("b.jpg", (120, 100), 30),
             ("hang.png", (66, 70), 40), ("tiny.png", (20, 50), 50), ("grey.png", (64, 64), 60)]
    paths = []
    for name, size, value in specs:
        Image.new("L" if name == "grey.png" else "RGB", size, value if name == "grey.png" else (value, value, value)).save(d / name)
        paths.append(str(d / name))
    (d / "corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    paths.insert(3, str(d / "corrupt.jpg"))
    return paths


def test_worker_streams_and_survives_crash_hang_and_bad_files(tmp_path):
    py = _fake_python(tmp_path)
    paths = _images(tmp_path)
    seen = []
    df = bs.brisque_scores(paths, python=py, timeout=2, on_result=lambda p, s, st: seen.append(p))
    assert list(df.columns) == ["path", "brisque", "status"]
    assert df.path.tolist() == paths and sorted(seen) == sorted(paths)
    got = dict(zip([os.path.basename(p) for p in df.path], zip(df.brisque, df.status)))
    assert got["a.png"] == (pytest.approx(10), "ok") and got["b.jpg"][1] == "ok" and got["grey.png"] == (pytest.approx(60), "ok")
    assert got["crash.png"][1].startswith("error: worker crashed") and np.isnan(got["crash.png"][0])
    assert got["hang.png"][1] == "error: worker timed out after 2s"
    assert got["corrupt.jpg"][1].startswith("error: ") and "under 32 px" in got["tiny.png"][1]
    # two workers share the list and agree, order kept
    df2 = bs.brisque_scores(paths, python=py, timeout=2, workers=2)
    short = lambda st: st.split(":")[0] + ":" + st.split(":")[1] if ":" in st else st  # the stderr tail may differ
    assert df2.path.tolist() == paths and df2.status.map(short).tolist() == df.status.map(short).tolist()
    assert np.allclose(df2.brisque, df.brisque, equal_nan=True)


def test_worker_without_brisque_is_an_env_error(tmp_path):
    with pytest.raises(bs.BrisqueEnvError, match="cannot load brisque"):
        bs.brisque_scores([str(SAMPLES / "astronaut.jpg")], python=_fake_python(tmp_path, with_brisque=False))
    with pytest.raises(ValueError, match="crop must be"):
        bs.brisque_scores([], crop="centre", python=sys.executable)


def test_ensure_env_refuses_to_replace_a_folder_that_is_not_a_venv(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(bs.BrisqueEnvError, match="not a virtual environment"):
        bs.ensure_env(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_cli_expands_folders_and_writes_csv(tmp_path, monkeypatch):
    import pandas as pd

    py = _fake_python(tmp_path)
    monkeypatch.setattr(bs, "ensure_env", lambda *a, **k: py)
    d = tmp_path / "photos" / "sub"
    d.mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (40 + i, 40), (i, i, i)).save(d / f"{i}.png")
    (d / "readme.txt").write_text("not an image")
    out = tmp_path / "out" / "brisque.csv"
    assert bs.main([str(tmp_path / "photos"), "--out", str(out), "--quiet"]) == 0
    t = pd.read_csv(out)
    assert [os.path.basename(p) for p in t.path] == ["0.png", "1.png", "2.png"] and (t.status == "ok").all()


def test_face_crop_scores_the_face_box(tmp_path):
    py = _fake_python(tmp_path)
    df = bs.brisque_scores([str(SAMPLES / "astronaut.jpg"), str(SAMPLES / "no_face_coffee.jpg")], crop="face", python=py)
    assert df.status.tolist() == ["ok", "error: no face found"]
    x1, y1, x2, y2 = df.box[0]
    assert 0 <= x1 < x2 <= 360 and 0 <= y1 < y2 <= 320 and 80 < x2 - x1 < 200
    crop = np.asarray(Image.open(SAMPLES / "astronaut.jpg").convert("RGB").crop((x1, y1, x2, y2)))
    assert df.brisque[0] == pytest.approx(crop.mean())


# --------------------------------------------------------------------------- the real side env (slow)

@pytest.fixture(scope="module")
def side_python():
    t0 = time.perf_counter()
    try:
        py = bs.ensure_env(verbose=True)
    except bs.BrisqueEnvError as exc:
        if exc.offline:
            pytest.skip(f"pip cannot reach PyPI to build the BRISQUE side env at {bs.DEFAULT_ENV}: {str(exc)[-300:]}")
        raise
    print(f"side env ready in {time.perf_counter() - t0:.1f}s: {bs.env_info()['versions']}")
    return py


@pytest.mark.slow
def test_side_env_is_numpy1_and_reused(side_python):
    info = bs.env_info()
    assert info["versions"]["numpy"] == "1.26.4" and info["versions"]["brisque"] == "0.2.0"
    assert "numpy==1.26.4" in info["freeze"]
    t0 = time.perf_counter()
    assert bs.ensure_env() == side_python  # this process: remembered
    out = subprocess.run([sys.executable, "-c", "from benchmarks.brisque_side import ensure_env; print(ensure_env())"],
                         capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == str(side_python) and bs.env_info()["built_at"] == info["built_at"]  # reused, not rebuilt
    assert time.perf_counter() - t0 < 60


@pytest.mark.slow
def test_brisque_rises_with_blur_and_jpeg(side_python, tmp_path):
    img = Image.open(SAMPLES / "astronaut.jpg").convert("RGB")
    paths = []
    for r in (0, 1, 2, 3, 4):
        paths.append(str(tmp_path / f"blur{r}.png"))
        (img.filter(ImageFilter.GaussianBlur(r)) if r else img).save(paths[-1])
    for q in (90, 50, 30, 15, 8, 4):
        paths.append(str(tmp_path / f"jpeg{q}.jpg"))
        img.save(paths[-1], quality=q)
    samples = [str(SAMPLES / n) for n in ("astronaut.jpg", "astronaut_blurred.jpg", "astronaut_jpeg_q8.jpg", "astronaut_noisy.jpg")]
    df = bs.brisque_scores(paths + samples, python=side_python)
    assert (df.status == "ok").all(), df
    s = df.brisque.to_numpy()
    blur, jpeg, (clean, blurred, jpeg8, noisy) = s[:5], s[5:11], s[11:]
    assert np.all(np.diff(blur) > 0), blur
    assert np.all(np.diff(jpeg) > 0), jpeg
    assert min(blurred, jpeg8, noisy) > clean + 20, s[11:]
    assert -20 < s.min() and s.max() < 130  # BRISQUE's usual range (a clean photo may go a little below 0)


def _pypi_unreachable(tmp_path) -> str | None:
    """pip's complaint when it cannot fetch brisque's wheel, else None."""
    out = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                          "-d", str(tmp_path / "dl"), "brisque==0.2.0"], capture_output=True, text=True, timeout=600)
    return None if out.returncode == 0 else (out.stderr or out.stdout).strip()[-300:]


@pytest.mark.slow
def test_two_builders_at_once_build_one_env(side_python, tmp_path):
    """Two processes asking for a fresh env at once: the lock makes one build it and the other reuse it."""
    why = _pypi_unreachable(tmp_path)
    if why:
        pytest.skip(f"pip cannot reach PyPI to build a fresh BRISQUE side env: {why}")
    env = tmp_path / "env"
    code = f"from benchmarks.brisque_side import ensure_env; print(ensure_env({str(env)!r}, verbose=True))"
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=1500) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert {o[0].strip() for o in outs} == {str(env / "bin" / "python")}
    assert sum("[brisque-env] building" in o[1] for o in outs) == 1, outs
    df = bs.brisque_scores([str(SAMPLES / "astronaut.jpg")], env=env)
    assert df.status[0] == "ok" and df.brisque[0] < 20
