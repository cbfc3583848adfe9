"""Small tensor helpers shared by the models, the degradation engine and the FR metrics."""
from __future__ import annotations

import numpy as np
import torch

_BT601 = (0.299, 0.587, 0.114)


def luma(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> (B, 1, H, W) BT.601 luma, same scale as the input."""
    w = torch.tensor(_BT601, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def luma255(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 1, H, W) luma in [0, 255]."""
    return luma(x) * 255.0


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> (3, H, W) float in [0, 1]."""
    arr = np.ascontiguousarray(image)
    if not arr.flags.writeable:  # e.g. np.asarray(PIL image): torch.from_numpy would warn; .float() copies anyway
        arr = arr.copy()
    return torch.from_numpy(arr).permute(2, 0, 1).float().div_(255.0)


def as_batch(x) -> torch.Tensor:
    """An HxWx3 uint8 array, a (3, H, W) or a (B, 3, H, W) tensor -> (B, 3, H, W) float."""
    if isinstance(x, np.ndarray):
        return image_to_tensor(x)[None]
    return x.float() if x.ndim == 4 else x[None].float()


def resize_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, size, size), anti-aliased bilinear; unchanged when already that size."""
    if x.shape[-2:] == (size, size):
        return x
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
