"""Training-free perceptual factors of the tinyFQnet paper (seed 004, section IV, Table II).

tinyFQnet compares its learned score with "the most common perceptual factors, including
blurriness, JPEG compression, head pose, and their combination". The paper names the factors
but not their formulas, so each is a standard, published measure, batched in torch:

* ``perceptual-blur``  - variance of the Laplacian (Pech-Pacheco et al. 2000) on the inner
  face of the GFIQA-aligned crop at its native 512 px (so a small, upsampled face reads as
  blurred, as people see it), after a 3x3 binomial pre-smoothing that keeps film grain and
  sensor noise from passing for detail; ``log(var + 0.01)``-compressed and mapped to 0..1 by a logistic whose
  centre/width are buffers. Calibrated (``benchmarks/calibrate_perceptual.py``) so the median
  modern high-resolution photo (deepface-identities) sits at 0.85 and an LFW face blurred with
  a Gaussian of sigma 1 at 0.15; clean LFW news faces (small, JPEG'd) then land near 0.3.
* ``perceptual-jpeg``  - the no-reference JPEG quality model of Wang, Sheikh & Bovik (ICIP
  2002): blockiness B, activity A and zero-crossing rate Z on the 8x8 grid of the original
  pixels, ``S = a + b B^g1 A^g2 Z^g3`` with their published constants (S ~ 1..10), mapped
  to 0..1 by ``(S - 1) / 9``. Needs un-resampled pixels (``grid_crop``), as in Table II
  ("need aligning? no").
* ``perceptual-pose``  - head pose from six of the 68 landmarks fitted to a generic 3D face
  under a scaled-orthographic camera (batched least squares, no solver loop); quality is
  ``cos(yaw) * cos(pitch)`` = the cosine between the face normal and the viewing axis.
  Roll is ignored (alignment removes it).
* ``perceptual-combined`` - the geometric mean of the three (the paper's "Combination";
  it does not say how it combined them, a geometric mean keeps 0..1 and lets any one bad
  factor pull the score down).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..tensors import luma255 as rgb_to_grey255
from .base import ModelInfo, QualityModel
from .registry import register_model

PAPER = "tinyFQnet (seed 004), perceptual baselines of Table II / Fig. 6"


# ----------------------------------------------------------------------------- blur
BLUR_INFO = ModelInfo(
    name="perceptual-blur",
    description="Sharpness: log variance of the Laplacian on the aligned inner face (training-free).",
    inputs=("aligned",),
    alignment="gfiqa",
    input_size=512,
    paper=PAPER,
    extras=("log_laplacian_var",),
)


_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
_BINOMIAL = (torch.tensor([1.0, 2.0, 1.0])[:, None] * torch.tensor([1.0, 2.0, 1.0])[None] / 16.0).view(1, 1, 3, 3)


def log_laplacian_var(aligned: torch.Tensor) -> torch.Tensor:
    """(B,) log variance of the Laplacian of the inner face of GFIQA-aligned crops (B, 3, S, S) in [0, 1], grey
    0..255 after a 3x3 binomial pre-smoothing; at the crop's own resolution S."""
    grey = rgb_to_grey255(aligned)
    s = grey.shape[-1]
    # inner face of a GFIQA crop: eyes at y=0.5 S, x=0.375/0.625 S; chin near 0.85 S
    inner = grey[..., int(0.30 * s) : int(0.86 * s), int(0.25 * s) : int(0.75 * s)]
    smooth, lap = _BINOMIAL.to(grey), _LAPLACIAN.to(grey)
    return torch.log(F.conv2d(F.conv2d(inner, smooth), lap).flatten(1).var(dim=1) + 0.01)  # 0.01: floor, flat patches


class BlurQuality(QualityModel):
    info = BLUR_INFO

    def __init__(self, centre: float = 0.86, width: float = 1.44):
        super().__init__(centre=centre, width=width)
        self.register_buffer("centre", torch.tensor(float(centre)))
        self.register_buffer("width", torch.tensor(float(width)))

    def log_laplacian_var(self, aligned: torch.Tensor) -> torch.Tensor:
        return log_laplacian_var(aligned)

    def forward(self, batch):
        raw = self.log_laplacian_var(batch["aligned"])
        return torch.sigmoid((raw - self.centre) / self.width)

    def extras(self, batch):
        return {"log_laplacian_var": self.log_laplacian_var(batch["aligned"])}


@register_model(BLUR_INFO)
def perceptual_blur(**kw) -> BlurQuality:
    return BlurQuality(**kw)


# ----------------------------------------------------------------------------- JPEG
JPEG_INFO = ModelInfo(
    name="perceptual-jpeg",
    description="JPEG blockiness: Wang-Sheikh-Bovik no-reference JPEG quality on the 8x8 grid (training-free).",
    score_range=(0.0, 1.0),
    inputs=("grid_crop",),
    alignment="none",
    input_size=128,
    paper=PAPER + "; Wang, Sheikh & Bovik, ICIP 2002",
    extras=("jpeg_S", "blockiness"),
)


def jpeg_features(grey: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Blockiness B, activity A and zero-crossing rate Z of (B, 1, H, W) grey [0, 255]."""

    def one_direction(x: torch.Tensor):
        d = x[..., 1:] - x[..., :-1]  # d(m, n) = x(m, n+1) - x(m, n)
        n = x.shape[-1]
        # block boundaries: between columns 8j-1 and 8j (0-based), j = 1 .. N/8 - 1
        bidx = torch.arange(7, n - 1, 8, device=x.device)
        b = d[..., bidx].abs().mean(dim=(-1, -2, -3))
        a = (8.0 * d.abs().mean(dim=(-1, -2, -3)) - b) / 7.0
        z = ((d[..., :-1] * d[..., 1:]) < 0).to(x.dtype).mean(dim=(-1, -2, -3))
        return b, a, z

    bh, ah, zh = one_direction(grey)
    bv, av, zv = one_direction(grey.transpose(-1, -2))
    return (bh + bv) / 2, (ah + av) / 2, (zh + zv) / 2


class JpegQuality(QualityModel):
    info = JPEG_INFO
    # Wang, Sheikh & Bovik (2002), constants fitted to their JPEG subjective study
    ALPHA, BETA, G1, G2, G3 = -245.9, 261.9, -0.0240, 0.0160, 0.0064

    def __init__(self):
        super().__init__()

    def jpeg_s(self, crop: torch.Tensor) -> torch.Tensor:
        b, a, z = jpeg_features(rgb_to_grey255(crop).double())
        eps = 1e-6
        s = self.ALPHA + self.BETA * b.clamp_min(eps) ** self.G1 * a.clamp_min(eps) ** self.G2 * z.clamp_min(eps) ** self.G3
        return s.to(crop.dtype)

    def forward(self, batch):
        return ((self.jpeg_s(batch["grid_crop"]) - 1.0) / 9.0).clamp(0.0, 1.0)

    def extras(self, batch):
        b, _, _ = jpeg_features(rgb_to_grey255(batch["grid_crop"]))
        return {"jpeg_S": self.jpeg_s(batch["grid_crop"]), "blockiness": b}


@register_model(JPEG_INFO)
def perceptual_jpeg(**kw) -> JpegQuality:
    return JpegQuality(**kw)


# ----------------------------------------------------------------------------- pose
POSE_INFO = ModelInfo(
    name="perceptual-pose",
    description="Head pose: cos(yaw)*cos(pitch) from 68 landmarks and a generic 3D face (training-free).",
    inputs=("landmarks",),
    alignment="gfiqa",
    input_size=512,
    paper=PAPER,
    extras=("yaw", "pitch", "roll"),
)

# Generic 3D face (mm-like units; x right, y down, z away from the camera), iBUG indices:
# nose tip 30, chin 8, outer eye corners 36 / 45, mouth corners 48 / 54.
POSE_POINTS = (30, 8, 36, 45, 48, 54)
FACE_3D = (
    (0.0, 0.0, 0.0),
    (0.0, 330.0, 65.0),
    (-225.0, -170.0, 135.0),
    (225.0, -170.0, 135.0),
    (-150.0, 150.0, 125.0),
    (150.0, 150.0, 125.0),
)


def head_rotation(points2d: torch.Tensor, model3d: torch.Tensor) -> torch.Tensor:
    """Rotation (B, 3, 3) of a scaled-orthographic camera fitted to (B, P, 2) points."""
    x = model3d - model3d.mean(0, keepdim=True)  # (P, 3)
    u = points2d - points2d.mean(1, keepdim=True)  # (B, P, 2)
    proj = (torch.linalg.pinv(x) @ u).transpose(1, 2)  # (B, 2, 3): u ~ x @ proj^T
    uu, _, vh = torch.linalg.svd(proj, full_matrices=False)
    rows = uu @ vh  # nearest matrix with orthonormal rows
    r3 = torch.linalg.cross(rows[:, 0], rows[:, 1], dim=-1)
    return torch.cat([rows, r3[:, None]], dim=1)


def euler_degrees(rot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(yaw, pitch, roll) in degrees of (B, 3, 3) rotations; frontal = (0, 0, 0)."""
    yaw = torch.atan2(rot[:, 0, 2], rot[:, 2, 2])
    pitch = torch.atan2(-rot[:, 1, 2], torch.sqrt(rot[:, 0, 2] ** 2 + rot[:, 2, 2] ** 2))
    roll = torch.atan2(rot[:, 1, 0], rot[:, 0, 0])
    return tuple(torch.rad2deg(a) for a in (yaw, pitch, roll))


class PoseQuality(QualityModel):
    info = POSE_INFO

    def __init__(self):
        super().__init__()
        self.register_buffer("face3d", torch.tensor(FACE_3D), persistent=False)

    def rotation(self, landmarks: torch.Tensor) -> torch.Tensor:
        pts = landmarks[:, list(POSE_POINTS)].to(torch.float64)
        return head_rotation(pts, self.face3d.to(torch.float64))

    def forward(self, batch):
        rot = self.rotation(batch["landmarks"])
        return rot[:, 2, 2].clamp(0.0, 1.0).to(batch["landmarks"].dtype)  # = cos(yaw) cos(pitch)

    def extras(self, batch):
        yaw, pitch, roll = euler_degrees(self.rotation(batch["landmarks"]))
        return {"yaw": yaw, "pitch": pitch, "roll": roll}


@register_model(POSE_INFO)
def perceptual_pose(**kw) -> PoseQuality:
    return PoseQuality(**kw)


# ----------------------------------------------------------------------------- combination
COMBINED_INFO = ModelInfo(
    name="perceptual-combined",
    description="Geometric mean of blur, JPEG and pose quality (tinyFQnet's 'Combination'; training-free).",
    inputs=("aligned", "grid_crop", "landmarks"),
    alignment="gfiqa",
    input_size=512,
    paper=PAPER,
    extras=("blur", "jpeg", "pose", "yaw", "pitch"),
)


class CombinedQuality(QualityModel):
    info = COMBINED_INFO

    def __init__(self, blur_centre: float = 0.86, blur_width: float = 1.44):
        super().__init__(blur_centre=blur_centre, blur_width=blur_width)
        self.blur = BlurQuality(blur_centre, blur_width)
        self.jpeg = JpegQuality()
        self.pose = PoseQuality()

    def parts(self, batch) -> torch.Tensor:
        return torch.stack([self.blur(batch), self.jpeg(batch), self.pose(batch)], dim=1)

    def forward(self, batch):
        return self.parts(batch).clamp_min(1e-6).log().mean(1).exp()

    def extras(self, batch):
        p = self.parts(batch)
        yaw, pitch, _ = euler_degrees(self.pose.rotation(batch["landmarks"]))
        return {"blur": p[:, 0], "jpeg": p[:, 1], "pose": p[:, 2], "yaw": yaw, "pitch": pitch}


@register_model(COMBINED_INFO)
def perceptual_combined(**kw) -> CombinedQuality:
    return CombinedQuality(**kw)

