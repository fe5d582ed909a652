"""The random draws of a generated world's bookings: demand over the year, booking leads,
customers' lateness and each rental's return delay (`allocation.simulate.history` then splits
them at the plan date).

Every booking of the whole period (history and horizon) is drawn at once, with its realized return
delay, so the same customer propensity drives history and holdout. `late_probability` gives a
rental's true chance of coming back late, for scoring late-return models against the truth.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from allocation.simulate.scales import Scale, Topology

__all__ = [
    "BookingDraw",
    "daily_profile",
    "draw_bookings",
    "draw_delays",
    "draw_lead_days",
    "draw_propensity",
    "late_probability",
]


@dataclass
class BookingDraw:
    """All bookings of the period as parallel integer arrays (days relative to the plan date)."""

    event: np.ndarray
    booked: np.ndarray
    sku: np.ndarray
    customer: np.ndarray
    zone: np.ndarray
    rental_days: np.ndarray
    value: np.ndarray
    priority: np.ndarray
    delay: np.ndarray
    customer_zone: np.ndarray
    daily_demand_mean: float


def daily_profile(days: np.ndarray, plan: dt.date, cal: dict[str, Any]) -> np.ndarray:
    """Relative demand of each event day: weekday x smooth yearly profile (mean about 1)."""
    dates = pd.Timestamp(plan) + pd.to_timedelta(days, unit="D")
    review_weekday = (dates.day_of_week.to_numpy() + 2) % 7  # events peak two days before reviews
    weekday = np.asarray(cal["weekday_profile"])[review_weekday]
    month = np.asarray(cal["month_profile"])
    # Interpolate the month profile at mid-month points around the year: no step at month ends.
    doy = dates.day_of_year.to_numpy().astype(float)
    mid = (np.arange(12) + 0.5) * 365.25 / 12
    yearly = np.interp(doy, np.r_[mid - 365.25, mid, mid + 365.25], np.r_[month, month, month])
    return np.asarray(weekday * yearly, dtype=float)


def draw_propensity(cal: dict[str, Any], late_scale: float, n_customers: int, rng: np.random.Generator) -> np.ndarray:
    """Each customer's probability of returning late: Beta around the calibrated level x ``late_scale``."""
    lr = cal["late_return"]
    mean_late = float(lr["p_late"]) * late_scale
    conc = float(lr["propensity_concentration"])
    return rng.beta(mean_late * conc, (1 - mean_late) * conc, n_customers)


def draw_lead_days(n: int, rng: np.random.Generator) -> np.ndarray:
    """Days from booking to event: 30% last-minute (0-7 days), the rest Gamma(2, 10) (mean 20 days)."""
    short = rng.uniform(0, 1, n) < 0.3
    return np.where(short, rng.integers(0, 8, n), np.ceil(rng.gamma(2.0, 10.0, n))).astype(np.int64)


def late_probability(propensity: np.ndarray, zone_shift: np.ndarray, rental_days: np.ndarray) -> np.ndarray:
    """The true chance each rental comes back late: its customer's propensity (per rental), shifted
    on the logit scale for long (8-day) rentals and by its zone's carrier shift."""
    logit = np.log(propensity / (1 - propensity)) + 0.35 * (rental_days == 8) + zone_shift
    return np.asarray(1 / (1 + np.exp(-logit)), dtype=float)


def draw_delays(
    cal: dict[str, Any],
    propensity: np.ndarray,
    customer: np.ndarray,
    zone: np.ndarray,
    rental_days: np.ndarray,
    n_zones: int,
    rng: np.random.Generator,
    record: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Days each rental comes back late (0: on time).

    Lateness follows the customer's propensity, shifted for long rentals and by zone (carrier
    quality); a late rental's delay is the calibrated lognormal tail (hours late for cars) with its
    median mapped to under a day. ``record``, when given, receives ``zone_shift`` (per zone) so an
    evaluation can recompute each rental's true late probability (``late_probability``); it draws
    nothing, so the world is the same with or without it.
    """
    n = len(customer)
    zone_shift = rng.normal(0.0, 0.25, n_zones)
    if record is not None:
        record["zone_shift"] = zone_shift.copy()
    late = rng.uniform(0, 1, n) < late_probability(propensity[customer], zone_shift[zone], rental_days)
    tail = np.exp(rng.normal(0.0, float(cal["late_return"]["lognormal_sigma"]), n)) * 0.8
    return np.where(late, np.clip(np.ceil(tail), 1, 30), 0).astype(np.int64)


def draw_bookings(
    sc: Scale,
    cal: dict[str, Any],
    topo: Topology,
    skus: pd.DataFrame,
    plan: dt.date,
    horizon: int,
    history_days: int,
    late_scale: float,
    rng: np.random.Generator,
    record: dict[str, np.ndarray] | None = None,
) -> BookingDraw:
    """Draw every booking with event days in ``[-history_days, horizon)``.

    Demand follows the calibrated weekday and yearly profile, scaled so the horizon holds
    ``sc.reservations`` events on average. Customers have a heavy-tailed activity (repeat renters)
    and a Beta-distributed lateness propensity; lead times mix last-minute and weeks-ahead bookings.
    ``record``, when given, receives the customers' ``propensity`` and the ``zone_shift`` of
    ``draw_delays`` (nothing more is drawn: the world is unchanged).
    """
    days = np.arange(-history_days, horizon)
    profile = daily_profile(days, plan, cal)
    in_horizon = days >= 0
    base = sc.reservations / profile[in_horizon].sum()
    lam = base * profile
    n = int(rng.poisson(lam.sum()))
    event = rng.choice(days, size=n, p=lam / lam.sum())

    n_cust = max(20, n // 4)
    activity = rng.lognormal(0.0, 1.2, n_cust)
    customer_zone = rng.choice(topo.n_zones, size=n_cust, p=topo.zone_share)
    propensity = draw_propensity(cal, late_scale, n_cust, rng)
    if record is not None:
        record["propensity"] = propensity.copy()

    customer = rng.choice(n_cust, size=n, p=activity / activity.sum())
    zone = customer_zone[customer]
    sku = rng.choice(len(skus), size=n, p=skus["_weight"].to_numpy())
    rental_days = np.where(rng.uniform(0, 1, n) < 0.25, 8, 4)
    lead = draw_lead_days(n, rng)
    nearest_days = topo.ship_days[topo.nearest_site[zone], zone]
    lead = np.maximum(lead, nearest_days)  # a booking always leaves time to ship from the nearest site
    value = skus["rental_value"].to_numpy()[sku] * np.where(rental_days == 8, 1.6, 1.0)
    priority = (rng.uniform(0, 1, n) < 0.05).astype(np.int64)

    delay = draw_delays(cal, propensity, customer, zone, rental_days, topo.n_zones, rng, record)

    year = (days >= -365) & (days < 0)
    return BookingDraw(
        event=event.astype(np.int64),
        booked=(event - lead).astype(np.int64),
        sku=sku,
        customer=customer,
        zone=zone,
        rental_days=rental_days.astype(np.int64),
        value=value,
        priority=priority,
        delay=delay,
        customer_zone=customer_zone,
        daily_demand_mean=float(lam[year].mean()),
    )
