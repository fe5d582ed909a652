"""Late-return model on planted customer propensities."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.late_returns import LateReturnModel, score_late_returns

PLAN = dt.date(2026, 10, 5)


def planted(seed: int = 0, n_cust: int = 400, per: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    propensity = rng.beta(1.0, 3.0, n_cust)
    cust = np.repeat(np.arange(n_cust), per)
    due = rng.integers(-300, 0, len(cust))
    late = rng.uniform(0, 1, len(cust)) < propensity[cust]
    delay = np.where(late, rng.geometric(0.4, len(cust)), 0)
    rentals = pd.DataFrame(
        {
            "rental_id": [f"R{i}" for i in range(len(cust))],
            "customer_id": [f"C{c}" for c in cust],
            "zone": "Z0",
            "rental_days": 4,
            "due_back": pd.Timestamp(PLAN) + pd.to_timedelta(due, unit="D"),
            "delay_days": pd.array(delay, dtype="Int64"),
        }
    )
    customers = pd.DataFrame({"customer_id": [f"C{c}" for c in range(n_cust)], "zone": "Z0"})
    return rentals, customers


def test_pmf_rows_sum_to_one_and_late_customers_score() -> None:
    rentals, customers = planted()
    train = rentals.groupby("customer_id").head(10)
    test = rentals.drop(train.index)
    m = LateReturnModel().fit(train, customers, PLAN)
    pmf = m.predict_pmf(test)
    assert pmf.shape == (len(test), 15)
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0)
    assert np.all(pmf >= 0)
    returns = test.assign(returned_on=test["due_back"] + pd.to_timedelta(test["delay_days"].astype(int), unit="D"))
    score = score_late_returns(m, test.drop(columns="delay_days"), returns[["rental_id", "returned_on"]])
    assert score["brier"] < score["base_rate_brier"]
    assert score["auc"] > 0.6
    assert score["n"] == len(test)


def test_no_leakage_a_rental_does_not_inform_its_own_feature() -> None:
    """A customer whose only rental was late: at fit time its feature is the prior, not 'always late'.

    Were the rental's own outcome in its feature, the fitted slope would separate the classes
    perfectly on such one-rental customers and the late probability of a brand-new customer
    would collapse toward 0; with leave-out features it stays near the base rate."""
    rng = np.random.default_rng(1)
    n = 3000
    late = rng.uniform(0, 1, n) < 0.3
    rentals = pd.DataFrame(
        {
            "rental_id": [f"R{i}" for i in range(n)],
            "customer_id": [f"C{i}" for i in range(n)],
            "zone": "Z0",
            "rental_days": 4,
            "due_back": pd.Timestamp(PLAN) - pd.to_timedelta(5, unit="D"),
            "delay_days": pd.array(late.astype(int), dtype="Int64"),
        }
    )
    customers = pd.DataFrame({"customer_id": rentals["customer_id"], "zone": "Z0"})
    m = LateReturnModel().fit(rentals, customers, PLAN)
    fresh = pd.DataFrame({"customer_id": ["new"], "zone": ["Z0"], "rental_days": [4]})
    assert m.predict_late_proba(fresh)[0] == pytest.approx(0.3, abs=0.05)


def test_save_load_round_trip(tmp_path: Path) -> None:
    rentals, customers = planted(seed=2, n_cust=100)
    m = LateReturnModel().fit(rentals, customers, PLAN)
    m.save(tmp_path / "late")
    again = LateReturnModel.load(tmp_path / "late")
    np.testing.assert_allclose(again.predict_pmf(rentals.head(50)), m.predict_pmf(rentals.head(50)))
