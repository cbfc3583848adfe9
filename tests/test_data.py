import json
import random

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.data.datasets import (
    CGFIQA_SPLIT_SIZES,
    DatasetFormatError,
    gfiqa_splits,
    load_cgfiqa,
    load_dataset,
    load_folder,
    load_gfiqa,
    load_piq23,
    load_table,
)


def _img(path, value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), (value, value, value)).save(path)


def test_gfiqa_20k_protocol_sizes_and_seed(tmp_path):
    n = 20000
    names = [f"{i:05d}.jpg" for i in range(n)]
    pd.DataFrame({"img_name": names, "mos": np.linspace(0.005, 0.941, n)}).to_csv(tmp_path / "mos_val_rating.csv", index=False)
    ds = load_gfiqa(tmp_path, check_files=False)
    assert ds.split_sizes() == {"train": 14000, "val": 2000, "test": 4000}
    assert ds.mos_scale == (0.0, 1.0) and ds.table.mos.max() == pytest.approx(0.941)
    # same algorithm as pyiqa's script: Python random, seed 123, cumulative in-place shuffles
    rng = random.Random(123)
    idx = list(range(n))
    rng.shuffle(idx)
    first = set(idx[:14000])
    assert set(ds.table.index[ds.table.split == "train"]) == first
    s2 = load_gfiqa(tmp_path, split_index=2, check_files=False)
    assert set(s2.table.index[s2.table.split == "train"]) != first
    splits = gfiqa_splits(n)
    assert len(splits) == 10 and all(sorted(v["train"] + v["val"] + v["test"]) == list(range(n)) for v in splits.values())


def test_gfiqa_reports_missing_and_bad_rows(tmp_path):
    for i in range(4):
        _img(tmp_path / "image" / f"{i}.jpg")
    pd.DataFrame({"img_name": ["0.jpg", "1.jpg", "2.jpg", "3.jpg", "4.jpg", "5.jpg", "1.jpg"],
                  "mos": [0.1, 0.5, "x", 0.7, 0.2, 0.3, 0.5]}).to_csv(tmp_path / "mos_val_rating.csv", index=False)
    ds = load_gfiqa(tmp_path)
    assert ds.report.bad_rows == 2  # non-numeric MOS + duplicate name
    assert ds.report.missing_files == 2 and "image/4.jpg" in ds.report.missing_examples
    assert len(ds) == 3 and "missing files" in str(ds.report)
    assert ds.image(0).shape == (16, 16, 3)
    kept = load_gfiqa(tmp_path, drop_missing=False)
    assert len(kept) == 5 and kept.table.exists.sum() == 3
    with pytest.raises(DatasetFormatError, match="mos_val_rating.csv"):
        load_gfiqa(tmp_path / "image")


def test_cgfiqa_dsl_layout_official_sizes(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in CGFIQA_SPLIT_SIZES.items():
        (tmp_path / split).mkdir()
        names = [f"{split}_{i}.png" for i in range(n)]
        (tmp_path / split / "label.json").write_text(json.dumps({"Image": names, "MOS": rng.random(n).tolist()}))
    ds = load_cgfiqa(tmp_path, check_files=False)
    assert ds.split_sizes() == {"train": 27518, "val": 3931, "test": 7863} and len(ds) == 39312
    assert ds.mos_scale == (0.0, 1.0)


def test_cgfiqa_files_landmarks_and_pyiqa_csv(tmp_path):
    for split in ("train", "val", "test"):
        _img(tmp_path / split / "img" / "a.png")
        (tmp_path / split / "landmark").mkdir()
        np.save(tmp_path / split / "landmark" / "a.npy", np.zeros((68, 2)))
        (tmp_path / split / "label.json").write_text(json.dumps({"Image": ["a.png", "b.png"], "MOS": [3.5, 4.5]}))
    ds = load_cgfiqa(tmp_path)
    assert len(ds) == 3 and ds.report.missing_files == 3
    assert ds.mos_scale == (1.0, 5.0) and ds.table.mos.iloc[0] == pytest.approx(0.625)
    assert ds.table.landmarks.notna().all()
    meta = tmp_path / "meta_info_CGFIQADataset.csv"
    pd.DataFrame({"img_path": ["train/img/a.png", "test/img/a.png"], "score": [0.2, 0.8], "official_split": ["train", "test"]}).to_csv(meta, index=False)
    ds2 = load_cgfiqa(tmp_path, meta_csv=str(meta))
    assert ds2.split_sizes() == {"train": 1, "test": 1}
    (tmp_path / "train" / "label.json").write_text('{"Image": ["a.png"]}')
    with pytest.raises(DatasetFormatError, match="label.json"):
        load_cgfiqa(tmp_path)


def test_piq23_backslash_paths_jod_and_splits(tmp_path):
    _img(tmp_path / "Overall" / "66_Indoor_Scene_0.jpg")
    _img(tmp_path / "Overall" / "67_Night_Scene_1.JPG")
    cols = "IMAGE PATH,JOD,JOD STD,CI LOW,CI HIGH,CI RANGE,QUALITY LEVEL,CLUSTER,TOTAL COMPARISONS,IMAGE,SCENE,ATTRIBUTE,SCENE IDX,CONDITION"
    rows = ["Overall\\66_Indoor_Scene_0.jpg,-1.5,0.3,0,0,0,1,1,10,66_Indoor_Scene_0.jpg,Indoor_Scene_0,Overall,0,Indoor",
            "Overall\\67_Night_Scene_1.JPG,2.5,0.2,0,0,0,1,1,10,67_Night_Scene_1.JPG,Night_Scene_1,Overall,1,Night"]
    (tmp_path / "Scores_Overall.csv").write_text(cols + "\n" + "\n".join(rows) + "\n")
    (tmp_path / "Test split").mkdir()
    (tmp_path / "Test split" / "Device Split.csv").write_text("IMAGE,SPLIT\n66_Indoor_Scene_0.jpg,Train\n67_Night_Scene_1.JPG,Test\n")
    ds = load_piq23(tmp_path)
    assert list(ds.table.split) == ["train", "test"] and ds.report.missing_files == 0
    assert list(ds.table.mos) == [0.0, 1.0] and ds.mos_scale == (-1.5, 2.5)
    assert list(ds.table.condition) == ["Indoor", "Night"] and ds.table.image.iloc[0].endswith("Overall/66_Indoor_Scene_0.jpg")
    with pytest.raises(DatasetFormatError, match="Scene Split"):
        load_piq23(tmp_path, split="scene")


def test_generic_table_folder_and_dispatch(tmp_path):
    _img(tmp_path / "x" / "a.png")
    _img(tmp_path / "x" / "b.png")
    t = tmp_path / "t.parquet"
    pd.DataFrame({"path": ["x/a.png", "x/b.png"], "mos": [20, 80], "identity": ["p1", "p2"], "gender": ["f", "m"]}).to_parquet(t)
    ds = load_table(t, mos_scale=(0, 100))
    assert list(ds.table.mos) == [0.2, 0.8] and list(ds.table.identity) == ["p1", "p2"] and set(ds.table.split) == {"all"}
    assert len(load_dataset(tmp_path / "x")) == 2 and load_folder(tmp_path / "x").table.mos.isna().all()
    with pytest.raises(ValueError, match="root="):
        load_dataset("gfiqa-20k")
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"foo": [1]}).to_csv(bad)
    with pytest.raises(DatasetFormatError, match="image column"):
        load_table(bad)
