"""Beta-binomial cleaning failure rates: shrinkage for small categories, raw rate in the limit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.cleaning import CleaningFailureModel


def frames(counts: dict[str, tuple[int, int]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    skus = pd.DataFrame({"sku_id": list(counts), "category": list(counts)})
    rows = []
    for cat, (n, f) in counts.items():
        rows += [(cat, i < f) for i in range(n)]
    rentals = pd.DataFrame(
        {"sku_id": [r[0] for r in rows], "cleaning_failed": pd.array([r[1] for r in rows], dtype="boolean")}
    )
    return rentals, skus


def test_small_category_shrinks_toward_the_prior_large_keeps_its_rate() -> None:
    rentals, skus = frames({"big_low": (20_000, 200), "big_high": (20_000, 1_000), "small": (10, 5)})
    m = CleaningFailureModel().fit(rentals, skus)
    assert m.rate_by_category_["big_low"] == pytest.approx(0.01, abs=1e-3)
    assert m.rate_by_category_["big_high"] == pytest.approx(0.05, abs=1e-3)
    # 5 of 10 failed, but ten cleanings say little: the estimate stays near the pooled rate.
    assert m.prior_mean_ < m.rate_by_category_["small"] < 0.2
    assert m.predict(["unknown"])[0] == pytest.approx(m.prior_mean_)


def test_missing_outcomes_are_ignored_and_round_trip(tmp_path: Path) -> None:
    rentals, skus = frames({"a": (100, 3), "b": (300, 12)})
    rentals.loc[0, "cleaning_failed"] = pd.NA
    m = CleaningFailureModel().fit(rentals, skus)
    m.save(tmp_path / "m")
    again = CleaningFailureModel.load(tmp_path / "m")
    np.testing.assert_allclose(again.predict(["a", "b", "c"]), m.predict(["a", "b", "c"]))
