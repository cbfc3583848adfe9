"""BRISQUE scores from the PyPI ``brisque`` package, run in a side virtual environment of its own.

    python -m benchmarks.brisque_side PATHS... --out brisque.csv [--crop none|face] [--workers 2]

``brisque`` 0.2.0 (an SVR on BRISQUE's 36 natural-scene features, trained on LIVE's human scores; lower is
better, roughly 0..100 and a little below 0 for very clean photos) calls ``float()`` on one-element arrays,
which numpy 2 refuses ("only 0-dimensional arrays can be converted to Python scalars"). The project runs
numpy 2, so :func:`ensure_env` builds a venv with numpy 1.26 and the pins in :data:`PINS` once (under a file
lock, reused while it still imports) and :func:`brisque_scores` sends it a JSON list of images; one worker
process scores the whole list and streams one JSON line per image, so an image that crashes or hangs the
worker costs only itself: the parent records it as an error and restarts the worker on the rest.

Images are read with PIL (EXIF orientation applied) and converted to RGB. ``crop="face"`` scores the largest
face that :class:`core.faces.FaceDetector` finds (its box grown by ``margin`` on each side), detected here in
the project's own environment; ``crop="none"`` scores the whole image. BRISQUE is not scale-invariant: a photo
is scored at its own resolution.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pandas as pd

#: The side environment's direct requirements (pip resolves the rest: networkx, imageio, tifffile, requests' deps).
#: brisque 0.2.0 needs numpy, scipy, scikit-image, libsvm-official and requests, and OpenCV through an extra;
#: opencv-python-headless 4.10 is the last line built against numpy 1.x; libsvm-official ships only as an
#: sdist, so the first build compiles its C++ with the system compiler (pip caches the wheel).
PINS = (
    "numpy==1.26.4",
    "scipy==1.13.1",
    "scikit-image==0.24.0",
    "opencv-python-headless==4.10.0.84",
    "libsvm-official==3.37.0",
    "pillow==11.3.0",
    "requests>=2.25",
    "brisque==0.2.0",
)
DEFAULT_ENV = Path(os.environ.get("FACEIQA_BRISQUE_ENV", Path.home() / ".cache" / "faceiqa-brisque"))
MARKER = "faceiqa-brisque.json"  # written last, after the probe passed: its presence means "built"
CROPS = ("none", "face")
MIN_SIDE = 32  # BRISQUE fits its features on the image and a half-size copy; smaller crops give noise, not a score

# pip's words when it could not reach an index (vs a resolver or compiler failure)
_OFFLINE_HINTS = ("NewConnectionError", "Failed to establish a new connection", "Temporary failure in name resolution",
                  "Network is unreachable", "ConnectTimeoutError", "ReadTimeoutError", "Max retries exceeded",
                  "No matching distribution found", "Could not find a version that satisfies")

_PROBE = ("import json, warnings; warnings.simplefilter('ignore'); import numpy, scipy, skimage, cv2, PIL, libsvm.svmutil; "
          "from brisque import BRISQUE; BRISQUE(url=False); from importlib.metadata import version as v; "
          "print(json.dumps({'numpy': numpy.__version__, 'brisque': v('brisque'), 'scipy': scipy.__version__, "
          "'scikit-image': skimage.__version__, 'opencv': cv2.__version__, 'pillow': PIL.__version__, "
          "'libsvm-official': v('libsvm-official')}))")

# Runs inside the side env (Python >= 3.9, numpy 1.26): argv = [jobs.json, min_side]. Protocol on the original
# stdout, one JSON object a line: {"ready": ...} once brisque loaded, then {"i", "brisque", "status", "seconds"}
# per job in order, or {"fatal": ...}. Library output is sent to stderr so it cannot corrupt the protocol.
_WORKER = r'''
import json, math, os, sys, time, warnings
warnings.simplefilter("ignore")  # brisque 0.2.0's float(array) DeprecationWarning, scipy.ndimage.filters, ...
proto = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr
def emit(rec):
    proto.write(json.dumps(rec) + "\n")
    proto.flush()
try:
    import numpy as np
    from PIL import Image, ImageOps
    from brisque import BRISQUE
    model = BRISQUE(url=False)
except Exception as exc:
    emit({"fatal": "cannot load brisque: %s: %s" % (type(exc).__name__, exc)})
    sys.exit(3)
with open(sys.argv[1]) as fh:
    jobs = json.load(fh)
min_side = int(sys.argv[2])
emit({"ready": True, "numpy": np.__version__})
for job in jobs:
    t0 = time.perf_counter()
    rec = {"i": job["i"], "brisque": None}
    try:
        with Image.open(job["path"]) as img:
            img.load()
            try:
                img = ImageOps.exif_transpose(img)
            except Exception:
                pass  # unreadable EXIF orientation: score the pixels as stored
            img = img.convert("RGB")
        if job.get("box"):
            img = img.crop(tuple(int(v) for v in job["box"]))
        if min(img.size) < min_side:
            raise ValueError("%dx%d px is under %d px" % (img.size[0], img.size[1], min_side))
        score = float(model.score(np.asarray(img)))
        if not math.isfinite(score):
            raise ValueError("non-finite score %r" % score)
        rec.update(brisque=score, status="ok")
    except Exception as exc:
        rec["status"] = "error: %s: %s" % (type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
    rec["seconds"] = round(time.perf_counter() - t0, 4)
    emit(rec)
'''


class BrisqueEnvError(RuntimeError):
    """The side environment could not be built or does not work. ``offline`` is True when pip could not reach
    a package index (so a test can skip), False for a resolver, compiler or import failure."""

    def __init__(self, message: str, offline: bool = False):
        super().__init__(message)
        self.offline = offline


# --------------------------------------------------------------------------- the side environment

def _venv_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _base_python() -> str:
    """An interpreter numpy 1.26.4 has wheels for (CPython 3.9-3.12): this one, else one on PATH."""
    if (3, 9) <= sys.version_info[:2] <= (3, 12):
        return sys.executable
    for name in ("python3.12", "python3.11", "python3.10", "python3.9"):
        found = shutil.which(name)
        if found:
            return found
    raise BrisqueEnvError(f"numpy 1.26 needs CPython 3.9-3.12; this is {sys.version.split()[0]} and none of "
                          "python3.12 ... python3.9 is on PATH (pass base_python=)")


def _clean_env() -> dict[str, str]:
    """The environment for side processes: nothing of this venv's Python paths leaks into the numpy-1 one."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _probe(python: Path, timeout: float = 300) -> dict | None:
    """Versions the side env reports once brisque loads; None when it does not."""
    if not python.exists():
        return None
    try:
        out = subprocess.run([str(python), "-c", _PROBE], capture_output=True, text=True, timeout=timeout, env=_clean_env())
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    try:
        info = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return info if str(info.get("numpy", "")).startswith("1.26") and info.get("brisque") == "0.2.0" else None


def _read_marker(env: Path) -> dict | None:
    try:
        return json.loads((env / MARKER).read_text())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (released by the OS if the holder dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


_READY: dict[str, Path] = {}  # envs this process already checked


def ensure_env(path: str | os.PathLike = DEFAULT_ENV, *, base_python: str | None = None, rebuild: bool = False,
               verbose: bool = False, pip_timeout: float = 1800) -> Path:
    """The side venv's python, building the venv first when it is missing, stale (other :data:`PINS`) or broken.

    Idempotent and safe to call from several processes at once: the check and the build run under an
    exclusive lock on ``<path>.lock``; the marker file is written only after the new env imported brisque with
    numpy 1.26 and loaded its model, so a build killed halfway is rebuilt by the next caller. A folder at
    ``path`` that is neither a venv nor empty is refused, never deleted.
    Raises :class:`BrisqueEnvError` (``offline=True`` when pip could not reach the index).
    """
    env = Path(path).expanduser().absolute()
    python = _venv_python(env)
    if not rebuild and _READY.get(str(env)) == python:
        return python
    with _locked(env.with_name(env.name + ".lock")):
        marker = _read_marker(env)
        if not rebuild and marker and marker.get("pins") == list(PINS) and _probe(python):
            _READY[str(env)] = python
            return python
        t0 = time.perf_counter()
        if env.exists():
            if not ((env / "pyvenv.cfg").is_file() or (env / MARKER).is_file() or (env.is_dir() and not any(env.iterdir()))):
                raise BrisqueEnvError(f"{env} exists and is not a virtual environment: refusing to replace it")
            shutil.rmtree(env)
        log = lambda msg: verbose and print(f"[brisque-env] {msg}", file=sys.stderr, flush=True)
        base = base_python or _base_python()
        log(f"building {env} from {base}")
        made = subprocess.run([base, "-m", "venv", str(env)], capture_output=True, text=True, env=_clean_env())
        if made.returncode != 0:
            raise BrisqueEnvError(f"python -m venv {env} failed: {(made.stderr or made.stdout).strip()[-2000:]}")
        cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", *PINS]
        log(" ".join(cmd[3:]))
        try:
            pip = subprocess.run(cmd, capture_output=True, text=True, timeout=pip_timeout, env=_clean_env())
        except subprocess.TimeoutExpired as exc:
            raise BrisqueEnvError(f"pip install of the BRISQUE side env took over {pip_timeout:.0f}s", offline=True) from exc
        if pip.returncode != 0:
            text = pip.stdout + pip.stderr
            raise BrisqueEnvError(f"pip install into {env} failed:\n{text.strip()[-3000:]}",
                                  offline=any(h in text for h in _OFFLINE_HINTS))
        info = _probe(python)
        if info is None:
            check = subprocess.run([str(python), "-c", _PROBE], capture_output=True, text=True, env=_clean_env())
            raise BrisqueEnvError(f"the new env at {env} does not load brisque with numpy 1.26:\n"
                                  f"{(check.stderr or check.stdout).strip()[-3000:]}")
        freeze = subprocess.run([str(python), "-m", "pip", "freeze", "--disable-pip-version-check"],
                                capture_output=True, text=True, env=_clean_env()).stdout.split()
        record = {"pins": list(PINS), "versions": info, "freeze": freeze, "base_python": base,
                  "build_seconds": round(time.perf_counter() - t0, 1), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        tmp = env / (MARKER + ".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, env / MARKER)
        log(f"ready in {record['build_seconds']}s: {info}")
        _READY[str(env)] = python
        return python


def env_info(path: str | os.PathLike = DEFAULT_ENV) -> dict | None:
    """The marker of a built side env (pins, versions, pip freeze, build seconds), or None."""
    return _read_marker(Path(path).expanduser().absolute())


# --------------------------------------------------------------------------- scoring

def _face_boxes(paths: Sequence[str], margin: float, detector=None) -> list[tuple[list[int] | None, str | None]]:
    """(box, None) for the largest face of each image, grown by ``margin`` per side, or (None, error status)."""
    from core.errors import FaceIQAError  # noqa: PLC0415
    from core.faces import FaceDetector  # noqa: PLC0415
    from core.io import load_image  # noqa: PLC0415

    detector = detector or FaceDetector()
    out = []
    for p in paths:
        try:
            img = load_image(p)
        except FaceIQAError as exc:
            out.append((None, f"error: {exc}"))
            continue
        faces = detector.detect(img)
        if not faces:
            out.append((None, "error: no face found"))
            continue
        h, w = img.shape[:2]
        x1, y1, x2, y2 = faces[0].box
        mx, my = margin * (x2 - x1), margin * (y2 - y1)
        out.append(([max(0, round(x1 - mx)), max(0, round(y1 - my)), min(w, round(x2 + mx)), min(h, round(y2 + my))], None))
    return out


def _tail(path: Path, n: int = 400) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    return text[-n:].replace("\n", " | ")


def _run_chunk(python: Path, jobs: list[dict], results: dict[int, dict], *, timeout: float | None,
               startup_timeout: float, min_side: int, on_result: Callable[[dict], None]) -> None:
    """Score ``jobs`` in one worker; on a crash or a hang the job in progress becomes an error and a new worker
    takes the rest. A worker that dies before loading brisque raises (the env itself is broken)."""
    pending = list(jobs)
    with tempfile.TemporaryDirectory(prefix="brisque-side-") as tmp:
        tmp = Path(tmp)
        while pending:
            (tmp / "jobs.json").write_text(json.dumps(pending))
            err_path = tmp / "stderr.txt"
            with open(err_path, "w") as err:
                proc = subprocess.Popen([str(python), "-c", _WORKER, str(tmp / "jobs.json"), str(min_side)],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True,
                                        env=_clean_env())
            lines: queue.Queue = queue.Queue()

            def pump(stream=proc.stdout, q=lines):
                for line in stream:
                    q.put(line)
                q.put(None)

            reader = threading.Thread(target=pump, daemon=True)
            reader.start()
            ready, done, hung = False, set(), False
            while True:
                try:
                    line = lines.get(timeout=(timeout if ready else startup_timeout))
                except queue.Empty:
                    hung = True
                    proc.kill()
                    break
                if line is None:
                    break
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # not ours
                if "fatal" in rec:
                    proc.kill()
                    raise BrisqueEnvError(f"BRISQUE worker ({python}): {rec['fatal']}")
                if rec.get("ready"):
                    ready = True
                elif "i" in rec and "status" in rec:
                    results[rec["i"]] = rec
                    done.add(rec["i"])
                    on_result(rec)
            rc = proc.wait()
            reader.join(timeout=5)
            if not ready:
                why = f"gave no sign of life in {startup_timeout:.0f}s" if hung else f"exited with {rc} before loading brisque"
                raise BrisqueEnvError(f"BRISQUE worker ({python}) {why}: {_tail(err_path)}")
            pending = [j for j in pending if j["i"] not in done]
            if not pending:
                break
            culprit, pending = pending[0], pending[1:]
            status = (f"error: worker timed out after {timeout:.0f}s" if hung
                      else f"error: worker crashed (exit {rc}){': ' + _tail(err_path, 200) if _tail(err_path, 200) else ''}")
            rec = {"i": culprit["i"], "brisque": None, "status": status, "seconds": None}
            results[culprit["i"]] = rec
            on_result(rec)


def brisque_scores(paths: Sequence[str | os.PathLike], crop: str = "none", *, margin: float = 0.25, workers: int = 1,
                   env: str | os.PathLike = DEFAULT_ENV, python: str | os.PathLike | None = None,
                   timeout: float | None = 300, startup_timeout: float = 300, min_side: int = MIN_SIDE,
                   detector=None, on_result: Callable[[str, float | None, str], None] | None = None) -> pd.DataFrame:
    """BRISQUE of each image, in input order: columns ``path``, ``brisque`` (lower = better; NaN on error) and
    ``status`` (``"ok"`` or ``"error: reason"``), plus ``box`` (x1, y1, x2, y2 scored) with ``crop="face"``.

    ``python`` skips :func:`ensure_env` and uses that interpreter (it must import ``brisque``). ``workers``
    processes share the list round-robin; ``timeout`` is per image (None: no limit); ``on_result(path, score,
    status)`` is called as each image finishes (from worker threads, one at a time). ``df.attrs`` holds the
    python used, the wall time and the summed per-image scoring time.
    """
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    t0 = time.perf_counter()
    paths = [os.fspath(p) for p in paths]
    py = Path(python) if python is not None else ensure_env(env)
    results: dict[int, dict] = {}
    boxes: list[list[int] | None] = [None] * len(paths)
    if crop == "face":
        for i, (box, error) in enumerate(_face_boxes(paths, margin, detector)):
            boxes[i] = box
            if error:
                results[i] = {"i": i, "brisque": None, "status": error, "seconds": None}
    jobs = [{"i": i, "path": str(Path(p).absolute()), "box": boxes[i]} for i, p in enumerate(paths) if i not in results]
    lock = threading.Lock()

    def report(rec: dict) -> None:
        if on_result is not None:
            with lock:
                on_result(paths[rec["i"]], rec["brisque"], rec["status"])

    if on_result is not None:
        for rec in list(results.values()):
            report(rec)
    chunks = [c for c in (jobs[k::max(1, workers)] for k in range(max(1, workers))) if c]
    kw = dict(timeout=timeout, startup_timeout=startup_timeout, min_side=min_side, on_result=report)
    if len(chunks) <= 1:
        for c in chunks:
            _run_chunk(py, c, results, **kw)
    else:
        errors: list[BaseException] = []

        def run(c):
            try:
                _run_chunk(py, c, results, **kw)
            except BaseException as exc:  # surfaced below, in the caller's thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(c,)) for c in chunks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
    rows = []
    for i, p in enumerate(paths):
        rec = results.get(i, {"brisque": None, "status": "error: no result"})
        row = {"path": p, "brisque": rec["brisque"], "status": rec["status"]}
        if crop == "face":
            row["box"] = None if boxes[i] is None else tuple(boxes[i])
        rows.append(row)
    cols = ["path", "brisque", "status"] + (["box"] if crop == "face" else [])
    df = pd.DataFrame(rows, columns=cols)
    df["brisque"] = pd.to_numeric(df["brisque"], errors="coerce").astype(float)
    df.attrs.update(python=str(py), wall_seconds=round(time.perf_counter() - t0, 3),
                    score_seconds=round(sum(r.get("seconds") or 0.0 for r in results.values()), 3))
    return df


# --------------------------------------------------------------------------- CLI

def expand_paths(items: Sequence[str | os.PathLike]) -> list[str]:
    """Files as given; folders become the image files under them (recursive, sorted)."""
    from core.io import iter_image_paths  # noqa: PLC0415

    return [str(p) for p in iter_image_paths(items)]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.brisque_side", description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", help="image files or folders (searched recursively)")
    ap.add_argument("--out", default="brisque.csv", help="CSV to write (path, brisque, status[, box])")
    ap.add_argument("--crop", choices=CROPS, default="none", help="whole image, or the largest detected face")
    ap.add_argument("--margin", type=float, default=0.25, help="with --crop face: box growth per side, x box size")
    ap.add_argument("--workers", type=int, default=1, help="worker processes")
    ap.add_argument("--env", default=str(DEFAULT_ENV), help="side venv folder (built on first use)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per image before the worker is restarted")
    ap.add_argument("--quiet", action="store_true", help="no per-image progress on stderr")
    args = ap.parse_args(argv)

    paths = expand_paths(args.paths)
    if not paths:
        print("brisque_side: no image files found", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    python = ensure_env(args.env, verbose=not args.quiet)
    t_env = time.perf_counter() - t0
    done = [0]

    def progress(path: str, score: float | None, status: str) -> None:
        done[0] += 1
        if not args.quiet:
            shown = f"{score:7.2f}" if score is not None else "   -   "
            print(f"[{done[0]}/{len(paths)}] {shown}  {path}{'' if status == 'ok' else '  ' + status}", file=sys.stderr)

    df = brisque_scores(paths, crop=args.crop, margin=args.margin, workers=args.workers, python=python,
                        timeout=args.timeout, on_result=progress)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    ok = int((df.status == "ok").sum())
    print(f"brisque_side: {ok}/{len(df)} scored -> {args.out} (env check {t_env:.1f}s, scoring {df.attrs['wall_seconds']:.1f}s "
          f"wall, {df.attrs['score_seconds'] / max(ok, 1):.3f}s/image in the worker)", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
