"""The dataset explorer page: charts and tables come from the dataset's own statistics."""
import plotly.io
import pytest
from conftest import REPO, plotly_values


@pytest.fixture
def stats(sample_stats):
    return sample_stats


def test_explore_helpers_follow_the_data(stats):
    from studio.views import DSL_TABLE1, balance_table, filter_stats, load_stats, mos_histogram, stat_histograms

    df = load_stats(stats)
    assert len(df) == 6 and {"brightness", "sharpness", "contrast", "skin_tone", "gender", "category"} <= set(df.columns)
    fig = mos_histogram(df)
    assert sum(len(t.x) for t in fig.data) == 6
    assert [t.name for t in stat_histograms(df).data] == ["brightness", "sharpness", "contrast"]
    bal = balance_table(df, "gender")
    ours = bal[bal.dataset == "this dataset"].set_index("class").share
    assert ours["female"] == pytest.approx(80.0) and ours["male"] == pytest.approx(20.0)  # 4 of 5 known
    cg = bal[(bal.dataset == "CGFIQA-40k") & (bal["class"] == "female")].share.iloc[0]
    assert cg == DSL_TABLE1.set_index("dataset").loc["CGFIQA-40k", "female"] == 48.5
    assert len(filter_stats(df, (0.3, 1.0))) == 4
    assert len(filter_stats(df, None, split=["test"])) == 3


def test_explorer_page_renders_the_dataset(stats):
    from streamlit.testing.v1 import AppTest

    from studio.views import load_stats

    df = load_stats(stats)
    at = AppTest.from_file(str(REPO / "pages" / "3_Explorer.py"), default_timeout=120)
    at.run()
    assert not at.exception and "no such statistics table" in at.info[0].value
    at.text_input[0].input(str(stats)).run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["images"] == "6 / 6" and metrics["mean MOS"] == f"{df.mos.mean():.3f}"
    charts = at.get("plotly_chart")
    figs = [plotly.io.from_json(c.proto.spec) for c in charts]
    titles = [f.layout.title.text for f in figs]
    assert "MOS of 6 images" in titles and any(t.startswith("gender (%)") for t in titles)
    gender = next(f for f in figs if f.layout.title.text.startswith("gender"))
    ours = next(t for t in gender.data if t.name == "this dataset")
    assert dict(zip(ours.x, plotly_values(ours.y))) == {"male": 20.0, "female": 80.0}
    # a sidebar filter narrows every view
    split = next(m for m in at.sidebar.multiselect if m.label == "split")
    split.set_value(["test"]).run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["images"] == "3 / 6"
