"""Realistic degradation: the second-order pipeline that trains blind face restorers.

Real-ESRGAN (Wang et al., ICCVW 2021) synthesises its low-quality inputs by running a classical degradation chain
twice, which is also what GFPGAN / CodeFormer-style restorers are fed (a face downscaled to a few dozen pixels,
blurred, noised and JPEG-compressed, then upscaled back). This module is a numpy / OpenCV implementation of that
model, written from the paper and BasicSR's published settings (``train_realesrgan_x4plus.yml``); nothing is
imported from BasicSR.

Pipeline (:func:`apply_realistic`, on float RGB in [0, 1]):

1. first order: blur (always) -> random resize (up / down / keep; area, bilinear or bicubic) -> noise (Gaussian or
   Poisson, colour or grey; clipped) -> JPEG;
2. second order: blur (with probability 0.8) -> random resize, relative to the *target* size -> noise;
3. final step, in random order: ``[resize to the target size + sinc] -> JPEG`` or ``JPEG -> [resize + sinc]``
   (the sinc filter is applied with probability 0.8, else an identity);
4. round to 8 bits and, when the target size is smaller than the input (``target_scale > 1``), upscale back to the
   input size (bilinear, as GFPGAN does), so the output always has the input's size and dtype.

Blur kernels (:func:`blur_kernel`, odd sizes 7..21, each sums to 1): isotropic / anisotropic Gaussian, generalized
Gaussian ``exp(-0.5 q^beta)`` and plateau ``1 / (1 + q^beta)`` (iso / aniso each), with ``q = x^T Sigma^-1 x``; the
2-D sinc (ideal circular low-pass, :func:`sinc_kernel`) makes the ringing and overshoot artefacts.
Real-ESRGAN's probabilities are kept: kernel types 0.45 / 0.25 / 0.12 / 0.03 / 0.12 / 0.03, sinc instead of the
kernel 0.1 per order, cutoff ``U(pi/3, pi)`` for kernels smaller than 13, ``U(pi/5, pi)`` otherwise.

Face size: the target size is ``input / target_scale``. :class:`RealisticConfig` keeps Real-ESRGAN's x4 setting;
``eye_px`` (or ``eye_px_range``, drawn log-uniformly) sets it so that the face's inter-ocular distance in the
target image is ``eye_px`` pixels: real restorer inputs have 12-64 px. A GFIQA-aligned crop of side S has its eyes
at x = 0.375 S and 0.625 S, i.e. 0.25 S apart (128 px at 512), so ``target_scale = 0.25 S / eye_px`` (never below 1).

Levels (:meth:`RealisticConfig.at_level`): level L keeps every probability and takes the L-th fifth, mild to severe,
of every severity range (blur sigma, resize factors, noise sigma / Poisson scale, JPEG quality, sinc cutoffs, and
the eye distance on a log scale between 64 and 12 px). The draws are coupled: one seed makes the same choices at
every level with each value at the same place inside its level's fifth, so a seed's output worsens level by level,
and drawing L uniformly gives back each of Real-ESRGAN's uniform ranges.

Every random choice is drawn first (:func:`sample_realistic`) into a JSON-serialisable record, which
:func:`apply_realistic` replays exactly (the noise from the recorded ``noise_seed``). ``severity`` summarises a
record in 0..1: the mean, over the steps that ran, of each value's place in Real-ESRGAN's full range (0 mildest,
1 harshest; eye distance on a log scale), so a level-L draw has ``(L - 1) / 5 <= severity <= L / 5``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np
from scipy import special

LEVELS = (1, 2, 3, 4, 5)
KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
KERNEL_SIZES = tuple(range(7, 22, 2))  # 7, 9, ..., 21
RESIZE_MODES = ("area", "bilinear", "bicubic")
FINAL_ORDERS = ("resize_sinc_jpeg", "jpeg_resize_sinc")
#: inter-ocular distance over the side of a GFIQA-aligned crop (eyes at x = 0.375 S and 0.625 S)
GFIQA_EYE_FRACTION = 0.25
#: inter-ocular distances of real restorer inputs, in pixels
EYE_PX_RANGE = (12.0, 64.0)
_CV2_INTER = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC, "nearest": cv2.INTER_NEAREST}


@dataclass(frozen=True)
class OrderConfig:
    """The ranges of one pass of the classical chain (blur -> resize -> noise -> JPEG)."""

    blur_prob: float = 1.0
    kernel_prob: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)  # over KERNEL_TYPES
    sinc_prob: float = 0.1
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    betag_range: tuple[float, float] = (0.5, 4.0)  # generalized Gaussian shape
    betap_range: tuple[float, float] = (1.0, 2.0)  # plateau shape
    rotation_range: tuple[float, float] = (-math.pi, math.pi)
    resize_prob: tuple[float, float, float] = (0.2, 0.7, 0.1)  # up, down, keep
    resize_down: tuple[float, float] = (0.15, 1.0)  # Real-ESRGAN's resize_range [0.15, 1.5], split at 1
    resize_up: tuple[float, float] = (1.0, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: tuple[float, float] = (1.0, 30.0)  # Gaussian sigma, 0..255 units
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple[float, float] = (30.0, 95.0)


#: Real-ESRGAN's first and second degradation processes (train_realesrgan_x4plus.yml)
FIRST_ORDER = OrderConfig()
SECOND_ORDER = OrderConfig(blur_prob=0.8, blur_sigma=(0.2, 1.5), resize_prob=(0.3, 0.4, 0.3), resize_down=(0.3, 1.0),
                           resize_up=(1.0, 1.2), noise_range=(1.0, 25.0), poisson_scale_range=(0.05, 2.5))


@dataclass(frozen=True)
class RealisticConfig:
    """Real-ESRGAN's degradation settings as data (defaults: the x4plus training recipe)."""

    first: OrderConfig = FIRST_ORDER
    second: OrderConfig = SECOND_ORDER
    kernel_sizes: tuple[int, ...] = KERNEL_SIZES
    sinc_cutoff_small: tuple[float, float] = (math.pi / 3, math.pi)  # blur-step sinc, kernels < sinc_large_from
    sinc_cutoff_large: tuple[float, float] = (math.pi / 5, math.pi)
    sinc_large_from: int = 13
    final_sinc_prob: float = 0.8
    final_sinc_cutoff: tuple[float, float] = (math.pi / 3, math.pi)
    resize_modes: tuple[str, ...] = RESIZE_MODES
    final_jpeg_first_prob: float = 0.5  # odds of "JPEG -> [resize + sinc]" for the final step
    target_scale: float = 4.0  # Real-ESRGAN's x4: the output is made at 1/4 of the input size, then upscaled back
    eye_px_range: tuple[float, float] | None = None  # face-size mode: draw the eye distance log-uniformly in here
    crop_eye_fraction: float = GFIQA_EYE_FRACTION  # the input's eye distance / its width when none is given
    upscale_mode: str = "bilinear"
    level: int | None = None  # set by at_level (recorded)

    def __post_init__(self):
        for name, o in (("first", self.first), ("second", self.second)):
            if len(o.kernel_prob) != len(KERNEL_TYPES) or not math.isclose(sum(o.kernel_prob), 1.0, abs_tol=1e-6):
                raise ValueError(f"{name}.kernel_prob needs {len(KERNEL_TYPES)} probabilities summing to 1, got {o.kernel_prob}")
            if len(o.resize_prob) != 3 or not math.isclose(sum(o.resize_prob), 1.0, abs_tol=1e-6):
                raise ValueError(f"{name}.resize_prob needs 3 probabilities (up, down, keep) summing to 1, got {o.resize_prob}")
        if not self.kernel_sizes or any(k % 2 == 0 or k < 1 for k in self.kernel_sizes):
            raise ValueError(f"kernel sizes must be odd, got {self.kernel_sizes}")
        if self.target_scale < 1:
            raise ValueError(f"target_scale must be >= 1, got {self.target_scale}")
        if self.level is not None and self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {self.level!r}")
        for m in (*self.resize_modes, self.upscale_mode):
            if m not in _CV2_INTER:
                raise ValueError(f"unknown resize mode {m!r}; known: {', '.join(_CV2_INTER)}")

    def at_level(self, level: int) -> RealisticConfig:
        """This config with every severity range cut to its ``level``-th fifth (1 mildest .. 5 harshest).

        Probabilities are kept. Harsher means larger blur sigma, noise sigma and Poisson scale, smaller resize factors
        (down and up), JPEG qualities and sinc cutoffs, and a smaller eye distance (log scale, ``eye_px_range`` or
        12..64 px: the face-size mode is on at every level).
        """
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")

        def order(o: OrderConfig) -> OrderConfig:
            return replace(o, blur_sigma=_fifth(o.blur_sigma, level, True), resize_down=_fifth(o.resize_down, level, False),
                           resize_up=_fifth(o.resize_up, level, False), noise_range=_fifth(o.noise_range, level, True),
                           poisson_scale_range=_fifth(o.poisson_scale_range, level, True),
                           jpeg_range=_fifth(o.jpeg_range, level, False))

        eye = self.eye_px_range or EYE_PX_RANGE
        log_eye = _fifth((math.log(eye[0]), math.log(eye[1])), level, False)
        return replace(self, first=order(self.first), second=order(self.second),
                       sinc_cutoff_small=_fifth(self.sinc_cutoff_small, level, False),
                       sinc_cutoff_large=_fifth(self.sinc_cutoff_large, level, False),
                       final_sinc_cutoff=_fifth(self.final_sinc_cutoff, level, False),
                       eye_px_range=(math.exp(log_eye[0]), math.exp(log_eye[1])), level=level)


def _fifth(r: tuple[float, float], level: int, harsh_high: bool) -> tuple[float, float]:
    """The ``level``-th fifth of ``r`` counted from its mild end."""
    lo, hi = float(r[0]), float(r[1])
    step = (hi - lo) / len(LEVELS)
    if harsh_high:
        return (lo + (level - 1) * step, lo + level * step)
    return (hi - level * step, hi - (level - 1) * step)


#: the reference ranges of ``severity``
REALESRGAN = RealisticConfig()


# ----------------------------------------------------------------------------------------------------------------
# kernels


def _quadratic_form(size: int, sigma_x: float, sigma_y: float, angle: float) -> np.ndarray:
    """``x^T Sigma^-1 x`` on a centred ``size`` x ``size`` grid, Sigma = R diag(sx^2, sy^2) R^T, R rotating by angle."""
    r = size // 2
    ax = np.arange(-r, r + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)
    c, s = math.cos(angle), math.sin(angle)
    u = c * xx + s * yy  # coordinate along the first principal axis
    v = -s * xx + c * yy
    return (u / sigma_x) ** 2 + (v / sigma_y) ** 2


def blur_kernel(kind: str, size: int, sigma_x: float, sigma_y: float | None = None, angle: float = 0.0,
                beta: float | None = None) -> np.ndarray:
    """One of :data:`KERNEL_TYPES` as a ``size`` x ``size`` float64 kernel summing to 1.

    ``angle`` in radians; ``iso`` kinds ignore ``sigma_y`` and ``angle``; ``beta`` shapes the generalized Gaussian
    (``exp(-0.5 q^beta)``; 1 is the Gaussian) and the plateau (``1 / (1 + q^beta)``).
    """
    if kind not in KERNEL_TYPES:
        raise ValueError(f"unknown kernel {kind!r}; known: {', '.join(KERNEL_TYPES)}")
    if size % 2 != 1:
        raise ValueError(f"kernel size must be odd, got {size}")
    if kind.endswith("iso") and not kind.endswith("aniso"):
        sigma_y, angle = sigma_x, 0.0
    q = _quadratic_form(size, sigma_x, sigma_x if sigma_y is None else sigma_y, angle)
    if kind in ("iso", "aniso"):
        k = np.exp(-0.5 * q)
    elif kind.startswith("generalized"):
        k = np.exp(-0.5 * np.power(q, 1.0 if beta is None else beta))
    else:
        k = 1.0 / (np.power(q, 1.0 if beta is None else beta) + 1.0)
    return k / k.sum()


def sinc_kernel(cutoff: float, size: int) -> np.ndarray:
    """2-D ideal circular low-pass filter with cutoff ``cutoff`` rad/px (pi: none), ``size`` x ``size``, sum 1.

    The impulse response ``cutoff J1(cutoff r) / (2 pi r)`` (``cutoff^2 / (4 pi)`` at r = 0), truncated: its
    negative rings are what make ringing and overshoot near edges.
    """
    if size % 2 != 1:
        raise ValueError(f"kernel size must be odd, got {size}")
    r = size // 2
    ax = np.arange(-r, r + 1, dtype=np.float64)
    rad = np.hypot(*np.meshgrid(ax, ax))
    with np.errstate(divide="ignore", invalid="ignore"):
        k = cutoff * special.j1(cutoff * rad) / (2 * np.pi * rad)
    k[r, r] = cutoff**2 / (4 * np.pi)
    return k / k.sum()


def kernel_from_record(rec: dict) -> np.ndarray:
    """The kernel a record's ``blur`` / ``sinc`` entry describes (angles in degrees)."""
    if rec["kernel"] == "sinc":
        return sinc_kernel(rec["cutoff"], rec["size"])
    sx = rec.get("sigma", rec.get("sigma_x"))
    return blur_kernel(rec["kernel"], rec["size"], sx, rec.get("sigma_y", sx), math.radians(rec.get("angle_deg", 0.0)),
                       rec.get("beta"))


# ----------------------------------------------------------------------------------------------------------------
# drawing the parameters


def _r(x: float) -> float:
    return round(float(x), 4)


def _uniform(rng: np.random.Generator, r: tuple[float, float]) -> float:
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def _pick(rng: np.random.Generator, options, probs=None):
    probs = np.full(len(options), 1.0 / len(options)) if probs is None else np.asarray(probs, dtype=np.float64)
    return options[int(rng.choice(len(options), p=probs / probs.sum()))]


def _sample_blur(rng: np.random.Generator, cfg: RealisticConfig, o: OrderConfig) -> dict:
    size = int(_pick(rng, cfg.kernel_sizes))
    if rng.random() < o.sinc_prob:
        cut = cfg.sinc_cutoff_small if size < cfg.sinc_large_from else cfg.sinc_cutoff_large
        return {"kernel": "sinc", "size": size, "cutoff": _r(_uniform(rng, cut))}
    kind = _pick(rng, KERNEL_TYPES, o.kernel_prob)
    rec: dict = {"kernel": kind, "size": size}
    if kind.endswith("aniso"):
        rec.update(sigma_x=_r(_uniform(rng, o.blur_sigma)), sigma_y=_r(_uniform(rng, o.blur_sigma)),
                   angle_deg=round(math.degrees(_uniform(rng, o.rotation_range)), 2))
    else:
        rec["sigma"] = _r(_uniform(rng, o.blur_sigma))
    if not kind.startswith(("iso", "aniso")):
        lo, hi = o.betag_range if kind.startswith("generalized") else o.betap_range
        # half the draws below 1 (heavier tails / peakier), half above (flatter tops), as Real-ESRGAN does
        rec["beta"] = _r(_uniform(rng, (min(lo, 1.0), 1.0)) if rng.random() < 0.5 else _uniform(rng, (1.0, max(hi, 1.0))))
    return rec


def _sample_resize(rng: np.random.Generator, cfg: RealisticConfig, o: OrderConfig) -> dict:
    direction = _pick(rng, ("up", "down", "keep"), o.resize_prob)
    u = rng.random()  # drawn whatever the direction, so every level makes the same later draws
    factor = 1.0
    if direction != "keep":
        r = o.resize_up if direction == "up" else o.resize_down
        factor = r[0] + u * (r[1] - r[0])
    return {"direction": direction, "factor": _r(factor), "mode": _pick(rng, cfg.resize_modes)}


def _sample_noise(rng: np.random.Generator, o: OrderConfig) -> dict:
    gaussian = rng.random() < o.gaussian_noise_prob
    u = rng.random()
    grey = bool(rng.random() < o.gray_noise_prob)
    if gaussian:
        return {"kind": "gaussian", "sigma": _r(o.noise_range[0] + u * (o.noise_range[1] - o.noise_range[0])), "grey": grey}
    r = o.poisson_scale_range
    return {"kind": "poisson", "scale": _r(r[0] + u * (r[1] - r[0])), "grey": grey}


def _jpeg_quality(rng: np.random.Generator, r: tuple[float, float]) -> int:
    return int(np.clip(round(_uniform(rng, r)), 1, 100))


def sample_realistic(rng: np.random.Generator, shape: tuple[int, ...], eye_px: float | None = None,
                     config: RealisticConfig | None = None, *, source_eye_px: float | None = None) -> dict:
    """Draw every parameter of one degradation of an image of ``shape`` (H, W[, C]); the record that
    :func:`apply_realistic` replays. ``eye_px`` / ``source_eye_px``: see :func:`degrade_realistic`."""
    cfg = config or REALESRGAN
    h, w = int(shape[0]), int(shape[1])
    src_eye = float(source_eye_px) if source_eye_px is not None else cfg.crop_eye_fraction * w
    u_eye = rng.random()  # always drawn: the same seed makes the same other draws whatever the eye distance
    face_mode = eye_px is not None or cfg.eye_px_range is not None
    if eye_px is None and cfg.eye_px_range is not None:
        lo, hi = (math.log(v) for v in cfg.eye_px_range)
        eye_px = math.exp(lo + u_eye * (hi - lo))
    if eye_px is not None:
        if eye_px <= 0:
            raise ValueError(f"eye_px must be positive, got {eye_px}")
        scale = max(1.0, src_eye / float(eye_px))
    else:
        scale = float(cfg.target_scale)
    th, tw = max(1, int(h / scale)), max(1, int(w / scale))
    k1 = _sample_blur(rng, cfg, cfg.first)
    k2 = _sample_blur(rng, cfg, cfg.second)
    final_sinc = rng.random() < cfg.final_sinc_prob
    sinc = {"kernel": "sinc", "size": int(_pick(rng, cfg.kernel_sizes)), "cutoff": _r(_uniform(rng, cfg.final_sinc_cutoff))}

    r1 = _sample_resize(rng, cfg, cfg.first)
    r1["size"] = [max(1, int(h * r1["factor"])), max(1, int(w * r1["factor"]))]
    first = {"blur": k1, "resize": r1, "noise": _sample_noise(rng, cfg.first), "jpeg": _jpeg_quality(rng, cfg.first.jpeg_range)}
    blur2 = rng.random() < cfg.second.blur_prob
    r2 = _sample_resize(rng, cfg, cfg.second)
    r2["size"] = [max(1, int(th * r2["factor"])), max(1, int(tw * r2["factor"]))]  # relative to the target size
    second = {"blur": k2 if blur2 else None, "resize": r2, "noise": _sample_noise(rng, cfg.second)}
    order = FINAL_ORDERS[int(rng.random() < cfg.final_jpeg_first_prob)]
    final = {"order": order, "resize_mode": _pick(rng, cfg.resize_modes), "sinc": sinc if final_sinc else None,
             "jpeg": _jpeg_quality(rng, cfg.second.jpeg_range)}
    rec = {
        "type": "realistic", "level": cfg.level, "size": [h, w],
        "eye_px": _r(src_eye / scale) if face_mode else None, "source_eye_px": _r(src_eye), "target_scale": _r(scale),
        "work_size": [th, tw], "first": first, "second": second, "final": final,
        "upscale": cfg.upscale_mode if (th, tw) != (h, w) else None,
        "noise_seed": int(rng.integers(2**63 - 1)),
    }
    rec["severity"] = severity(rec)
    return rec


def _place(x: float, r: tuple[float, float], harsh_high: bool) -> float:
    t = (x - r[0]) / (r[1] - r[0]) if r[1] > r[0] else 0.0
    return float(np.clip(t if harsh_high else 1.0 - t, 0.0, 1.0))


def severity(rec: dict, reference: RealisticConfig = REALESRGAN) -> float:
    """0..1 summary of a record: mean place of each applied value in ``reference``'s full range (1 = harshest)."""
    ref = reference
    parts = []

    def blur(k: dict | None, o: OrderConfig, cutoff: tuple[float, float] | None = None):
        if k is None:
            return
        if k["kernel"] == "sinc":
            cut = cutoff or (ref.sinc_cutoff_small if k["size"] < ref.sinc_large_from else ref.sinc_cutoff_large)
            parts.append(_place(k["cutoff"], cut, False))
        else:
            s = math.sqrt(k.get("sigma_x", k.get("sigma")) * k.get("sigma_y", k.get("sigma")))
            parts.append(_place(s, o.blur_sigma, True))

    def resize(r: dict, o: OrderConfig):
        if r["direction"] != "keep":
            parts.append(_place(r["factor"], o.resize_up if r["direction"] == "up" else o.resize_down, False))

    def noise(n: dict, o: OrderConfig):
        if n["kind"] == "gaussian":
            parts.append(_place(n["sigma"], o.noise_range, True))
        else:
            parts.append(_place(n["scale"], o.poisson_scale_range, True))

    for key, o in (("first", ref.first), ("second", ref.second)):
        blur(rec[key]["blur"], o)
        resize(rec[key]["resize"], o)
        noise(rec[key]["noise"], o)
    parts.append(_place(rec["first"]["jpeg"], ref.first.jpeg_range, False))
    parts.append(_place(rec["final"]["jpeg"], ref.second.jpeg_range, False))
    blur(rec["final"]["sinc"], ref.second, ref.final_sinc_cutoff)
    if rec.get("eye_px") is not None:
        lo, hi = (math.log(v) for v in (ref.eye_px_range or EYE_PX_RANGE))
        parts.append(_place(math.log(rec["eye_px"]), (lo, hi), False))
    return _r(np.mean(parts))


# ----------------------------------------------------------------------------------------------------------------
# applying them


def _filter(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return cv2.filter2D(x, -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)


def _resize(x: np.ndarray, size, mode: str) -> np.ndarray:
    h, w = int(size[0]), int(size[1])
    if (h, w) == x.shape[:2]:
        return x
    return cv2.resize(x, (w, h), interpolation=_CV2_INTER[mode])


def _noise(x: np.ndarray, n: dict, rng: np.random.Generator) -> np.ndarray:
    h, w = x.shape[:2]
    if n["kind"] == "gaussian":
        shape = (h, w, 1) if n["grey"] else (h, w, 3)
        noise = rng.standard_normal(shape, dtype=np.float32) * np.float32(n["sigma"] / 255.0)
    else:
        img = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None] if n["grey"] else x
        q = np.clip(np.round(img * 255.0), 0, 255)
        levels = np.count_nonzero(np.bincount(q.astype(np.int64).ravel(), minlength=256))
        vals = 2.0 ** math.ceil(math.log2(max(levels, 1)))  # photons at white: the next power of 2 of the grey levels
        q = q / 255.0
        noise = ((rng.poisson(q * vals) / vals - q) * n["scale"]).astype(np.float32)
    return np.clip(x + noise, 0.0, 1.0)  # broadcast over channels for grey noise


def _jpeg(x: np.ndarray, quality: int) -> np.ndarray:
    u8 = np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(u8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV encodes any 8-bit RGB array
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def apply_realistic(img: np.ndarray, rec: dict) -> np.ndarray:
    """Replay a :func:`sample_realistic` record on an HxWx3 uint8 RGB image (its size must match the record's)."""
    _check_image(img)
    if list(img.shape[:2]) != list(rec["size"]):
        raise ValueError(f"record made for size {rec['size']}, image is {list(img.shape[:2])}")
    rng = np.random.default_rng(rec["noise_seed"])
    x = img.astype(np.float32) / 255.0
    first, second, final = rec["first"], rec["second"], rec["final"]
    # first order
    x = _filter(x, kernel_from_record(first["blur"]))
    x = _resize(x, first["resize"]["size"], first["resize"]["mode"])
    x = _noise(x, first["noise"], rng)
    x = _jpeg(x, first["jpeg"])
    # second order
    if second["blur"] is not None:
        x = _filter(x, kernel_from_record(second["blur"]))
    x = _resize(x, second["resize"]["size"], second["resize"]["mode"])
    x = _noise(x, second["noise"], rng)

    def back(y: np.ndarray) -> np.ndarray:  # resize to the target size + the final sinc
        y = _resize(y, rec["work_size"], final["resize_mode"])
        return y if final["sinc"] is None else _filter(y, kernel_from_record(final["sinc"]))

    if final["order"] == "resize_sinc_jpeg":
        x = _jpeg(np.clip(back(x), 0.0, 1.0), final["jpeg"])
    else:
        x = back(_jpeg(x, final["jpeg"]))
    out = np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
    if rec["upscale"] is not None:
        out = _resize(out, rec["size"], rec["upscale"])
    return np.ascontiguousarray(out)


def _check_image(img: np.ndarray) -> None:
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {getattr(img, 'dtype', type(img))} {getattr(img, 'shape', '')}")


def degrade_realistic(img: np.ndarray, rng: np.random.Generator, eye_px: float | None = None,
                      config: RealisticConfig | None = None, *, source_eye_px: float | None = None) -> tuple[np.ndarray, dict]:
    """Real-ESRGAN's second-order degradation of one HxWx3 uint8 RGB image; returns (same size uint8, record).

    ``eye_px``: the inter-ocular distance (px) the face gets in the small image before it is upscaled back
    (face-size mode; otherwise ``config.eye_px_range`` is drawn from, or ``config.target_scale`` used).
    ``source_eye_px``: the face's eye distance in ``img``; default ``0.25 W``, a GFIQA-aligned crop's (128 px at 512),
    so ``target_scale = 128 / eye_px`` on a 512 crop. The record holds every value drawn and replays exactly with
    :func:`apply_realistic`.
    """
    _check_image(img)
    rec = sample_realistic(rng, img.shape, eye_px, config, source_eye_px=source_eye_px)
    return apply_realistic(img, rec), rec
