"""A world built on real demand: its bookings are Rent the Runway rentals, the rest is simulated.

The simulated worlds draw their bookings from calibrated shapes; here every booking (history, the
open reservations on the plan date and the holdout's new bookings) is one real rental review of
``rtr_reviews.parquet`` (Misra, Wan and McAuley, RecSys 2018), so decision quality can be shown on
demand the simulator did not make. Real: the item and size (a SKU), the customer, the occasion and
the event day (``review_date`` minus ``REVIEW_LAG_DAYS``). Assumed (the data do not say): when each
rental was booked, rental length from the occasion, stock per SKU from its recent demand, prices,
and every operational fact (sites, zones, stations, lanes, unit states, late returns, cleaning),
which come from the simulator's own functions. docs/real_demand.md states each assumption.

The reviews are read from ``data_dir`` (default: the ``CLOSETFLOW_REAL_DATA`` setting, else
``../shared/data``); the project never keeps a copy, and works without the file (this module then
raises :class:`MissingRealDemandError`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from allocation.domain import ClosetflowError, World
from allocation.simulate.calibration_derive import DATA_DIR_ENV, REVIEWS_CITATION, REVIEWS_FILE, MissingRealDataError
from allocation.simulate.draws import BookingDraw, draw_delays, draw_lead_days, draw_propensity
from allocation.simulate.world import (
    HISTORY_DAYS,
    HORIZON_DAYS,
    LATE_LEVEL_SCALE,
    REVIEW_LAG_DAYS,
    SCALES,
    Scale,
    assemble_world,
    draw_prices,
    load_calibration,
    make_topology,
    place_at_sites,
)

__all__ = ["PLAN_DATES", "MissingRealDemandError", "real_demand_world", "real_rentals"]

#: Mondays in busy stretches of 2016-2017 (the densest years of the data); the seed picks one, so
#: seeds differ in their plan date, SKUs and customers, not only in the simulated operations.
PLAN_DATES: Final = (
    dt.date(2017, 10, 2),
    dt.date(2016, 4, 4),
    dt.date(2017, 9, 4),
    dt.date(2016, 10, 3),
    dt.date(2017, 5, 1),
)
# Occasions that span several days (travel, a wedding weekend) take the 8-day rental; the rest 4.
LONG_OCCASIONS: Final = ("vacation", "wedding")
LONG_RENTAL_DAYS: Final = 8
SHORT_RENTAL_DAYS: Final = 4
LONG_VALUE_FACTOR: Final = 1.6  # an 8-day rental costs more than a 4-day one, as in the simulator
# Stock per SKU: a buyer stocks for the most rentals of the SKU that fell inside one rental cycle
# (4 days out, two ship legs, cleaning, a late margin: about 12 days) in the year before the plan
# date, so a SKU rarely had more out at once. Stock then binds when the horizon beats last year's
# peak (a growing business, the season). STOCK_COVER scales the rule (1: the peak itself).
CYCLE_DAYS: Final = 12
STOCK_COVER: Final = 1.0
# Customers with this many earlier rentals (any item, before the plan date) are priority members.
PRIORITY_MIN_RENTALS: Final = 4
YEAR_DAYS: Final = 365
_COLUMNS: Final = ["user_id", "item_id", "size", "category", "rented_for", "review_date"]


class MissingRealDemandError(MissingRealDataError, ClosetflowError):
    """The real rentals file is absent: a real-demand world cannot be built (the API answers 4xx)."""


def _default_data_dir() -> Path:
    # Imported here: the setting has one home (api.settings), and allocation need not load the
    # settings machinery unless a caller leaves the folder to it.
    from api.settings import real_data_dir

    return real_data_dir()


def real_rentals(data_dir: Path | None = None) -> pd.DataFrame:
    """The real rentals, one row per review, with their event day (``review_date - REVIEW_LAG_DAYS``).

    Raises:
        MissingRealDemandError: ``rtr_reviews.parquet`` is not in ``data_dir``.
    """
    folder = _default_data_dir() if data_dir is None else data_dir
    path = folder / REVIEWS_FILE
    if not path.is_file():
        raise MissingRealDemandError(
            f"real demand needs {path}, which is missing: set {DATA_DIR_ENV} (or pass data_dir) to the folder holding "
            f"{REVIEWS_FILE}"
        )
    rentals = pd.read_parquet(path, columns=_COLUMNS)
    rentals["event"] = pd.to_datetime(rentals["review_date"]).dt.normalize() - pd.Timedelta(days=REVIEW_LAG_DAYS)
    return rentals


def _check_window(rentals: pd.DataFrame, plan: dt.date, horizon_days: int) -> None:
    """The data must cover the history and the whole horizon, or the holdout would be cut short."""
    first, last = rentals["event"].min().date(), rentals["event"].max().date()
    start, end = plan - dt.timedelta(days=HISTORY_DAYS), plan + dt.timedelta(days=horizon_days - 1)
    if start < first or end > last:
        raise ClosetflowError(
            f"plan date {plan} with {horizon_days} horizon days needs real events from {start} to {end}; "
            f"the data hold {first} .. {last}: pick a plan date inside them"
        )


def _select_skus(rows: pd.DataFrame, n_skus: int) -> pd.DataFrame:
    """The ``n_skus`` item x size pairs rented most in the year before the plan date (ties by id)."""
    year = rows[(rows["day"] >= -YEAR_DAYS) & (rows["day"] < 0)]
    counts = year.groupby(["item_id", "size"]).size().rename("n").reset_index()
    counts = counts.sort_values(["n", "item_id", "size"], ascending=[False, True, True], kind="stable")
    top = counts.head(n_skus).sort_values(["item_id", "size"], kind="stable").reset_index(drop=True)
    # An item's category can differ between reviews; its most frequent one (ties by name) is the SKU's.
    per_item = year[year["item_id"].isin(top["item_id"])].groupby(["item_id", "category"]).size().rename("n")
    ranked = per_item.reset_index().sort_values(["n", "category"], ascending=[False, True], kind="stable")
    category = ranked.drop_duplicates("item_id").set_index("item_id")["category"]
    top["category"] = top["item_id"].map(category).astype("str")
    return top


def _stock(rows: pd.DataFrame, sku: np.ndarray, n_skus: int, rng: np.random.Generator) -> np.ndarray:
    """Units of each SKU: its peak demand over one rental cycle in the past year x ``STOCK_COVER``.

    The peak is the most events of the SKU inside any ``CYCLE_DAYS`` window of the year before the
    plan date: about the most units it ever had out at once. Only rentals before the plan date
    count (a buyer cannot see the future); the product is rounded at random; every SKU has a unit.
    """
    day = rows["day"].to_numpy()
    past = (day >= -YEAR_DAYS) & (day < 0)
    daily = np.zeros((n_skus, YEAR_DAYS + 1), dtype=np.int64)
    np.add.at(daily, (sku[past], day[past] + YEAR_DAYS + 1), 1)
    running = daily.cumsum(axis=1)
    peak = (running[:, CYCLE_DAYS:] - running[:, :-CYCLE_DAYS]).max(axis=1)
    # Random rounding keeps the expected stock at the rule (plain ceil would give every slow SKU a
    # spare unit, plain round would leave a whole band of SKUs one unit short).
    units = np.floor(peak * STOCK_COVER + rng.uniform(0.0, 1.0, n_skus))
    return np.maximum(units, 1).astype(np.int64)


def _priority(rentals: pd.DataFrame, plan: dt.date, users: np.ndarray) -> np.ndarray:
    """1 for customers with ``PRIORITY_MIN_RENTALS`` real rentals before the plan date, else 0."""
    before = rentals.loc[rentals["event"] < pd.Timestamp(plan), "user_id"].value_counts()
    earlier = before.reindex(users, fill_value=0).to_numpy()
    return (earlier >= PRIORITY_MIN_RENTALS).astype(np.int64)


def real_demand_world(
    scale: str | Scale,
    seed: int,
    *,
    data_dir: Path | None = None,
    horizon_days: int = HORIZON_DAYS,
    plan_date: dt.date | None = None,
) -> World:
    """A world whose bookings are the real rentals around a plan date in the Rent the Runway data.

    Args:
        scale: a name from ``SCALES`` or a ``Scale``; its ``skus`` (the item x size pairs kept), sites
            and zones are used. Its ``units`` and ``reservations`` are not: stock follows the real
            demand, and the horizon holds as many bookings as were really made.
        seed: random seed; picks the plan date (``PLAN_DATES[seed % 5]``) and every simulated part.
        data_dir: folder of ``rtr_reviews.parquet`` (default: ``CLOSETFLOW_REAL_DATA``, else
            ``../shared/data``).
        horizon_days: days planned, and days the holdout schedule covers.
        plan_date: overrides the seed's plan date; history and horizon must lie inside the data.

    Raises:
        MissingRealDemandError: the real rentals file is absent.
        ClosetflowError: the plan date leaves the history or the horizon outside the data.
    """
    sc = SCALES[scale] if isinstance(scale, str) else scale
    plan = PLAN_DATES[seed % len(PLAN_DATES)] if plan_date is None else plan_date
    rentals = real_rentals(data_dir)
    _check_window(rentals, plan, horizon_days)
    cal = load_calibration()
    streams = np.random.default_rng(seed).spawn(6)
    topo = make_topology(sc, streams[0])

    day = (rentals["event"] - pd.Timestamp(plan)).dt.days
    rows = rentals.assign(day=day)[(day >= -HISTORY_DAYS) & (day < horizon_days)]
    chosen = _select_skus(rows, sc.skus)
    sku_index = pd.MultiIndex.from_frame(chosen[["item_id", "size"]])
    sku_of = sku_index.get_indexer(pd.MultiIndex.from_frame(rows[["item_id", "size"]]))
    rows = rows[sku_of >= 0].assign(sku=sku_of[sku_of >= 0])
    # One fixed order, whatever the file's row order: the seeded draws below then land on the same rows.
    rows = rows.sort_values(["day", "user_id", "item_id", "size", "rented_for"], kind="stable").reset_index(drop=True)
    n = len(rows)

    n_styles = chosen["item_id"].nunique()
    style_of = chosen["item_id"].rank(method="dense").to_numpy().astype(np.int64) - 1
    rent, retail = draw_prices(cal, n_styles, streams[1])
    skus = pd.DataFrame(
        {
            "sku_id": [f"K{i:06d}" for i in range(len(chosen))],
            "style_id": [f"RTR{i}" for i in chosen["item_id"]],
            "size": chosen["size"].astype("str"),
            "category": chosen["category"],
            "rental_value": rent[style_of],
            "retail_value": np.maximum(retail[style_of], rent[style_of] + 1),
        }
    )

    users, customer = np.unique(rows["user_id"].to_numpy(), return_inverse=True)
    # Real users have no address; each gets a zone drawn once with the simulated zones' demand shares.
    customer_zone = streams[1].choice(topo.n_zones, size=len(users), p=topo.zone_share)
    zone = customer_zone[customer]
    sku = rows["sku"].to_numpy().astype(np.int64)
    event = rows["day"].to_numpy().astype(np.int64)
    long = rows["rented_for"].astype("str").isin(LONG_OCCASIONS).to_numpy()
    rental_days = np.where(long, LONG_RENTAL_DAYS, SHORT_RENTAL_DAYS).astype(np.int64)

    unit_counts = _stock(rows, sku, len(chosen), streams[2])
    unit_sku = np.repeat(np.arange(len(chosen)), unit_counts)
    unit_site = place_at_sites(unit_sku, len(chosen), topo, streams[2])

    rng = streams[3]
    propensity = draw_propensity(cal, LATE_LEVEL_SCALE, len(users), rng)
    nearest_days = topo.ship_days[topo.nearest_site[zone], zone]
    # A booking always leaves time to ship from the nearest site, as in the simulator.
    lead = np.maximum(draw_lead_days(n, rng), nearest_days)
    delay = draw_delays(cal, propensity, customer, zone, rental_days, topo.n_zones, rng)
    year = (event >= -YEAR_DAYS) & (event < 0)
    draw = BookingDraw(
        event=event,
        booked=event - lead,
        sku=sku,
        customer=customer.astype(np.int64),
        zone=zone,
        rental_days=rental_days,
        value=skus["rental_value"].to_numpy()[sku] * np.where(long, LONG_VALUE_FACTOR, 1.0),
        priority=_priority(rentals, plan, users)[customer],
        delay=delay,
        customer_zone=customer_zone,
        daily_demand_mean=float(year.sum()) / YEAR_DAYS,
    )
    name = scale if isinstance(scale, str) else "custom"
    meta: dict[str, object] = {
        "plan_date": plan.isoformat(),
        "horizon_days": horizon_days,
        "scale": name,
        "seed": seed,
        "demand": f"real: {REVIEWS_FILE}, {REVIEWS_CITATION}",
    }
    return assemble_world(sc, topo, skus, unit_sku, unit_site, draw, plan, horizon_days, meta, streams[4], streams[5])
