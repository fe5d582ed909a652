"""LateReturnHazard: a proper delay distribution, consistent conditioning, no leakage, save/load.

Planted data: customers with a Beta lateness propensity, geometric delays; a few recent rentals
still out past their due date (censored). Fits are small (a few thousand rentals) to stay fast.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.hazard import HazardSettings, LateReturnHazard, conditional_pmf, pmf_from_hazard
from forecasting.hazard_features import prior_counts, rental_outcomes
from forecasting.metrics import auc, brier

PLAN = dt.date(2026, 10, 5)
FAST = HazardSettings(epochs=15, patience=3)


def planted(seed: int = 0, n_cust: int = 300, per: int = 12) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Rentals (a delay per rental; those due in the last days and late still out), customers, SKUs."""
    rng = np.random.default_rng(seed)
    propensity = rng.beta(1.0, 3.0, n_cust)
    cust = np.repeat(np.arange(n_cust), per)
    due = rng.integers(-300, 0, len(cust))
    late = rng.uniform(0, 1, len(cust)) < propensity[cust]
    delay = np.where(late, rng.geometric(0.4, len(cust)), 0)
    out = due + delay >= 0  # not back by the plan date: outstanding, its delay unknown
    rentals = pd.DataFrame(
        {
            "rental_id": [f"R{i}" for i in range(len(cust))],
            "customer_id": [f"C{c}" for c in cust],
            "sku_id": [f"K{k}" for k in rng.integers(0, 40, len(cust))],
            "zone": np.where(cust % 2 == 0, "Z0", "Z1"),
            "rental_days": np.where(rng.uniform(0, 1, len(cust)) < 0.25, 8, 4),
            "due_back": pd.Timestamp(PLAN) + pd.to_timedelta(due, unit="D"),
            "delay_days": pd.array(np.where(out, pd.NA, delay), dtype="Int64"),
            "_delay": delay,
        }
    )
    customers = pd.DataFrame({"customer_id": [f"C{c}" for c in range(n_cust)], "zone": "Z0"})
    skus = pd.DataFrame({"sku_id": [f"K{k}" for k in range(40)], "category": np.where(np.arange(40) < 20, "a", "b")})
    return rentals, customers, skus


@pytest.fixture(scope="module")
def fitted() -> tuple[LateReturnHazard, pd.DataFrame, pd.DataFrame]:
    rentals, customers, skus = planted()
    train = rentals.groupby("customer_id").head(10)
    test = rentals.drop(train.index)
    return LateReturnHazard(settings=FAST).fit(train, customers, PLAN, skus), train, test


def test_pmf_rows_are_distributions_and_late_customers_score(
    fitted: tuple[LateReturnHazard, pd.DataFrame, pd.DataFrame],
) -> None:
    model, _, test = fitted
    pmf = model.predict_pmf(test)
    assert pmf.shape == (len(test), model.max_delay + 1)
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0, atol=1e-9)
    assert np.all(pmf >= 0)
    y = test["_delay"].to_numpy() > 0
    p = model.predict_late_proba(test)
    assert brier(y, p) < brier(y, np.full(len(y), model.spec_.base_rate))
    assert auc(y, p) > 0.65


def test_the_jobs_frame_predicts_too(fitted: tuple[LateReturnHazard, pd.DataFrame, pd.DataFrame]) -> None:
    """The forecast job passes customer_id, zone and rental_days only, and "" for a unit with no rental."""
    model, _, test = fitted
    frame = test[["customer_id", "zone", "rental_days"]].copy()
    frame.iloc[0, 0] = ""
    pmf = model.predict_pmf(frame)
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0, atol=1e-9)
    full = model.predict_late_proba(test)
    bare = 1 - pmf[:, 0]
    # Without the due date and SKU the prediction moves, but stays a sensible probability near the full one.
    assert abs(float(np.mean(bare)) - float(np.mean(full))) < 0.05


def test_save_load_gives_identical_predictions(
    fitted: tuple[LateReturnHazard, pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    model, _, test = fitted
    model.save(tmp_path / "m")
    loaded = LateReturnHazard.load(tmp_path / "m")
    np.testing.assert_array_equal(model.predict_pmf(test), loaded.predict_pmf(test))
    bare = test[["customer_id", "zone", "rental_days"]]
    np.testing.assert_array_equal(model.predict_pmf(bare), loaded.predict_pmf(bare))
    assert not list((tmp_path / "m").glob("*.pkl"))


def test_fit_is_deterministic_on_cpu() -> None:
    rentals, customers, skus = planted(seed=3, n_cust=80)
    a = LateReturnHazard(seed=5, settings=FAST).fit(rentals, customers, PLAN, skus)
    b = LateReturnHazard(seed=5, settings=FAST).fit(rentals, customers, PLAN, skus)
    for k, v in a.state_.items():
        np.testing.assert_array_equal(v, b.state_[k])


def test_outstanding_past_due_is_censored_not_dropped() -> None:
    rentals = pd.DataFrame(
        {
            "due_back": pd.to_datetime(["2026-10-01", "2026-10-04", "2026-10-07", "2026-09-01"]),
            "delay_days": pd.array([pd.NA, pd.NA, pd.NA, 2], dtype="Int64"),
        }
    )
    out = rental_outcomes(rentals, PLAN, max_delay=14)
    assert out["censored"].tolist() == [True, True, False, False]
    assert out["delay"].tolist() == [4, 1, 0, 2]  # at least 4 and 1 days late; the third not yet due
    assert out["informative"].tolist() == [True, True, False, True]
    assert out["late_known"].tolist() == [True, True, False, True]


def test_censored_rentals_keep_the_late_rate_honest() -> None:
    """Dropping rentals still out leaves the recent history short of late ones; the hazard counts them."""
    rentals, customers, skus = planted(seed=2)
    model = LateReturnHazard(settings=FAST).fit(rentals, customers, PLAN, skus)
    true_rate = float((rentals["_delay"] > 0).mean())
    returned_only = float((rentals["delay_days"].dropna() > 0).mean())
    assert returned_only < true_rate  # the bias the censoring removes
    assert abs(model.spec_.base_rate - true_rate) < abs(returned_only - true_rate)


@settings(max_examples=60, deadline=None)
@given(
    h=st.lists(st.floats(0.0, 0.99), min_size=3, max_size=8).flatmap(
        lambda row: st.tuples(st.just(row), st.integers(0, len(row)), st.integers(-1, len(row) + 2))
    )
)
def test_conditioning_on_days_out_is_bayes(h: tuple[list[float], int, int]) -> None:
    """P(back by t | out k) from the hazards equals P(k <= delay <= t) / P(delay >= k) from the pmf."""
    hazards, k, t = h
    pmf = pmf_from_hazard(np.array([hazards]))
    np.testing.assert_allclose(pmf.sum(), 1.0)
    cond = conditional_pmf(pmf, np.array([k]))
    np.testing.assert_allclose(cond.sum(), 1.0)
    K = len(hazards)
    tail = pmf[0, k:].sum()
    expected = pmf[0, k : min(t, K) + 1].sum() / tail if t >= k else 0.0
    got = cond[0, : min(max(t, -1), K) + 1].sum() if t >= 0 else 0.0
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_prob_back_by_matches_the_conditional_pmf(
    fitted: tuple[LateReturnHazard, pd.DataFrame, pd.DataFrame],
) -> None:
    model, _, test = fitted
    frame = test.head(50)
    pmf = model.predict_pmf(frame)
    rng = np.random.default_rng(0)
    k = rng.integers(0, 6, len(frame))
    t = k + rng.integers(-1, 6, len(frame))
    got = model.prob_back_by(frame, k, t)
    for i in range(len(frame)):
        want = pmf[i, k[i] : t[i] + 1].sum() / pmf[i, k[i] :].sum() if t[i] >= k[i] else 0.0
        assert got[i] == pytest.approx(want, abs=1e-9)
    assert np.all(model.prob_back_by(frame, k, np.full(len(frame), model.max_delay)) == pytest.approx(1.0))


rows = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 12), st.booleans(), st.booleans()), min_size=1, max_size=40)


@settings(max_examples=80, deadline=None)
@given(rows=rows, flip=st.integers(0, 39))
def test_features_use_only_rentals_due_before(rows: list[tuple[int, int, bool, bool]], flip: int) -> None:
    """Changing one rental's outcome changes no feature of a rental due on or before its due date,
    and the counts match a plain loop over earlier rentals of the same key."""
    key = np.array([r[0] for r in rows])
    time = np.array([r[1] for r in rows])
    late = np.array([r[2] for r in rows])
    known = np.array([r[3] for r in rows])
    n, k = prior_counts(key, time, late, known)
    for i in range(len(rows)):
        earlier = (key == key[i]) & (time < time[i]) & known
        assert n[i] == earlier.sum()
        assert k[i] == (earlier & late).sum()
    j = flip % len(rows)
    late2, known2 = late.copy(), known.copy()
    late2[j] = ~late2[j]
    known2[j] = ~known2[j]
    n2, k2 = prior_counts(key, time, late2, known2)
    not_after = time <= time[j]
    np.testing.assert_array_equal(n2[not_after], n[not_after])
    np.testing.assert_array_equal(k2[not_after], k[not_after])
