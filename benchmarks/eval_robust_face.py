"""Detection recall, false faces, landmark error and CPU speed: robust-cnn vs dlib HOG vs dlib CNN.

    python benchmarks/eval_robust_face.py --n 80 --out benchmarks/results/robust_face

Held-out photos: LFW identities in the test part of an identity split (seed 0, 80/20) that
the shipped detector never saw, labelled by dlib HOG on the clean photo (the teacher). Every
degradation type at levels 1-5 (the data engine's levels, spatial ones scaled to the photo),
plus Gaussian blur of absolute radius 3 and 5 px (the numbers quoted in issue 4). Recall =
the largest teacher face matched at IoU >= 0.4. False faces: any detection on face-free crops
of the same photos, minus those where dlib finds a face at 4x (small background people the
teacher missed on the whole photo). Occlusion is also reported for faces at most half covered
(the engine's patch is sized to the image and can hide a whole LFW face). Real degraded crops (codeformer/gfpgan inputs): share with a face found.
"""
from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter

from core.data.build import identity_split
from core.data.degrade import TYPES, degrade
from core.faces import FaceDetector, dlib_backend
from core.faces.robust import RobustDetector, load_robust, shipped_detector
from core.io import iter_image_paths, load_image
from core.train.robust_face import evaluate_detection


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("FACEIQA_DATA", "../shared/data"))
    ap.add_argument("--n", type=int, default=80)
    ap.add_argument("--cnn-n", type=int, default=30, help="photos for the (slow) dlib CNN detector")
    ap.add_argument("--out", default="benchmarks/results/robust_face")
    ap.add_argument("--weights", default=None, help="robust-face weights to evaluate (default: the shipped ones)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = Path(args.data)
    files = sorted((data / "lfw" / "images").glob("*/*.jpg"))
    split = identity_split({f.parent.name for f in files}, (0.8, 0.0, 0.2), seed=0)
    test = [f for f in files if split[f.parent.name] == "test"]
    random.Random(1).shuffle(test)
    hog = FaceDetector(fallback=None)
    photos = []
    for f in test:
        img = load_image(f)
        faces = hog.detect(img)
        if faces:
            photos.append((img, np.array([f.box for f in faces], np.float32), faces[0].landmarks))  # all faces: none may sit in a "face-free" crop
        if len(photos) >= args.n:
            break
    robust = RobustDetector(load_robust(args.weights)) if args.weights else shipped_detector()

    def hog_fn(im):
        return [b for b, _ in dlib_backend.detect(im, "hog", 1)]

    def cnn_fn(im):
        return [b for b, _ in dlib_backend.detect(im, "cnn", 1)]

    def robust_fn(im):
        return [b for b, _ in robust.detect(im)]

    def face_in_crop(crop):  # the teacher again, at 4x: finds background faces down to ~20 px
        big = np.asarray(Image.fromarray(crop).resize((crop.shape[1] * 4, crop.shape[0] * 4), Image.BICUBIC))
        return bool(dlib_backend.detect(big, "hog", 1))

    pairs = [(p[0], p[1]) for p in photos]
    recall, fp = evaluate_detection({"robust-cnn": robust_fn, "dlib-hog": hog_fn}, pairs, TYPES, face_check=face_in_crop)
    cnn_recall, cnn_fp = evaluate_detection({"dlib-cnn": cnn_fn}, pairs[: args.cnn_n], ("gaussian_blur", "motion_blur", "resize", "gaussian_noise", "jpeg"),
                                            face_check=face_in_crop)
    recall = pd.concat([recall, cnn_recall], ignore_index=True)
    fp = pd.concat([fp, cnn_fp], ignore_index=True)
    # absolute radius blurs, as measured in the issue
    rows = []
    for radius in (3, 5):
        for name, fn in (("robust-cnn", robust_fn), ("dlib-hog", hog_fn)):
            hits = 0
            for img, boxes in pairs:
                blurred = np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(radius)))
                hits += any(_iou(b, boxes[0]) >= 0.4 for b in fn(blurred))
            rows.append({"detector": name, "degradation": f"gaussian_radius_{radius}px", "level": radius, "recall": hits / len(pairs)})
    recall = pd.concat([recall, pd.DataFrame(rows)], ignore_index=True)
    table = recall.pivot_table(index=["degradation", "level"], columns="detector", values="recall").round(3)
    table.to_csv(out / "recall.csv")
    fp.to_csv(out / "false_faces.csv", index=False)

    # landmarks: robust box + dlib shape predictor vs the teacher's clean landmarks
    nme_rows = []
    for kind in ("clean",) + TYPES:
        for level in ((0,) if kind == "clean" else (4,)):
            errs = []
            for i, (img, boxes, lm) in enumerate(photos):
                d = img if kind == "clean" else degrade(img, kind, level, seed=i)[0]
                found = robust.detect(d)
                match = [b for b, _ in found if _iou(b, boxes[0]) >= 0.4]
                if not match:
                    continue
                pred = dlib_backend.landmarks(d, match[0], 68)
                iod = np.linalg.norm(lm[36] - lm[45])
                errs.append(float(np.linalg.norm(pred - lm, axis=1).mean() / iod))
            nme_rows.append({"degradation": kind, "level": level, "faces": len(errs), "nme": round(float(np.mean(errs)), 4) if errs else None})
    nme = pd.DataFrame(nme_rows)
    nme.to_csv(out / "landmark_nme.csv", index=False)

    # real degraded crops and photos
    real = []
    for folder in ("codeformer-inputs/cropped_faces", "codeformer-inputs/gray_faces", "codeformer-inputs/masked_faces", "gfpgan-inputs"):
        paths = iter_image_paths([data / folder])
        imgs = [load_image(p) for p in paths]
        for name, fn in (("robust-cnn", robust_fn), ("dlib-hog", hog_fn)):
            real.append({"folder": folder, "detector": name, "images": len(imgs), "with_face": round(float(np.mean([len(fn(im)) > 0 for im in imgs])), 3)})
    real = pd.DataFrame(real).pivot_table(index=["folder", "images"], columns="detector", values="with_face")
    real.to_csv(out / "real_degraded.csv")

    # CPU speed per 512-px image: detector + 68-point shape predictor
    img512 = np.asarray(Image.fromarray(photos[0][0]).resize((512, 512)))
    speed = {}
    for name, fn in (("robust-cnn", robust_fn), ("dlib-hog", hog_fn)):
        fn(img512)
        t = time.perf_counter()
        for _ in range(20):
            for b in fn(img512):
                dlib_backend.landmarks(img512, b, 68)
        speed[name] = round(1000 * (time.perf_counter() - t) / 20, 1)
    pd.DataFrame({"ms_per_512px_image": speed}).to_csv(out / "speed.csv")

    print(f"held-out photos: {len(photos)} (dlib CNN on {args.cnn_n})\n")
    print(table.to_string(), "\n")
    print(fp.to_string(index=False), "\n")
    print(nme.to_string(index=False), "\n")
    print(real.to_string(), "\n")
    print("CPU ms per 512-px image (detect + 68 landmarks):", speed)


def _iou(a, b) -> float:
    from core.faces.robust import _iou as iou  # noqa: PLC0415

    return iou(a, b)


if __name__ == "__main__":
    main()
