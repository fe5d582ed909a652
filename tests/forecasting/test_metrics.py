"""Forecast metrics against hand-computed values and a brute-force AUC oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.metrics import auc, base_rate_brier, brier, wape


def test_wape_by_hand() -> None:
    assert wape([2, 0, 3], [1, 1, 3]) == pytest.approx(2 / 5)
    assert np.isnan(wape([0, 0], [1, 2]))


def test_brier_by_hand() -> None:
    assert brier([1, 0], [0.8, 0.4]) == pytest.approx((0.04 + 0.16) / 2)
    assert base_rate_brier(0.5, [1, 0, 1, 1]) == pytest.approx(0.25)


def pairwise_auc(y: np.ndarray, p: np.ndarray) -> float:
    pos, neg = p[y], p[~y]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=2, max_size=40))
def test_auc_matches_pairwise_oracle(rows: list[tuple[bool, int]]) -> None:
    y = np.array([r[0] for r in rows])
    p = np.array([r[1] for r in rows], dtype=float)  # few distinct values: many ties
    if y.all() or not y.any():
        assert np.isnan(auc(y, p))
    else:
        assert auc(y, p) == pytest.approx(pairwise_auc(y, p))
