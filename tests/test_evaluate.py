"""Evaluation helpers against hand-made predictions, and `faceiqa compare` on a real benchmark."""
import numpy as np
import pandas as pd
import pytest

from core.analysis.evaluate import compare_runs, ladder_srcc, metrics_table, subgroup_metrics, to_markdown


def test_metrics_and_subgroups_hand_made():
    mos = np.linspace(0, 1, 20)
    df = pd.DataFrame({"mos": mos, "prediction": mos ** 2, "skin_tone": ["Light"] * 10 + ["Dark"] * 10})
    df.loc[15:, "prediction"] = mos[15:][::-1] ** 2  # the Dark group's top five in reverse
    t = metrics_table({"m": df, "perfect": df.assign(prediction=mos)})
    assert list(t.model) == ["perfect", "m"] and t.SRCC.iloc[0] == pytest.approx(1.0)
    sub = subgroup_metrics(df)
    light = sub[sub.group == "Light"].iloc[0]
    dark = sub[sub.group == "Dark"].iloc[0]
    assert light.SRCC == pytest.approx(1.0) and dark.SRCC == pytest.approx(1 - 6 * (16 + 4 + 0 + 4 + 16) / (10 * 99))
    assert light.gap == pytest.approx(1.0 - dark.SRCC) and set(sub.grouping) == {"skin_tone"}
    md = to_markdown(t)
    assert md.splitlines()[0].startswith("| model | n |") and "1.0000" in md
    gap = to_markdown(pd.DataFrame({"model": ["a"], "srcc": [float("nan")], "n": [3]}), 2)
    assert gap.splitlines()[2] == "| a | - | 3 |"  # undefined numbers print as "-", never "nan"


def test_ladder_srcc():
    rows = []
    for src in ("a", "b"):
        rows.append({"source": src, "degradation": "clean", "level": 0, "prediction": 1.0})
        for lv in (1, 3, 5):
            rows.append({"source": src, "degradation": "blur", "level": lv, "prediction": 1 - lv / 10})
            rows.append({"source": src, "degradation": "noise", "level": lv, "prediction": lv / 10})  # wrong way
    lad = ladder_srcc(pd.DataFrame(rows)).set_index("degradation")
    assert lad.loc["blur", "ladder_SRCC"] == pytest.approx(1.0) and lad.loc["noise", "faces"] == 2
    assert lad.loc["noise", "ladder_SRCC"] == pytest.approx(0.2)  # only the clean face is ranked right


def test_compare_runs_matches_scipy():
    from scipy.stats import ttest_ind

    a, b = [0.80, 0.82, 0.81, 0.83, 0.79], [0.75, 0.77, 0.74, 0.78, 0.76]
    r = compare_runs(a, b)
    assert r.median_a == pytest.approx(0.81) and r.median_b == pytest.approx(0.76)
    assert r.p_value == pytest.approx(ttest_ind(a, b, equal_var=False).pvalue) and r.p_value < 0.01


@pytest.mark.data
@pytest.mark.slow
def test_compare_cli_on_a_real_benchmark(shared_data, tmp_path):
    from core.cli import main
    from core.data.build import BuildConfig, build_benchmark

    bench = tmp_path / "bench"
    labels, _ = build_benchmark(shared_data / "lfw" / "images", bench, BuildConfig(per_source=3, max_sources=12, max_per_identity=1,
                                                                                   size=256, ratios=(0.0, 0.0, 1.0)), progress=False)
    out = tmp_path / "cmp"
    assert main(["compare", "--labels", str(bench / "labels.csv"), "--models", "perceptual-blur", "tinyfqnet", "--out", str(out), "-q"]) == 0
    table = pd.read_csv(out / "comparison.csv")
    assert set(table.model) == {"perceptual-blur", "tinyfqnet"} and (table.n + table.missing == len(labels)).all()
    preds = pd.read_csv(out / "predictions_tinyfqnet.csv")
    assert {"prediction", "error", "mos", "degradation"} <= set(preds.columns) and preds.prediction.between(0, 1).all()
    md = (out / "comparison.md").read_text()
    assert "| model |" in md and "Within-face ladder" in md
    # several datasets: one folder each + a DSL-FIQA Table 2 shaped summary (model x dataset SRCC/PLCC)
    other = tmp_path / "other"
    other.mkdir()
    labels[labels.degradation != "clean"].assign(image=lambda d: [str(bench / p) for p in d.image]).to_csv(other / "labels.csv", index=False)
    both = tmp_path / "both"
    assert main(["compare", "--labels", str(bench / "labels.csv"), str(other / "labels.csv"), "--models", "perceptual-blur", "tinyfqnet",
                 "--split", "", "--out", str(both), "-q"]) == 0
    wide = pd.read_csv(both / "comparison.csv")
    assert list(wide.columns) == ["model", "bench SRCC", "bench PLCC", "other SRCC", "other PLCC"]
    per = pd.read_csv(both / "other" / "comparison.csv").set_index("model")
    assert wide.set_index("model").loc["tinyfqnet", "other SRCC"] == pytest.approx(per.loc["tinyfqnet", "SRCC"])


def test_heldout_photos_are_the_identity_cut_of_the_build(tmp_path):
    """The newcomer photos (heldout_photos) are exactly the held-out 20 % people of core.data.build.identity_cut, the per-folder
    cut of `faceiqa data build --identities train | heldout`."""
    from PIL import Image

    from core.analysis.evaluate import heldout_photos
    from core.data.build import identity_cut

    folder = tmp_path / "portraits"
    folder.mkdir()
    for i in range(20):  # flat folder: one person per file, each a distinct solid colour
        Image.new("RGB", (8, 8), (i * 12, 0, 0)).save(folder / f"p{i:02d}.png")
    cut = identity_cut(folder)
    assert [y for _, y, _ in cut] == [f"p{i:02d}" for i in range(20)]
    held = sorted(int(f.stem[1:]) * 12 for f, _, h in cut if h)
    assert len(held) == 4  # 20 % of 20 people
    assert sorted(int(a[0, 0, 0]) for a in heldout_photos(folder)) == held
    assert len(heldout_photos(folder, 2)) == 2
