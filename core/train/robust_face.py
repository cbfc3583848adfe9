"""Teacher-student training and evaluation of the robust face detector (``robust-cnn``).

1. :func:`core.faces.teacher.teacher_labels` labels clean photos with dlib (boxes + 68 points).
2. :func:`build_pool` degrades every photo with the data engine (every type and level, and
   compositions) at its native resolution; labels are kept (pixels change, geometry doesn't).
3. :func:`make_canvas` composes training canvases: one photo at a random scale / position /
   flip, or a 2x2 mosaic of four (several small faces), or a face-free crop (negatives).
4. :func:`train` optimises CenterNet's focal loss on the heatmap plus L1 on size and offset,
   time-bounded, and writes ``.safetensors`` + ``.json`` with the config and the curve.

:func:`evaluate_detection` gives the recall table (teacher box matched at IoU >= 0.4) per
degradation type x level and the false-face rate on face-free crops of the same photos.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..faces.robust import STRIDE, RobustConfig, RobustFaceNet, _iou, save_robust
from ..parallel import process_pool


@dataclass
class TrainConfig:
    canvas: int = 256
    batch: int = 32
    minutes: float = 15.0
    steps: int = 0  # > 0: exactly this many steps (a reproducible run; the cosine schedule spans them), not minutes
    lr: float = 3e-3
    weight_decay: float = 1e-4
    variants: int = 2  # degraded copies per photo in the pool (plus the clean one)
    absolute_prob: float = 0.3  # share of copies with spatial severities in absolute pixels (stronger on small photos)
    max_photos: int = 3000
    negative_prob: float = 0.15
    mosaic_prob: float = 0.3
    grey_prob: float = 0.15  # old photos and scans: grey canvases
    max_face: float = 260.0  # largest face width in canvas pixels (aligned crops fill the frame)
    canvas_blur_prob: float = 0.0  # extra blur on the canvas, sigma relative to the face as the network sees it
    canvas_blur_max: float = 0.08  # largest sigma / face width (0.05 ~ a 5-px blur of a 100-px face)
    strip_prob: float = 0.0  # share of negatives that are letterboxed strips beside/above faces (hair tops, shoulders)
    occlusion_prob: float = 0.0  # extra share of pool copies under a face-centred flat occluder
    init: str | None = None  # fine-tune from these robust-face weights instead of starting from scratch
    seed: int = 0
    device: str = "auto"  # "auto": CUDA when available
    model: RobustConfig = field(default_factory=RobustConfig)


# ----------------------------------------------------------------------------- pool
def _degrade_one(args):
    from ..data.degrade import TYPES, degrade, random_composition  # noqa: PLC0415
    from ..io import load_image  # noqa: PLC0415

    path, boxes, seed, variants, absolute_prob, occlusion_prob = args
    rgb = load_image(path)
    rng = np.random.default_rng(seed)
    out = [(rgb, boxes, "clean", 0)]
    for _ in range(variants):
        s = int(rng.integers(2**31))
        if rng.random() < occlusion_prob:
            out.append((occlude_face(rgb, boxes[0], rng), boxes, "face_occlusion", 0))
        elif rng.random() < 0.25:
            img, recs = random_composition(rgb, seed=s)
            out.append((img, boxes, "+".join(r["type"] for r in recs), max(r["level"] for r in recs)))
        else:
            kind, level = str(rng.choice(TYPES)), int(rng.integers(1, 6))
            scale = 1.0 if rng.random() < absolute_prob else None
            out.append((degrade(rgb, kind, level, seed=s, spatial_scale=scale)[0], boxes, kind, level))
    return out


def occlude_face(img: np.ndarray, box, rng, max_cover: float = 0.5) -> np.ndarray:
    """A flat patch (random colour, aspect 0.5-2) covering up to ``max_cover`` of the face box."""
    x1, y1, x2, y2 = box
    fw, fh = x2 - x1, y2 - y1
    area = rng.uniform(0.1, max_cover) * fw * fh
    aspect = 2.0 ** rng.uniform(-1, 1)
    ph, pw = math.sqrt(area / aspect), math.sqrt(area * aspect)
    cx, cy = rng.uniform(x1, x2), rng.uniform(y1, y2)
    out = img.copy()
    h, w = img.shape[:2]
    ya, yb = int(np.clip(cy - ph / 2, 0, h)), int(np.clip(cy + ph / 2, 0, h))
    xa, xb = int(np.clip(cx - pw / 2, 0, w)), int(np.clip(cx + pw / 2, 0, w))
    out[ya:yb, xa:xb] = rng.integers(0, 256, 3).astype(np.uint8)
    return out


def build_pool(teacher: pd.DataFrame, variants: int = 2, max_photos: int = 3000, seed: int = 0, workers: int = 2,
               absolute_prob: float = 0.3, occlusion_prob: float = 0.0) -> list:
    """[(image, boxes (N, 4), degradation, level)] for the teacher-labelled photos."""
    rows = teacher[teacher["n_faces"] > 0].head(max_photos)
    jobs = [(r.path, np.asarray([list(b) for b in r.boxes], np.float32), seed + i, variants, absolute_prob, occlusion_prob)
            for i, r in enumerate(rows.itertuples())]
    pool = []
    if workers > 1:
        with process_pool(workers) as ex:
            for items in ex.map(_degrade_one, jobs, chunksize=32):
                pool += items
    else:
        for j in jobs:
            pool += _degrade_one(j)
    return pool


# ----------------------------------------------------------------------------- canvases
def _place(img: np.ndarray, boxes: np.ndarray, size: int, scale: float, rng, flip: bool, fill) -> tuple[np.ndarray, np.ndarray]:
    h, w = img.shape[:2]
    # put a random face (or the image centre) somewhere inside the canvas
    cx, cy = ((boxes[0, 0] + boxes[0, 2]) / 2, (boxes[0, 1] + boxes[0, 3]) / 2) if len(boxes) else (w / 2, h / 2)
    tx = rng.uniform(0.15, 0.85) * size - cx * scale
    ty = rng.uniform(0.15, 0.85) * size - cy * scale
    m = np.array([[scale, 0, tx], [0, scale, ty]], np.float64)
    if flip:
        img = img[:, ::-1]
        boxes = boxes.copy()
        boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
        cx = w - cx
        m[0, 2] = rng.uniform(0.15, 0.85) * size - cx * scale
    out = cv2.warpAffine(np.ascontiguousarray(img), m, (size, size), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
    b = boxes * scale
    b[:, [0, 2]] += m[0, 2]
    b[:, [1, 3]] += m[1, 2]
    return out, b


def _visible(boxes: np.ndarray, size: int, min_side: float = 10.0) -> np.ndarray:
    """Boxes whose centre lies in the canvas and that are big enough to be labelled."""
    if not len(boxes):
        return boxes.reshape(0, 4)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    keep = (cx > 0) & (cx < size) & (cy > 0) & (cy < size) & (boxes[:, 2] - boxes[:, 0] >= min_side)
    return boxes[keep]


def face_free_crop(img: np.ndarray, boxes: np.ndarray, rng, min_side: int = 48) -> np.ndarray | None:
    """A crop of ``img`` that overlaps no (10 %-grown) face box, or None.

    Random rectangles first; failing those, the largest strip left, right, above or below
    all faces (in LFW-style photos the face fills the centre, so strips are what is left).
    """
    box = face_free_box(img.shape[:2], boxes, rng, min_side)
    return None if box is None else img[box[1] : box[3], box[0] : box[2]]


def face_strip_box(shape, boxes: np.ndarray, rng, min_side: int = 24) -> tuple[int, int, int, int] | None:
    """A random strip touching a face from outside (above: hair top; beside: ears, shoulders; below: neck)."""
    h, w = shape
    if not len(boxes):
        return None
    x1, y1, x2, y2 = _grow(boxes[int(rng.integers(len(boxes)))], 0.1)
    side = int(rng.integers(4))
    fw, fh = x2 - x1, y2 - y1
    ext = rng.uniform(0.3, 1.2)
    if side == 0:  # above
        box = (x1 - rng.uniform(0, 0.5) * fw, y1 - ext * fh, x2 + rng.uniform(0, 0.5) * fw, y1)
    elif side == 1:  # below
        box = (x1 - rng.uniform(0, 0.5) * fw, y2, x2 + rng.uniform(0, 0.5) * fw, y2 + ext * fh)
    elif side == 2:  # left
        box = (x1 - ext * fw, y1 - rng.uniform(0, 0.5) * fh, x1, y2 + rng.uniform(0, 0.5) * fh)
    else:
        box = (x2, y1 - rng.uniform(0, 0.5) * fh, x2 + ext * fw, y2 + rng.uniform(0, 0.5) * fh)
    bx = (int(max(0, box[0])), int(max(0, box[1])), int(min(w, box[2])), int(min(h, box[3])))
    if bx[2] - bx[0] < min_side or bx[3] - bx[1] < min_side:
        return None
    grown = [_grow(b, 0.1) for b in boxes]
    if any(_iou(bx, g) > 0 and _overlap(bx, g) > 0.02 for g in grown):
        return None
    return bx


def _overlap(a, b) -> float:
    """Share of ``b`` covered by ``a``."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy / max((b[2] - b[0]) * (b[3] - b[1]), 1e-6)


def face_free_box(shape, boxes: np.ndarray, rng, min_side: int = 48) -> tuple[int, int, int, int] | None:
    """Coordinates (x0, y0, x1, y1) of a face-free crop (see :func:`face_free_crop`), or None."""
    h, w = shape
    grown = [_grow(b, 0.1) for b in boxes]
    for _ in range(20):
        cw, ch = int(rng.integers(min_side, max(min_side + 1, w // 2))), int(rng.integers(min_side, max(min_side + 1, h // 2)))
        if cw >= w or ch >= h:
            continue
        x0, y0 = int(rng.integers(0, w - cw)), int(rng.integers(0, h - ch))
        crop = (x0, y0, x0 + cw, y0 + ch)
        if all(_iou(crop, b) == 0 for b in grown):
            return crop
    if not grown:
        return (0, 0, w, h)
    x1 = int(max(0, min(b[0] for b in grown)))
    y1 = int(max(0, min(b[1] for b in grown)))
    x2 = int(min(w, max(b[2] for b in grown)))
    y2 = int(min(h, max(b[3] for b in grown)))
    strips = [(0, 0, x1, h), (x2, 0, w, h), (0, 0, w, y1), (0, y2, w, h)]
    strips = [s for s in strips if s[2] - s[0] >= min_side and s[3] - s[1] >= min_side]
    if not strips:
        return None
    return max(strips, key=lambda s: (s[2] - s[0]) * (s[3] - s[1]))


def _grow(b, f):
    w, h = b[2] - b[0], b[3] - b[1]
    return (b[0] - f * w, b[1] - f * h, b[2] + f * w, b[3] + f * h)


def make_canvas(pool: list, rng, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """One training canvas (size x size x 3 uint8) and its face boxes (N, 4); grey with ``grey_prob``."""
    img, boxes = _make_canvas(pool, rng, cfg)
    if len(boxes) and rng.random() < cfg.canvas_blur_prob:
        face_w = float(np.median(boxes[:, 2] - boxes[:, 0]))
        sigma = face_w * rng.uniform(0.005, cfg.canvas_blur_max)
        if rng.random() < 0.7:
            img = cv2.GaussianBlur(img, (0, 0), sigma)
        else:  # defocus-like: a disk of radius ~ 2 sigma
            r = max(1, int(round(2 * sigma)))
            disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)).astype(np.float32)
            img = cv2.filter2D(img, -1, disk / disk.sum())
    if rng.random() < cfg.grey_prob:
        img = np.repeat(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    return img, boxes


def _make_canvas(pool: list, rng, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    size = cfg.canvas
    fill = tuple(int(v) for v in rng.integers(0, 256, 3))
    u = rng.random()
    if u < cfg.negative_prob:
        for _ in range(10):
            img, boxes, _, _ = pool[int(rng.integers(len(pool)))]
            if rng.random() < cfg.strip_prob:  # letterboxed like inference sees a crop: aspect kept, padded
                bx = face_strip_box(img.shape[:2], boxes, rng)
                if bx is None:
                    continue
                crop = img[bx[1] : bx[3], bx[0] : bx[2]]
                ch, cw = crop.shape[:2]
                s = size * rng.uniform(0.4, 1.0) / max(ch, cw)
                crop = cv2.resize(crop, (max(1, round(cw * s)), max(1, round(ch * s))), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
                canvas = np.empty((size, size, 3), np.uint8)
                canvas[:] = fill if rng.random() < 0.5 else (0, 0, 0)
                oy, ox = int(rng.integers(0, size - crop.shape[0] + 1)), int(rng.integers(0, size - crop.shape[1] + 1))
                canvas[oy : oy + crop.shape[0], ox : ox + crop.shape[1]] = crop
                return canvas, np.zeros((0, 4), np.float32)
            crop = face_free_crop(img, boxes, rng)
            if crop is not None:
                return cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR), np.zeros((0, 4), np.float32)
    if u < cfg.negative_prob + cfg.mosaic_prob:
        half = size // 2
        canvas = np.zeros((size, size, 3), np.uint8)
        all_boxes = []
        for qy in range(2):
            for qx in range(2):
                img, boxes, _, _ = pool[int(rng.integers(len(pool)))]
                face_w = float(boxes[0, 2] - boxes[0, 0])
                scale = rng.uniform(18, 60) / face_w
                tile, b = _place(img, boxes, half, scale, rng, bool(rng.random() < 0.5), fill)
                canvas[qy * half : (qy + 1) * half, qx * half : (qx + 1) * half] = tile
                b = _visible(b, half)
                b[:, [0, 2]] += qx * half
                b[:, [1, 3]] += qy * half
                all_boxes.append(b)
        return canvas, np.concatenate(all_boxes).astype(np.float32)
    img, boxes, _, _ = pool[int(rng.integers(len(pool)))]
    face_w = float(boxes[0, 2] - boxes[0, 0])
    scale = math.exp(rng.uniform(math.log(24), math.log(cfg.max_face))) / face_w
    canvas, b = _place(img, boxes, size, scale, rng, bool(rng.random() < 0.5), fill)
    return canvas, _visible(b, size).astype(np.float32)


def targets(boxes_list: list[np.ndarray], size: int) -> dict[str, torch.Tensor]:
    """CenterNet targets at stride 4: Gaussian heatmap, size/offset with their masks."""
    n, g = len(boxes_list), size // STRIDE
    heat = np.zeros((n, 1, g, g), np.float32)
    wh = np.zeros((n, 2, g, g), np.float32)
    off = np.zeros((n, 2, g, g), np.float32)
    mask = np.zeros((n, 1, g, g), np.float32)
    yy, xx = np.mgrid[0:g, 0:g]
    for i, boxes in enumerate(boxes_list):
        for x1, y1, x2, y2 in boxes:
            cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
            bw, bh = max((x2 - x1) / STRIDE, 1e-3), max((y2 - y1) / STRIDE, 1e-3)
            ix, iy = int(min(max(cx, 0), g - 1)), int(min(max(cy, 0), g - 1))
            sigma = max(0.6, 0.12 * bw)
            heat[i, 0] = np.maximum(heat[i, 0], np.exp(-((xx - ix) ** 2 + (yy - iy) ** 2) / (2 * sigma**2)))
            wh[i, :, iy, ix] = (math.log(bw), math.log(bh))
            off[i, :, iy, ix] = (cx - ix, cy - iy)
            mask[i, 0, iy, ix] = 1.0
    return {k: torch.from_numpy(v) for k, v in (("heat", heat), ("wh", wh), ("off", off), ("mask", mask))}


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet's penalty-reduced pixel-wise focal loss, normalised by the number of centres."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    pos_loss = -((1 - p) ** alpha) * torch.log(p) * pos
    neg_loss = -((1 - target) ** beta) * (p**alpha) * torch.log(1 - p) * (1 - pos)
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp_min(1.0)


def detection_loss(out, t) -> tuple[torch.Tensor, dict[str, float]]:
    heat, wh, off = out
    m = t["mask"]
    n = m.sum().clamp_min(1.0)
    lh = focal_loss(heat, t["heat"])
    lw = (F.l1_loss(wh, t["wh"], reduction="none") * m).sum() / n
    lo = (F.l1_loss(off, t["off"], reduction="none") * m).sum() / n
    return lh + 0.1 * lw + lo, {"heat": lh.item(), "size": lw.item(), "offset": lo.item()}


def train(pool: list, cfg: TrainConfig, out_path=None, log=print) -> tuple[RobustFaceNet, list[dict]]:
    """Training on canvases from ``pool`` for ``cfg.minutes`` (or exactly ``cfg.steps``); returns the model and the
    loss curve (every 50 steps, and the last steps' mean)."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    model = RobustFaceNet(cfg.model)
    if cfg.init:  # fine-tune: the architecture comes from the weights' card
        from ..faces.robust import load_robust  # noqa: PLC0415

        model = load_robust(cfg.init)
        cfg.model = model.cfg
    model = model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    deadline = time.time() + cfg.minutes * 60
    start = time.time()
    curve, step, running = [], 0, []
    model.train()
    while step < cfg.steps if cfg.steps > 0 else time.time() < deadline:
        frac = step / cfg.steps if cfg.steps > 0 else (time.time() - start) / (cfg.minutes * 60)
        for g in opt.param_groups:
            g["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
        imgs, boxes = zip(*(make_canvas(pool, rng, cfg) for _ in range(cfg.batch)))
        x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).to(device).float() / 255.0
        t = {k: v.to(device) for k, v in targets(list(boxes), cfg.canvas).items()}
        with torch.autocast("cuda", enabled=device.startswith("cuda")):
            out = model(x)
        loss, parts = detection_loss(tuple(o.float() for o in out), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        running.append(loss.item())
        step += 1
        if step % 50 == 0:
            rec = {"step": step, "minutes": round((time.time() - start) / 60, 2), "loss": round(float(np.mean(running)), 4), **parts}
            curve.append(rec)
            running = []
            log(f"step {step} loss {rec['loss']:.4f} ({rec['minutes']} min)")
    if running:  # the steps after the last full 50
        curve.append({"step": step, "minutes": round((time.time() - start) / 60, 2), "loss": round(float(np.mean(running)), 4)})
    model.eval().cpu()
    if out_path is not None:
        save_robust(model, out_path, {"train": {k: v for k, v in asdict(cfg).items() if k != "model"}, "curve": curve, "steps": step})
    return model, curve


# ----------------------------------------------------------------------------- evaluation
def matched(pred_boxes, truth, iou: float = 0.4) -> bool:
    return any(_iou(p, truth) >= iou for p in pred_boxes)


def evaluate_detection(detectors: dict, photos: list[tuple[np.ndarray, np.ndarray]], kinds, levels=(1, 2, 3, 4, 5),
                       seed: int = 0, negatives: int = 200, face_check=None,
                       max_cover: float = 0.5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recall per detector x degradation x level (largest teacher face, IoU >= 0.4) and false-face rates.

    ``detectors`` maps a name to ``image -> list of boxes``; ``photos`` are (clean image,
    teacher boxes). The data engine's occlusion patch is sized to the *image*, so on a photo
    whose face fills a sixth of it a level-4 patch can hide the whole face: occlusion also gets
    rows ``occlusion<=50%face`` counting only faces at most ``max_cover`` covered.
    Negatives are face-free crops of the same (clean and degraded) photos; ``face_check``
    (clean crop -> bool) drops crops that hold a face the teacher missed on the whole photo
    (small background people), so they are not counted as false faces.
    """
    from ..data.degrade import degrade  # noqa: PLC0415

    rows = []
    settings = [("clean", 0)] + [(k, lv) for k in kinds for lv in levels]
    for kind, level in settings:
        hits = dict.fromkeys(detectors, 0)
        part_hits, part_n = dict.fromkeys(detectors, 0), 0
        for i, (img, boxes) in enumerate(photos):
            d, rec = (img, {}) if kind == "clean" else degrade(img, kind, level, seed=seed + i)
            partial = "box" in rec and _overlap(rec["box"], boxes[0]) <= max_cover
            part_n += partial
            for name, fn in detectors.items():
                hit = matched(fn(d), boxes[0])
                hits[name] += hit
                part_hits[name] += hit and partial
        for name in detectors:
            rows.append({"detector": name, "degradation": kind, "level": level, "recall": hits[name] / len(photos), "faces": len(photos)})
            if kind == "occlusion" and part_n:
                rows.append({"detector": name, "degradation": f"occlusion<={max_cover:.0%}face", "level": level,
                             "recall": part_hits[name] / part_n, "faces": part_n})
    recall = pd.DataFrame(rows)
    rng = np.random.default_rng(seed)
    crops, dropped = [], 0
    for i in range(negatives):
        img, boxes = photos[i % len(photos)]
        box = face_free_box(img.shape[:2], boxes, rng, min_side=40)  # LFW photos leave ~50-px strips beside a face
        if box is None:
            continue
        if face_check is not None and face_check(img[box[1] : box[3], box[0] : box[2]]):
            dropped += 1
            continue
        if i % 2:
            kind = settings[1 + int(rng.integers(len(settings) - 1))]
            img = degrade(img, kind[0], kind[1], seed=i)[0]
        crops.append(img[box[1] : box[3], box[0] : box[2]])
    fp = [{"detector": n, "crops": len(crops), "dropped_with_face": dropped,
           "false_face_rate": float(np.mean([len(fn(c)) > 0 for c in crops]))} for n, fn in detectors.items()]
    return recall, pd.DataFrame(fp)
