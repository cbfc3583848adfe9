import json

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLES
from PIL import Image

from core.analysis.demographics import DEFAULT_WEIGHTS, GenderEstimator, parse_utkface_name, train_gender_estimator
from core.cli import main
from core.data.build import BuildConfig, build_benchmark, draw_type, identity_split, type_probabilities
from core.errors import CheckpointError, FaceIQAError


def _photo_folder(tmp_path, astronaut):
    root = tmp_path / "photos"
    for person in ("ann", "bob", "cat", "dan"):
        (root / person).mkdir(parents=True)
        for k in range(2):
            img = astronaut if k == 0 else astronaut[:, ::-1]
            Image.fromarray(np.ascontiguousarray(img)).save(root / person / f"{person}_{k}.jpg", quality=95)
    Image.open(SAMPLES / "no_face_coffee.jpg").save(root / "dan" / "coffee.jpg")
    return root


def test_identity_split_is_disjoint_and_seeded():
    ids = [f"p{i}" for i in range(100)]
    s = identity_split(ids, seed=1)
    assert pd.Series(s).value_counts().to_dict() == {"train": 70, "test": 20, "val": 10}
    assert s == identity_split(list(reversed(ids)), seed=1) and s != identity_split(ids, seed=2)


def test_build_small_benchmark_then_score_and_stats(tmp_path, astronaut):
    src = _photo_folder(tmp_path, astronaut)
    out = tmp_path / "bench"
    labels, summary = build_benchmark(src, out, BuildConfig(per_source=3, ladder="gaussian_blur", max_per_identity=3, seed=3), progress=False)
    assert summary.sources_used == 8 and summary.no_face == 1
    assert len(labels) == 8 * 4 and set(labels.columns) >= {"image", "mos", "split", "identity", "source", "degradation", "level", "params"}
    per_id = labels.groupby("identity")["split"].nunique()
    assert (per_id == 1).all()  # no person in two splits
    clean_rows = labels[labels.degradation == "clean"]
    assert (clean_rows.fr_mos == 1.0).all() and labels.mos.between(0, 1).all()
    # absolute term: every copy of a source is scaled by that clean crop's factor, 1 - 0.5 (1 - sharpness)
    assert np.allclose(clean_rows.mos, clean_rows.source_factor) and np.allclose(
        labels.source_factor, 1 - 0.5 * (1 - labels.source_sharpness), atol=1e-4)
    assert np.allclose(labels.mos, labels.fr_mos * labels.source_factor, atol=2e-5)
    # JPEG block edges: the full-reference mean times the blocking fidelity, below 1 only where a JPEG ran
    three = (labels.ms_ssim.clip(0, 1) + (1 - labels.gmsd / 0.35).clip(0, 1) + labels.detail) / 3
    assert np.allclose(labels.fr_mos, three * labels.blocking, atol=2e-5)
    jpeg = labels.degradation.str.contains("jpeg")
    assert labels.loc[~jpeg, "blocking"].median() == 1.0 and labels.loc[~jpeg, "blocking"].min() > 0.7  # flat patches
    assert labels.blocking.between(0, 1).all()
    deg = labels[labels.degradation != "clean"]
    assert all(json.loads(p)[0]["type"] in d for p, d in zip(deg.params, deg.degradation))
    first = Image.open(out / labels.image.iloc[0])
    assert first.size == (512, 512)
    ladder = pd.read_csv(out / "ladder.csv")
    for _, g in ladder.groupby("source"):
        g = g.sort_values("level")
        assert list(g.level) == [0, 1, 2, 3, 4, 5] and g.mos.is_monotonic_decreasing
    # the scoring CLI accepts the built images as aligned crops
    scores = tmp_path / "s.csv"
    assert main(["score", str(out / "images"), "--aligned", "--out", str(scores), "-q"]) == 0
    s = pd.read_csv(scores)
    assert (s.status == "ok").all() and len(s) == len(list((out / "images").iterdir()))
    # and the statistics accept the labels table
    stats_out = tmp_path / "stats.parquet"
    assert main(["data", "stats", str(out / "labels.csv"), "--aligned", "--out", str(stats_out), "-q"]) == 0
    st = pd.read_parquet(stats_out)
    assert len(st) == len(labels) and st.brightness.notna().all() and set(st.gender) <= {"male", "female", "unknown"}
    assert st.identity_group.nunique() <= 8
    # rerun reuses images and gives the same labels
    again, _ = build_benchmark(src, out, BuildConfig(per_source=3, ladder="gaussian_blur", max_per_identity=3, seed=3), progress=False)
    pd.testing.assert_frame_equal(again, labels)
    with pytest.raises(FaceIQAError, match="unknown ladder"):
        build_benchmark(src, out, BuildConfig(ladder="sepia"), progress=False)


def test_type_weights_change_the_mix_and_keep_unweighted_draws(tmp_path, capsys):
    from core.data.degrade import TYPES

    seeds = range(3000)
    plain = [str(np.random.default_rng(s).choice(list(TYPES))) for s in seeds]
    assert [draw_type(np.random.default_rng(s), TYPES) for s in seeds] == plain  # old builds keep their images
    p = type_probabilities(TYPES, {"jpeg": 3, "webp": 2})
    assert p.sum() == pytest.approx(1) and p[TYPES.index("jpeg")] == pytest.approx(3 / 18) and p[0] == pytest.approx(1 / 18)
    drawn = pd.Series([draw_type(np.random.default_rng(s), TYPES, {"jpeg": 3, "webp": 2}) for s in seeds])
    share = drawn.value_counts(normalize=True)
    assert share["jpeg"] == pytest.approx(3 / 18, abs=0.02) and share["webp"] == pytest.approx(2 / 18, abs=0.02)
    assert share["gaussian_blur"] == pytest.approx(1 / 18, abs=0.015)
    only = {draw_type(np.random.default_rng(s), TYPES, {t: 0 for t in TYPES if t != "resize"}) for s in range(50)}
    assert only == {"resize"}
    for bad, msg in (({"sepia": 2}, "unknown degradation types"), ({"jpeg": -1}, ">= 0"), ({t: 0 for t in TYPES}, "not all 0")):
        with pytest.raises(FaceIQAError, match=msg):
            build_benchmark(tmp_path / "none", tmp_path / "out", BuildConfig(type_weights=bad), progress=False)
    assert not (tmp_path / "out").exists()  # refused before any work
    for text in ("jpeg", "jpeg=x", "=3"):
        assert main(["data", "build", str(tmp_path), "--out", str(tmp_path / "o"), "--type-weights", text, "-q"]) != 0
        assert "type=weight pairs" in capsys.readouterr().err


def test_gender_estimator_roundtrip_and_unknown(tmp_path):
    rng = np.random.default_rng(0)
    centre = rng.normal(0, 0.1, 128)
    x = np.concatenate([centre + rng.normal(0, 0.05, (200, 128)) + 0.1, centre + rng.normal(0, 0.05, (200, 128)) - 0.1])
    y = np.array(["female"] * 200 + ["male"] * 200)
    est, report = train_gender_estimator(x, y, groups=np.array(["a", "b"] * 200))
    assert report.set_index("group").loc["overall", "accuracy"] > 0.95
    path = est.save(tmp_path / "g.safetensors")
    back = GenderEstimator.load(path)
    np.testing.assert_allclose(back.proba_female(x[:5]), est.proba_female(x[:5]), atol=1e-5)
    labels, conf = back.predict(np.stack([centre + 0.1, centre]))  # the midpoint is ambiguous
    assert labels[0] == "female" and labels[1] == "unknown"
    with pytest.raises(CheckpointError):
        GenderEstimator.load(tmp_path / "missing.safetensors")


def test_shipped_gender_card_reports_held_out_accuracy():
    card = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    groups = {r["group"]: r for r in card["held_out"]}
    assert set(groups) == {"overall", "White", "Black", "Asian", "Indian", "Others"}
    assert groups["overall"]["accuracy"] > 0.8 and card["n_test"] > 1000
    assert parse_utkface_name("25_1_3_20170104.jpg.chip.jpg") == {"age": 25, "gender": "female", "race": "Indian"}


@pytest.mark.data
@pytest.mark.slow
def test_data_build_on_shared_lfw(shared_data, tmp_path):
    out = tmp_path / "lfw_bench"
    assert main(["data", "build", str(shared_data / "lfw" / "images"), "--out", str(out), "--max-sources", "6",
                 "--per-source", "2", "-q"]) == 0
    labels = pd.read_csv(out / "labels.csv")
    assert len(labels) == 6 * 3 and (labels.groupby("identity").split.nunique() == 1).all()
    from core.data.datasets import load_table

    ds = load_table(out / "labels.csv")
    assert len(ds) == 18 and ds.report.missing_files == 0


@pytest.mark.data
@pytest.mark.slow
def test_utkface_ita_order_and_gender_on_held_out_sample(shared_data, tmp_path):
    """ITA of UTKFace's race labels differ in the expected direction (Black darkest)."""
    from core.analysis.embed import analyse_images

    files = sorted((shared_data / "utkface" / "images").glob("*.jpg"))
    rng = np.random.default_rng(1)
    pick = [files[i] for i in rng.choice(len(files), 240, replace=False)]
    df = analyse_images(pick, tmp_path / "cache", progress=False)
    df = pd.concat([df, pd.DataFrame([parse_utkface_name(p) for p in df.path])], axis=1)
    med = df.groupby("race").ita.median()
    assert med["Black"] < med["Indian"] < med["White"]
    assert med["Black"] < med["Asian"] and med["Black"] < 25


@pytest.mark.data
def test_black_and_white_utkface_photos_have_no_skin_tone_and_old_caches_are_redone(shared_data, tmp_path):
    """76 of UTKFace's 6,044 crops are black-and-white (45 of them labelled Black / Asian / Indian / Others); ITA read
    every one as a tone ("very light" for most). They are 'unknown' now, and a cache written before that fix is
    analysed again (one row per path, the new one) instead of keeping the old tone."""
    from core.analysis.embed import ANALYSIS_VERSION, analyse_images
    from core.analysis.evaluate import is_greyscale
    from core.io import load_image

    names = ["5_0_3_20161220220253921.jpg.chip.jpg", "71_1_2_20170105174339014.jpg.chip.jpg", "28_0_4_20170105183852672.jpg.chip.jpg"]
    grey = [shared_data / "utkface" / "images" / n for n in names]
    grey = [p for p in grey if p.is_file()]
    if not grey:
        pytest.skip("those UTKFace crops are not in this copy of the data")
    assert all(is_greyscale(load_image(p)) for p in grey)
    colour = sorted((shared_data / "utkface" / "images").glob("1_1_2_*.jpg"))[:2]
    cache = tmp_path / "cache"
    cache.mkdir()
    old = pd.DataFrame({"path": [str(p) for p in grey], "status": "ok", "skin_tone": "Light", "ita_class": "very light"})
    old.to_parquet(cache / "part-00000.parquet", index=False)  # as the analysis before the fix left it
    df = analyse_images([*grey, *colour], cache, progress=False).set_index("path")
    assert len(df) == len(grey) + len(colour) and df.index.is_unique
    assert (df.analysis_version == ANALYSIS_VERSION).all()
    assert (df.loc[[str(p) for p in grey], "skin_tone"] == "unknown").all()
    assert (df.loc[[str(p) for p in colour], "skin_tone"] != "unknown").all()
    again = analyse_images([*grey, *colour], cache, progress=False)  # now current: nothing analysed twice
    assert len(again) == len(df) and len(list(cache.glob("part-*.parquet"))) == 2


def test_photo_stage_degrades_the_source_before_alignment(tmp_path, astronaut):
    from core.data.degrade import degrade
    from core.faces import FaceDetector, align_gfiqa
    from core.io import load_image

    src = _photo_folder(tmp_path, astronaut)
    photo, _ = build_benchmark(src, tmp_path / "p", BuildConfig(per_source=2, compose_prob=0.0, photo_prob=1.0, max_sources=3, seed=4),
                               progress=False)
    crop, _ = build_benchmark(src, tmp_path / "c", BuildConfig(per_source=2, compose_prob=0.0, photo_prob=0.0, max_sources=3, seed=4),
                              progress=False)
    assert set(photo.stage) == {"clean", "photo"} and set(crop.stage) == {"clean", "crop"}
    assert list(photo.degradation) == list(crop.degradation)  # same draws, only the stage differs
    row = photo[photo.stage == "photo"].iloc[0]
    rec = json.loads(row.params)[0]
    rgb = load_image(row.source)
    face = FaceDetector().detect(rgb)[0]
    expected = align_gfiqa(degrade(rgb, rec["type"], rec["level"], seed=rec["seed"])[0], face, 512).image
    np.testing.assert_array_equal(load_image(tmp_path / "p" / row.image), expected)
    twin = crop.loc[row.name]  # the same draw made on the aligned crop: a different image, a different label
    assert twin.degradation == row.degradation and "P_" in row.image and "P_" not in twin.image
    assert not np.array_equal(load_image(tmp_path / "c" / twin.image), expected)


def test_several_source_folders_with_their_own_caps(tmp_path, astronaut, capsys):
    import cv2

    lfw_like = _photo_folder(tmp_path, astronaut)  # identity folders
    flat = tmp_path / "flat" / "images"  # UTKFace-like: one file per identity; softer photos
    flat.mkdir(parents=True)
    for k in range(4):
        Image.fromarray(cv2.GaussianBlur(astronaut, (0, 0), 1.0 + k)).save(flat / f"face{k}.jpg", quality=95)
    cfg = BuildConfig(per_source=1, max_sources=(3, 2), max_per_identity=1, size=128, seed=2)
    labels, summary = build_benchmark([lfw_like, flat], tmp_path / "b", cfg, progress=False)
    clean = labels[labels.degradation == "clean"]
    assert summary.sources_used == 5 and clean.origin.value_counts().to_dict() == {"photos": 3, "flat": 2}
    assert set(clean[clean.origin == "flat"].identity) <= {f"face{k}" for k in range(4)}
    # the softer flat-folder sources get a lower absolute factor than the sharp astronaut photos
    assert clean[clean.origin == "flat"].source_factor.max() < clean[clean.origin == "photos"].source_factor.min()
    with pytest.raises(FaceIQAError, match="2 caps for 1 source"):
        build_benchmark(lfw_like, tmp_path / "x", BuildConfig(max_sources=(3, 2)), progress=False)
    with pytest.raises(FaceIQAError, match="source_weight"):
        build_benchmark(lfw_like, tmp_path / "x", BuildConfig(source_weight=1.5), progress=False)
    assert main(["data", "build", str(lfw_like), str(flat), "--out", str(tmp_path / "y"), "--max-sources", "1,2,3", "-q"]) == 1
    assert "3 caps for 2 source folders" in capsys.readouterr().err and not (tmp_path / "y").exists()
