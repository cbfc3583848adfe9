"""Image input: one function, :func:`load_image`, turns any supported source into RGB uint8.

Sources: a path (``str``/``os.PathLike``), raw ``bytes``, a ``PIL.Image``, a numpy array
(HxW, HxWx1/3/4; uint8, uint16 or float in [0, 1]) or a torch tensor (CxHxW or HxWxC).
EXIF orientation is applied; L/LA/P/PA/RGBA/CMYK/YCbCr/I;16/I/F/1 modes become RGB
(transparent pixels are composited on ``background``). Undecodable, truncated, empty or
oversized (decompression-bomb) inputs raise :class:`~core.errors.InvalidImageError`
naming the source and the cause; nothing is silently repaired.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InvalidImageError

#: Default pixel limit (width x height). Override per call or with FACEIQA_MAX_PIXELS.
DEFAULT_MAX_PIXELS = 64_000_000

ImageSource = Union[str, os.PathLike, bytes, bytearray, Image.Image, np.ndarray, Any]  # noqa: UP007  (a runtime alias)

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm"}
)


def max_pixels_default() -> int:
    """The pixel limit in force: ``FACEIQA_MAX_PIXELS`` if set, else :data:`DEFAULT_MAX_PIXELS`."""
    env = os.environ.get("FACEIQA_MAX_PIXELS")
    return int(env) if env else DEFAULT_MAX_PIXELS


def describe_source(src: ImageSource) -> str:
    """A short human name for an input, used in error messages and result tables."""
    if isinstance(src, (str, os.PathLike)):
        return os.fspath(src)
    if isinstance(src, (bytes, bytearray)):
        return f"<bytes: {len(src)}>"
    if isinstance(src, Image.Image):
        return f"<PIL {src.mode} {src.width}x{src.height}>"
    shape = getattr(src, "shape", None)
    return f"<{type(src).__name__} {tuple(shape) if shape is not None else ''}>".replace(" >", ">")


def load_image(
    src: ImageSource,
    *,
    max_pixels: int | None = None,
    background: tuple[int, int, int] = (255, 255, 255),
) -> np.ndarray:
    """Decode ``src`` into an ``HxWx3`` ``uint8`` RGB array (a new, contiguous array)."""
    name = describe_source(src)
    limit = max_pixels_default() if max_pixels is None else int(max_pixels)
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        if not path.is_file():
            raise InvalidImageError(name, "no such file" if not path.exists() else "not a file")
        if path.stat().st_size == 0:
            raise InvalidImageError(name, "empty file (0 bytes)")
        with open(path, "rb") as fh:
            return _from_pil_stream(fh, name, limit, background)
    if isinstance(src, (bytes, bytearray)):
        if len(src) == 0:
            raise InvalidImageError(name, "empty input (0 bytes)")
        return _from_pil_stream(io.BytesIO(bytes(src)), name, limit, background)
    if isinstance(src, Image.Image):
        _check_size(src.width, src.height, name, limit)
        return _pil_to_rgb(ImageOps.exif_transpose(src), background)
    if isinstance(src, np.ndarray):
        return _array_to_rgb(src, name, limit)
    if type(src).__module__.startswith("torch"):
        arr = src.detach().cpu().numpy()
        if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
            arr = np.moveaxis(arr, 0, -1)  # CxHxW -> HxWxC
        return _array_to_rgb(arr, name, limit)
    raise InvalidImageError(name, f"unsupported input type {type(src).__name__}")


def _check_size(width: int, height: int, name: str, limit: int) -> None:
    if width <= 0 or height <= 0:
        raise InvalidImageError(name, f"image has no pixels ({width}x{height})")
    if width * height > limit:
        raise InvalidImageError(
            name,
            f"{width}x{height} = {width * height:,} pixels exceeds max_pixels={limit:,} "
            "(possible decompression bomb; raise the limit with max_pixels= or FACEIQA_MAX_PIXELS)",
        )


def _from_pil_stream(stream, name: str, limit: int, background) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(stream)
            _check_size(img.width, img.height, name, limit)
            img.load()  # decode now: truncation surfaces here, inside our try
    except InvalidImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise InvalidImageError(name, f"decompression bomb refused by Pillow ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImageError(name, "not a recognised image format") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImageError(name, f"corrupt or truncated image data ({exc})") from exc
    try:
        img = ImageOps.exif_transpose(img)
    except Exception as exc:  # malformed EXIF must not hide a good image
        warnings.warn(f"{name}: ignoring unreadable EXIF orientation ({exc})", stacklevel=3)
    return _pil_to_rgb(img, background)


def _pil_to_rgb(img: Image.Image, background) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img)
        scale = 65535.0 if mode.startswith("I;16") or (mode == "I" and arr.max(initial=0) > 255) else 255.0
        if mode == "F":
            scale = 1.0 if float(np.nanmax(arr, initial=0.0)) <= 1.0 else 255.0
        grey = np.clip(np.nan_to_num(arr.astype(np.float64)) / scale * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    elif mode == "P":
        img = img.convert("RGB")
    if img.mode in ("LA", "PA", "La", "RGBa"):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        canvas = Image.new("RGB", img.size, tuple(background))
        canvas.paste(img, mask=img.getchannel("A"))
        img = canvas
    if img.mode != "RGB":
        img = img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV
    return np.array(img, dtype=np.uint8, copy=True)


def _array_to_rgb(arr: np.ndarray, name: str, limit: int) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise InvalidImageError(name, f"expected HxW or HxWx{{1,3,4}} array, got shape {arr.shape}")
    _check_size(arr.shape[1], arr.shape[0], name, limit)
    if arr.dtype == np.uint8:
        out = arr
    elif arr.dtype == np.uint16:
        out = (arr.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)
    elif arr.dtype == np.bool_:
        out = arr.astype(np.uint8) * 255
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise InvalidImageError(name, "array contains NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise InvalidImageError(name, f"float arrays must lie in [0, 1], got [{lo:.3g}, {hi:.3g}]")
        out = (arr * 255.0 + 0.5).astype(np.uint8)
    else:
        raise InvalidImageError(name, f"unsupported array dtype {arr.dtype}")
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    elif out.shape[2] == 4:
        alpha = out[..., 3:4].astype(np.float32) / 255.0
        out = (out[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(out, dtype=np.uint8).copy()


def is_image_path(path: str | os.PathLike) -> bool:
    """True when the file name carries a known image suffix."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def iter_image_paths(paths, recursive: bool = True) -> list[Path]:
    """Expand files and folders into a sorted, de-duplicated list of image paths."""
    seen: dict[str, Path] = {}
    for p in paths:
        p = Path(p)
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            for f in sorted(p.glob(pattern)):
                if f.is_file() and is_image_path(f):
                    seen.setdefault(str(f.resolve()), f)
        else:
            seen.setdefault(str(p.resolve()), p)  # missing/odd files are reported, not dropped
    return [seen[k] for k in sorted(seen)]
