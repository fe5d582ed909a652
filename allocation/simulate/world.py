"""World generator: a calibrated fashion-rental world on a plan date, with its holdout schedule.

The generator covers what public data cannot (unit states, returns, cleaning, capacities); the
shapes it draws from (category, size and occasion mix, weekly and yearly seasonality, rental values,
the late-return delay tail and customer-level lateness propensity) come from
``allocation/simulate/calibration.json``, derived from real public data by ``scripts/calibrate.py``.

Everything is vectorised with numpy and deterministic by seed. Days are integers relative to the
plan date (negative = history); dates are made only when the tables are assembled.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from importlib import resources
from typing import Any, Final

import numpy as np
import pandas as pd

from allocation.domain import Holdout, World
from allocation.simulate.draws import BookingDraw, draw_bookings
from allocation.simulate.history import split_history
from allocation.simulate.scales import SCALES, Scale, Topology

__all__ = ["SCALES", "Scale", "Topology", "assemble_world", "load_calibration", "simulate_world"]


HORIZON_DAYS: Final = 21
HISTORY_DAYS: Final = 400  # more than a year, so yearly seasonality is identifiable
# Reviews are written a few days after the event; shifting the review weekday profile by two days
# turns the Monday review peak into the weekend event peak.
REVIEW_LAG_DAYS: Final = 2
# GetAround cars come back late more often than dresses; we keep the shape (propensity spread,
# long tail) and scale the level to a dress business where about a third of returns are late.
LATE_LEVEL_SCALE: Final = 0.55
# A late delay of the calibrated median length (in hours for cars) becomes one day for a dress.
CLEANING_FAILURE_RATE: Final = 0.03


def load_calibration() -> dict[str, Any]:
    """The derived calibration figures shipped with the package."""
    text = resources.files("allocation.simulate").joinpath("calibration.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def default_plan_date(calibration: dict[str, Any]) -> dt.date:
    """A Monday early in the busiest month of the calibrated year (so capacity binds)."""
    month = int(np.argmax(calibration["month_profile"])) + 1
    day = dt.date(2026, month, 1)
    return day + dt.timedelta(days=(7 - day.weekday()) % 7)


def make_topology(scale: Scale, rng: np.random.Generator) -> Topology:
    """Sites on a line (east .. west), zones assigned round-robin to a home site.

    A zone is one ship day from its home site and one more per site step away; transfers take one
    day more than the matching ship lane because they go by consolidated freight.
    """
    zone_home = np.arange(scale.zones) % scale.sites
    dist = np.abs(np.arange(scale.sites)[:, None] - zone_home[None, :])
    ship_days = 1 + dist
    ship_cost = 6.0 + 4.0 * dist + rng.uniform(0.0, 1.0, size=dist.shape).round(2)
    sdist = np.abs(np.arange(scale.sites)[:, None] - np.arange(scale.sites)[None, :])
    transfer_days = np.where(sdist > 0, 1 + sdist, 0)
    transfer_cost = np.where(sdist > 0, 2.0 + 1.5 * sdist, 0.0)
    zone_share = rng.dirichlet(np.full(scale.zones, 8.0))
    order = np.lexsort((ship_cost, ship_days), axis=0)
    nearest_site = order[0]
    return Topology(
        n_sites=scale.sites,
        n_zones=scale.zones,
        ship_days=ship_days,
        ship_cost=ship_cost,
        transfer_days=transfer_days,
        transfer_cost=transfer_cost,
        zone_share=zone_share,
        nearest_site=nearest_site,
    )


def _quantile_draw(rng: np.random.Generator, quantiles: list[float], n: int) -> np.ndarray:
    """Draw from the distribution whose 0,5,..,100th percentiles are given (linear inverse CDF)."""
    q = np.asarray(quantiles, dtype=float)
    levels = np.linspace(0.0, 1.0, len(q))
    return np.interp(rng.uniform(0.0, 1.0, n), levels, q)


def draw_prices(cal: dict[str, Any], n_styles: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rental and retail value of each style ($): calibrated rent prices, retail around the median ratio."""
    rent = _quantile_draw(rng, cal["rent_price_quantiles"], n_styles).round(0)
    retail = (rent / float(cal["rent_to_retail_median_ratio"]) * rng.lognormal(0, 0.2, n_styles)).round(0)
    return rent, retail


def make_catalogue(scale: Scale, cal: dict[str, Any], rng: np.random.Generator) -> pd.DataFrame:
    """Styles with a category, a rental value and a Zipf popularity; SKUs are style x size."""
    sizes_per_style = max(1, min(8, round(float(cal["style_sizes_mean"]))))
    n_styles = math.ceil(scale.skus / sizes_per_style)
    cats = list(cal["category_mix"])
    cat_p = np.array([cal["category_mix"][c] for c in cats])
    style_cat = rng.choice(len(cats), size=n_styles, p=cat_p / cat_p.sum())
    rent, retail = draw_prices(cal, n_styles, rng)
    popularity = (np.arange(1, n_styles + 1) ** -float(cal["item_popularity_zipf"]))[rng.permutation(n_styles)]
    size_names = [s for s in cal["size_mix"] if s != "other"][:sizes_per_style]
    size_p = np.array([cal["size_mix"][s] for s in size_names])
    size_p = size_p / size_p.sum()
    style_idx = np.repeat(np.arange(n_styles), sizes_per_style)[: scale.skus]
    size_idx = np.tile(np.arange(sizes_per_style), n_styles)[: scale.skus]
    # Per-SKU noise: some sizes of a style run hot, which the demand model must learn per SKU.
    weight = popularity[style_idx] * size_p[size_idx] * rng.lognormal(0.0, 0.35, scale.skus)
    return pd.DataFrame(
        {
            "sku_id": [f"K{i:06d}" for i in range(scale.skus)],
            "style_id": [f"S{i:05d}" for i in style_idx],
            "size": np.asarray(size_names, dtype=object)[size_idx],
            "category": np.asarray(cats, dtype=object)[style_cat[style_idx]],
            "rental_value": rent[style_idx],
            "retail_value": np.maximum(retail[style_idx], rent[style_idx] + 1),
            "_weight": weight / weight.sum(),
        }
    )


def place_units(
    scale: Scale, skus: pd.DataFrame, topo: Topology, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """How many units each SKU has and where they live.

    Buyers under-stock the most popular SKUs (stock grows with popularity^0.2), and stock sits at
    the sites in proportions that differ from where demand is: transfers and cross-site shipping
    have work to do.
    """
    w = skus["_weight"].to_numpy() ** 0.2
    n = np.maximum(1, np.floor(w / w.sum() * scale.units + rng.uniform(0, 1, len(w)))).astype(np.int64)
    unit_sku = np.repeat(np.arange(len(w)), n)
    return unit_sku, place_at_sites(unit_sku, len(w), topo, rng)


def place_at_sites(unit_sku: np.ndarray, n_skus: int, topo: Topology, rng: np.random.Generator) -> np.ndarray:
    """The site of each unit: per SKU, site shares skewed away from where its demand is."""
    demand_by_site = np.bincount(topo.nearest_site, weights=topo.zone_share, minlength=topo.n_sites)
    skew = np.roll(demand_by_site, 1) * 0.5 + demand_by_site * 0.5
    per_sku_site = rng.dirichlet(skew * 6.0, size=n_skus)
    cum = per_sku_site.cumsum(axis=1)[unit_sku]
    unit_site = (rng.uniform(0, 1, len(unit_sku))[:, None] > cum).sum(axis=1)
    return np.minimum(unit_site, topo.n_sites - 1)


def make_stations(
    scale: Scale, topo: Topology, unit_site: np.ndarray, daily_demand: float, rng: np.random.Generator
) -> pd.DataFrame:
    """Cleaning capacity near the average return flow (it binds in peak weeks), shipping with slack."""
    unit_share = np.bincount(unit_site, minlength=topo.n_sites) / len(unit_site)
    ship_share = np.bincount(topo.nearest_site, weights=topo.zone_share, minlength=topo.n_sites)
    rows = []
    for s in range(topo.n_sites):
        base = daily_demand * max(unit_share[s], 0.05)
        rows.append(("cleaning", s, math.ceil(base * 1.0 + 1), int(rng.integers(1, 3)), CLEANING_FAILURE_RATE))
        rows.append(("warehouse", s, math.ceil(daily_demand * 0.9 + 2), 0, 0.0))
        ship = daily_demand * max(ship_share[s], unit_share[s]) * 1.2
        rows.append(("shipping", s, math.ceil(ship + 2), 0, 0.0))
    return pd.DataFrame(
        {
            "station_id": [f"{k[:2].upper()}-{s}" for k, s, *_ in rows],
            "site_id": [f"SITE{s}" for _, s, *_ in rows],
            "kind": [r[0] for r in rows],
            "capacity_per_day": np.array([r[2] for r in rows], dtype=np.int64),
            "processing_days": np.array([r[3] for r in rows], dtype=np.int64),
            "failure_rate": np.array([r[4] for r in rows], dtype=float),
        }
    )


def make_lanes(topo: Topology) -> pd.DataFrame:
    """Ship lanes to every zone and transfer lanes between every pair of sites."""
    s_idx, z_idx = np.meshgrid(np.arange(topo.n_sites), np.arange(topo.n_zones), indexing="ij")
    a_idx, b_idx = np.nonzero(topo.transfer_days > 0)
    ship = pd.DataFrame(
        {
            "origin": [f"SITE{s}" for s in s_idx.ravel()],
            "destination": [f"Z{z}" for z in z_idx.ravel()],
            "kind": "ship",
            "days": topo.ship_days.ravel().astype(np.int64),
            "cost_per_unit": topo.ship_cost.ravel(),
        }
    )
    transfer = pd.DataFrame(
        {
            "origin": [f"SITE{a}" for a in a_idx],
            "destination": [f"SITE{b}" for b in b_idx],
            "kind": "transfer",
            "days": topo.transfer_days[a_idx, b_idx].astype(np.int64),
            "cost_per_unit": topo.transfer_cost[a_idx, b_idx],
        }
    )
    return pd.concat([ship, transfer], ignore_index=True)


def make_disruptions(
    stations: pd.DataFrame, plan_date: dt.date, horizon: int, rng: np.random.Generator
) -> pd.DataFrame:
    """A few station-days in the horizon run below plan (a machine down, a carrier short)."""
    n = len(stations)
    hit = rng.uniform(0, 1, n) < 0.4
    rows = []
    for i in (int(j) for j in np.nonzero(hit)[0]):
        start = int(rng.integers(0, horizon - 3))
        length = int(rng.integers(1, 4))
        factor = float(rng.uniform(0.4, 0.8))
        cap = int(stations["capacity_per_day"].to_numpy()[i])
        for d in range(start, start + length):
            rows.append((stations["station_id"].iat[i], d, int(cap * factor)))
    return pd.DataFrame(
        {
            "station_id": pd.Series([r[0] for r in rows], dtype=object),
            "date": pd.to_datetime([plan_date + dt.timedelta(days=r[1]) for r in rows]),
            "capacity_per_day": np.array([r[2] for r in rows], dtype=np.int64),
        }
    )


def simulate_world(
    scale: str | Scale,
    seed: int,
    *,
    plan_date: dt.date | None = None,
    horizon_days: int = HORIZON_DAYS,
    calibration: dict[str, Any] | None = None,
) -> World:
    """Generate a world on ``plan_date`` with ``HISTORY_DAYS`` of history and its holdout schedule.

    Args:
        scale: a name from ``SCALES`` or a ``Scale``.
        seed: random seed; the same seed gives the same world.
        plan_date: defaults to a Monday early in the calibrated peak month of 2026.
        horizon_days: days planned, and days the holdout schedule covers.
        calibration: overrides the shipped calibration figures.
    """
    sc = SCALES[scale] if isinstance(scale, str) else scale
    cal = calibration or load_calibration()
    plan = plan_date or default_plan_date(cal)
    streams = np.random.default_rng(seed).spawn(6)
    topo = make_topology(sc, streams[0])
    skus = make_catalogue(sc, cal, streams[1])
    unit_sku, unit_site = place_units(sc, skus, topo, streams[2])
    draw: BookingDraw = draw_bookings(
        sc, cal, topo, skus, plan, horizon_days, HISTORY_DAYS, LATE_LEVEL_SCALE, streams[3]
    )
    name = scale if isinstance(scale, str) else "custom"
    meta: dict[str, object] = {"plan_date": plan.isoformat(), "horizon_days": horizon_days, "scale": name, "seed": seed}
    return assemble_world(sc, topo, skus, unit_sku, unit_site, draw, plan, horizon_days, meta, streams[4], streams[5])


def assemble_world(
    sc: Scale,
    topo: Topology,
    skus: pd.DataFrame,
    unit_sku: np.ndarray,
    unit_site: np.ndarray,
    draw: BookingDraw,
    plan: dt.date,
    horizon_days: int,
    meta: dict[str, object],
    station_rng: np.random.Generator,
    split_rng: np.random.Generator,
) -> World:
    """The world's tables from its network, catalogue, units and bookings (simulated or real).

    Stations are sized to the bookings' daily demand; the bookings are split at the plan date into
    history, open reservations, unit states and the holdout (``split_history``).
    """
    stations = make_stations(sc, topo, unit_site, draw.daily_demand_mean, station_rng)
    tables = split_history(
        draw, skus, unit_sku, unit_site, stations, topo, plan, horizon_days, CLEANING_FAILURE_RATE, split_rng
    )
    sites = pd.DataFrame(
        {"site_id": [f"SITE{s}" for s in range(topo.n_sites)], "name": [f"Site {s}" for s in range(topo.n_sites)]}
    )
    disruptions = make_disruptions(stations, plan, horizon_days, station_rng)
    holdout = Holdout(
        returns=tables["holdout_returns"],
        delays=tables["holdout_delays"],
        cleaning=tables["holdout_cleaning"],
        bookings=tables["holdout_bookings"],
        disruptions=disruptions,
    )
    return World(
        plan_date=plan,
        horizon_days=horizon_days,
        sites=sites,
        stations=stations,
        lanes=make_lanes(topo),
        skus=skus.drop(columns="_weight", errors="ignore"),
        units=tables["units"],
        customers=tables["customers"],
        reservations=tables["reservations"],
        rentals=tables["rentals"],
        bookings=tables["bookings"],
        holdout=holdout,
        meta=meta,
    )
