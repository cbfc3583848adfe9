import numpy as np
import pytest
from skimage.color import lab2rgb

from core.analysis.stats import (
    DSL_GROUP,
    FITZPATRICK,
    batch_image_stats,
    identity_groups,
    image_stats,
    ita_class,
    ita_degrees,
    kmeans_representatives,
    mos_bins,
    near_duplicates,
    share_table,
    skin_tone,
)


def test_flat_grey_image_has_known_answers():
    s = image_stats(np.full((64, 48, 3), 100, np.uint8))
    assert s["brightness"] == pytest.approx(100.0) and s["contrast"] == 0.0 and s["sharpness"] == pytest.approx(0.0)


def test_ramp_sharpness_and_contrast_formula():
    ramp = np.tile(np.arange(64, dtype=np.uint8)[None, :, None], (32, 1, 3))  # slope 1 grey level / px
    s = image_stats(ramp)
    assert s["sharpness"] == pytest.approx(np.log(2.0), abs=1e-6)  # log(mean |grad| + 1), |grad| = 1
    g = np.arange(64, dtype=float)
    std = g.std()
    kurt = ((g - g.mean()) ** 4).mean() / std**4
    assert s["contrast"] == pytest.approx(std / kurt**0.25, rel=1e-6)
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 255, (5, 20, 30, 3), dtype=np.uint8)
    b = batch_image_stats(batch)
    for i in range(5):
        one = image_stats(batch[i])
        assert b["contrast"][i] == pytest.approx(one["contrast"]) and b["sharpness"][i] == pytest.approx(one["sharpness"])


def test_ita_classes_and_groups():
    assert ita_degrees([70.0, 5.0, 15.0]) == pytest.approx(np.degrees(np.arctan2(20, 15)))
    assert [ita_class(v) for v in (60, 50, 30, 15, 0, -45)] == ["very light", "light", "intermediate", "tan", "brown", "dark"]
    assert [DSL_GROUP[FITZPATRICK[c]] for c in ("very light", "intermediate", "dark")] == ["Light", "Medium", "Dark"]


@pytest.mark.parametrize("lab,group", [((75.0, 8.0, 14.0), "Light"), ((58.0, 12.0, 22.0), "Medium"), ((32.0, 10.0, 18.0), "Dark")])
def test_skin_patch_of_known_lab_gets_expected_group(lab, group, astronaut_face):
    rgb = (lab2rgb(np.array(lab, float)[None, None]) * 255 + 0.5).astype(np.uint8)
    img = np.tile(rgb, (320, 360, 1))
    out = skin_tone(img, astronaut_face.landmarks)
    expected_ita = np.degrees(np.arctan2(lab[0] - 50, lab[2]))
    assert out["ita"] == pytest.approx(expected_ita, abs=1.5)  # 8-bit rounding only
    assert out["skin_tone"] == group and out["skin_pixels"] > 200


def test_black_and_white_faces_have_no_skin_tone(astronaut, astronaut_face):
    """ITA of a grey face reads its grey level as a tone (+-90 degrees: 'very light' or 'dark'); such a face is
    'unknown', a toned print too, while the colour photo keeps its group."""
    from core.analysis.evaluate import as_greyscale
    from core.analysis.stats import GREY_CHROMA

    colour = skin_tone(astronaut, astronaut_face.landmarks)
    assert colour["skin_tone"] != "unknown" and colour["skin_chroma"] > 2 * GREY_CHROMA
    grey = as_greyscale(astronaut)
    toned = np.clip(grey * np.array([1.015, 1.0, 0.975]), 0, 255).astype(np.uint8)
    for img in (grey, toned, (grey * 0.4).astype(np.uint8)):  # a dark print must not read "dark" either
        out = skin_tone(img, astronaut_face.landmarks)
        assert out["skin_tone"] == "unknown" and np.isnan(out["ita"]) and out["skin_chroma"] < GREY_CHROMA and out["skin_pixels"] > 200


def test_skin_region_too_small_is_unknown():
    lm = np.tile(np.array([[10.0, 10.0]]), (68, 1))
    assert skin_tone(np.zeros((20, 20, 3), np.uint8), lm)["skin_tone"] == "unknown"


def test_groups_and_kmeans():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (4, 128)) * 0.3
    emb = np.concatenate([c + rng.normal(0, 0.01, (5, 128)) for c in centres])
    labels = identity_groups(emb, 0.6)
    assert len(np.unique(labels)) == 4 and all(len(set(labels[i * 5:(i + 1) * 5])) == 1 for i in range(4))
    dup = near_duplicates(np.concatenate([emb[:1], emb[:1] + 1e-4, emb[5:6]]))
    assert dup[0] == dup[1] != dup[2]
    lab, keep = kmeans_representatives(emb, 4)
    assert len(keep) == 4 and len(set(lab[keep])) == 4


def test_bins_and_shares():
    assert mos_bins([0.1, 0.3, 0.5, 0.7, 0.9, 0.95, np.nan]) == {"Bad": 1, "Poor": 1, "Fair": 1, "Good": 1, "Excellent": 2}
    t = share_table(["Light", "Dark", None, "Light"], order=["Light", "Medium", "Dark"])
    assert t.loc["Light", "percent"] == 50.0 and t.loc["Medium", "count"] == 0 and t.loc["unknown", "count"] == 1


@pytest.mark.data
def test_lfw_same_identity_groups(shared_data):
    from core.faces import FaceDetector, face_embedding
    from core.io import load_image

    people = ["George_W_Bush", "Colin_Powell", "Tony_Blair"]
    embs, who = [], []
    det = FaceDetector()
    for p in people:
        for f in sorted((shared_data / "lfw" / "images" / p).glob("*.jpg"))[:4]:
            img = load_image(f)
            faces = det.detect(img)
            if faces:
                embs.append(face_embedding(img, faces[0]))
                who.append(p)
    labels = identity_groups(np.stack(embs))
    for p in people:
        same = {labels[i] for i, w in enumerate(who) if w == p}
        assert len(same) == 1, p
    assert len(set(labels)) == 3
