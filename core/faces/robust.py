"""Degradation-robust face detector ("robust-cnn"): a CenterNet-style compact CNN.

Architecture (``RobustFaceNet``): a MobileNet-like depthwise-separable backbone to stride 16,
a top-down merge to stride 4, and three 1x1 heads - face-centre heatmap (sigmoid), box size
(log of width/height in stride units) and sub-cell centre offset. It is trained teacher-student
(``core.train.robust_face``) on LFW photos under every synthetic degradation, with boxes
from dlib HOG on the clean photo, so its boxes have dlib's framing and dlib's 68-point shape
predictor can be run on them (measured: the predictor stays within NME 0.065 up to level 5
of blur/noise/JPEG when given the right box; what fails under degradation is detection).

Inference resizes the photo so its long side is ``input_size`` (padded to a multiple of 32),
keeps heatmap peaks (3x3 max-pool NMS) above ``threshold`` and maps boxes back.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..assets import ASSETS
from ..errors import BackendUnavailableError, CheckpointError, MissingWeightsError

WEIGHTS = ASSETS / "robust-face.safetensors"
STRIDE = 4


@dataclass
class RobustConfig:
    widths: tuple[int, ...] = (16, 32, 64, 96, 128)  # stem (/2), stage /4, stage /8, stage /16 (two widths)
    head: int = 64
    input_size: int = 320
    threshold: float = 0.35


def _dws(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class RobustFaceNet(nn.Module):
    """Image (B, 3, H, W) in [0, 1] -> heatmap (B, 1, H/4, W/4), size (B, 2, .), offset (B, 2, .)."""

    def __init__(self, cfg: RobustConfig | None = None):
        super().__init__()
        self.cfg = cfg or RobustConfig()
        w = self.cfg.widths
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 3, 2, 1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True))  # /2
        self.s4 = nn.Sequential(_dws(w[0], w[1], 2), _dws(w[1], w[1], 1))  # /4
        self.s8 = nn.Sequential(_dws(w[1], w[2], 2), _dws(w[2], w[2], 1))  # /8
        self.s16 = nn.Sequential(_dws(w[2], w[3], 2), _dws(w[3], w[3], 1), _dws(w[3], w[4], 1))  # /16
        h = self.cfg.head
        self.lat16, self.lat8, self.lat4 = nn.Conv2d(w[4], h, 1), nn.Conv2d(w[2], h, 1), nn.Conv2d(w[1], h, 1)
        self.smooth = _dws(h, h, 1)
        self.heat = nn.Conv2d(h, 1, 1)
        self.size = nn.Conv2d(h, 2, 1)
        self.offset = nn.Conv2d(h, 2, 1)
        nn.init.constant_(self.heat.bias, -2.19)  # prior 0.1 (CenterNet)

    def forward(self, x: torch.Tensor):
        c4 = self.s4(self.stem(x))
        c8 = self.s8(c4)
        c16 = self.s16(c8)
        p = self.lat16(c16)
        p = F.interpolate(p, size=c8.shape[-2:], mode="nearest") + self.lat8(c8)
        p = F.interpolate(p, size=c4.shape[-2:], mode="nearest") + self.lat4(c4)
        p = self.smooth(p)
        return self.heat(p), self.size(p), self.offset(p)


def decode(heat_logits: torch.Tensor, size: torch.Tensor, offset: torch.Tensor, threshold: float, top_k: int = 50):
    """Per image: list of (x1, y1, x2, y2, score) in input pixels."""
    heat = torch.sigmoid(heat_logits)
    peaks = (heat == F.max_pool2d(heat, 3, 1, 1)) & (heat >= threshold)
    out = []
    for b in range(heat.shape[0]):
        ys, xs = torch.nonzero(peaks[b, 0], as_tuple=True)
        scores = heat[b, 0, ys, xs]
        order = torch.argsort(scores, descending=True)[:top_k]
        boxes = []
        for i in order.tolist():
            y, x = int(ys[i]), int(xs[i])
            cx = (x + float(offset[b, 0, y, x])) * STRIDE
            cy = (y + float(offset[b, 1, y, x])) * STRIDE
            w = float(torch.exp(size[b, 0, y, x])) * STRIDE
            h = float(torch.exp(size[b, 1, y, x])) * STRIDE
            boxes.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, float(scores[i])))
        out.append(_nms(boxes))
    return out


def _nms(boxes, iou: float = 0.4):
    kept = []
    for b in sorted(boxes, key=lambda t: -t[4]):
        if all(_iou(b, k) < iou for k in kept):
            kept.append(b)
    return kept


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def prepare(image: np.ndarray, input_size: int) -> tuple[torch.Tensor, float]:
    """Resize (long side = input_size), pad to a multiple of 32; returns tensor and scale."""
    import cv2  # noqa: PLC0415

    h, w = image.shape[:2]
    s = input_size / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    img = cv2.resize(image, (nw, nh), interpolation=interp)
    ph, pw = (32 - nh % 32) % 32, (32 - nw % 32) % 32
    img = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="constant")
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0, s


class RobustDetector:
    """Loaded robust-cnn detector: ``detect(rgb) -> [(box, score)]`` in image pixels."""

    def __init__(self, model: RobustFaceNet, device: str = "cpu", threshold: float | None = None):
        self.model = model.eval().to(device)
        self.device = device
        self.threshold = model.cfg.threshold if threshold is None else threshold

    @torch.inference_mode()
    def detect(self, image: np.ndarray) -> list[tuple[tuple[float, float, float, float], float]]:
        x, s = prepare(image, self.model.cfg.input_size)
        heat, size, off = self.model(x.to(self.device))
        h, w = image.shape[:2]
        out = []
        for x1, y1, x2, y2, sc in decode(heat, size, off, self.threshold)[0]:
            box = (max(0.0, x1 / s), max(0.0, y1 / s), min(float(w), x2 / s), min(float(h), y2 / s))
            if box[2] - box[0] >= 8 and box[3] - box[1] >= 8:
                out.append((box, sc))
        return out


def save_robust(model: RobustFaceNet, path: str | Path = WEIGHTS, card: dict | None = None) -> Path:
    from safetensors.torch import save_file  # noqa: PLC0415

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(path))
    meta = {"model": "robust-face", "format": "faceiqa-checkpoint", "config": asdict(model.cfg), **(card or {})}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    return path


def load_robust(path: str | Path = WEIGHTS) -> RobustFaceNet:
    from safetensors.torch import load_file  # noqa: PLC0415

    path = Path(path)
    if not path.is_file() or not path.with_suffix(".json").is_file():
        error = MissingWeightsError if path == WEIGHTS else CheckpointError  # the shipped file: not installed
        raise error(f"{path}: robust face weights or their .json card missing")
    meta = json.loads(path.with_suffix(".json").read_text())
    if meta.get("model") != "robust-face":
        raise CheckpointError(f"{path}: not a robust-face checkpoint ({meta.get('model')!r})")
    cfg = meta["config"]
    model = RobustFaceNet(RobustConfig(**{**cfg, "widths": tuple(cfg["widths"])}))
    state = load_file(str(path))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path}: does not fit RobustFaceNet (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model


@lru_cache(maxsize=2)
def shipped_detector(device: str = "cpu") -> RobustDetector:
    """The detector trained for this release (``core/assets/robust-face.safetensors``)."""
    try:
        return RobustDetector(load_robust(WEIGHTS), device)
    except CheckpointError as exc:
        raise BackendUnavailableError(str(exc)) from exc
