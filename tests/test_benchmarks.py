"""Product benchmarks' helpers: the comparison report's sections (benchmarks/comparison.py) and the aged-photo check."""
import numpy as np
import pytest
from conftest import REPO  # noqa: F401


def test_repeated_runs_section_tests_every_pair_of_models(tmp_path):
    """docs/comparison.md's GFIQA VI-C section: Welch's t between every two models with >= 2 runs, medians skipped."""
    import pandas as pd
    from scipy.stats import ttest_ind

    from benchmarks.comparison import seeds_md, welch_tests
    a, b, c = [0.78, 0.79, 0.74], [0.67, 0.63, 0.68], [0.40, 0.49, 0.45]
    rows = [{"model": m, "seed": i, "srcc": v, "plcc": v, "rmse": 0.1} for m, vs in (("a", a), ("b", b), ("c", c), ("d", [0.5]))
            for i, v in enumerate(vs)] + [{"model": "a", "seed": "median", "srcc": 0.78, "plcc": 0.78, "rmse": 0.1}]
    t = welch_tests(pd.DataFrame(rows))
    assert list(zip(t["model A"], t["model B"])) == [("a", "b"), ("a", "c"), ("b", "c")]  # "d" has one run: no test
    assert t["Welch t"].iloc[1] == pytest.approx(ttest_ind(a, c, equal_var=False).statistic)
    assert t["median SRCC B"].iloc[2] == pytest.approx(0.45) and t["runs"].iloc[0] == "3 / 3"
    pd.DataFrame(rows).to_csv(tmp_path / "seeds.csv", index=False)
    md = seeds_md(tmp_path)
    assert "| a | b | 3 / 3 |" in md and "nan" not in md
    assert seeds_md(tmp_path / "none") == ""


def test_old_print_training_section_reads_its_tables(tmp_path):
    """docs/comparison.md's section on training with `old_print`: both builds per model and the per-type SRCC pivot."""
    import pandas as pd

    from benchmarks.comparison import old_print_training_md
    assert old_print_training_md(tmp_path) == ""  # never run: no section
    pd.DataFrame([{"model": "m", "build": b, "heldout_srcc": v, "real_below_clean": k} for b, v, k in (("default", 0.68, 2), ("old_print", 0.59, 5))]
                 ).to_csv(tmp_path / "old_print_training.csv", index=False)
    pd.DataFrame([{"model": "m", "build": b, "degradation": t, "n": 20, "srcc": v}
                  for b, t, v in (("default", "jpeg", 0.3), ("default", "motion_blur", 0.54), ("old_print", "jpeg", 0.35), ("old_print", "motion_blur", 0.1))]
                 ).to_csv(tmp_path / "old_print_training_types.csv", index=False)
    md = old_print_training_md(tmp_path)
    assert "| m | old_print | 0.590 | 5 |" in md
    assert "| motion_blur | 0.540 | 0.100 |" in md and md.index("m default") < md.index("m old_print")


@pytest.mark.data
def test_real_degraded_pairs_match_colour_and_people(shared_data):
    """docs/comparison.md's real pairs: all 7 childhood prints of LFW people are found, a greyscale print is compared
    with greyscale copies of the clean photos (colour alone must not decide a pair), and the summary counts agree."""
    from benchmarks.comparison import REAL_DEGRADED, pairs_summary, real_pairs
    pairs = real_pairs(shared_data, {}, models=["tinyfqnet"], max_clean=3)
    assert pairs.person.tolist() == list(REAL_DEGRADED)
    grey = set(pairs[pairs.greyscale].person)
    assert grey == {"Paris_Hilton", "David_Beckham", "Robert_Downey_Jr", "John_Lennon"}, grey
    assert (pairs.clean_photos <= 3).all() and (pairs.clean_photos >= 1).all()
    one = pairs[pairs.clean_photos == 1]  # one clean photo: it is above the print exactly when the print is below it
    assert len(one) >= 1 and (one.clean_above == one.degraded_below_clean.astype(float)).all()
    s = pairs_summary(pairs).iloc[0]
    assert s.pairs == 7 and s.degraded_below_clean == pairs.degraded_below_clean.sum()


def test_old_print_check_scales_to_the_face_and_tabulates(astronaut):
    """benchmarks/old_print_check.py: six versions per photo with a face (none without), specks sized to the face."""
    import pandas as pd

    from benchmarks.old_print_check import aged_versions, old_print_md
    from core.faces import FaceDetector
    blank = np.full((200, 200, 3), 128, np.uint8)
    (v,) = aged_versions([astronaut, blank], FaceDetector())  # the blank photo has no face: skipped
    assert sorted(v) == [0, 1, 2, 3, 4, 5] and v[0] is astronaut
    err = [np.abs(v[k].astype(float) - astronaut).mean() for k in range(1, 6)]
    assert all(a < b for a, b in zip(err, err[1:])), err
    summary = pd.DataFrame([{"model": "m", "level": lv, "faces": 2, "clean_higher": 0.5, "mean_gap": 0.1 * lv} for lv in range(1, 6)])
    md = old_print_md(summary, pd.DataFrame({"model": ["m", "m"], "face": [0, 1], "srcc": [0.2, 0.6]}))
    assert "| m | 0.500 | 0.100 | 0.500 | 0.300 | 0.500 | 0.500 | 2 | 0.400 |" in md
