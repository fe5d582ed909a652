"""The world generator: deterministic by seed, sized by scale, calibrated on the real-data shapes.

The small world is generated once per module (about a quarter second); statistical bounds are loose
enough to hold on any seed yet tight enough that a generator ignoring the calibration fails them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from allocation.domain import World
from allocation.simulate.world import CLEANING_FAILURE_RATE, HORIZON_DAYS, SCALES, load_calibration, simulate_world


def _tables(world: World) -> dict[str, pd.DataFrame]:
    """Every table of a world, holdout included, by name."""
    out = {f.name: getattr(world, f.name) for f in dataclasses.fields(world)}
    out = {k: v for k, v in out.items() if isinstance(v, pd.DataFrame)}
    out.update({f"holdout.{f.name}": getattr(world.holdout, f.name) for f in dataclasses.fields(world.holdout)})
    return out


@pytest.fixture(scope="module")
def small() -> World:
    return simulate_world("small", 7)


def test_the_same_seed_gives_the_same_world_and_another_seed_another() -> None:
    a, b, c = simulate_world("tiny", 3), simulate_world("tiny", 3), simulate_world("tiny", 4)
    ta, tb, tc = _tables(a), _tables(b), _tables(c)
    assert ta.keys() == tb.keys()
    for name in ta:
        pd.testing.assert_frame_equal(ta[name], tb[name], obj=name)
    assert a.meta == b.meta
    assert not ta["reservations"].equals(tc["reservations"])


@pytest.mark.parametrize("scale", ["tiny", "small"])
def test_sizes_follow_the_scale(scale: str) -> None:
    sc = SCALES[scale]
    w = simulate_world(scale, 11)
    assert len(w.skus) == sc.skus
    assert abs(len(w.units) - sc.units) <= 0.1 * sc.units
    in_horizon = len(w.reservations) + len(w.holdout.bookings)
    assert abs(in_horizon - sc.reservations) <= 0.25 * sc.reservations
    assert 2 <= len(w.sites) <= 3
    assert w.horizon_days == HORIZON_DAYS
    plan = pd.Timestamp(w.plan_date)
    assert (plan - w.bookings["event_date"].min()).days >= 365, "at least a year of history"
    end = plan + pd.Timedelta(days=w.horizon_days)
    for frame in (w.reservations, w.holdout.bookings):
        assert frame["event_date"].between(plan, end - pd.Timedelta(days=1)).all()


def test_lead_times_put_known_bookings_before_the_plan_date_and_new_ones_after(small: World) -> None:
    plan = pd.Timestamp(small.plan_date)
    for frame in (small.bookings, small.reservations, small.holdout.bookings):
        assert (frame["booked_on"] <= frame["event_date"]).all()
    assert (small.reservations["booked_on"] <= plan).all()
    assert (small.holdout.bookings["booked_on"] > plan).all()
    lead = (small.bookings["event_date"] - small.bookings["booked_on"]).dt.days
    assert lead.median() >= 3, "people book dresses days to weeks ahead"
    assert lead.nunique() > 10, "a booking curve, not one fixed lead time"


def test_event_weekdays_follow_the_calibrated_weekly_profile(small: World) -> None:
    profile = np.asarray(load_calibration()["weekday_profile"])
    # Reviews come two days after the event, so event weekday d has review weekday d + 2.
    expected = np.roll(profile, -2)
    observed = small.bookings["event_date"].dt.day_of_week.value_counts().sort_index().to_numpy()
    assert np.corrcoef(expected, observed)[0, 1] > 0.9


def test_busy_months_have_more_events_than_quiet_ones(small: World) -> None:
    profile = np.asarray(load_calibration()["month_profile"])
    hist = small.bookings
    plan = pd.Timestamp(small.plan_date)
    # Only whole months that lie entirely in the history window and are not cut by lead times.
    counts = hist[hist["event_date"] < plan - pd.Timedelta(days=60)].groupby(hist["event_date"].dt.month).size()
    busy, quiet = int(np.argmax(profile)) + 1, int(np.argmin(profile)) + 1
    assert counts[busy] > counts[quiet]


def test_category_mix_follows_the_catalogue_calibration() -> None:
    mix = load_calibration()["category_mix"]
    skus = simulate_world("medium", 7).skus
    share = skus.groupby("style_id")["category"].first().value_counts(normalize=True)
    tv = 0.5 * sum(abs(share.get(c, 0.0) - p) for c, p in mix.items())
    assert tv < 0.1, f"total variation {tv:.3f} from the calibrated category mix"


def test_late_returns_have_a_long_tail_and_a_customer_propensity(small: World) -> None:
    r = small.rentals.sort_values(["customer_id", "ship_date"])
    delay = r["delay_days"].astype(float)
    late = delay > 0
    assert 0.15 < late.mean() < 0.5
    tail = delay[late]
    assert tail.median() <= 2 and tail.quantile(0.99) >= 5 * tail.median(), "most are a day late, a few very late"
    prev = late.groupby(r["customer_id"]).shift(1)
    has_prev = prev.notna()
    after_late = late[has_prev & (prev == True)].mean()  # noqa: E712 - object dtype after shift
    after_ontime = late[has_prev & (prev == False)].mean()  # noqa: E712
    assert after_late > after_ontime + 0.03, "some customers are late again and again"


def test_cleaning_fails_about_three_percent_and_differs_by_category(small: World) -> None:
    failed = small.rentals["cleaning_failed"].dropna().astype(bool)
    assert 0.75 * CLEANING_FAILURE_RATE < failed.mean() < 1.3 * CLEANING_FAILURE_RATE
    assert 0.75 * CLEANING_FAILURE_RATE < small.holdout.cleaning["failed"].mean() < 1.3 * CLEANING_FAILURE_RATE
    by_cat = small.rentals.merge(small.skus[["sku_id", "category"]], on="sku_id").groupby("category")["cleaning_failed"]
    rates = by_cat.mean()[by_cat.count() > 500]
    assert rates.max() > rates.min()


def test_cleaning_capacity_covers_the_average_day_and_binds_at_peaks(small: World) -> None:
    returned = small.rentals.dropna(subset=["returned_on"])
    per_day = returned.groupby(["site_id", "returned_on"]).size()
    cap = small.stations[small.stations["kind"] == "cleaning"].set_index("site_id")["capacity_per_day"]
    for site, flow in per_day.groupby(level="site_id"):
        assert flow.mean() < cap[site] < flow.max(), site


def test_the_holdout_returns_every_outstanding_unit_and_books_every_new_reservation(small: World) -> None:
    out = small.units[small.units["state"].isin(["with_customer", "returning"])]
    assert set(out["rental_id"]) == set(small.holdout.returns["rental_id"])
    plan = pd.Timestamp(small.plan_date)
    assert (small.holdout.returns["returned_on"] >= plan).all(), "not back yet on the plan date"
    every = set(small.reservations["reservation_id"]) | set(small.holdout.bookings["reservation_id"])
    assert set(small.holdout.delays["reservation_id"]) == every, "a realized delay for every reservation"
    assert set(small.holdout.disruptions["station_id"]) <= set(small.stations["station_id"])
