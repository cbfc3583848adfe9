"""Rating store, MOS aggregation, test-retest, JOD scaling and the committed rated set."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.api import category
from core.data.ratings import RatingError, RatingStore, jod_scale, mos_table, parse_answers, rating_to_mos, split_items
from core.data.ratings import test_retest as retest

RATED = Path(__file__).resolve().parents[1] / "ratings" / "real-faces"


def test_rating_bins_match_categories():
    assert [category(m) for m in rating_to_mos([1, 2, 3, 4, 5])] == ["Bad", "Poor", "Fair", "Good", "Excellent"]


def test_store_latest_per_key_and_torn_tail(tmp_path):
    s = RatingStore(tmp_path)
    s.add([{"rater": "a", "item": "x", "rating": 2}, {"rater": "a", "item": "y", "rating": 4}])
    s.add([{"rater": "a", "item": "x", "rating": 3}])  # re-recorded: replaces, never duplicates
    with open(s.path, "a") as f:
        f.write('{"rater": "a", "item": "z", "rat')  # a write killed mid-line
    df = s.load()
    assert sorted(df["item"]) == ["x", "y"] and df.set_index("item").loc["x", "rating"] == 3
    s.add([{"rater": "b", "item": "x", "rating": 5}])  # the torn tail is repaired before appending
    assert all(json.loads(line) for line in s.path.read_text().splitlines())
    m = mos_table(s.load()).set_index("item")
    assert m.loc["x", "n"] == 2 and m.loc["x", "mos"] == pytest.approx(rating_to_mos(4.0))
    assert m.loc["x", "ci95"] > 0 and np.isnan(m.loc["y", "ci95"])


@pytest.mark.parametrize("bad", [0, 6, 3.3])
def test_store_refuses_out_of_range(tmp_path, bad):
    with pytest.raises(RatingError):
        RatingStore(tmp_path).add([{"rater": "a", "item": "x", "rating": bad}])


def test_parse_answers():
    assert parse_answers("4 3.5 2", 3) == [4.0, 3.5, 2.0]
    assert parse_answers("2:1 1:5", 2) == [5.0, 1.0]
    with pytest.raises(RatingError):
        parse_answers("4 3", 3)


def test_test_retest_and_jod():
    r = pd.DataFrame({"rater": "a", "item": list("abcd") * 2, "rating": [1, 2, 3, 4, 1.5, 2, 3, 4.5],
                      "pass": [1] * 4 + [2] * 4})
    rr = retest(r)
    assert rr["n"] == 4 and rr["srcc"] == pytest.approx(1.0) and rr["mad"] == pytest.approx(0.25)
    rng = np.random.default_rng(0)
    true = {"a": 0.0, "b": 1.0, "c": 2.0}
    rows = []
    for _ in range(600):
        i, o = rng.choice(list(true), 2, replace=False)
        p = 1 / (1 + np.exp(-(true[i] - true[o]) * 1.6))  # ~75 % for 1 JOD apart
        rows.append({"item": i, "other": o, "winner": i if rng.random() < p else o})
    q = jod_scale(pd.DataFrame(rows))
    assert q["a"] < q["b"] < q["c"] and 0.7 < q["c"] - q["b"] < 1.3


def test_split_is_identity_disjoint_and_keeps_real_faces_in_test():
    items = pd.DataFrame({"identity": [f"p{i // 2}" for i in range(200)] + [f"r{i}" for i in range(52)],
                          "dataset": ["lfw"] * 200 + ["real-x"] * 52})
    s = split_items(items)
    assert items.assign(s=s).groupby("identity")["s"].nunique().max() == 1
    assert (s[items["dataset"] == "real-x"] == "test").sum() >= 26


def test_committed_rated_set():
    items = pd.read_csv(RATED / "items.csv")
    ratings = RatingStore(RATED).load()
    assert len(items) >= 300 and set(ratings["item"]) <= set(items["item"])
    assert ratings.loc[ratings["pass"] == 1, "item"].nunique() == len(items)
    assert retest(ratings)["n"] >= 60
    real = items["dataset"].str.startswith("real")
    assert real.sum() == 52 and (items.loc[real, "split"] == "test").sum() >= 26
