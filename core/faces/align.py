"""Face alignment protocols and landmark region masks.

* :func:`align_gfiqa` - the GFIQA-20k protocol (paper section III-A): centre at the eye
  midpoint, eyes levelled, square crop of side ``4 x`` inter-eye distance, resized to 512.
  After alignment the eye centres sit at ``(0.375 S, 0.5 S)`` and ``(0.625 S, 0.5 S)``.
* :func:`align_arcface` - 5-point similarity transform (Umeyama) to the standard
  112x112 ArcFace template used by face recognition (and tinyFQnet).

Both return the aligned image and the 2x3 affine matrix (source -> aligned), so landmarks
and maps can be carried between frames with :func:`transform_points` / :func:`invert_affine`.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .types import LANDMARK_GROUPS, REGION_GROUPS, Face

ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


@dataclass
class AlignedFace:
    """An aligned crop with the transform that made it and the landmarks in its frame."""

    image: np.ndarray  # SxSx3 uint8 RGB
    matrix: np.ndarray  # 2x3, source pixel -> aligned pixel
    landmarks: np.ndarray  # 68x2 in aligned coordinates


def gfiqa_matrix(left_eye: np.ndarray, right_eye: np.ndarray, size: int = 512, crop_factor: float = 4.0) -> np.ndarray:
    """Affine (rotation + uniform scale + shift) for the GFIQA-20k crop."""
    left_eye = np.asarray(left_eye, np.float64)
    right_eye = np.asarray(right_eye, np.float64)
    d = right_eye - left_eye
    dist = float(np.hypot(*d))
    if dist < 1e-6:
        raise ValueError("eye centres coincide; cannot align")
    angle = np.arctan2(d[1], d[0])
    s = size / (crop_factor * dist)
    c, si = np.cos(-angle) * s, np.sin(-angle) * s
    rot = np.array([[c, -si], [si, c]])
    centre = (left_eye + right_eye) / 2.0
    shift = np.array([size / 2.0, size / 2.0]) - rot @ centre
    return np.hstack([rot, shift[:, None]])


def umeyama_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama 1991) mapping ``src`` points onto ``dst``; 2x3."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    sc, dc = src - mu_s, dst - mu_d
    cov = dc.T @ sc / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    var_s = (sc**2).sum() / len(src)
    scale = float(np.trace(np.diag(sig) @ sign) / var_s) if var_s > 0 else 1.0
    shift = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, shift[:, None]])


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine to ``(N, 2)`` points."""
    pts = np.asarray(points, np.float64)
    return (pts @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine."""
    return cv2.invertAffineTransform(np.asarray(matrix, np.float64))


def warp(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Warp to ``size x size`` (bilinear; reflected borders, so no black edges fool IQA).

    Strong down-scaling first shrinks by an integer factor with area averaging, so small
    crops of large photos are not aliased.
    """
    matrix = np.asarray(matrix, np.float64)
    factor = int(np.floor(1.0 / max(np.sqrt(abs(np.linalg.det(matrix[:, :2]))), 1e-6)))
    if factor >= 2:
        image = cv2.resize(image, None, fx=1.0 / factor, fy=1.0 / factor, interpolation=cv2.INTER_AREA)
        # shrunken pixel q sits at source pixel p = f q + (f - 1) / 2
        pre = np.array([[factor, 0.0, (factor - 1) / 2.0], [0.0, factor, (factor - 1) / 2.0], [0.0, 0.0, 1.0]])
        matrix = (np.vstack([matrix, [0.0, 0.0, 1.0]]) @ pre)[:2]
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def align_gfiqa(image: np.ndarray, face: Face, size: int = 512) -> AlignedFace:
    """GFIQA-20k alignment of one face (eye-midpoint centre, levelled eyes, 4x eye distance)."""
    left, right = face.eye_centres
    m = gfiqa_matrix(left, right, size)
    return AlignedFace(warp(image, m, size), m, transform_points(face.landmarks, m))


def align_arcface(image: np.ndarray, face: Face, size: int = 112) -> AlignedFace:
    """5-point similarity alignment to the ArcFace template (scaled to ``size``)."""
    m = umeyama_similarity(face.five_points(), ARCFACE_112 * (size / 112.0))
    return AlignedFace(warp(image, m, size), m, transform_points(face.landmarks, m))


def region_mask(landmarks: np.ndarray, shape: tuple[int, int], regions=("eyes", "brows", "nose", "mouth")) -> np.ndarray:
    """Float mask ``HxW`` in {0, 1}: the convex hull of each named region's landmarks.

    ``regions`` takes names from :data:`REGION_GROUPS`, :data:`LANDMARK_GROUPS` or ``"face"``
    (hull of all 68 points).
    """
    mask = np.zeros(shape[:2], np.uint8)
    for name in regions:
        if name == "face":
            groups = [tuple(range(68))]
        elif name in REGION_GROUPS:
            groups = [LANDMARK_GROUPS[g] for g in REGION_GROUPS[name]]
        elif name in LANDMARK_GROUPS:
            groups = [LANDMARK_GROUPS[name]]
        else:
            raise KeyError(f"unknown region {name!r}")
        for idx in groups:
            pts = np.round(np.asarray(landmarks)[list(idx)]).astype(np.int32)
            cv2.fillConvexPoly(mask, cv2.convexHull(pts), 1)
    return mask.astype(np.float32)
