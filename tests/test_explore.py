import pandas as pd
import pytest
from conftest import SAMPLES

from core.cli import main
from core.errors import FaceIQAError
from studio.views import load_scores, score_histogram, status_counts, worst_faces


def test_explore_scores_table(tmp_path):
    out = tmp_path / "s.csv"
    assert main(["score", str(SAMPLES), "--out", str(out), "-q"]) == 0
    df = load_scores(out)
    counts = status_counts(df)
    assert counts.to_dict() == {"ok": 5, "no_face": 1, "error": 0}
    fig = score_histogram(df)
    assert sum(len(t.x) for t in fig.data) == 6  # six faces across the category traces
    worst = worst_faces(df, 2)
    assert len(worst) == 2 and worst.score.max() <= df[df.status == "ok"].score.nsmallest(2).max()
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"a": [1]}).to_csv(bad, index=False)
    with pytest.raises(FaceIQAError, match="not a faceiqa scores table"):
        load_scores(bad)
    with pytest.raises(FaceIQAError, match="no such scores file"):
        load_scores(tmp_path / "none.csv")


def test_scores_page_renders(tmp_path):
    from conftest import REPO
    from streamlit.testing.v1 import AppTest

    out = tmp_path / "s.csv"
    assert main(["score", str(SAMPLES), "--out", str(out), "-q"]) == 0
    at = AppTest.from_file(str(REPO / "pages" / "1_Scores.py"), default_timeout=60)
    at.run()
    assert not at.exception
    at.text_input[0].input(str(out)).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"faces scored": "6", "files ok": "5", "no face": "1", "errors": "0"}


def test_fairness_page_builds_from_the_data(tmp_path):
    import numpy as np
    import pandas as pd
    from conftest import REPO
    from streamlit.testing.v1 import AppTest

    from core.analysis.evaluate import subgroup_metrics

    rng = np.random.default_rng(0)
    mos = rng.random(60)
    df = pd.DataFrame({"image": [f"{i}.png" for i in range(60)], "mos": mos,
                       "skin_tone": ["Light", "Medium", "Dark"] * 20, "gender": ["F", "M"] * 30})
    df["prediction"] = np.where(df.skin_tone == "Dark", rng.random(60), mos + rng.normal(0, 0.05, 60))
    path = tmp_path / "preds.csv"
    df.to_csv(path, index=False)
    at = AppTest.from_file(str(REPO / "pages" / "2_Fairness.py"), default_timeout=60)
    at.run()
    assert not at.exception and "no such predictions file" in at.info[0].value
    at.text_input[0].input(str(path)).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    sub = subgroup_metrics(df)
    assert metrics["images"] == "60"
    assert metrics["SRCC gap by skin_tone"] == f"{sub[sub.grouping == 'skin_tone'].gap.iloc[0]:.3f}"
    assert float(metrics["SRCC gap by skin_tone"]) > 0.3  # the scrambled Dark group shows up as a gap
    assert len(at.get("plotly_chart")) == 2
