"""Forecast scores: WAPE, RMSE, MASE, bias and interval coverage for counts; Brier and AUC for probabilities."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

__all__ = ["auc", "base_rate_brier", "bias", "brier", "coverage", "mase", "rmse", "wape"]


def wape(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Weighted absolute percentage error: sum|a - p| / sum|a| (nan when sum|a| is 0)."""
    a = np.asarray(actual, dtype=float)
    p = np.asarray(predicted, dtype=float)
    denom = np.abs(a).sum()
    return float(np.abs(a - p).sum() / denom) if denom > 0 else float("nan")


def rmse(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Root mean squared error over all cells (nan when there are none)."""
    a = np.asarray(actual, dtype=float)
    p = np.asarray(predicted, dtype=float)
    return float(np.sqrt(np.mean((a - p) ** 2))) if len(a) else float("nan")


def bias(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Relative bias: (sum p - sum a) / sum a; +0.1 forecasts 10% too much (nan when sum a is 0)."""
    a = np.asarray(actual, dtype=float)
    p = np.asarray(predicted, dtype=float)
    total = a.sum()
    return float((p.sum() - total) / total) if total != 0 else float("nan")


def mase(actual: ArrayLike, predicted: ArrayLike, scale: ArrayLike) -> float:
    """Mean absolute scaled error: the mean over forecasts of |a - p| / scale.

    ``scale`` is, per forecast, the in-sample mean absolute error of the one-step naive forecast
    on that series' training data (Hyndman & Koehler 2006). Cells whose scale is 0 (a constant
    history) are left out: their error has no yardstick. nan when no cell is left.
    """
    a = np.asarray(actual, dtype=float)
    p = np.asarray(predicted, dtype=float)
    s = np.asarray(scale, dtype=float)
    ok = s > 0
    return float(np.mean(np.abs(a[ok] - p[ok]) / s[ok])) if ok.any() else float("nan")


def coverage(actual: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of actuals inside their interval, bounds included (nan when there are none)."""
    a = np.asarray(actual, dtype=float)
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    return float(np.mean((a >= lo) & (a <= hi))) if len(a) else float("nan")


def brier(y: ArrayLike, p: ArrayLike) -> float:
    """Mean squared error of probabilities p against 0/1 outcomes y."""
    yy = np.asarray(y, dtype=float)
    pp = np.asarray(p, dtype=float)
    return float(np.mean((pp - yy) ** 2)) if len(yy) else float("nan")


def base_rate_brier(train_rate: float, y: ArrayLike) -> float:
    """Brier score of always predicting the training base rate."""
    yy = np.asarray(y, dtype=float)
    return brier(yy, np.full(len(yy), train_rate))


def auc(y: ArrayLike, p: ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half); nan if only one class is present."""
    yy = np.asarray(y, dtype=bool)
    pp = np.asarray(p, dtype=float)
    n_pos, n_neg = int(yy.sum()), int((~yy).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(pp)  # average ranks: ties count half
    return float((ranks[yy].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
