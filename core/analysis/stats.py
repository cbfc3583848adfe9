"""Dataset statistics: image measures (GFIQA section III-D), skin tone (ITA), MOS bins.

* brightness - mean grey level (0..255);
* sharpness  - log of the mean gradient magnitude (Sobel, grey 0..255); ``log(mean + 1)``
  so a flat image gives 0 instead of -inf;
* contrast   - ``std(I) / kurtosis(I) ** 0.25`` (Pearson kurtosis, 3 for a Gaussian); a flat
  image has std 0 and contrast 0 by definition;
* skin tone  - Individual Typology Angle ``ITA = atan((L* - 50) / b*) * 180 / pi`` (Chardon
  et al. 1991) on the median CIELAB value of landmark-defined skin regions (both cheeks and
  the forehead above the brows), mapped to the six ITA classes, to Fitzpatrick-like types
  I..VI (one per class, the usual correspondence) and to DSL-FIQA Table 1's Light (I-II) /
  Medium (III-IV) / Dark (V-VI).

Everything works on arrays; :func:`image_stats` takes one RGB image, :func:`batch_image_stats`
many same-size images at once (vectorised).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..api import CATEGORIES, category

#: ITA class lower bounds (degrees), lightest first (Chardon, Cretois & Bourliere 1991).
ITA_CLASSES = (("very light", 55.0), ("light", 41.0), ("intermediate", 28.0), ("tan", 10.0), ("brown", -30.0), ("dark", -math.inf))
FITZPATRICK = {"very light": "I", "light": "II", "intermediate": "III", "tan": "IV", "brown": "V", "dark": "VI"}
DSL_GROUP = {"I": "Light", "II": "Light", "III": "Medium", "IV": "Medium", "V": "Dark", "VI": "Dark"}


def grey(image: np.ndarray, dtype=np.float64) -> np.ndarray:
    """BT.601 luma, 0..255, of an RGB uint8 image or a batch (..., H, W, 3)."""
    return np.asarray(image).astype(dtype) @ np.array([0.299, 0.587, 0.114], dtype)


def batch_image_stats(images: np.ndarray) -> dict[str, np.ndarray]:
    """brightness, sharpness, contrast of a batch ``(N, H, W, 3)`` uint8 (vectorised).

    Pixel work runs in float32; the per-image reductions accumulate in float64.
    """
    g = grey(images, np.float32)
    n = g.shape[0]
    flat = g.reshape(n, -1)
    brightness = flat.mean(1, dtype=np.float64)
    if g.shape[1] < 3 or g.shape[2] < 3:
        raise ValueError(f"images must be at least 3x3, got {g.shape[1:]}")
    dx = g[:, :, 2:] - g[:, :, :-2]
    sx = dx[:, :-2] + 2 * dx[:, 1:-1] + dx[:, 2:]  # Sobel x, (N, H-2, W-2)
    dy = g[:, 2:, :] - g[:, :-2, :]
    sy = dy[:, :, :-2] + 2 * dy[:, :, 1:-1] + dy[:, :, 2:]  # Sobel y
    mag = np.sqrt(sx**2 + sy**2) / 8.0  # a unit ramp has magnitude 1
    sharpness = np.log(mag.reshape(n, -1).mean(1, dtype=np.float64) + 1.0)
    centred = flat - brightness[:, None].astype(np.float32)
    sq = centred * centred
    std = np.sqrt(sq.mean(1, dtype=np.float64))
    m4 = (sq * sq).mean(1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        kurt = np.where(std > 1e-9, m4 / np.maximum(std, 1e-12) ** 4, np.nan)
        contrast = np.where(std > 1e-9, std / kurt**0.25, 0.0)
    return {"brightness": brightness, "sharpness": sharpness, "contrast": contrast}


def image_stats(image: np.ndarray) -> dict[str, float]:
    """brightness, sharpness, contrast of one RGB image."""
    return {k: float(v[0]) for k, v in batch_image_stats(np.asarray(image)[None]).items()}


def skin_region_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of both cheeks and the forehead, from 68 iBUG landmarks."""
    import cv2  # noqa: PLC0415

    lm = np.asarray(landmarks, np.float64)
    mask = np.zeros(shape[:2], np.uint8)
    eye_dist = np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0))
    # cheeks: between the lower eyelid, the nose side and the jaw
    for poly in ((1, 2, 3, 31, 40, 41), (15, 14, 13, 35, 47, 46)):
        pts = lm[list(poly)]
        centre = pts.mean(0)
        pts = centre + 0.7 * (pts - centre)  # shrink away from edges, hair and nostrils
        cv2.fillConvexPoly(mask, np.round(pts).astype(np.int32), 1)
    # forehead: a band above the brows, 0.15..0.45 eye distances up
    brow = lm[17:27]
    up = np.array([0.0, -1.0])
    band = np.concatenate([brow[2:8] + 0.15 * eye_dist * up, (brow[2:8] + 0.45 * eye_dist * up)[::-1]])
    cv2.fillConvexPoly(mask, np.round(band).astype(np.int32), 1)
    return mask.astype(bool)


def ita_degrees(lab: np.ndarray) -> float:
    """ITA of one CIELAB triple (or the median of an ``(N, 3)`` array of them)."""
    lab = np.asarray(lab, np.float64).reshape(-1, 3)
    l_star, b_star = np.median(lab[:, 0]), np.median(lab[:, 2])
    return float(math.degrees(math.atan2(l_star - 50.0, b_star)))


def ita_class(ita: float) -> str:
    """The ITA class name (very light ... dark)."""
    for name, lower in ITA_CLASSES:
        if ita > lower:
            return name
    return ITA_CLASSES[-1][0]


#: median CIELAB chroma (sqrt(a*^2 + b*^2)) of the skin below which a face is taken as black-and-white: measured on 400
#: UTKFace crops + the CodeFormer / GFPGAN old prints, greyscale photos 0-2.7 (a toned print 1.6), colour
#: ones 4.2 and up. ITA = atan((L* - 50) / b*) of a grey face is +-90 degrees: every such UTKFace photo read "very light"
#: whatever its race label (10 of the 400, 2.5 %), a dark grey print "dark".
GREY_CHROMA = 3.5


def skin_tone(image: np.ndarray, landmarks: np.ndarray, min_pixels: int = 50) -> dict:
    """ITA, class, Fitzpatrick-like type and DSL group of the face's skin, and its median chroma; 'unknown' if too few
    pixels or a black-and-white photo (chroma below :data:`GREY_CHROMA`)."""
    from skimage.color import rgb2lab  # noqa: PLC0415

    mask = skin_region_mask(landmarks, image.shape)
    n = int(mask.sum())
    def unknown(chroma: float) -> dict:
        return {"ita": float("nan"), "ita_class": "unknown", "fitzpatrick": "unknown", "skin_tone": "unknown", "skin_pixels": n,
                "skin_chroma": chroma}

    if n < min_pixels:
        return unknown(float("nan"))
    lab = rgb2lab(np.asarray(image)[mask][None].astype(np.float64) / 255.0)[0]
    # drop specular highlights and deep shadows before the median
    lum = lab[:, 0]
    lo, hi = np.percentile(lum, [10, 95])
    lab = lab[(lum >= lo) & (lum <= hi)] if ((lum >= lo) & (lum <= hi)).sum() >= min_pixels // 2 else lab
    chroma = float(np.median(np.hypot(lab[:, 1], lab[:, 2])))
    if chroma < GREY_CHROMA:  # a black-and-white photo has no skin colour: ITA would read its grey level as a tone
        return unknown(chroma)
    ita = ita_degrees(lab)
    cls = ita_class(ita)
    fitz = FITZPATRICK[cls]
    return {"ita": ita, "ita_class": cls, "fitzpatrick": fitz, "skin_tone": DSL_GROUP[fitz], "skin_pixels": n, "skin_chroma": chroma}


def mos_bins(mos) -> dict[str, int]:
    """Counts per GFIQA category of 0..1 MOS values."""
    counts = dict.fromkeys(CATEGORIES, 0)
    for m in np.asarray(mos, np.float64).ravel():
        if np.isfinite(m):
            counts[category(float(m))] += 1
    return counts


def identity_groups(embeddings: np.ndarray, threshold: float = 0.55) -> np.ndarray:
    """Group ids linking faces closer than ``threshold``, transitively (connected components).

    dlib calls a *pair* the same person under 0.6; linking is transitive (single linkage), so
    the default is stricter (0.55) to keep look-alike chains from merging different people
    (on LFW, 0.6 already chains Colin Powell into Tony Blair through one 0.60 pair).

    Connected components of the radius graph; ``-1`` never occurs: a face alone is its own group.
    """
    from scipy.sparse.csgraph import connected_components  # noqa: PLC0415
    from sklearn.neighbors import NearestNeighbors  # noqa: PLC0415

    emb = np.asarray(embeddings, np.float32)
    if len(emb) == 0:
        return np.zeros(0, np.int64)
    graph = NearestNeighbors(radius=threshold).fit(emb).radius_neighbors_graph(emb, mode="connectivity")
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def near_duplicates(embeddings: np.ndarray, threshold: float = 0.25) -> np.ndarray:
    """Group ids of near-identical faces (same photo re-encoded, resized or lightly edited)."""
    return identity_groups(embeddings, threshold)


def kmeans_representatives(embeddings: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """GFIQA-20k curation: k-means into ``k`` clusters, one random member kept per cluster.

    Returns (cluster label per face, indices of the kept representatives).
    """
    from sklearn.cluster import MiniBatchKMeans  # noqa: PLC0415

    emb = np.asarray(embeddings, np.float32)
    k = min(k, len(emb))
    labels = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096).fit_predict(emb)
    rng = np.random.default_rng(seed)
    keep = np.array(sorted(int(rng.choice(np.flatnonzero(labels == c))) for c in np.unique(labels)))
    return labels, keep


def share_table(values, order=None) -> pd.DataFrame:
    """Counts and percentages of a categorical column ('unknown' kept as its own row)."""
    s = pd.Series(values, dtype="object").fillna("unknown")
    counts = s.value_counts()
    if order:
        counts = counts.reindex(list(order) + [c for c in counts.index if c not in order], fill_value=0)
    return pd.DataFrame({"count": counts, "percent": (100.0 * counts / max(len(s), 1)).round(2)})
