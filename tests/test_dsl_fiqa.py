"""DSL-FIQA: paper shapes and derived counts, crop tiling of the regional maps, landmark-id
routing, and the DSL / Charbonnier / patch losses against hand-computed values."""
import math

import numpy as np
import pytest
import torch

from core.models.dsl_fiqa import (
    DSLFIQA,
    DegradationEncoder,
    charbonnier,
    contrastive_to_mapping,
    dsl_loss,
    landmark_token_encoding,
    nerf_encoding,
    patch_contrastive_loss,
    soft_proximity_mapping,
)


@pytest.fixture(scope="module")
def paper():
    with torch.device("meta"):
        return DSLFIQA("paper").eval()


def test_paper_shapes(paper):
    x = torch.empty(2, 3, 384, 384, device="meta")
    with torch.no_grad():
        tokens = paper.features(x)
        deg_tokens, deg = paper.degradation(x)
        out = paper.score_crops(x, torch.zeros(2, 576, 22, device="meta"))
    assert tuple(tokens.shape) == (2, 576, 3072)  # ViT-B/16 @ 384, blocks 7-10 concatenated
    assert tuple(deg_tokens.shape) == (2, 96, 256) and tuple(deg.shape) == (2, 256)  # 8x12 degradation tokens
    assert tuple(out["quality"].shape) == (2, 576) and tuple(out["confidence"].shape) == (2, 576)  # 24x24 regional maps
    assert paper.features.blocks == (6, 7, 8, 9) and len(paper.features.vit.encoder.layers) == 10
    assert paper.crop_boxes(512) == [(x, y) for y in (0, 64, 128) for x in (0, 64, 128)]


def test_paper_parameter_counts(paper):
    def count(m):
        return sum(p.numel() for p in m.parameters())

    # degradation encoder: six 3x3 convs (+BN) and a 2-layer MLP, as the public code (~1.28 M)
    convs = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256)]
    want = sum(i * o * 9 + o + 2 * o for i, o in convs) + (256 * 256 + 256) * 2
    assert count(paper.degradation) == want == 1_278_784
    # ViT-B/16: patch embedding, CLS, positions for 577 tokens, 10 of 12 encoder blocks kept
    block = 2 * 768 * 2 + (768 * 3 * 768 + 3 * 768) + (768 * 768 + 768) + (768 * 3072 + 3072) + (3072 * 768 + 768)
    vit = (3 * 16 * 16 * 768 + 768) + 768 + 577 * 768 + 10 * block
    assert count(paper.features) == vit
    heads = 2 * (278 * 278 + 278 + 278 + 1)  # 256 token channels + 22 landmark-id channels
    assert count(paper.quality_head) + count(paper.confidence_head) == heads
    assert 100e6 < count(paper) < 105e6  # vs ~200 M for the public code (its 116 M landmark MLP)


def test_nerf_encoding_and_landmark_routing():
    enc = nerf_encoding(torch.tensor([0.5]), 3)
    assert torch.allclose(enc, torch.tensor([[0.5, math.sin(0.5), math.sin(1.0), math.sin(2.0), math.cos(0.5), math.cos(1.0), math.cos(2.0)]]))
    lm = torch.full((1, 68, 2), float("nan"))
    lm[0, 0] = torch.tensor([20.0, 40.0])  # id 0 -> cell (x=1, y=2) of a 16-px grid
    lm[0, 67] = torch.tensor([25.0, 45.0])  # id 67 -> same cell
    lm[0, 30] = torch.tensor([500.0, 5.0])  # outside the crop: ignored
    box = torch.tensor([[0.0, 0.0, 64.0, 64.0]])
    out = landmark_token_encoding(lm, box, grid=4, freqs=3)
    cell = 2 * 4 + 1
    mean = (nerf_encoding(torch.tensor([-1.0]), 3) + nerf_encoding(torch.tensor([1.0]), 3)) / 2
    assert torch.allclose(out[0, cell, :-1], mean[0]) and out[0, cell, -1] == pytest.approx(0.5)
    assert out[0].abs().sum() == pytest.approx(out[0, cell].abs().sum().item())  # nothing elsewhere
    assert landmark_token_encoding(None, box, 4, 3).abs().sum() == 0


def test_lite_maps_tile_the_input_and_missing_landmarks_are_fine():
    torch.manual_seed(0)
    m = DSLFIQA("lite").eval()
    x = torch.rand(2, 3, 192, 192)
    with torch.no_grad():
        full = m.run(x, torch.rand(2, 68, 2) * 192)
        one = m.run(x, None, crops=[(0, 0)])  # a single 128-px crop covers the top-left 8x8 cells
        nan = m({"aligned": x, "landmarks": torch.full((2, 68, 2), float("nan"))})
    assert full["confidence_map"].shape == (2, 12, 12) and full["quality_map"].shape == (2, 12, 12)
    assert (full["confidence_map"] > 0).all()  # the 3x3 grid of crops covers every cell
    assert (one["confidence_map"][:, :8, :8] > 0).all() and (one["confidence_map"][:, 8:, :] == 0).all()
    assert full["degradation"].shape == (2, 64) and torch.isfinite(nan).all()
    # crop score = confidence-weighted mean of the regional qualities
    c, q = one["confidence_map"][:, :8, :8], one["quality_map"][:, :8, :8]
    assert torch.allclose(one["score"], (c * q).sum((1, 2)) / c.sum((1, 2)), atol=1e-5)


@pytest.mark.parametrize("rows", [None, 4, 1000])
def test_batched_crops_match_one_call_per_crop(rows):
    """run() scores every crop of every image in a few network calls; the result is the per-crop loop's."""
    torch.manual_seed(1)
    m = DSLFIQA("lite").eval()
    m.rows_per_call = rows
    x, lm = torch.rand(3, 3, 192, 192), torch.rand(3, 68, 2) * 192
    with torch.no_grad():
        got = m.run(x, lm)
        scores, conf, cover = [], torch.zeros(3, 12, 12), torch.zeros(12, 12)
        for x0, y0 in m.crop_boxes(192):
            boxes = torch.tensor([[x0, y0, 128, 128]] * 3, dtype=torch.float32)
            out = m.score_crops(x[:, :, y0 : y0 + 128, x0 : x0 + 128], landmark_token_encoding(lm, boxes, m.grid))
            scores.append(out["score"])
            conf[:, y0 // 16 : y0 // 16 + 8, x0 // 16 : x0 // 16 + 8] += out["confidence"].view(3, 8, 8)
            cover[y0 // 16 : y0 // 16 + 8, x0 // 16 : x0 // 16 + 8] += 1
    assert torch.allclose(got["score"], torch.stack(scores, 1).mean(1), atol=1e-6)
    assert torch.allclose(got["confidence_map"], conf / cover, atol=1e-6)
    assert len({round(float(s), 4) for s in got["score"]}) == 3  # the images' rows were not mixed up


def test_dsl_cam_tiles_each_crop_where_it_lies():
    m = DSLFIQA("lite").eval()
    with pytest.raises(RuntimeError), m.cam_pass():  # one network call for every crop, restored even on an error
        assert m.rows_per_call >= 9
        raise RuntimeError
    assert m.rows_per_call is None
    heat = np.stack([np.full((256, 256), k + 1.0, np.float32) for k in range(9)])  # crop k's map = k + 1 everywhere
    tiled = m.merge_cam_views(heat)
    assert tiled.shape == (256, 256)
    assert tiled[0, 0] == 1 and tiled[-1, -1] == 9 and tiled[0, -1] == 3 and tiled[-1, 0] == 7  # corners: one crop each
    assert tiled[128, 128] == pytest.approx(5.0)  # the centre: the mean of all nine


def test_dsl_cam_changes_only_where_the_face_changed():
    """Each crop's CAM sits where the crop lies: darkening the bottom-right corner, which the top-left crop never
    sees, leaves the top-left corner of the heatmap as it was and changes the bottom-right one."""
    from core.analysis.explain import cam_heatmap
    from core.models import create_model

    m = create_model("dsl-fiqa", device="cpu")
    face = (np.random.default_rng(0).random((192, 192, 3)) * 255).astype(np.uint8)
    other = face.copy()
    other[150:, 150:] = 0
    a, b = cam_heatmap(m, face), cam_heatmap(m, other)
    assert a.shape == (192, 192) and 0 <= a.min() and a.max() <= 1
    assert np.allclose(a[:30, :30], b[:30, :30], atol=1e-5)
    assert np.abs(a[-30:, -30:] - b[-30:, -30:]).max() > 1e-2


def test_charbonnier_hand_computed():
    p, y = torch.tensor([0.5, 0.0]), torch.tensor([0.2, 0.0])
    assert float(charbonnier(p, y, eps=0.4)) == pytest.approx((0.5 + 0.4) / 2)


def test_soft_proximity_mapping_hand_computed():
    s = torch.tensor([[0.0, 0.0]])
    r = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    w = np.exp([-1.0, -4.0])
    w /= w.sum()
    want = w[0] * np.array([1.0, 0.0]) + w[1] * np.array([0.0, 2.0])
    assert np.allclose(soft_proximity_mapping(s, r).numpy()[0], want, atol=1e-6)


def test_dsl_contrastive_loss_hand_computed():
    s = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    r = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    hat = soft_proximity_mapping(s, r).numpy()
    S = s.numpy()
    terms = []
    for i in range(3):
        pos = -np.sum((S[i] - hat[i]) ** 2) / 0.5
        neg = [np.exp(-np.sum((S[j] - hat[i]) ** 2) / 0.5) for j in range(3) if j != i]
        terms.append(-(pos - np.log(np.sum(neg))))
    assert float(contrastive_to_mapping(s, r, theta=0.5)) == pytest.approx(np.mean(terms), rel=1e-5)
    both = float(contrastive_to_mapping(s, r, 0.5)) + float(contrastive_to_mapping(r, s, 0.5))
    assert float(dsl_loss(s, r, theta=0.5)) == pytest.approx(both, rel=1e-6)


def test_patch_baseline_loss_hand_computed():
    x = torch.tensor([[1.0, 0.0]])
    pos = torch.tensor([[1.0, 1.0]])
    neg = torch.tensor([[[0.0, 1.0], [-1.0, 0.0]]])
    t = 0.5
    want = -(1 / math.sqrt(2) / t - math.log(math.exp(0.0 / t) + math.exp(-1.0 / t)))
    assert float(patch_contrastive_loss(x, pos, neg, theta=t)) == pytest.approx(want, rel=1e-6)


def test_dsl_loss_separates_degradations_after_a_few_steps():
    """Degradation encoder trained by Eq. 6 on S (one face, several degradations) and R (others)."""
    from core.data.degrade import degrade

    rng = np.random.default_rng(0)
    base = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    kinds = ["gaussian_blur", "gaussian_noise", "jpeg", "underexposure"]
    torch.manual_seed(0)
    enc = DegradationEncoder((8, 16, 32), (2, 2), 16)
    opt = torch.optim.Adam(enc.parameters(), 3e-3)

    def batch(seed):
        g = np.random.default_rng(seed)
        s = [degrade(base, k, 4, seed=seed)[0] for k in kinds]
        others = [(g.random((64, 64, 3)) * 255).astype(np.uint8) for _ in kinds]
        r = [degrade(o, k, int(g.integers(2, 6)), seed=seed)[0] for o, k in zip(others, kinds)]
        to = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).float() / 255  # noqa: E731
        return to(s), to(r)

    losses = []
    for step in range(30):
        s, r = batch(step)
        loss = dsl_loss(enc(s)[1], enc(r)[1], theta=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
