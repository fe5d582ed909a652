"""Demand baselines on planted Poisson demand: the GLM recovers the pattern and beats naive."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.demand import (
    DemandForecaster,
    SeasonalNaiveDemand,
    booking_lead_curve,
    score_demand,
    unbooked_actuals,
)

PLAN = dt.date(2026, 10, 5)
WEEKDAY = np.array([1.0, 0.6, 0.6, 0.8, 1.2, 1.8, 1.6])  # Monday first


def planted(
    seed: int = 0, n_skus: int = 60, horizon: int = 21
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Bookings with a weekday pattern, Zipf SKU shares, two sites; leads uniform 0..29 days."""
    rng = np.random.default_rng(seed)
    days = np.arange(-400, horizon)
    dates = pd.Timestamp(PLAN) + pd.to_timedelta(days, unit="D")
    lam = 40.0 * WEEKDAY[dates.day_of_week.to_numpy()]
    counts = rng.poisson(lam)
    event = np.repeat(days, counts)
    share = 1.0 / np.arange(1, n_skus + 1)
    sku = rng.choice(n_skus, len(event), p=share / share.sum())
    zone = rng.choice(2, len(event), p=[0.7, 0.3])
    lead = rng.integers(1, 30, len(event))
    booked = event - lead
    frame = pd.DataFrame(
        {
            "booking_id": [f"B{i}" for i in range(len(event))],
            "customer_id": "c",
            "sku_id": [f"K{k}" for k in sku],
            "zone": [f"Z{z}" for z in zone],
            "booked_on": pd.Timestamp(PLAN) + pd.to_timedelta(booked, unit="D"),
            "event_date": pd.Timestamp(PLAN) + pd.to_timedelta(event, unit="D"),
            "rental_days": 4,
        }
    )
    skus = pd.DataFrame({"sku_id": [f"K{k}" for k in range(n_skus)], "category": ["dress", "gown"] * (n_skus // 2)})
    history = frame[event < 0]
    future = frame[(event >= 0) & (booked > 0)]
    return history, future, skus, {"Z0": "S0", "Z1": "S1"}


def test_lead_curve_is_a_cdf() -> None:
    history, _, _, _ = planted()
    cdf = booking_lead_curve(history)
    assert cdf[0] == 0.0 and np.all(np.diff(cdf) >= 0) and cdf[-1] == pytest.approx(1.0)
    assert cdf[15] == pytest.approx(15 / 29, abs=0.02)


def test_glm_recovers_the_weekday_pattern_and_the_unbooked_split() -> None:
    history, _, skus, soz = planted()
    m = DemandForecaster().fit(history, skus, soz, PLAN)
    g = m.total_by_day(14)
    dates = pd.Timestamp(PLAN) + pd.to_timedelta(np.arange(14), unit="D")
    expected = 40.0 * WEEKDAY[dates.day_of_week.to_numpy()]
    np.testing.assert_allclose(g, expected, rtol=0.1)
    pred = m.predict(PLAN, 14)
    assert set(pred.columns) >= {
        "sku_id",
        "site_id",
        "day",
        "expected_total",
        "expected_unbooked",
        "unbooked_q10",
        "unbooked_q90",
    }
    assert len(pred) == 60 * 2 * 14
    by_day = pred.groupby("day")[["expected_total", "expected_unbooked"]].sum()
    share = (by_day["expected_unbooked"] / by_day["expected_total"]).to_numpy()
    cdf = booking_lead_curve(history)
    np.testing.assert_allclose(share[1:], cdf[np.arange(13)], atol=1e-9)  # P(lead <= d - 1)
    assert share[0] == 0.0
    site_share = pred.groupby("site_id")["expected_total"].sum() / pred["expected_total"].sum()
    assert site_share["S0"] == pytest.approx(0.7, abs=0.03)


def test_glm_beats_seasonal_naive_on_planted_demand(tmp_path: Path) -> None:
    history, future, skus, soz = planted(seed=3)
    actual = unbooked_actuals(future, soz, PLAN, 21)
    model = DemandForecaster().fit(history, skus, soz, PLAN)
    naive = SeasonalNaiveDemand().fit(history, skus, soz, PLAN)
    m = score_demand(model.predict(PLAN, 21), actual)
    n = score_demand(naive.predict(PLAN, 21), actual)
    for level in ("sku_week", "sku_site_week", "sku"):
        assert m["by_level"][level] < n["by_level"][level], level
    assert m["predicted"] == pytest.approx(m["actual"], rel=0.1)
    model.save(tmp_path / "glm")
    again = DemandForecaster.load(tmp_path / "glm")
    pd.testing.assert_frame_equal(again.predict(PLAN, 21), model.predict(PLAN, 21))
    naive.save(tmp_path / "naive")
    pd.testing.assert_frame_equal(
        SeasonalNaiveDemand.load(tmp_path / "naive").predict(PLAN, 21), naive.predict(PLAN, 21)
    )


def test_predict_refuses_another_plan_date() -> None:
    history, _, skus, soz = planted()
    m = DemandForecaster().fit(history, skus, soz, PLAN)
    with pytest.raises(ValueError, match="fitted for plan date"):
        m.predict(PLAN + dt.timedelta(days=1), 7)
