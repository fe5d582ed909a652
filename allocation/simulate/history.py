"""Bookings, rentals, unit states and the holdout schedule of a generated world.

Every booking of the whole period (history and horizon) is drawn at once, with its realized return
delay; the plan date then splits them into history (bookings, rentals), the open reservations known
on the plan date, the units' states, and the holdout schedule (new bookings, real return days,
cleaning outcomes). Drawing the delay up front is what keeps history and holdout consistent: the
same customer propensity drives both.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from allocation.simulate.draws import BookingDraw
from allocation.simulate.scales import Topology

__all__ = ["make_ids", "split_history"]

RECENT_WINDOW_DAYS = 20  # rentals with events this recent may still be out on the plan date
HISTORY_FILL_SHARE = 0.93  # share of older bookings that were filled (the rest had no unit)
CLEANING_CYCLES = 3  # cleaning outcomes drawn per unit for the holdout


def make_ids(prefix: str, n: int, width: int) -> pd.Series:
    """``prefix`` + zero-padded integers, built in Arrow (a Python string per id is too slow at 10M)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(n, dtype=np.int64)), pa.string()), width, "0")
    return pd.Series(pd.array(pc.binary_join_element_wise(prefix, digits, ""), dtype="str"))


def _take(ids: pd.Series, idx: np.ndarray) -> pd.Series:
    return pd.Series(ids.array.take(idx))


def _dates(plan: dt.date, days: np.ndarray) -> pd.Series:
    """Day indexes to midnight timestamps; negative or NaN-free integer input."""
    return pd.Series(pd.Timestamp(plan) + pd.to_timedelta(days, unit="D"))


def _assign_units(
    draw: BookingDraw,
    shipped: np.ndarray,
    unit_sku: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """The unit each shipped booking went out on (-1: none was free, the booking went unfilled).

    Recent bookings get distinct units (most recent first), so a unit is out on at most one rental
    on the plan date; older bookings take a random unit of their SKU, a fair stand-in for a history
    we only use to learn rates from.
    """
    n_skus = int(draw.sku.max(initial=0)) + 1
    order = np.argsort(unit_sku, kind="stable")
    counts = np.bincount(unit_sku, minlength=n_skus)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    unit = np.full(len(draw.event), -1, dtype=np.int64)

    recent = np.nonzero(shipped & (draw.event >= -RECENT_WINDOW_DAYS))[0]
    key = np.lexsort((rng.uniform(0, 1, len(recent)), -draw.event[recent], draw.sku[recent]))
    recent = recent[key]
    sku_r = draw.sku[recent]
    first = np.r_[True, sku_r[1:] != sku_r[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(recent)), 0))
    rank = np.arange(len(recent)) - group_start
    ok = rank < counts[sku_r]
    unit[recent[ok]] = order[starts[sku_r[ok]] + rank[ok]]

    older = np.nonzero(shipped & (draw.event < -RECENT_WINDOW_DAYS))[0]
    older = older[(rng.uniform(0, 1, len(older)) < HISTORY_FILL_SHARE) & (counts[draw.sku[older]] > 0)]
    pick = (rng.uniform(0, 1, len(older)) * counts[draw.sku[older]]).astype(np.int64)
    unit[older] = order[starts[draw.sku[older]] + pick]
    return unit


def split_history(
    draw: BookingDraw,
    skus: pd.DataFrame,
    unit_sku: np.ndarray,
    unit_site: np.ndarray,
    stations: pd.DataFrame,
    topo: Topology,
    plan: dt.date,
    horizon: int,
    failure_rate: float,
    rng: np.random.Generator,
) -> dict[str, pd.DataFrame]:
    """Split the drawn bookings at the plan date into the world's tables and its holdout."""
    nearest_days = topo.ship_days[topo.nearest_site[draw.zone], draw.zone]
    in_period = draw.event < horizon
    shipped = in_period & (draw.event - nearest_days < 0)
    open_ = in_period & ~shipped
    unit = _assign_units(draw, shipped, unit_sku, rng)

    filled = np.nonzero(unit >= 0)[0]
    site = unit_site[unit[filled]]
    transit = topo.ship_days[site, draw.zone[filled]]
    ship_day = draw.event[filled] - transit
    due_back = draw.event[filled] + draw.rental_days[filled] + transit
    arrival = due_back + draw.delay[filled]
    recent = draw.event[filled] >= -RECENT_WINDOW_DAYS
    keep = recent | (arrival < 0)  # an older rental still out would double-book its unit: drop it
    filled, site, transit, ship_day, due_back, arrival = (
        a[keep] for a in (filled, site, transit, ship_day, due_back, arrival)
    )
    outstanding = arrival >= 0

    n_units = len(unit_sku)
    unit_ids = make_ids("U", n_units, 7)
    sku_ids = skus["sku_id"].astype("str").reset_index(drop=True)
    n_cust = len(draw.customer_zone)
    cust_ids = make_ids("C", n_cust, 7)
    zone_ids = pd.Series([f"Z{z}" for z in range(topo.n_zones)], dtype="str")
    site_ids = pd.Series([f"SITE{s}" for s in range(topo.n_sites)], dtype="str")
    rental_ids = make_ids("R", len(filled), 8)

    clean = stations[stations["kind"] == "cleaning"].sort_values("site_id")
    proc_days = clean["processing_days"].to_numpy()
    state = np.full(n_units, "ready", dtype=object)
    unit_due = np.full(n_units, np.iinfo(np.int64).min, dtype=np.int64)
    unit_rental = np.full(n_units, -1, dtype=np.int64)
    u_out = unit[filled[outstanding]]
    dispatched = arrival[outstanding] - transit[outstanding] <= 0  # customer already sent it back
    state[u_out] = np.where(dispatched, "returning", "with_customer")
    unit_due[u_out] = np.where(dispatched, arrival[outstanding], due_back[outstanding])
    unit_rental[u_out] = np.nonzero(outstanding)[0]
    # Units back within their site's processing time are still in the cleaner on the plan date.
    back = ~outstanding
    u_back = unit[filled[back]]
    ready_day = arrival[back] + proc_days[unit_site[u_back]]
    in_clean = (ready_day >= 1) & (state[u_back] == "ready")
    state[u_back[in_clean]] = "cleaning"
    unit_due[u_back[in_clean]] = ready_day[in_clean]
    idle = state == "ready"
    state[idle & (rng.uniform(0, 1, n_units) < 0.01)] = "retired"

    has_due = unit_due != np.iinfo(np.int64).min
    due_dates = pd.Series(pd.NaT, index=range(n_units), dtype="datetime64[ns]")
    due_dates[has_due] = _dates(plan, unit_due[has_due]).to_numpy()
    unit_rental_id = pd.Series(pd.NA, index=range(n_units), dtype="str")
    has_rental = unit_rental >= 0
    unit_rental_id[has_rental] = rental_ids.array.take(unit_rental[has_rental])
    wear = rng.poisson(8.0, n_units) + np.bincount(unit[filled], minlength=n_units)
    units = pd.DataFrame(
        {
            "unit_id": unit_ids,
            "sku_id": _take(sku_ids, unit_sku),
            "site_id": _take(site_ids, unit_site),
            "state": pd.Series(state, dtype="str"),
            "due_back": due_dates,
            "wear_count": wear.astype(np.int64),
            "rental_id": unit_rental_id,
        }
    )

    categories = skus["category"].to_numpy()
    cat_names, cat_idx = np.unique(categories, return_inverse=True)
    # Categories differ, but the rental-weighted mean stays at the nominal rate: an unscaled draw
    # let the dominant category (dresses) land at twice the nominal share on some seeds.
    # (+1 keeps the weights non-zero on a world that drew no rentals.)
    cat_mult = rng.lognormal(0.0, 0.4, len(cat_names))
    volume = np.bincount(cat_idx[draw.sku], minlength=len(cat_names))
    cat_rate = failure_rate * cat_mult / np.average(cat_mult, weights=volume + 1.0)
    returned = ~outstanding
    failed = pd.Series(pd.NA, index=range(len(filled)), dtype="boolean")
    rate_f = cat_rate[cat_idx[draw.sku[filled]]]
    failed[returned] = rng.uniform(0, 1, int(returned.sum())) < rate_f[returned]
    returned_on = pd.Series(pd.NaT, index=range(len(filled)), dtype="datetime64[ns]")
    returned_on[returned] = _dates(plan, arrival[returned]).to_numpy()
    delay_days = pd.Series(pd.NA, index=range(len(filled)), dtype="Int64")
    delay_days[returned] = draw.delay[filled][returned]
    rentals = pd.DataFrame(
        {
            "rental_id": rental_ids,
            "unit_id": _take(unit_ids, unit[filled]),
            "sku_id": _take(sku_ids, draw.sku[filled]),
            "customer_id": _take(cust_ids, draw.customer[filled]),
            "zone": _take(zone_ids, draw.zone[filled]),
            "site_id": _take(site_ids, site),
            "ship_date": _dates(plan, ship_day),
            "event_date": _dates(plan, draw.event[filled]),
            "due_back": _dates(plan, due_back),
            "rental_days": draw.rental_days[filled],
            "returned_on": returned_on,
            "delay_days": delay_days,
            "cleaning_failed": failed,
        }
    )

    hist = np.nonzero(in_period & ~open_ & (draw.booked <= 0))[0]
    bookings = pd.DataFrame(
        {
            "booking_id": make_ids("B", len(hist), 8),
            "customer_id": _take(cust_ids, draw.customer[hist]),
            "sku_id": _take(sku_ids, draw.sku[hist]),
            "zone": _take(zone_ids, draw.zone[hist]),
            "booked_on": _dates(plan, draw.booked[hist]),
            "event_date": _dates(plan, draw.event[hist]),
            "rental_days": draw.rental_days[hist],
        }
    )

    opened = np.nonzero(open_)[0]
    res_ids = make_ids("V", len(opened), 7)

    def reservation_frame(rows: np.ndarray) -> pd.DataFrame:
        b = opened[rows]
        return pd.DataFrame(
            {
                "reservation_id": pd.Series(res_ids.array.take(rows)),
                "customer_id": _take(cust_ids, draw.customer[b]),
                "sku_id": _take(sku_ids, draw.sku[b]),
                "event_date": _dates(plan, draw.event[b]),
                "rental_days": draw.rental_days[b],
                "zone": _take(zone_ids, draw.zone[b]),
                "value": draw.value[b],
                "priority": draw.priority[b],
                "booked_on": _dates(plan, draw.booked[b]),
            }
        )

    known = draw.booked[opened] <= 0
    reservations = reservation_frame(np.nonzero(known)[0])
    new_bookings = reservation_frame(np.nonzero(~known)[0])

    out_rows = np.nonzero(outstanding)[0]
    holdout_returns = pd.DataFrame(
        {
            "rental_id": pd.Series(rental_ids.array.take(out_rows)),
            "unit_id": _take(unit_ids, unit[filled[out_rows]]),
            "returned_on": _dates(plan, arrival[out_rows]),
        }
    )
    holdout_delays = pd.DataFrame({"reservation_id": res_ids, "delay_days": draw.delay[opened]})
    cyc_unit = np.repeat(np.arange(n_units), CLEANING_CYCLES)
    cyc_rate = cat_rate[cat_idx[unit_sku[cyc_unit]]]
    holdout_cleaning = pd.DataFrame(
        {
            "unit_id": _take(unit_ids, cyc_unit),
            "cycle": np.tile(np.arange(CLEANING_CYCLES, dtype=np.int64), n_units),
            "failed": rng.uniform(0, 1, len(cyc_unit)) < cyc_rate,
        }
    )
    customers = pd.DataFrame({"customer_id": cust_ids, "zone": _take(zone_ids, draw.customer_zone)})
    return {
        "units": units,
        "rentals": rentals,
        "bookings": bookings,
        "reservations": reservations,
        "customers": customers,
        "holdout_returns": holdout_returns,
        "holdout_delays": holdout_delays,
        "holdout_cleaning": holdout_cleaning,
        "holdout_bookings": new_bookings,
    }
