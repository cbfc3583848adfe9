"""One call to score faces: ``assess(image, model=...)`` runs detect -> align -> score.

>>> from core import assess
>>> result = assess("photo.jpg")                  # default model, every face
>>> [(f.box, f.score, f.category) for f in result.faces]

For many images keep a :class:`Scorer` (the model and detector are built once). Scores are
on a common 0..1 MOS scale (higher better) with the GFIQA category; ``raw`` keeps the
model's own scale (``info.score_range``, ``info.lower_better``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .faces import Face, FaceDetector, align_arcface, align_gfiqa, whole_image_face
from .io import ImageSource, describe_source, load_image
from .models import create_model
from .models.base import QualityModel
from .tensors import image_to_tensor

#: the model `faceiqa score`, `assess` and the apps use unless told otherwise (why this one: its card,
#: core/assets/mobile-fiqa.md, and docs/comparison.md: it agrees with people on rated real faces)
DEFAULT_MODEL = "mobile-fiqa"

#: GFIQA-20k categories (paper Fig. 4): Bad [0, .2], Poor (.2, .4], Fair (.4, .6], Good (.6, .8], Excellent (.8, 1]
CATEGORIES = ("Bad", "Poor", "Fair", "Good", "Excellent")
GRID_CROP = 128


def category(mos: float) -> str:
    """GFIQA category of a 0..1 MOS (upper bin edges inclusive, as in the paper)."""
    if not np.isfinite(mos):
        raise ValueError(f"MOS must be finite, got {mos}")
    for edge, name in zip((0.2, 0.4, 0.6, 0.8), CATEGORIES):
        if mos <= edge:
            return name
    return CATEGORIES[-1]


@dataclass
class FaceScore:
    """The quality of one face."""

    index: int
    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    detection_confidence: float
    backend: str
    score: float  # 0..1, higher better
    raw: float  # the model's own scale
    category: str
    extras: dict[str, float] = field(default_factory=dict)
    aligned: np.ndarray | None = None  # the crop the model saw (when keep_crops=True)
    aligned_landmarks: np.ndarray | None = None  # (68, 2) landmarks in that crop, divided by its size (keep_crops=True)


@dataclass
class AssessResult:
    """All faces of one image."""

    source: str
    width: int
    height: int
    model: str
    faces: list[FaceScore]

    @property
    def best(self) -> FaceScore | None:
        return max(self.faces, key=lambda f: f.score, default=None)


def grid_crop(image: np.ndarray, face: Face, size: int = GRID_CROP) -> np.ndarray:
    """``size x size`` original pixels around the face centre, cut on the 8-px JPEG grid."""
    h, w = image.shape[:2]
    if h < size or w < size:  # tiny image: pad by edge replication (grid still starts at 0)
        image = np.pad(image, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)), mode="edge")
        h, w = image.shape[:2]
    cx = (face.box[0] + face.box[2]) / 2
    cy = (face.box[1] + face.box[3]) / 2
    x0 = int(np.clip(round((cx - size / 2) / 8) * 8, 0, (w - size) // 8 * 8))
    y0 = int(np.clip(round((cy - size / 2) / 8) * 8, 0, (h - size) // 8 * 8))
    return image[y0 : y0 + size, x0 : x0 + size]


def prepare_faces(image: np.ndarray, faces: list[Face], model: QualityModel
                  ) -> tuple[dict[str, torch.Tensor], list[np.ndarray], list[np.ndarray]]:
    """Build the batched inputs ``model.info.inputs`` asks for; also returns the aligned crops and their landmarks
    (divided by the crop size)."""
    info = model.info
    need = set(info.inputs)
    aligned_imgs, lms, crops = [], [], []
    for face in faces:
        if "aligned" in need or "landmarks" in need:
            align = align_arcface if info.alignment == "arcface" else align_gfiqa
            a = align(image, face, info.input_size)
            aligned_imgs.append(a.image)
            lms.append(a.landmarks / float(info.input_size))
        if "grid_crop" in need:
            crops.append(grid_crop(image, face))
    batch: dict[str, torch.Tensor] = {}
    dev = model.device
    if "aligned" in need:
        batch["aligned"] = torch.stack([image_to_tensor(a) for a in aligned_imgs]).to(dev)
    if "landmarks" in need:
        batch["landmarks"] = torch.from_numpy(np.stack(lms).astype(np.float32)).to(dev)
    if "grid_crop" in need:
        batch["grid_crop"] = torch.stack([image_to_tensor(c) for c in crops]).to(dev)
    return batch, aligned_imgs, lms


class Scorer:
    """A model plus a face detector, built once and reused for many images."""

    def __init__(
        self,
        model: str | QualityModel = DEFAULT_MODEL,
        *,
        weights=None,
        device=None,
        detector: FaceDetector | None = None,
        batch_size: int = 32,
    ):
        self.model = model if isinstance(model, QualityModel) else create_model(model, weights=weights, device=device)
        self.model.eval()
        self.detector = detector or FaceDetector()
        self.batch_size = batch_size

    @torch.inference_mode()
    def score_faces(self, image: np.ndarray, faces: list[Face], keep_crops: bool = False) -> list[FaceScore]:
        """Score given faces of one RGB image (in batches of ``batch_size``)."""
        out: list[FaceScore] = []
        for start in range(0, len(faces), self.batch_size):
            chunk = faces[start : start + self.batch_size]
            batch, crops, crop_lms = prepare_faces(image, chunk, self.model)
            raw = self.model(batch)
            mos = self.model.to_mos(raw)
            extras = {k: v.detach().float().cpu().numpy() for k, v in self.model.extras(batch).items()}
            raw_np, mos_np = raw.detach().float().cpu().numpy(), mos.detach().float().cpu().numpy()
            for j, face in enumerate(chunk):
                s = float(mos_np[j])
                out.append(
                    FaceScore(
                        index=start + j,
                        box=tuple(float(v) for v in face.box),
                        landmarks=face.landmarks,
                        detection_confidence=float(face.confidence),
                        backend=face.backend,
                        score=s,
                        raw=float(raw_np[j]),
                        category=category(s),
                        extras={k: float(v[j]) for k, v in extras.items()},
                        aligned=crops[j] if keep_crops and crops else None,
                        aligned_landmarks=crop_lms[j] if keep_crops and crop_lms else None,
                    )
                )
        return out

    def assess(self, image: ImageSource, *, faces: str = "all", aligned: bool = False, keep_crops: bool = False) -> AssessResult:
        """Detect, align and score the faces of one image.

        ``faces="largest"`` keeps only the biggest face; ``aligned=True`` treats the input as
        one already-aligned face crop (GFIQA-20k / CGFIQA-40k style) and skips detection.
        """
        rgb, found = self.detect(image, faces=faces, aligned=aligned)
        return self.assess_faces(image, rgb, found, keep_crops=keep_crops)

    def detect(self, image: ImageSource, *, faces: str = "all", aligned: bool = False) -> tuple[np.ndarray, list[Face]]:
        """(the RGB image, its faces, largest first) as :meth:`assess` finds them, for scoring with several models."""
        if faces not in ("all", "largest"):
            raise ValueError(f"faces must be 'all' or 'largest', got {faces!r}")
        rgb = load_image(image)
        found = [whole_image_face(rgb, self.detector.landmark_backend)] if aligned else self.detector.detect(rgb)
        return rgb, found[:1] if faces == "largest" else found

    def assess_faces(self, image: ImageSource, rgb: np.ndarray, found: list[Face], keep_crops: bool = False) -> AssessResult:
        """:meth:`assess` of faces already found (``rgb, found = scorer.detect(image)``)."""
        return AssessResult(
            source=describe_source(image),
            width=rgb.shape[1],
            height=rgb.shape[0],
            model=self.model.info.name,
            faces=self.score_faces(rgb, found, keep_crops=keep_crops),
        )


_SCORERS: dict[tuple, Scorer] = {}


def assess(
    image: ImageSource,
    model: str | QualityModel = DEFAULT_MODEL,
    *,
    faces: str = "all",
    aligned: bool = False,
    device=None,
    keep_crops: bool = False,
) -> AssessResult:
    """Score every face in ``image`` with ``model`` (a registry name or a model instance).

    Scorers for registry names are cached per (name, device), so repeated calls are cheap.
    """
    if isinstance(model, QualityModel):
        scorer = Scorer(model)
    else:
        key = (model, str(device))
        scorer = _SCORERS.get(key)
        if scorer is None:
            scorer = _SCORERS[key] = Scorer(model, device=device)
    return scorer.assess(image, faces=faces, aligned=aligned, keep_crops=keep_crops)
