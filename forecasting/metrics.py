"""Forecast scores: WAPE for counts, Brier and AUC for probabilities."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

__all__ = ["auc", "base_rate_brier", "brier", "wape"]


def wape(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Weighted absolute percentage error: sum|a - p| / sum|a| (nan when sum|a| is 0)."""
    a = np.asarray(actual, dtype=float)
    p = np.asarray(predicted, dtype=float)
    denom = np.abs(a).sum()
    return float(np.abs(a - p).sum() / denom) if denom > 0 else float("nan")


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
