import numpy as np
import pytest
import torch

from core.analysis.stats import image_stats
from core.data.degrade import (
    EXTRA_TYPES,
    LEVELS,
    SPECS,
    TYPES,
    SetRSampler,
    SetSSampler,
    apply_chain,
    degrade,
    degrade_batch,
    random_composition,
)
from core.data.pseudo_mos import GFIQA_FACE_BOX, gmsd, ms_ssim, pseudo_mos


def test_fifteen_types_five_levels():
    assert len(TYPES) == 15 and LEVELS == (1, 2, 3, 4, 5)
    assert {SPECS[t].family for t in TYPES} == {"blur", "noise", "resize", "compression", "lighting", "contrast", "colour", "occlusion"}
    assert EXTRA_TYPES == ("old_print", "realistic") and set(SPECS) == {*TYPES, *EXTRA_TYPES}  # opt-in types stay out of the defaults
    for s in SPECS.values():
        assert len(s.values) == 5


@pytest.mark.parametrize("kind", TYPES + EXTRA_TYPES)
def test_deterministic_shape_dtype_and_monotone(kind, astronaut):
    img = astronaut
    outs = []
    for level in LEVELS:
        a, rec = degrade(img, kind, level, seed=7)
        b, rec2 = degrade(img, kind, level, seed=7)
        assert a.shape == img.shape and a.dtype == np.uint8
        np.testing.assert_array_equal(a, b)
        assert rec == rec2 and rec["type"] == kind and rec["level"] == level and rec["seed"] == 7
        assert SPECS[kind].param in rec
        outs.append(a)
    err = [np.sqrt(((o.astype(float) - img) ** 2).mean()) for o in outs]
    assert all(x < y for x, y in zip(err, err[1:])), err  # further from the source at every level


STAT_DIRECTION = {  # statistic that must move monotonically with severity, and its direction
    "gaussian_blur": ("sharpness", -1), "motion_blur": ("sharpness", -1), "defocus_blur": ("sharpness", -1),
    "resize": ("sharpness", -1), "gaussian_noise": ("sharpness", +1), "poisson_noise": ("sharpness", +1),
    "salt_pepper": ("sharpness", +1), "underexposure": ("brightness", -1), "overexposure": ("brightness", +1),
    "gamma": ("brightness", -1), "low_contrast": ("contrast", -1),
}


@pytest.mark.data
@pytest.mark.parametrize("kind", sorted(STAT_DIRECTION))
def test_statistics_move_the_right_way_on_a_real_face(kind, shared_data):
    from core.faces import FaceDetector, align_gfiqa
    from core.io import load_image

    img = load_image(shared_data / "deepface-identities" / "img1.jpg")
    face = FaceDetector().detect(img)[0]
    crop = align_gfiqa(img, face, 512).image
    stat, sign = STAT_DIRECTION[kind]
    vals = [image_stats(crop)[stat]] + [image_stats(degrade(crop, kind, lv, seed=1)[0])[stat] for lv in LEVELS]
    steps = np.diff(vals) * sign
    assert (steps > 0).all(), (kind, vals)


def test_batch_path_matches_single_and_records_params(astronaut):
    x = torch.from_numpy(np.stack([astronaut, astronaut[:, ::-1].copy()])).permute(0, 3, 1, 2).float() / 255
    y, recs = degrade_batch(x, "gaussian_blur", 3, seed=0)
    assert y.shape == x.shape and y.dtype == x.dtype and len(recs) == 2
    single, _ = degrade(astronaut, "gaussian_blur", 3, seed=0)
    np.testing.assert_allclose((y[0].permute(1, 2, 0).numpy() * 255), single, atol=1.0)
    assert recs[0]["sigma"] == pytest.approx(3.0 * 320 / 512, abs=1e-3)  # spatial scaled to size
    _, absolute = degrade_batch(x, "gaussian_blur", 3, seed=0, spatial_scale=1.0)
    assert absolute[0]["sigma"] == 3.0  # the table's value in absolute pixels
    _, mrec = degrade_batch(x, "motion_blur", 2, seed=1)
    assert mrec[0]["angle_deg"] != mrec[1]["angle_deg"]  # each image draws its own angle
    with pytest.raises(KeyError, match="unknown degradation"):
        degrade_batch(x, "sepia", 1)
    with pytest.raises(ValueError, match="level"):
        degrade_batch(x, "jpeg", 6)


def test_compositions_and_dual_sets(astronaut, tmp_path):
    out, recs = random_composition(astronaut, seed=5)
    again, recs2 = random_composition(astronaut, seed=5)
    np.testing.assert_array_equal(out, again)
    assert recs == recs2 and 2 <= len(recs) <= 3
    fams = [SPECS[r["type"]].family for r in recs]
    assert len(set(fams)) == len(fams)
    chain, crec = apply_chain(astronaut, [("gaussian_blur", 2), ("jpeg", 3)], seed=1)
    assert [r["type"] for r in crec] == ["gaussian_blur", "jpeg"]
    views, vrecs = SetSSampler(m=6)(astronaut, seed=3)
    assert len(views) == 6 and len({r[0]["type"] for r in vrecs}) == 6  # same face, distinct degradations
    assert all(v.shape == astronaut.shape for v in views)
    paths = [tmp_path / f"{i}.jpg" for i in range(10)]
    picked = SetRSampler(paths, n=4)(seed=2)
    assert len(set(picked)) == 4 and picked == SetRSampler(paths, n=4)(seed=2)
    with pytest.raises(ValueError, match="at least n=4"):
        SetRSampler(paths[:3], n=4)


def test_fr_metrics_identity_and_order(astronaut):
    assert gmsd(astronaut, astronaut).item() == pytest.approx(0.0, abs=1e-6)
    assert ms_ssim(astronaut, astronaut).item() == pytest.approx(1.0, abs=1e-5)
    mild, _ = degrade(astronaut, "gaussian_noise", 1)
    strong, _ = degrade(astronaut, "gaussian_noise", 5)
    assert gmsd(mild, astronaut) < gmsd(strong, astronaut)
    assert ms_ssim(mild, astronaut) > ms_ssim(strong, astronaut)


@pytest.mark.parametrize("kind", TYPES)
def test_pseudo_mos_monotone_in_severity(kind, face512):
    q = [pseudo_mos(face512, face512, GFIQA_FACE_BOX).item()]
    q += [pseudo_mos(degrade(face512, kind, lv, seed=2)[0], face512, GFIQA_FACE_BOX).item() for lv in LEVELS]
    assert q[0] == pytest.approx(1.0, abs=1e-5)
    assert all(a > b for a, b in zip(q, q[1:])), (kind, q)
    assert all(0.0 <= v <= 1.0 for v in q)


def test_detail_fidelity_sees_blur_on_soft_faces_and_noise_both_ways(face512):
    import cv2

    from core.data.pseudo_mos import detail_fidelity, pseudo_mos_parts

    soft = cv2.GaussianBlur(face512, (0, 0), 2.0)  # an LFW-like soft face as the reference
    assert detail_fidelity(soft, soft).item() == pytest.approx(1.0, abs=1e-5)
    blurred = [detail_fidelity(degrade(soft, "gaussian_blur", lv, seed=0)[0], soft).item() for lv in (1, 3, 5)]
    assert blurred[0] > blurred[1] > blurred[2] and blurred[2] < 0.6
    noised = [detail_fidelity(degrade(soft, "gaussian_noise", lv, seed=0)[0], soft).item() for lv in (1, 3, 5)]
    assert noised[0] > noised[1] > noised[2] and noised[2] < 0.3  # false detail counts as a loss, not a gain
    # symmetric: adding as much energy as blur removes costs the same
    assert detail_fidelity(soft, degrade(soft, "gaussian_blur", 3, seed=0)[0]).item() == pytest.approx(blurred[1], rel=1e-4)
    mos, s, g, d = pseudo_mos_parts(degrade(soft, "gaussian_blur", 3, seed=0)[0], soft)
    assert mos.item() == pytest.approx(((s.clamp(0, 1) + (1 - g / 0.35).clamp(0, 1) + d) / 3).item())
    assert mos.item() < 0.9  # without the detail term a level-3 blur of a soft face kept ~0.96


def _crete_reference(rgb: np.ndarray) -> float:
    """Crete et al. (2007) blur metric written out with numpy, as in the paper: 9-tap averages along each axis."""
    from scipy.ndimage import uniform_filter1d

    y = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]).astype(np.float64)
    out = []
    for ax in (1, 0):
        b = uniform_filter1d(y, 9, axis=ax, mode="nearest")
        d_f, d_b = np.abs(np.diff(y, axis=ax)), np.abs(np.diff(b, axis=ax))
        out.append((d_f.sum() - np.maximum(0, d_f - d_b).sum()) / d_f.sum())
    return max(out)


def test_source_sharpness_is_measured_at_256_px_whatever_the_crop_size(astronaut, astronaut_face):
    from core.data.pseudo_mos import source_sharpness
    from core.faces import align_gfiqa

    at = {n: align_gfiqa(astronaut, astronaut_face, n).image for n in (256, 512)}
    s256, s512 = (source_sharpness(at[n], GFIQA_FACE_BOX).item() for n in (256, 512))
    assert abs(s512 - s256) < 0.06  # measured 0.78 vs 0.82
    assert source_sharpness(at[512], GFIQA_FACE_BOX, size=512).item() < s256 - 0.2  # unresized: upsampled pixels look blurred


def test_crete_blur_matches_the_paper_and_orders_sharpness(face512):
    import cv2

    from core.data.pseudo_mos import CRETE_BLURRY, CRETE_SHARP, crete_blur, source_sharpness

    assert crete_blur(face512).item() == pytest.approx(_crete_reference(face512), abs=2e-3)
    blur = [crete_blur(cv2.GaussianBlur(face512, (0, 0), s) if s else face512, GFIQA_FACE_BOX).item() for s in (0, 1, 2, 4)]
    assert all(a < b for a, b in zip(blur, blur[1:])) and 0 < blur[0] and blur[-1] < 1
    sharp = [source_sharpness(cv2.GaussianBlur(face512, (0, 0), s) if s else face512, GFIQA_FACE_BOX).item() for s in (0, 4)]
    assert sharp[0] > 0.5 > sharp[1] >= 0.0
    flat = np.full((64, 64, 3), 128, np.uint8)  # no variation at all: blurriest, not a division by zero
    assert 0.0 <= crete_blur(flat).item() <= 1.0 and source_sharpness(flat).item() <= 1.0
    assert CRETE_SHARP < CRETE_BLURRY


def _blockiness_reference(rgb: np.ndarray) -> float:
    """Wang, Bovik & Evans (2000) style blockiness with numpy: luma steps across the 8-px grid / steps inside blocks."""
    y = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]).astype(np.float64)
    out = []
    for d in (np.abs(np.diff(y, axis=1)), np.abs(np.diff(y, axis=0)).T):
        across = np.arange(d.shape[1]) % 8 == 7
        out.append(d[:, across].mean() / d[:, ~across].mean())
    return float(np.mean(out))


def test_blocking_fidelity_sees_jpeg_blocks_and_nothing_else(astronaut, astronaut_face):
    from core.analysis.evaluate import user_degradations
    from core.data.pseudo_mos import blockiness, blocking_fidelity

    h, w = astronaut.shape[:2]
    box = tuple(v / s for v, s in zip(astronaut_face.box, (w, h, w, h)))
    photos = user_degradations(astronaut)
    assert blockiness(photos["jpeg"]).item() == pytest.approx(_blockiness_reference(photos["jpeg"]), rel=1e-3)
    fid = {k: blocking_fidelity(v, astronaut, box).item() for k, v in photos.items()}
    assert fid["sharp"] == fid["blurred"] == fid["noised"] == 1.0  # no grid edges added: no penalty
    assert 0.5 < fid["jpeg"] < 0.75  # quality 8: measured 0.64 (blockiness 1.00 -> 2.53)
    levels = [blocking_fidelity(degrade(astronaut, "jpeg", lv, seed=0)[0], astronaut, box).item() for lv in (1, 3, 5)]
    assert levels[0] > 0.95 and levels[0] > levels[1] > levels[2]  # quality 50 is free, 18 costs, 5 costs most
    # the grid is the codec's: the same JPEG shifted by 4 px no longer lines up with it
    shifted = np.ascontiguousarray(photos["jpeg"][4:, 4:])
    assert blockiness(shifted).item() < 1.2 < blockiness(photos["jpeg"]).item()
    # a face box off the image edge or too small for two blocks falls back to what exists
    assert blocking_fidelity(photos["jpeg"], astronaut, (-0.2, -0.2, 0.01, 0.01)).item() < 0.8
    with pytest.raises(ValueError, match="at least 17 px"):
        blockiness(np.zeros((10, 10, 3), np.uint8))


def test_face_scaled_blur_is_the_lfw_blur_relative_to_the_face(astronaut):
    from core.analysis.evaluate import LFW_FACE_PX, user_degradations

    plain = user_degradations(astronaut)
    assert "blurred_face_scaled" not in plain  # needs a face width
    same = user_degradations(astronaut, face_width=LFW_FACE_PX)["blurred_face_scaled"]
    assert np.array_equal(same, plain["blurred"])  # an LFW-sized face gets exactly the radius-2 blur

    def detail(img):
        g = img.astype(np.float64).mean(axis=2)
        return float(np.abs(np.diff(g, axis=1)).mean())

    wide = user_degradations(astronaut, face_width=4 * LFW_FACE_PX)["blurred_face_scaled"]
    assert detail(wide) < 0.8 * detail(plain["blurred"]) < 0.8 * detail(astronaut)  # a 4x wider face: radius 8


def test_face_scaled_jpeg_shrinks_the_photo_to_lfw_face_size_first(astronaut):
    from core.analysis.evaluate import LFW_FACE_PX, USER_REFERENCE, user_degradations
    from core.data.pseudo_mos import blockiness

    same = user_degradations(astronaut, face_width=LFW_FACE_PX)
    assert np.array_equal(same["sharp_face_scaled"], astronaut) and np.array_equal(same["jpeg_face_scaled"], same["jpeg"])
    small = user_degradations(astronaut, face_width=4 * LFW_FACE_PX)  # a 4x wider face: the photo shrinks 4x
    h, w = astronaut.shape[:2]
    assert small["sharp_face_scaled"].shape == small["jpeg_face_scaled"].shape == (round(h / 4), round(w / 4), 3)
    assert blockiness(small["jpeg_face_scaled"]).item() > 1.5 > blockiness(small["sharp_face_scaled"]).item()
    assert USER_REFERENCE["jpeg_face_scaled"] == "sharp_face_scaled"  # compared with the shrunk sharp photo
    tiny = user_degradations(astronaut, face_width=LFW_FACE_PX / 2)  # never enlarged
    assert tiny["sharp_face_scaled"].shape == astronaut.shape


def test_training_jpeg_copies_are_labelled_like_the_build(astronaut, astronaut_face):
    """`IQATrainConfig.jpeg_copies`: whole-photo-like JPEG copies of clean crops, labelled with the build's formula."""
    import pandas as pd

    from core.data.pseudo_mos import blockiness
    from core.faces import align_gfiqa
    from core.train.iqa import IQATrainConfig, jpeg_copies, train_iqa

    crop = align_gfiqa(astronaut, astronaut_face, 128).image
    x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].float().div(255).repeat(3, 1, 1, 1)
    mos = torch.tensor([0.8, 0.6, 0.4])
    labels = {}
    for q in (50, 18, 5):
        xj, yj = jpeg_copies(x, mos, np.random.default_rng(0), shrink=(1.0, 1.0), qualities=(q,))
        assert xj.shape == x.shape and xj.dtype == x.dtype and float(xj.min()) >= 0 and float(xj.max()) <= 1
        ratio = yj / mos  # one copy per row, same pixels: the same fraction of each row's MOS
        assert torch.allclose(ratio, ratio[0].expand(3), atol=1e-5) and 0 < float(ratio[0]) < 1
        labels[q] = float(ratio[0])
        if q == 5:  # unshrunk: the codec's 8-px grid is the crop's
            assert float(blockiness(xj[:1], GFIQA_FACE_BOX)) > 1.5 * float(blockiness(x[:1], GFIQA_FACE_BOX))
    assert labels[50] > labels[18] > labels[5]
    a = jpeg_copies(x, mos, np.random.default_rng(3))
    b = jpeg_copies(x, mos, np.random.default_rng(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])  # seeded
    with pytest.raises(ValueError, match="'degradation' column"):
        train_iqa("stylegan-iqa", pd.DataFrame({"path": ["a.png"], "mos": [0.5]}), pd.DataFrame({"path": ["a.png"], "mos": [0.5]}),
                  "/nonexistent/run", IQATrainConfig(jpeg_copies=2), progress=False)


def test_greyscale_copies_and_the_colour_bias_table(astronaut):
    from PIL import Image

    from core.analysis.evaluate import as_greyscale, colour_vs_greyscale, is_greyscale

    grey = as_greyscale(astronaut)
    pil = np.asarray(Image.fromarray(astronaut).convert("L"))
    assert grey.shape == astronaut.shape and grey.dtype == np.uint8
    assert (grey[..., 0] == grey[..., 2]).all() and np.abs(grey[..., 0].astype(int) - pil).max() <= 1
    toned = np.clip(grey * np.array([1.015, 1.0, 0.975]), 0, 255).astype(np.uint8)  # a toned print (channel gaps ~5)
    assert is_greyscale(grey) and is_greyscale(toned) and not is_greyscale(astronaut)

    class Saturation:  # a "model" that likes colour: the score is the mean spread of the channels
        def assess(self, img, faces="largest"):
            face = type("Face", (), {"score": float(np.asarray(img, float).std(axis=-1).mean() / 100)})
            return type("Result", (), {"faces": [face]})

    df = colour_vs_greyscale(Saturation(), [astronaut, grey, astronaut[::2, ::2]])
    assert df.photo.tolist() == [0, 2]  # the greyscale photo has no colour to take away
    assert (df.greyscale == 0).all() and (df.gap > 0.05).all() and np.allclose(df.gap, df.colour - df.greyscale)


def test_old_print_ages_a_face_step_by_step(face512):
    """Sepia fade, softness, grain, specks and scratches all grow with the level, as recorded; the batch path on a
    256-px copy scales the spatial parts."""
    def chroma(img):  # mean max-min over the channels
        return float(np.ptp(img.astype(float), axis=2).mean())

    outs = [degrade(face512, "old_print", lv, seed=3) for lv in LEVELS]
    recs = [r for _, r in outs]
    for key in ("age", "blur_sigma", "grain", "specks", "scratches"):
        vals = [r[key] for r in recs]
        assert vals == sorted(vals) and vals[0] < vals[-1], (key, vals)
    assert recs[-1]["specks"] == 150 and recs[-1]["scratches"] == 4 and recs[-1]["blur_sigma"] == pytest.approx(3.0)
    sat = [chroma(face512)] + [chroma(o) for o, _ in outs]
    assert all(a > b for a, b in zip(sat, sat[1:])), sat  # toned towards sepia
    rgb = outs[-1][0].reshape(-1, 3).astype(float).mean(0)
    assert rgb[0] > rgb[1] > rgb[2]  # warm (sepia) cast
    small = torch.from_numpy(face512[::2, ::2].copy()).permute(2, 0, 1)[None].float() / 255
    _, (rec,) = degrade_batch(small, "old_print", 5, seed=3)
    assert rec["blur_sigma"] == pytest.approx(1.5) and rec["specks"] == round(150 / 4)


def test_old_print_is_opt_in_for_builds(tmp_path, astronaut):
    """The 15 default types never draw it; --extra-types adds it, --ladder takes it, unknown names are refused."""
    from PIL import Image

    from core.cli import main
    from core.data.build import BuildConfig, build_benchmark
    from core.errors import FaceIQAError

    assert "old_print" not in BuildConfig().types
    photos = tmp_path / "photos" / "ann"
    photos.mkdir(parents=True)
    Image.fromarray(astronaut).save(photos / "a.jpg")
    with pytest.raises(FaceIQAError, match="unknown degradation types"):
        build_benchmark(tmp_path / "photos", tmp_path / "x", BuildConfig(types=("blur",)), progress=False)
    assert main(["data", "build", str(tmp_path / "photos"), "--out", str(tmp_path / "bad"), "--extra-types", "gaussian_blur"]) == 1
    assert main(["data", "build", str(tmp_path / "photos"), "--out", str(tmp_path / "b"), "--extra-types", "old_print",
                 "--type-weights", ",".join(f"{t}=0" for t in TYPES) + ",old_print=1", "--compose-prob", "0", "--per-source", "2",
                 "--ladder", "old_print", "--size", "128", "-q"]) == 0
    import json

    import pandas as pd

    labels = pd.read_csv(tmp_path / "b" / "labels.csv")
    assert (labels.degradation == "old_print").sum() == 2 and "old_print" in json.loads((tmp_path / "b" / "build.json").read_text())["config"]["types"]
    ladder = pd.read_csv(tmp_path / "b" / "ladder.csv")
    assert sorted(ladder.level) == [0, 1, 2, 3, 4, 5]
    assert ladder.sort_values("level").mos.is_monotonic_decreasing  # the pseudo-MOS falls as the print ages


