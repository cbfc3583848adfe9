"""``faceiqa`` command line: ``score``, ``models``, ``studio``."""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from .errors import FaceIQAError


def _cmd_models(args) -> int:
    from .models.registry import list_models  # noqa: PLC0415

    infos = list_models()
    if args.json:
        print(json.dumps([i.as_dict() for i in infos], indent=2))
        return 0
    print(f"{'name':<22}{'range':<12}{'lower_better':<14}{'inputs':<34}description")
    for i in infos:
        rng = f"{i.score_range[0]:g}..{i.score_range[1]:g}"
        print(f"{i.name:<22}{rng:<12}{str(i.lower_better):<14}{','.join(i.inputs):<34}{i.description}")
    return 0


def _cmd_score(args) -> int:
    from .api import Scorer  # noqa: PLC0415
    from .batch import score_files  # noqa: PLC0415
    from .faces import FaceDetector  # noqa: PLC0415
    from .io import iter_image_paths  # noqa: PLC0415

    if args.max_pixels:
        os.environ["FACEIQA_MAX_PIXELS"] = str(args.max_pixels)
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"faceiqa score: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    files = iter_image_paths(args.paths)
    if not files:
        print("faceiqa score: no image files found (looked for " + ", ".join(sorted({".jpg", ".png", ".webp", ".bmp", ".tif"})) + ")", file=sys.stderr)
        return 2
    detector = FaceDetector(detector=args.detector, landmarker=args.landmarker)
    scorer = Scorer(args.model, weights=args.weights, device=args.device, detector=detector)
    summary = score_files(files, args.out, scorer, faces=args.faces, aligned=args.aligned, progress=not args.quiet)
    print(f"{args.out}: {summary}")
    return 0


def _cmd_studio(args) -> int:
    cmd = [sys.executable, "-m", "studio", "--host", args.host, "--port", str(args.port)]
    if args.share:
        cmd.append("--share")
    return subprocess.call(cmd)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="faceiqa", description="Face image quality assessment, offline.")
    p.add_argument("-v", "--verbose", action="store_true", help="log warnings and info")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("score", help="score every face in images or folders into a CSV/Parquet table (resumable)")
    s.add_argument("paths", nargs="+", help="image files and/or folders (searched recursively)")
    s.add_argument("--model", default="perceptual-combined", help="registry name (see `faceiqa models`)")
    s.add_argument("--weights", default=None, help="a .safetensors checkpoint (with its .json) for the model")
    s.add_argument("--out", default="scores.csv", help="output .csv or .parquet (re-running resumes it)")
    s.add_argument("--faces", choices=("all", "largest"), default="all")
    s.add_argument("--aligned", action="store_true", help="inputs are aligned face crops: skip detection")
    s.add_argument("--detector", choices=("hog", "cnn"), default="hog")
    s.add_argument("--landmarker", choices=("dlib", "fan"), default="dlib")
    s.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    s.add_argument("--max-pixels", type=int, default=None, help="refuse larger images (decompression-bomb guard)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_score)

    m = sub.add_parser("models", help="list the registered models")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=_cmd_models)

    st = sub.add_parser("studio", help="start the Gradio upload-and-score app")
    st.add_argument("--host", default="127.0.0.1")
    st.add_argument("--port", type=int, default=7860)
    st.add_argument("--share", action="store_true")
    st.set_defaults(func=_cmd_studio)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except FaceIQAError as exc:
        print(f"faceiqa {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
