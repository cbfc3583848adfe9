import numpy as np
import pytest
from scipy import stats

from core.analysis import metrics


@pytest.fixture
def pairs():
    rng = np.random.default_rng(3)
    mos = rng.random(200)
    pred = np.tanh(3 * (mos - 0.5)) + rng.normal(0, 0.1, 200)
    return pred, mos


def test_against_scipy(pairs):
    pred, mos = pairs
    assert metrics.srcc(pred, mos) == pytest.approx(stats.spearmanr(pred, mos)[0], abs=1e-12)
    assert metrics.krcc(pred, mos) == pytest.approx(stats.kendalltau(pred, mos)[0], abs=1e-12)
    assert metrics.plcc(pred, mos) == pytest.approx(stats.pearsonr(pred, mos)[0], abs=1e-12)
    assert metrics.rmse(pred, mos) == pytest.approx(np.sqrt(np.mean((pred - mos) ** 2)), abs=1e-12)


def test_logistic_fit_recovers_parameters():
    x = np.linspace(-3, 3, 100)
    true = (0.9, 0.1, 0.4, 0.7)
    y = metrics.logistic4(x, *true)
    fit = metrics.fit_logistic4(x, y)
    np.testing.assert_allclose(metrics.logistic4(x, *fit), y, atol=1e-6)
    assert abs(fit[3]) == pytest.approx(0.7, rel=1e-3)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # far from the midpoint: the asymptotes, not an exp overflow warning
        far = metrics.logistic4(np.array([-1e4, 1e4]), 0.9, 0.1, 0.0, 1e-3)
    np.testing.assert_allclose(far, [0.1, 0.9])


def test_fitted_plcc_beats_raw_on_nonlinear(pairs):
    pred, mos = pairs
    s = metrics.evaluate(pred, mos)
    assert s.plcc_fitted >= s.plcc - 1e-9
    assert s.rmse_fitted < s.rmse
    assert 0.8 < s.srcc <= 1.0
    neg = metrics.evaluate(-pred, mos)  # a lower-better predictor still fits (decreasing logistic)
    assert neg.srcc == pytest.approx(-s.srcc)
    assert neg.plcc_fitted == pytest.approx(s.plcc_fitted, abs=1e-3)


def test_input_errors():
    with pytest.raises(ValueError, match="differ in length"):
        metrics.srcc([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 3"):
        metrics.plcc([1, 2], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        metrics.rmse([1, np.nan, 3], [1, 2, 3])
