"""IQA agreement metrics: SRCC, KRCC, PLCC (raw and after the 4-parameter logistic), RMSE.

The logistic is the one used across IQA (VQEG): ``f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2``,
fitted by least squares from a data-driven start; PLCC/RMSE "fitted" compare the MOS with
``f(prediction)``.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from scipy import optimize, special, stats


def _pair(pred, mos) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, np.float64).ravel()
    m = np.asarray(mos, np.float64).ravel()
    if p.shape != m.shape:
        raise ValueError(f"prediction and MOS differ in length: {p.size} vs {m.size}")
    if p.size < 3:
        raise ValueError(f"need at least 3 pairs, got {p.size}")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(m))):
        raise ValueError("prediction and MOS must be finite")
    return p, m


def srcc(pred, mos) -> float:
    """Spearman rank-order correlation."""
    p, m = _pair(pred, mos)
    return float(stats.spearmanr(p, m).statistic)


def krcc(pred, mos) -> float:
    """Kendall rank correlation (tau-b)."""
    p, m = _pair(pred, mos)
    return float(stats.kendalltau(p, m).statistic)


def plcc(pred, mos) -> float:
    """Pearson linear correlation on raw predictions."""
    p, m = _pair(pred, mos)
    return float(stats.pearsonr(p, m).statistic)


def rmse(pred, mos) -> float:
    """Root mean squared error on raw predictions."""
    p, m = _pair(pred, mos)
    return float(np.sqrt(np.mean((p - m) ** 2)))


def logistic4(x, b1, b2, b3, b4):
    """4-parameter logistic used for IQA nonlinear regression."""
    return (b1 - b2) * special.expit((np.asarray(x) - b3) / abs(b4)) + b2  # expit: no exp overflow far from b3


def _logistic4_jac(x, b1, b2, b3, b4):
    # analytic Jacobian: finite differences stall when a parameter starts at ~0
    s = special.expit((np.asarray(x) - b3) / abs(b4))
    ds = s * (1.0 - s)
    return np.stack([s, 1.0 - s, -(b1 - b2) * ds / abs(b4), -(b1 - b2) * ds * (np.asarray(x) - b3) * np.sign(b4) / b4**2], axis=1)


def fit_logistic4(pred, mos) -> np.ndarray:
    """Least-squares parameters ``(b1, b2, b3, b4)`` mapping predictions onto MOS."""
    p, m = _pair(pred, mos)
    start = [m.max(), m.min(), float(np.mean(p)), float(np.std(p)) or 1.0]
    if stats.pearsonr(p, m).statistic < 0:  # decreasing relation: swap asymptotes
        start[0], start[1] = start[1], start[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            params, _ = optimize.curve_fit(logistic4, p, m, p0=start, jac=_logistic4_jac, maxfev=20000)
        except RuntimeError:  # no convergence: keep the start (a monotone map)
            params = np.asarray(start)
    return np.asarray(params, np.float64)


class Scores(NamedTuple):
    srcc: float
    krcc: float
    plcc: float
    rmse: float
    plcc_fitted: float
    rmse_fitted: float


def evaluate(pred, mos) -> Scores:
    """All metrics at once (``*_fitted`` after the 4-parameter logistic)."""
    p, m = _pair(pred, mos)
    fitted = logistic4(p, *fit_logistic4(p, m))
    return Scores(srcc(p, m), krcc(p, m), plcc(p, m), rmse(p, m), plcc(fitted, m), rmse(fitted, m))
