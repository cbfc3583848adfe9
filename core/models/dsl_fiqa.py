"""DSL-FIQA (seed 002, CVPR 2024): landmark-guided transformer with dual-set degradation learning.

Per fixed-size crop of the aligned face (no resizing, paper section 3.1)::

    crop -> ViT, tokens of blocks 7-10 concatenated (paper: ViT-B/16 @ 384 -> 576 x 3072)
         -> channel attention x2 -> 1x1 proj -> Swin blocks (W-MSA, SW-MSA)
         -> channel attention x2 -> 1x1 proj -> Swin blocks -> 1x1 proj      (576 x 256)
         -> transformer decoder x3: self-attention, cross-attention to the degradation tokens,
            MLP                                                                (576 x 256)
         -> [tokens ; landmark-id encoding] -> regional confidence c (sigmoid)
                                           -> regional quality   q (ReLU)
    crop score = sum(c q) / sum(c); image score = mean over crops.

Degradation encoder (trained separately by DSL, frozen afterwards): a 6-conv CNN pooled to
8x12 = 96 tokens of 256 (the decoder's keys/values) and an MLP projection psi (the embedding
used by the DSL loss, the studio's UMAP and retrieval).

Choices (read from the paper and its public code, see anchors.md section 1; all ours):

* Without the ViT-B/16 checkpoint (it cannot be downloaded here) the ``pretrained`` config takes the image tokens
  from an ImageNet MobileNetV2 instead (:class:`PyramidTokens`): its four levels pooled onto the 16-px patch grid
  and concatenated (24 + 32 + 96 + 1280 channels), the multi-level stand-in for blocks 7-10.
* Cross-attention as in Stable Diffusion (the paper's words): image tokens query the
  degradation tokens. (The public code does the reverse and interpolates 96 queries to 576.)
* Landmark guidance: each of the 68 landmark *identifiers* is NeRF-encoded (10 frequencies,
  21 values), and every token receives the mean encoding of the landmark ids that fall in its
  cell plus a count channel. The public code instead pads a list of visible ids to 500, encodes
  it to 10,500 values and runs a ~116 M-parameter MLP to a 576-value map; routing the ids to
  their cells gives the heads the same "which facial part is here" signal with no parameters.
  Coordinates are used only to route, never encoded (the paper's point). Missing landmarks
  (NaN or none) give zero encodings: a face is never dropped for lacking landmarks.
* The encoding feeds both heads (as the public code does; the paper names the confidence one).
* Inference crops: a deterministic grid (paper config: 3x3 crops of 384 on the 512 face) so a
  score is reproducible; ``crops="random"`` gives the paper's 20 seeded random crops.
* DSL similarity (Eq. 4-5): the paper says "L2 distance"; we use sim(a, b) = -||a - b||^2 in
  Eq. 5 and, for the soft proximity weights of Eq. 4, its softmax over R (weights sum to 1, so
  psi-hat stays on the scale of psi). Eq. 5's denominator runs over j != i exactly as printed.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..tensors import resize_square
from .backbones import create_backbone, keep_frozen
from .base import ModelInfo, QualityModel, resolve_preset
from .registry import register_model

N_LANDMARKS = 68


# ----------------------------------------------------------------------------- feature extractor
class ViTFeatures(nn.Module):
    """torchvision ViT; patch tokens of the chosen blocks concatenated on channels (CLS dropped)."""

    def __init__(self, image_size: int, patch: int, layers: int, heads: int, dim: int, mlp: int, blocks: tuple[int, ...],
                 pretrained: bool = False):
        super().__init__()
        from torchvision.models.vision_transformer import VisionTransformer  # noqa: PLC0415

        self.vit = VisionTransformer(image_size=image_size, patch_size=patch, num_layers=layers, num_heads=heads,
                                     hidden_dim=dim, mlp_dim=mlp)
        self.vit.heads = nn.Identity()
        self.blocks = tuple(blocks)
        self.grid = image_size // patch
        if pretrained:
            _load_cached_vit(self.vit, image_size)
        # blocks after the last one used never run: drop them (and the final norm / head)
        self.vit.encoder.layers = self.vit.encoder.layers[: max(self.blocks) + 1]
        self.vit.encoder.ln = nn.Identity()
        self.out_dim = dim * len(self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.vit._process_input((x - 0.5) / 0.5)
        x = torch.cat([self.vit.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        enc = self.vit.encoder
        x = enc.dropout(x + enc.pos_embedding)
        outs = []
        for i, layer in enumerate(enc.layers):
            x = layer(x)
            if i in self.blocks:
                outs.append(x[:, 1:])
            if i >= max(self.blocks):
                break
        return torch.cat(outs, dim=-1)  # (B, N, len(blocks) * dim)


class PyramidTokens(nn.Module):
    """The ImageNet backbone's four levels, each average-pooled (or, if coarser, upsampled) onto the patch grid and
    concatenated on channels: (B, grid^2, sum of level widths) - the multi-level stand-in for ViT blocks 7-10."""

    def __init__(self, backbone: str, grid: int, frozen: bool = False):
        super().__init__()
        self.backbone = create_backbone(backbone, pretrained=False)  # ImageNet weights: backbones.load_imagenet
        self.grid = grid
        self.frozen = frozen
        self.out_dim = sum(self.backbone.channels)
        if frozen:
            keep_frozen(self.backbone)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = [F.adaptive_avg_pool2d(m, self.grid) if m.shape[-1] >= self.grid
                else F.interpolate(m, size=(self.grid, self.grid), mode="bilinear", align_corners=False)
                for m in self.backbone(x)]
        return torch.cat(maps, 1).flatten(2).transpose(1, 2)


def _load_cached_vit(vit: nn.Module, image_size: int) -> bool:
    """torchvision's ViT-B/16 SWAG (384 px) weights, only if already cached (never downloads)."""
    import glob  # noqa: PLC0415
    import logging  # noqa: PLC0415
    import os  # noqa: PLC0415

    files = sorted(glob.glob(os.path.join(torch.hub.get_dir(), "checkpoints", "vit_b_16_swag-*.pth")))
    if not files or image_size != 384:
        logging.getLogger(__name__).warning("ViT-B/16 SWAG weights not cached (or size != 384): feature extractor from scratch")
        return False
    state = torch.load(files[-1], map_location="cpu", weights_only=True)
    vit.load_state_dict({k: v for k, v in state.items() if not k.startswith("heads.")}, strict=False)
    return True


# ----------------------------------------------------------------------------- neck
class ChannelAttention(nn.Module):
    """Transposed attention block (MANIQA's TAB): attention between channels, tokens as features."""

    def __init__(self, tokens: int):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(tokens, tokens), nn.Linear(tokens, tokens), nn.Linear(tokens, tokens)
        self.scale = tokens**-0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, N, C)
        t = x.transpose(1, 2)  # (B, C, N)
        attn = torch.softmax(self.q(t) @ self.k(t).transpose(1, 2) * self.scale, dim=-1)  # (B, C, C)
        return x + (attn @ self.v(t)).transpose(1, 2)


class SwinBlock(nn.Module):
    """Swin Transformer block: (shifted) window MSA with relative position bias, then MLP."""

    def __init__(self, dim: int, heads: int, grid: int, window: int, shift: int):
        super().__init__()
        self.dim, self.heads, self.grid = dim, heads, grid
        self.window = min(window, grid)
        self.shift = shift if grid > self.window else 0
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        w = self.window
        self.bias_table = nn.Parameter(torch.zeros((2 * w - 1) ** 2, heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        yy, xx = torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij")
        coords = torch.stack([yy.flatten(), xx.flatten()])  # (2, w*w)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (w - 1)
        self.register_buffer("rel_index", rel[..., 0] * (2 * w - 1) + rel[..., 1], persistent=False)
        self.register_buffer("mask", self._shift_mask(), persistent=False)

    def _shift_mask(self) -> torch.Tensor | None:
        if not self.shift:
            return None
        g, w, s = self.grid, self.window, self.shift
        img = torch.zeros(g, g)
        cnt = 0
        for hs in (slice(0, -w), slice(-w, -s), slice(-s, None)):
            for ws in (slice(0, -w), slice(-w, -s), slice(-s, None)):
                img[hs, ws] = cnt
                cnt += 1
        win = self._windows(img[None, :, :, None]).squeeze(-1)  # (nW, w*w)
        diff = win[:, None, :] - win[:, :, None]
        return diff.ne(0).float() * -100.0

    def _windows(self, x: torch.Tensor) -> torch.Tensor:  # (B, g, g, C) -> (B*nW, w*w, C)
        b, g, _, c = x.shape
        w = self.window
        x = x.view(b, g // w, w, g // w, w, c).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(-1, w * w, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, N, C), N = grid^2
        b, n, c = x.shape
        g, w, s = self.grid, self.window, self.shift
        h = self.norm1(x).view(b, g, g, c)
        if s:
            h = torch.roll(h, (-s, -s), (1, 2))
        win = self._windows(h)  # (B*nW, w*w, C)
        qkv = self.qkv(win).view(win.shape[0], w * w, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5
        attn = attn + self.bias_table[self.rel_index].permute(2, 0, 1)[None]
        if self.mask is not None:
            nw = self.mask.shape[0]
            attn = attn.view(b, nw, self.heads, w * w, w * w) + self.mask[None, :, None]
            attn = attn.view(-1, self.heads, w * w, w * w)
        out = (attn.softmax(-1) @ v).transpose(1, 2).reshape(-1, w * w, c)
        out = self.proj(out).view(b, g // w, g // w, w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(b, g, g, c)
        if s:
            out = torch.roll(out, (s, s), (1, 2))
        x = x + out.reshape(b, n, c)
        return x + self.mlp(self.norm2(x))


class DecoderBlock(nn.Module):
    """Transformer decoder block: self-attention, cross-attention to degradation tokens, MLP."""

    def __init__(self, dim: int, heads: int, cond_dim: int):
        super().__init__()
        self.n1, self.n2, self.n3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(dim, heads, kdim=cond_dim, vdim=cond_dim, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.n1(x)
        x = x + self.self_attn(h, h, h, need_weights=False)[0]
        x = x + self.cross_attn(self.n2(x), cond, cond, need_weights=False)[0]
        return x + self.mlp(self.n3(x))


# ----------------------------------------------------------------------------- degradation encoder
class DegradationEncoder(nn.Module):
    """psi of DSL: conv stack -> pooled tokens (decoder condition) and a projected embedding."""

    def __init__(self, widths: tuple[int, int, int] = (64, 128, 256), pool: tuple[int, int] = (8, 12), embed: int = 256):
        super().__init__()
        a, b, c = widths
        layers: list[nn.Module] = []
        for cin, cout, stride in ((3, a, 1), (a, a, 1), (a, b, 2), (b, b, 1), (b, c, 2), (c, c, 1)):
            layers += [nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1, inplace=True)]
        self.convs = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(pool)
        self.mlp = nn.Sequential(nn.Linear(c, embed), nn.LeakyReLU(0.1, inplace=True), nn.Linear(embed, embed))
        self.token_dim, self.embed_dim = c, embed

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x in [0, 1] -> (tokens (B, P, C), embedding psi (B, E))."""
        f = self.pool(self.convs(x))
        tokens = f.flatten(2).transpose(1, 2)
        return tokens, self.mlp(tokens.mean(1))


# ----------------------------------------------------------------------------- landmark ids
def nerf_encoding(x: torch.Tensor, freqs: int = 10) -> torch.Tensor:
    """NeRF positional encoding [x, sin(2^k x), cos(2^k x)], k = 0..freqs-1 -> 1 + 2 * freqs values."""
    bands = 2.0 ** torch.arange(freqs, dtype=x.dtype, device=x.device)
    xb = x[..., None] * bands
    return torch.cat([x[..., None], torch.sin(xb), torch.cos(xb)], dim=-1)


def landmark_token_encoding(landmarks: torch.Tensor | None, crop_boxes: torch.Tensor, grid: int, freqs: int = 10) -> torch.Tensor:
    """Per token of each crop: mean NeRF encoding of the landmark ids in its cell, and their count.

    ``landmarks`` (B, 68, 2) in crop-image pixels (NaN = missing) or None; ``crop_boxes``
    (B, 4) x0, y0, size, size in the same pixels. Returns (B, grid*grid, 1 + 2*freqs + 1).
    """
    b = crop_boxes.shape[0]
    dim = 2 + 2 * freqs
    out = crop_boxes.new_zeros(b, grid * grid, dim)
    if landmarks is None or landmarks.numel() == 0:
        return out
    ids = torch.linspace(-1, 1, N_LANDMARKS, device=crop_boxes.device, dtype=crop_boxes.dtype)  # id/67 -> [-1, 1]
    enc = nerf_encoding(ids, freqs)  # (68, 21)
    rel = (landmarks - crop_boxes[:, None, :2]) / crop_boxes[:, None, 2:3] * grid  # cell coordinates
    ok = torch.isfinite(rel).all(-1) & (rel >= 0).all(-1) & (rel < grid).all(-1)  # (B, 68)
    cell = rel.nan_to_num(0).floor().long().clamp(0, grid - 1)
    index = cell[..., 1] * grid + cell[..., 0]  # (B, 68)
    w = ok.to(out.dtype)
    sums = out.new_zeros(b, grid * grid, enc.shape[1]).scatter_add_(1, index[..., None].expand(-1, -1, enc.shape[1]),
                                                                     enc[None].expand(b, -1, -1) * w[..., None])
    counts = out.new_zeros(b, grid * grid).scatter_add_(1, index, w)
    out[..., :-1] = sums / counts.clamp_min(1)[..., None]
    out[..., -1] = counts / 4.0
    return out


# ----------------------------------------------------------------------------- the model
GPU_CROP_PIXELS = 2**23  # crop pixels per network call on a GPU (see DSLFIQA.rows_per_call)


@dataclass
class DSLConfig:
    input_size: int = 512  # the aligned face (GFIQA / CGFIQA 512 px)
    crop: int = 384
    patch: int = 16
    vit_layers: int = 12
    vit_heads: int = 12
    vit_dim: int = 768
    vit_mlp: int = 3072
    vit_blocks: tuple[int, ...] = (6, 7, 8, 9)  # blocks 7-10
    vit_pretrained: bool = False
    # "vit" (above) or an ImageNet backbone of core.models.backbones: its four levels on the patch grid (PyramidTokens)
    features: str = "vit"
    freeze_features: bool = False
    neck: tuple[int, int, int] = (768, 384, 256)  # widths after the three 1x1 projections
    swin_heads: int = 4
    swin_window: int = 4
    swin_depth: int = 2
    decoder_blocks: int = 3
    decoder_heads: int = 8
    deg_widths: tuple[int, int, int] = (64, 128, 256)
    deg_pool: tuple[int, int] = (8, 12)
    deg_embed: int = 256
    pe_freqs: int = 10
    crops: str = "grid"  # "grid" (3x3, reproducible) or "random" (the paper's 20 seeded crops)
    grid_side: int = 3
    random_crops: int = 20
    dropout: float = 0.1


DSL_PRESETS = {
    "paper": DSLConfig(),
    "lite": DSLConfig(input_size=192, crop=128, vit_layers=6, vit_heads=3, vit_dim=96, vit_mlp=384, vit_blocks=(2, 3, 4, 5),
                      neck=(128, 96, 64), swin_heads=2, decoder_blocks=2, decoder_heads=4, deg_widths=(16, 32, 64),
                      deg_pool=(4, 6), deg_embed=64),
    # lite's neck and decoder on the ImageNet MobileNetV2 pyramid, 192-px crops of the 256 face (12x12 tokens)
    "pretrained": DSLConfig(input_size=256, crop=192, features="mobilenet_v2", neck=(192, 96, 64), swin_heads=2,
                            decoder_blocks=2, decoder_heads=4, deg_widths=(16, 32, 64), deg_pool=(4, 6), deg_embed=64),
}

DSL_INFO = ModelInfo(
    name="dsl-fiqa",
    description="DSL-FIQA: ViT + Swin neck, decoder cross-attending to degradation tokens, landmark-guided regional confidence x quality.",
    inputs=("aligned", "landmarks"),
    alignment="gfiqa",
    input_size=512,
    paper="Chen et al., DSL-FIQA (CVPR 2024, seed 002), sections 3.1-3.4, Eq. 1-7",
    trainable=True,
)


class DSLFIQA(QualityModel):
    info = DSL_INFO

    def __init__(self, config: str = "lite", **overrides):
        cfg = resolve_preset("dsl-fiqa", DSL_PRESETS, config, overrides)
        super().__init__(config=config, **overrides)
        self.cfg = cfg
        self.info = replace(DSL_INFO, input_size=cfg.input_size)
        if cfg.crop % cfg.patch or cfg.crop > cfg.input_size:
            raise ValueError("crop must be a multiple of the patch size and fit in the input")
        self.grid = cfg.crop // cfg.patch
        n_tok = self.grid * self.grid
        if cfg.features == "vit":
            self.features = ViTFeatures(cfg.crop, cfg.patch, cfg.vit_layers, cfg.vit_heads, cfg.vit_dim, cfg.vit_mlp, cfg.vit_blocks,
                                        cfg.vit_pretrained)
        else:
            self.features = PyramidTokens(cfg.features, self.grid, cfg.freeze_features)
        c0, c1, c2 = cfg.neck
        self.tab1 = nn.Sequential(ChannelAttention(n_tok), ChannelAttention(n_tok))
        self.proj1 = nn.Linear(self.features.out_dim, c0)
        self.swin1 = nn.Sequential(*(SwinBlock(c0, cfg.swin_heads, self.grid, cfg.swin_window, (cfg.swin_window // 2) * (i % 2))
                                     for i in range(cfg.swin_depth)))
        self.tab2 = nn.Sequential(ChannelAttention(n_tok), ChannelAttention(n_tok))
        self.proj2 = nn.Linear(c0, c1)
        self.swin2 = nn.Sequential(*(SwinBlock(c1, cfg.swin_heads, self.grid, cfg.swin_window, (cfg.swin_window // 2) * (i % 2))
                                     for i in range(cfg.swin_depth)))
        self.proj3 = nn.Linear(c1, c2)
        self.degradation = DegradationEncoder(cfg.deg_widths, cfg.deg_pool, cfg.deg_embed)
        self.decoder = nn.ModuleList(DecoderBlock(c2, cfg.decoder_heads, self.degradation.token_dim) for _ in range(cfg.decoder_blocks))
        head_in = c2 + 2 + 2 * cfg.pe_freqs
        self.quality_head = nn.Sequential(nn.Linear(head_in, head_in), nn.ReLU(inplace=True), nn.Dropout(cfg.dropout),
                                          nn.Linear(head_in, 1), nn.ReLU())
        self.confidence_head = nn.Sequential(nn.Linear(head_in, head_in), nn.ReLU(inplace=True), nn.Dropout(cfg.dropout),
                                             nn.Linear(head_in, 1), nn.Sigmoid())

    def train(self, mode: bool = True):
        super().train(mode)
        if isinstance(self.features, PyramidTokens) and self.features.frozen:
            self.features.backbone.eval()  # ImageNet batch-norm statistics stay
        return self

    def freeze_degradation(self, frozen: bool = True) -> None:
        """DSL-FIQA trains the degradation encoder first, then keeps it fixed (section 3.4)."""
        self.degradation.requires_grad_(not frozen)
        if frozen:
            self.degradation.eval()

    # -- crops
    def crop_boxes(self, size: int, n: int | None = None, seed: int = 20) -> list[tuple[int, int]]:
        c = self.cfg.crop
        if self.cfg.crops == "random":
            rng = np.random.default_rng(seed)
            return [(int(rng.integers(0, size - c + 1)), int(rng.integers(0, size - c + 1))) for _ in range(n or self.cfg.random_crops)]
        k = self.cfg.grid_side
        pos = [round(i * (size - c) / (k - 1)) for i in range(k)] if k > 1 else [(size - c) // 2]
        return [(x, y) for y in pos for x in pos]

    def on_token_grid(self, crops: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Crop corners moved down onto the patch grid, so the crops' token maps tile the image exactly."""
        p = self.cfg.patch
        return [((x0 // p) * p, (y0 // p) * p) for x0, y0 in crops]

    # -- CAM (core.analysis.explain.cam_heatmap)
    @contextmanager
    def cam_pass(self) -> Iterator[None]:
        """Every crop in one network call, so the CAM layer's hook sees each crop once."""
        self.rows_per_call, rows = 1 << 30, self.rows_per_call
        try:
            yield
        finally:
            self.rows_per_call = rows

    def merge_cam_views(self, heat: np.ndarray) -> np.ndarray:
        """One map per crop (the CAM package stretched each to the whole face): put each back where its crop lies and
        average the overlaps."""
        if len(heat) == 1:
            return heat[0]
        import cv2  # noqa: PLC0415

        size, c = self.cfg.input_size, self.cfg.crop
        hh, ww = heat.shape[-2:]
        fy, fx = hh / size, ww / size
        acc, cover = np.zeros((hh, ww), np.float32), np.zeros((hh, ww), np.float32)
        for m, (x0, y0) in zip(heat, self.on_token_grid(self.crop_boxes(size))):
            ys, xs = round(y0 * fy), round(x0 * fx)
            h, w = min(round(c * fy), hh - ys), min(round(c * fx), ww - xs)
            acc[ys : ys + h, xs : xs + w] += cv2.resize(np.asarray(m, np.float32), (w, h), interpolation=cv2.INTER_AREA)
            cover[ys : ys + h, xs : xs + w] += 1
        return acc / np.maximum(cover, 1)

    # -- one batch of crops
    def score_crops(self, crops: torch.Tensor, lm_enc: torch.Tensor) -> dict[str, torch.Tensor]:
        """crops (B, 3, crop, crop) in [0, 1], landmark encodings (B, T, E) -> per-token maps and crop scores."""
        t = self.features(crops)
        t = self.swin1(self.proj1(self.tab1(t)))
        t = self.proj3(self.swin2(self.proj2(self.tab2(t))))
        deg_tokens, deg_embed = self.degradation(crops)
        for blk in self.decoder:
            t = blk(t, deg_tokens)
        h = torch.cat([t, lm_enc], dim=-1)
        q = self.quality_head(h).squeeze(-1)  # (B, T) regional quality
        c = self.confidence_head(h).squeeze(-1)  # (B, T) regional confidence
        score = (q * c).sum(1) / c.sum(1).clamp_min(1e-6)
        return {"score": score, "quality": q, "confidence": c, "degradation": deg_embed}

    #: crops scored per network call. None: on a CPU 16 (2 cores, lite: batch 1 67 ms vs 175 ms with one call per crop
    #: position, batch 16 0.97 s vs 1.09 s; all 144 crops at once took 1.6 s); on a GPU as many as hold
    #: GPU_CROP_PIXELS (lite 512 crops, paper 56). H200, fp32, one call for all crops vs one per position: lite
    #: batch 1 9.7 vs 86 ms, batch 16 1,705 vs 130 faces/s, batch 64 2,559 vs 832; paper batch 1 50 vs 83 ms and
    #: the same speed from batch 16 on, where all 576 crops of a batch of 64 at once peaked at 58 GiB (capped: 9.5)
    rows_per_call: int | None = None

    def run(self, image: torch.Tensor, landmarks: torch.Tensor | None = None, crops: list[tuple[int, int]] | None = None) -> dict[str, torch.Tensor]:
        """image (B, 3, S, S) in [0, 1], landmarks (B, 68, 2) in pixels of ``image`` (or None).

        Returns the image score (mean over crops), full-image regional confidence and quality
        maps (B, S/patch, S/patch; overlapping crops averaged) and the mean degradation embedding.
        """
        b, _, hgt, wid = image.shape
        if hgt != wid or hgt < self.cfg.crop:
            raise ValueError(f"expected square images of at least {self.cfg.crop} px, got {hgt}x{wid}")
        crops = crops or self.crop_boxes(hgt)
        p, g, c, k = self.cfg.patch, self.grid, self.cfg.crop, len(crops)
        crops = self.on_token_grid(crops)
        # every crop of every image, crop-major (K*B rows), scored in chunks of rows_per_call: few network calls
        # instead of one per crop position, which left a GPU launch-bound
        patches = torch.cat([image[:, :, y0 : y0 + c, x0 : x0 + c] for x0, y0 in crops])
        boxes = torch.tensor([[x0, y0, c, c] for x0, y0 in crops], dtype=image.dtype, device=image.device).repeat_interleave(b, 0)
        lms = landmarks.repeat(k, 1, 1) if landmarks is not None else None
        enc = landmark_token_encoding(lms, boxes, g, self.cfg.pe_freqs)
        step = self.rows_per_call or (16 if image.device.type == "cpu" else max(1, GPU_CROP_PIXELS // (c * c)))
        parts = [self.score_crops(patches[i : i + step], enc[i : i + step]) for i in range(0, len(patches), step)]
        out = {key: torch.cat([o[key] for o in parts]) for key in parts[0]}
        confidence, quality = out["confidence"].view(k, b, g, g), out["quality"].view(k, b, g, g)
        cells = math.ceil(hgt / p)
        conf_sum = image.new_zeros(b, cells, cells)
        qual_sum = image.new_zeros(b, cells, cells)
        cover = image.new_zeros(1, cells, cells)
        for i, (x0, y0) in enumerate(crops):
            cy, cx = y0 // p, x0 // p
            conf_sum[:, cy : cy + g, cx : cx + g] += confidence[i]
            qual_sum[:, cy : cy + g, cx : cx + g] += quality[i]
            cover[:, cy : cy + g, cx : cx + g] += 1
        cover = cover.clamp_min(1)
        return {"score": out["score"].view(k, b).mean(0), "confidence_map": conf_sum / cover, "quality_map": qual_sum / cover,
                "degradation": out["degradation"].view(k, b, -1).mean(0)}

    def forward(self, batch):
        x = resize_square(batch["aligned"], self.cfg.input_size)
        lm = batch.get("landmarks")
        lm = lm * self.cfg.input_size if lm is not None else None  # API landmarks are divided by the crop size
        return self.run(x, lm)["score"]

    # -- hooks
    def cam_target_layer(self) -> nn.Module:
        return self.degradation.convs

    def explanation_maps(self, x, landmarks):
        size = self.cfg.input_size
        res = self.run(resize_square(x, size), landmarks.to(x) * size if landmarks is not None else None)
        q = res["quality_map"][0].cpu().numpy()
        return {"regional confidence": res["confidence_map"][0].cpu().numpy(), "regional quality": q / max(float(q.max()), 1e-6)}

    def training_loss(self, x, landmarks, mos, rng):
        """Charbonnier loss (Eq. 7) on one random crop per face, cut on the token grid."""
        c, p, size = self.cfg.crop, self.cfg.patch, x.shape[-1]
        crops, boxes = [], []
        for i in range(x.shape[0]):
            x0, y0 = (int(v) // p * p for v in rng.integers(0, size - c + 1, 2))
            crops.append(x[i, :, y0 : y0 + c, x0 : x0 + c])
            boxes.append([x0, y0, c, c])
        boxes_t = torch.tensor(boxes, dtype=x.dtype, device=x.device)
        enc = landmark_token_encoding(landmarks * size if landmarks is not None else None, boxes_t, self.grid, self.cfg.pe_freqs)
        pred = self.score_crops(torch.stack(crops), enc)["score"]
        return charbonnier(pred, mos), pred

    def pretrain(self, images, mos, cfg, device, log=None):
        """Dual-set degradation learning of the degradation encoder (section 3.4) before the MOS training: R is drawn
        from the faces below the median MOS."""
        if not cfg.dsl_pretrain_steps:
            return {}
        degraded = images[torch.from_numpy(mos.numpy() < np.median(mos.numpy()))] if len(images) > 1 else images
        return {"dsl_losses": pretrain_degradation(self.degradation, images, degraded, cfg.dsl_pretrain_steps, seed=cfg.seed,
                                                   device=device, log=log)}

    def prepare_training(self) -> None:
        self.freeze_degradation(True)


@register_model(DSL_INFO)
def dsl_fiqa(**kw) -> DSLFIQA:
    return DSLFIQA(**kw)


# ----------------------------------------------------------------------------- losses
def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Eq. 7: mean sqrt((p - p_hat)^2 + eps^2)."""
    return torch.sqrt((pred - target) ** 2 + eps**2).mean()


def neg_sq_l2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sim(a_i, b_j) = -||a_i - b_j||^2 for all pairs: (m, d) x (n, d) -> (m, n)."""
    return -torch.cdist(a, b).pow(2)


def soft_proximity_mapping(s: torch.Tensor, r: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Eq. 4: psi-hat(s_i) = sum_j w_ij psi(r_j), w_i = softmax_j(sim(psi(s_i), psi(r_j)) / tau)."""
    return torch.softmax(neg_sq_l2(s, r) / tau, dim=1) @ r


def contrastive_to_mapping(s: torch.Tensor, r: torch.Tensor, theta: float = 1.0, tau: float = 1.0) -> torch.Tensor:
    """Eq. 5, L_Con(S, R): psi(s_i) attracted to psi-hat(s_i), every other psi(s_j) (j != i) repelled."""
    hat = soft_proximity_mapping(s, r, tau)  # (m, d)
    sim = neg_sq_l2(s, hat) / theta  # sim[j, i] = sim(psi(s_j), psi-hat(s_i))
    m = s.shape[0]
    pos = sim.diagonal()
    off = sim.T.masked_fill(torch.eye(m, dtype=torch.bool, device=s.device), float("-inf"))  # row i: j != i
    return (torch.logsumexp(off, dim=1) - pos).mean()


def dsl_loss(s: torch.Tensor, r: torch.Tensor, theta: float = 1.0, tau: float = 1.0) -> torch.Tensor:
    """Eq. 6: L_DE = L_Con(S, R) + L_Con(R, S)."""
    return contrastive_to_mapping(s, r, theta, tau) + contrastive_to_mapping(r, s, theta, tau)


def patch_contrastive_loss(x: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, theta: float = 0.2) -> torch.Tensor:
    """Eq. 1 (the patch-based baseline): -log exp(x.x+/theta) / sum_n exp(x.x_n-/theta), as printed.

    x, pos (B, d); neg (B, N, d). Representations are L2-normalised first.
    """
    x, pos, neg = F.normalize(x, dim=-1), F.normalize(pos, dim=-1), F.normalize(neg, dim=-1)
    p = (x * pos).sum(-1) / theta
    n = torch.einsum("bd,bnd->bn", x, neg) / theta
    return (torch.logsumexp(n, dim=1) - p).mean()


def pretrain_degradation(encoder: torch.nn.Module, clean: torch.Tensor, real: torch.Tensor, steps: int, m: int = 8,
                         lr: float = 3e-4, theta: float = 1.0, seed: int = 0, device: str = "cpu", log=None) -> list[float]:
    """Dual-set degradation learning: S = one clean face under ``m`` random synthetic degradations,
    R = ``m`` randomly drawn degraded faces (different content); both resampled every step."""
    from ..data.degrade import TYPES, degrade  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(encoder.parameters(), lr=lr)
    encoder.train()
    losses = []
    for step in range(steps):
        base = clean[int(rng.integers(len(clean)))].permute(1, 2, 0).numpy()
        kinds = rng.choice(TYPES, m, replace=False)
        s = np.stack([degrade(base, str(k), int(rng.integers(1, 6)), seed=int(rng.integers(2**31)))[0] for k in kinds])
        r = real[rng.choice(len(real), m, replace=len(real) < m)]
        s_t = torch.from_numpy(s).permute(0, 3, 1, 2).float().to(device) / 255.0
        r_t = r.to(device).float() / 255.0
        loss = dsl_loss(encoder(s_t)[1], encoder(r_t)[1], theta=theta)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if log and (step + 1) % 50 == 0:
            log(f"DSL step {step + 1}: loss {np.mean(losses[-50:]):.4f}")
    encoder.eval()
    return losses
