"""core.data.realistic: Real-ESRGAN's second-order degradation, its face-size mode, levels and the `realistic` type."""
import json
import math

import cv2
import numpy as np
import pytest
import torch

from core.data.realistic import (
    EYE_PX_RANGE,
    KERNEL_SIZES,
    KERNEL_TYPES,
    LEVELS,
    REALESRGAN,
    RESIZE_MODES,
    OrderConfig,
    RealisticConfig,
    apply_realistic,
    blur_kernel,
    degrade_realistic,
    kernel_from_record,
    sample_realistic,
    sinc_kernel,
)


def _lapvar(img: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float64), cv2.CV_64F).var())


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b) ** 2).mean())
    return 10 * math.log10(255.0**2 / max(mse, 1e-12))


def test_seeded_same_size_and_the_record_replays(astronaut):
    img = astronaut[:200, :232]
    a, ra = degrade_realistic(img, np.random.default_rng(5))
    b, rb = degrade_realistic(img, np.random.default_rng(5))
    c, rc = degrade_realistic(img, np.random.default_rng(6))
    assert a.shape == img.shape and a.dtype == np.uint8 and a.flags.c_contiguous
    np.testing.assert_array_equal(a, b)
    assert ra == rb and ra != rc and not np.array_equal(a, c)
    rec = json.loads(json.dumps(ra))  # JSON-serialisable, and what was recorded is what was done
    assert rec == ra
    np.testing.assert_array_equal(apply_realistic(img, rec), a)
    assert rec["size"] == [200, 232] and rec["work_size"] == [50, 58] and rec["target_scale"] == 4.0  # Real-ESRGAN x4
    with pytest.raises(ValueError, match="uint8"):
        degrade_realistic(img.astype(np.float32), np.random.default_rng(0))
    with pytest.raises(ValueError, match="record made for size"):
        apply_realistic(astronaut, rec)


@pytest.mark.parametrize("kind", KERNEL_TYPES)
def test_blur_kernels_are_odd_normalised_and_centred(kind):
    for size in (7, 13, 21):
        k = blur_kernel(kind, size, 2.2, 0.7, 0.6, beta=1.7 if "_" in kind else None)
        assert k.shape == (size, size) and size % 2 == 1
        assert k.sum() == pytest.approx(1.0, abs=1e-9) and (k >= 0).all()
        np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-12)  # point-symmetric
        assert np.unravel_index(k.argmax(), k.shape) == (size // 2, size // 2)
    with pytest.raises(ValueError, match="odd"):
        blur_kernel(kind, 8, 1.0)


def test_anisotropic_kernels_follow_their_angle_and_beta_shapes_the_profile():
    ax = np.arange(-10, 11)
    wide_x = blur_kernel("aniso", 21, 3.0, 0.8, 0.0)
    wide_y = blur_kernel("aniso", 21, 3.0, 0.8, math.pi / 2)
    var_x, var_y = (wide_x.sum(0) * ax**2).sum(), (wide_x.sum(1) * ax**2).sum()
    assert var_x > 5 * var_y and (wide_y.sum(1) * ax**2).sum() == pytest.approx(var_x, rel=1e-6)
    np.testing.assert_allclose(blur_kernel("iso", 21, 1.5, 9.0, 1.0), blur_kernel("aniso", 21, 1.5, 1.5, 0.0), atol=1e-12)
    np.testing.assert_allclose(blur_kernel("generalized_iso", 21, 1.5, beta=1.0), blur_kernel("iso", 21, 1.5), atol=1e-12)
    flat, peaky = blur_kernel("generalized_iso", 21, 2.0, beta=4.0), blur_kernel("generalized_iso", 21, 2.0, beta=0.5)
    assert flat[10, 10] / flat[10, 11] < peaky[10, 10] / peaky[10, 11]  # large beta: flat top; small: sharp peak
    assert blur_kernel("plateau_iso", 21, 2.0, beta=2.0)[10, 0] > blur_kernel("iso", 21, 2.0)[10, 0]  # heavy tails


def test_sinc_kernel_rings():
    for size in KERNEL_SIZES:  # Real-ESRGAN's lowest cutoffs (pi/3 below 13 px, pi/5 above) still ring inside the kernel
        for cutoff in (math.pi / 3 if size < 13 else math.pi / 5, math.pi / 2):
            k = sinc_kernel(cutoff, size)
            assert k.shape == (size, size) and k.sum() == pytest.approx(1.0, abs=1e-9)
            assert k.min() < 0 and k.argmax() == k.size // 2  # negative lobes around a central peak
            np.testing.assert_allclose(k, k.T, atol=1e-12)
    rec = {"kernel": "sinc", "size": 11, "cutoff": 1.2}
    np.testing.assert_array_equal(kernel_from_record(rec), sinc_kernel(1.2, 11))


def _inside(x, r, tol=1e-4):
    return r[0] - tol <= x <= r[1] + tol


def _check_order(rec: dict, o: OrderConfig, cfg: RealisticConfig, blur_always: bool):
    k = rec["blur"]
    assert k is not None or not blur_always
    if k is not None:
        assert k["size"] in cfg.kernel_sizes and k["kernel"] in (*KERNEL_TYPES, "sinc")
        if k["kernel"] == "sinc":
            assert _inside(k["cutoff"], cfg.sinc_cutoff_small if k["size"] < 13 else cfg.sinc_cutoff_large)
        else:
            for key in ("sigma", "sigma_x", "sigma_y"):
                assert key not in k or _inside(k[key], o.blur_sigma)
            assert ("sigma" in k) == (not k["kernel"].endswith("aniso"))
            assert "angle_deg" not in k or -180 <= k["angle_deg"] <= 180
            if k["kernel"].startswith("generalized"):
                assert _inside(k["beta"], o.betag_range)
            elif k["kernel"].startswith("plateau"):
                assert _inside(k["beta"], o.betap_range)
            else:
                assert "beta" not in k
    r = rec["resize"]
    assert r["mode"] in RESIZE_MODES
    assert {"up": _inside(r["factor"], o.resize_up), "down": _inside(r["factor"], o.resize_down),
            "keep": r["factor"] == 1.0}[r["direction"]]
    n = rec["noise"]
    assert isinstance(n["grey"], bool)
    assert _inside(n["sigma"], o.noise_range) if n["kind"] == "gaussian" else _inside(n["scale"], o.poisson_scale_range)


def _check_record(rec: dict, cfg: RealisticConfig):
    _check_order(rec["first"], cfg.first, cfg, True)
    _check_order(rec["second"], cfg.second, cfg, False)
    for q, r in ((rec["first"]["jpeg"], cfg.first.jpeg_range), (rec["final"]["jpeg"], cfg.second.jpeg_range)):
        assert isinstance(q, int) and r[0] - 0.5 <= q <= r[1] + 0.5
    f = rec["final"]
    assert f["order"] in ("resize_sinc_jpeg", "jpeg_resize_sinc") and f["resize_mode"] in RESIZE_MODES
    assert f["sinc"] is None or (f["sinc"]["size"] in cfg.kernel_sizes and _inside(f["sinc"]["cutoff"], cfg.final_sinc_cutoff))
    if cfg.eye_px_range is not None:
        assert _inside(rec["eye_px"], cfg.eye_px_range, 1e-3)
    assert 0.0 <= rec["severity"] <= 1.0


def test_recorded_parameters_stay_in_the_configured_ranges(astronaut):
    """200 draws of the defaults and 200 over the five levels; the full pipeline on a small image records the same."""
    configs = [REALESRGAN] * 200 + [REALESRGAN.at_level(lv) for lv in LEVELS for _ in range(40)]
    for i, cfg in enumerate(configs):
        _check_record(sample_realistic(np.random.default_rng(i), (512, 512), config=cfg), cfg)
    small = astronaut[100:148, 150:190]
    for i in range(200):
        out, rec = degrade_realistic(small, np.random.default_rng(i))
        assert out.shape == small.shape and rec == sample_realistic(np.random.default_rng(i), small.shape)
        _check_record(rec, REALESRGAN)


def test_real_esrgan_probabilities():
    recs = [sample_realistic(np.random.default_rng(i), (256, 256)) for i in range(2000)]

    def share(pred):
        return np.mean([bool(pred(r)) for r in recs])

    assert share(lambda r: r["first"]["blur"]["kernel"] == "sinc") == pytest.approx(0.1, abs=0.03)
    assert share(lambda r: r["second"]["blur"] is not None) == pytest.approx(0.8, abs=0.04)
    assert share(lambda r: r["final"]["sinc"] is not None) == pytest.approx(0.8, abs=0.04)
    assert share(lambda r: r["final"]["order"] == "jpeg_resize_sinc") == pytest.approx(0.5, abs=0.04)
    assert share(lambda r: r["first"]["noise"]["kind"] == "gaussian") == pytest.approx(0.5, abs=0.04)
    assert share(lambda r: r["second"]["noise"]["grey"]) == pytest.approx(0.4, abs=0.04)
    for key, probs in (("first", (0.2, 0.7, 0.1)), ("second", (0.3, 0.4, 0.3))):
        for d, p in zip(("up", "down", "keep"), probs):
            assert share(lambda r, k=key, d=d: r[k]["resize"]["direction"] == d) == pytest.approx(p, abs=0.04)
    kernels = [r["first"]["blur"]["kernel"] for r in recs if r["first"]["blur"]["kernel"] != "sinc"]
    for kind, p in zip(KERNEL_TYPES, REALESRGAN.first.kernel_prob):
        assert kernels.count(kind) / len(kernels) == pytest.approx(p, abs=0.035), kind
    assert {r["first"]["blur"]["size"] for r in recs} == set(KERNEL_SIZES) == set(range(7, 22, 2))


def test_levels_cut_every_range_in_fifths_and_severity_follows():
    lv = [REALESRGAN.at_level(v) for v in LEVELS]
    assert lv[0].first.blur_sigma[0] == pytest.approx(0.2) and lv[-1].first.blur_sigma[1] == pytest.approx(3.0)
    assert lv[0].first.jpeg_range[1] == pytest.approx(95) and lv[-1].first.jpeg_range[0] == pytest.approx(30)
    assert lv[0].eye_px_range[1] == pytest.approx(EYE_PX_RANGE[1]) and lv[-1].eye_px_range[0] == pytest.approx(EYE_PX_RANGE[0])
    for a, b in zip(lv, lv[1:]):  # adjacent fifths touch, harsher upwards
        assert a.first.blur_sigma[1] == pytest.approx(b.first.blur_sigma[0])
        assert a.second.resize_down[0] == pytest.approx(b.second.resize_down[1])
        assert a.eye_px_range[0] == pytest.approx(b.eye_px_range[1])
        assert a.first.kernel_prob == b.first.kernel_prob and a.second.blur_prob == b.second.blur_prob == 0.8
    for seed in range(30):  # one seed: the same choices at every level, each value further along its range
        recs = [sample_realistic(np.random.default_rng(seed), (512, 512), config=c) for c in lv]
        assert len({(r["first"]["blur"]["kernel"], r["final"]["order"], r["first"]["resize"]["direction"]) for r in recs}) == 1
        assert [r["eye_px"] for r in recs] == sorted((r["eye_px"] for r in recs), reverse=True)
        assert [r["first"]["jpeg"] for r in recs] == sorted((r["first"]["jpeg"] for r in recs), reverse=True)
        for v, r in zip(LEVELS, recs):
            assert r["level"] == v and (v - 1) / 5 - 0.01 <= r["severity"] <= v / 5 + 0.01
    with pytest.raises(ValueError, match="level"):
        REALESRGAN.at_level(6)
    with pytest.raises(ValueError, match="kernel_prob"):
        RealisticConfig(first=OrderConfig(kernel_prob=(1.0,)))


def test_detail_and_psnr_fall_with_the_level_on_a_real_face(face512):
    stats = []
    for lv in LEVELS:
        cfg = REALESRGAN.at_level(lv)
        outs = [degrade_realistic(face512, np.random.default_rng(s), config=cfg)[0] for s in range(4)]
        stats.append((np.mean([_lapvar(o) for o in outs]), np.mean([_psnr(o, face512) for o in outs])))
    lap, psnr = zip(*stats)
    assert all(a > b for a, b in zip(lap, lap[1:])), lap
    assert all(a > b for a, b in zip(psnr, psnr[1:])), psnr
    assert lap[-1] < 0.25 * _lapvar(face512)


def test_face_size_mode_small_eyes_lose_much_more_detail(face512):
    lap16, lap64 = [], []
    for s in range(4):
        a, ra = degrade_realistic(face512, np.random.default_rng(s), eye_px=16)
        b, rb = degrade_realistic(face512, np.random.default_rng(s), eye_px=64)
        assert ra["target_scale"] == 8.0 and ra["work_size"] == [64, 64] and ra["eye_px"] == 16 and ra["upscale"] == "bilinear"
        assert rb["target_scale"] == 2.0 and rb["work_size"] == [256, 256] and rb["eye_px"] == 64
        assert ra["first"] == rb["first"] and ra["noise_seed"] == rb["noise_seed"]  # only the size differs
        assert a.shape == face512.shape and _psnr(a, face512) < _psnr(b, face512)
        lap16.append(_lapvar(a))
        lap64.append(_lapvar(b))
    assert np.mean(lap16) < 0.4 * np.mean(lap64), (lap16, lap64)
    _, rec = degrade_realistic(face512, np.random.default_rng(0), eye_px=300)  # never upscaled first
    assert rec["target_scale"] == 1.0 and rec["upscale"] is None
    _, rec = degrade_realistic(face512[::2, ::2], np.random.default_rng(0), eye_px=16)  # a 256 crop: eyes 64 px apart
    assert rec["target_scale"] == 4.0
    _, rec = degrade_realistic(face512, np.random.default_rng(0), eye_px=20, source_eye_px=60)  # a whole photo
    assert rec["target_scale"] == 3.0 and rec["source_eye_px"] == 60


def test_realistic_is_an_opt_in_engine_type(face512, astronaut):
    from core.data.degrade import EXTRA_TYPES, SPECS, TYPES, apply_chain, degrade, degrade_batch, random_composition

    assert "realistic" in EXTRA_TYPES and "realistic" not in TYPES and SPECS["realistic"].param == "severity"
    out, rec = degrade(face512, "realistic", 3, 11)
    again, rec2 = degrade(face512, "realistic", 3, seed=11)
    np.testing.assert_array_equal(out, again)
    assert out.shape == face512.shape and out.dtype == np.uint8 and rec == rec2
    assert rec["type"] == "realistic" and rec["level"] == 3 and rec["seed"] == 11 and 0.39 <= rec["severity"] <= 0.61
    assert 23 <= rec["eye_px"] <= 33 and json.loads(json.dumps(rec)) == rec
    small = face512[::4, ::4]  # 128 px: the eye distance scales with the crop, as the spatial types' sizes do
    x = torch.from_numpy(np.stack([small, small])).permute(0, 3, 1, 2).float() / 255
    y, (r0, r1) = degrade_batch(x, "realistic", 5, seed=0)
    assert y.shape == x.shape and r0["source_eye_px"] == 32.0 and r0["noise_seed"] != r1["noise_seed"]
    img, recs = apply_chain(astronaut, [("gaussian_blur", 1), ("realistic", 2)], seed=1)
    assert img.shape == astronaut.shape and [r["type"] for r in recs] == ["gaussian_blur", "realistic"]
    img, recs = random_composition(astronaut, seed=2, n=(2, 2), types=("realistic", "jpeg"))
    assert [r["type"] for r in recs] == ["realistic", "jpeg"]  # the whole chain, then the extra JPEG


def test_data_build_accepts_extra_type_realistic(tmp_path, astronaut):
    """`faceiqa data build --extra-types realistic`: drawn, labelled, laddered; the 15 defaults do not draw it."""
    import pandas as pd
    from PIL import Image

    from core.cli import main
    from core.data.build import BuildConfig
    from core.data.degrade import TYPES

    assert "realistic" not in BuildConfig().types
    photos = tmp_path / "photos" / "ann"
    photos.mkdir(parents=True)
    Image.fromarray(astronaut).save(photos / "a.jpg")
    assert main(["data", "build", str(tmp_path / "photos"), "--out", str(tmp_path / "b"), "--extra-types", "realistic",
                 "--type-weights", ",".join(f"{t}=0" for t in TYPES) + ",realistic=1", "--compose-prob", "0",
                 "--per-source", "2", "--ladder", "realistic", "--size", "128", "-q"]) == 0
    labels = pd.read_csv(tmp_path / "b" / "labels.csv")
    real = labels[labels.degradation == "realistic"]
    assert len(real) == 2 and (real.mos < labels[labels.degradation == "clean"].mos.iloc[0]).all()
    params = json.loads(real.params.iloc[0])[0]
    assert params["type"] == "realistic" and {"first", "second", "final", "eye_px", "severity"} <= set(params)
    ladder = pd.read_csv(tmp_path / "b" / "ladder.csv")
    assert sorted(ladder.level) == [0, 1, 2, 3, 4, 5]
    build = json.loads((tmp_path / "b" / "build.json").read_text())
    assert "realistic" in build["config"]["types"]


@pytest.mark.data
def test_tiny_build_on_lfw_labels_realistic_copies_below_their_clean_face(shared_data, tmp_path):
    import pandas as pd

    from core.cli import main
    from core.data.degrade import TYPES

    src = tmp_path / "lfw"  # three people's folders, so the build does not list all of LFW
    src.mkdir()
    for person in sorted(p for p in (shared_data / "lfw" / "images").iterdir() if p.is_dir())[:3]:
        (src / person.name).mkdir()
        for f in person.glob("*.jpg"):
            (src / person.name / f.name).symlink_to(f)
    out = tmp_path / "out"
    assert main(["data", "build", str(src), "--out", str(out), "--max-sources", "3",
                 "--per-source", "2", "--extra-types", "realistic", "--compose-prob", "0", "--size", "256",
                 "--type-weights", ",".join(f"{t}=0" for t in TYPES) + ",realistic=1", "-q"]) == 0
    labels = pd.read_csv(out / "labels.csv")
    assert set(labels.degradation) == {"clean", "realistic"} and (labels.degradation == "realistic").sum() == 6
    clean = labels[labels.degradation == "clean"].set_index("source").fr_mos
    real = labels[labels.degradation == "realistic"]
    assert (real.fr_mos.values < clean.loc[real.source].values).all()
