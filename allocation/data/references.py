"""Rules that need more than one column: references between tables, state-dependent requirements,
and dates relative to the plan date (docs/data.md). One function per rule, named for it.

Every rule skips silently when a table or column it needs is absent or unusable: that was already
reported, and a cascade of follow-on problems would hide the real one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from allocation.data.tablecheck import UNCHECKED, CheckedTable, ProblemLog, as_mask, report_duplicates, show
from allocation.domain import LaneKind, StationKind, UnitState

__all__ = ["REFERENCES", "RULES", "TableSet", "check_rules", "is_in"]


@dataclass
class TableSet:
    """The checked tables of one data folder, keyed ``"units"`` or ``"holdout/returns"``.

    Attributes:
        tables: Tables that could be read (missing or unreadable ones are absent).
        files: File name relative to the folder for every key in ``tables``.
        plan_date: From meta.json; ``None`` when meta.json was unusable.
        horizon_days: From meta.json; ``None`` when unusable.
    """

    tables: dict[str, CheckedTable]
    files: dict[str, str]
    plan_date: pd.Timestamp | None
    horizon_days: int | None

    def get(self, key: str, *columns: str) -> pd.DataFrame | None:
        """The table if it and all ``columns`` can be checked, else ``None``."""
        table = self.tables.get(key)
        if table is None or not table.usable(*columns):
            return None
        return table.frame

    def horizon_end(self) -> pd.Timestamp | None:
        """The last day of the horizon (inclusive), when meta.json gave both numbers."""
        if self.plan_date is None or self.horizon_days is None:
            return None
        return self.plan_date + pd.Timedelta(days=self.horizon_days - 1)


# (table, column, referenced table, referenced column, what it is called in messages)
REFERENCES: Final = (
    ("stations", "site_id", "sites", "site_id", "site"),
    ("lanes", "origin", "sites", "site_id", "site"),
    ("units", "sku_id", "skus", "sku_id", "SKU"),
    ("units", "site_id", "sites", "site_id", "site"),
    ("units", "rental_id", "rentals", "rental_id", "rental"),
    ("reservations", "customer_id", "customers", "customer_id", "customer"),
    ("reservations", "sku_id", "skus", "sku_id", "SKU"),
    ("rentals", "unit_id", "units", "unit_id", "unit"),
    ("rentals", "sku_id", "skus", "sku_id", "SKU"),
    ("rentals", "customer_id", "customers", "customer_id", "customer"),
    ("rentals", "site_id", "sites", "site_id", "site"),
    ("bookings", "customer_id", "customers", "customer_id", "customer"),
    ("bookings", "sku_id", "skus", "sku_id", "SKU"),
    ("holdout/returns", "rental_id", "rentals", "rental_id", "rental"),
    ("holdout/returns", "unit_id", "units", "unit_id", "unit"),
    ("holdout/cleaning", "unit_id", "units", "unit_id", "unit"),
    ("holdout/bookings", "customer_id", "customers", "customer_id", "customer"),
    ("holdout/bookings", "sku_id", "skus", "sku_id", "SKU"),
    ("holdout/disruptions", "station_id", "stations", "station_id", "station"),
)
"""Every id reference that must resolve, as (table, column, table, column, noun)."""

_ZONE_USERS: Final = ("customers", "reservations", "holdout/bookings")


def is_in(values: pd.Series, known: pd.Series) -> np.ndarray:
    """``values.isin(known)`` for id columns, in Arrow.

    pandas' ``isin`` on its Arrow-backed ``str`` dtype converts ``known`` one Python scalar at a
    time: minutes for millions of ids. Arrow hashes both sides in C++ (about 0.3 s per million
    values probed against a million ids on a small machine). Missing values are never "in".
    """
    left = pa.array(values.astype("str"), from_pandas=True)
    right = pa.array(known.dropna().astype("str"), from_pandas=True).cast(left.type)
    hit = pc.fill_null(pc.is_in(left, value_set=right, skip_nulls=True), False)
    return np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)


def _unknown(ts: TableSet, log: ProblemLog, key: str, column: str, known: pd.Series, what: str, why: str = "") -> None:
    frame = ts.get(key, column)
    if frame is None:
        return
    values = frame[column]
    bad = values.notna().to_numpy() & ~is_in(values, known)
    log.rows(
        ts.files[key],
        column,
        bad,
        f"unknown {what}{why}",
        detail=lambda pos: f"unknown {what} {show(values.iloc[pos])}{why}",
    )


def references_resolve(ts: TableSet, log: ProblemLog) -> None:
    """Hard: every id in :data:`REFERENCES`, transfer destination and zone names a known thing."""
    for key, column, target, target_column, what in REFERENCES:
        referenced = ts.get(target, target_column)
        if referenced is not None:
            _unknown(ts, log, key, column, referenced[target_column], what)
    lanes = ts.get("lanes", "kind", "destination")
    if lanes is None:
        return
    sites = ts.get("sites", "site_id")
    if sites is not None:
        dest = lanes["destination"].where(lanes["kind"] == LaneKind.TRANSFER)
        bad = dest.notna().to_numpy() & ~is_in(dest, sites["site_id"])
        log.rows(
            ts.files["lanes"],
            "destination",
            bad,
            "transfer to an unknown site",
            detail=lambda pos: f"transfer to an unknown site {show(dest.iloc[pos])}",
        )
    zones = lanes["destination"][lanes["kind"] == LaneKind.SHIP]
    for key in _ZONE_USERS:
        _unknown(ts, log, key, "zone", zones, "zone", " (no ship lane serves it)")


def each_site_has_one_station_of_each_kind(ts: TableSet, log: ProblemLog) -> None:
    """Hard: a site has exactly one cleaning, one warehouse and one shipping station."""
    stations = ts.get("stations", "site_id", "kind")
    if stations is None:
        return
    file = ts.files["stations"]
    report_duplicates(file, ["site_id", "kind"], stations, log)
    sites = ts.get("sites", "site_id")
    if sites is None:
        return
    wanted = pd.MultiIndex.from_product([sites["site_id"].dropna().unique(), list(StationKind)])
    have = pd.MultiIndex.from_frame(stations[["site_id", "kind"]].dropna())
    absent = wanted.difference(have, sort=False)
    log.items(file, "kind", list(absent), lambda pair: f"site {show(pair[0])} has no {pair[1]} station")


def cleaning_takes_at_least_a_day(ts: TableSet, log: ProblemLog) -> None:
    """Hard: a cleaning station's processing_days is >= 1 (cleaning is never instantaneous)."""
    stations = ts.get("stations", "kind", "processing_days")
    if stations is not None:
        bad = (stations["kind"] == StationKind.CLEANING) & (stations["processing_days"] < 1)
        log.rows(
            ts.files["stations"],
            "processing_days",
            bad,
            "a cleaning station needs processing_days >= 1",
            values=stations["processing_days"],
        )


def unit_state_requirements(ts: TableSet, log: ProblemLog) -> None:
    """Hard: due_back is set unless a unit is ready or retired; rental_id when with_customer."""
    units = ts.get("units", "state", "due_back", "rental_id")
    if units is None:
        return
    table, file = ts.tables["units"], ts.files["units"]
    state = units["state"]
    in_loop = state.isin([UnitState.WITH_CUSTOMER, UnitState.RETURNING, UnitState.CLEANING])
    log.rows(file, "due_back", in_loop & table.missing("due_back"), "required unless ready or retired")
    out = (state == UnitState.WITH_CUSTOMER).to_numpy()
    log.rows(file, "rental_id", out & table.missing("rental_id"), "required when with_customer")


def unit_with_customer_is_on_its_rental(ts: TableSet, log: ProblemLog) -> None:
    """Hard: a with_customer unit's rental is outstanding (no returned_on) and is of that unit."""
    units = ts.get("units", "unit_id", "state", "rental_id")
    rentals = ts.get("rentals", "rental_id", "unit_id", "returned_on")
    if units is None or rentals is None:
        return
    out = np.flatnonzero((units["state"] == UnitState.WITH_CUSTOMER).to_numpy() & units["rental_id"].notna())
    ids = units["rental_id"].iloc[out]
    # Look up only the rentals these units name: hashing every rental id twice costs seconds.
    named = rentals[is_in(rentals["rental_id"], ids)].drop_duplicates("rental_id").set_index("rental_id")
    rental = named.reindex(ids.to_numpy())  # missing where the id is unknown (reported elsewhere)
    returned = np.zeros(len(units), dtype=bool)
    returned[out] = rental["returned_on"].notna().to_numpy()
    file = ts.files["units"]
    log.rows(
        file,
        "rental_id",
        returned,
        "with_customer, but its rental has a returned_on",
        values=units["rental_id"],
    )
    other = np.zeros(len(units), dtype=bool)
    other[out] = as_mask(
        rental["unit_id"].notna().to_numpy() & (rental["unit_id"].to_numpy() != units["unit_id"].iloc[out].to_numpy())
    )
    log.rows(
        file,
        "rental_id",
        other,
        "with_customer, but its rental is of another unit",
        values=units["rental_id"],
    )


def rental_outcome_matches_return(ts: TableSet, log: ProblemLog) -> None:
    """Hard: delay_days and cleaning_failed are empty while outstanding; delay_days is set once
    returned and equals ``returned_on - due_back`` in days, clipped at 0."""
    rentals = ts.get("rentals", "returned_on", "due_back", "delay_days", "cleaning_failed")
    if rentals is None:
        return
    table, file = ts.tables["rentals"], ts.files["rentals"]
    outstanding = rentals["returned_on"].isna() & ~table.failed["returned_on"]
    for column in ("delay_days", "cleaning_failed"):
        early = outstanding & rentals[column].notna()
        log.rows(file, column, early, "must be empty while outstanding (no returned_on)", values=rentals[column])
    returned = rentals["returned_on"].notna().to_numpy()
    log.rows(file, "delay_days", returned & table.missing("delay_days"), "required once returned_on is set")
    expected = (rentals["returned_on"] - rentals["due_back"]).dt.days.clip(lower=0)
    wrong = expected.notna() & rentals["delay_days"].notna() & (rentals["delay_days"] != expected)
    log.rows(
        file,
        "delay_days",
        wrong,
        "must be returned_on - due_back in days, clipped at 0",
        detail=lambda pos: (
            f"must be returned_on - due_back in days, clipped at 0: {int(expected.iloc[pos])}"
            f" (got {show(rentals['delay_days'].iloc[pos])})"
        ),
    )


def _before(ts: TableSet, log: ProblemLog, key: str, earlier: str, later: str) -> None:
    """Report rows where ``earlier`` is after ``later`` (both set)."""
    frame = ts.get(key, earlier, later)
    if frame is None:
        return
    a, b = frame[earlier], frame[later]
    log.rows(
        ts.files[key],
        earlier,
        as_mask(a > b),
        f"must be on or before {later}",
        detail=lambda pos: f"must be on or before {later} {show(b.iloc[pos])} (got {show(a.iloc[pos])})",
    )


def dates_in_order(ts: TableSet, log: ProblemLog) -> None:
    """Hard: bookings come before their events, rentals ship before the event and are due after."""
    for key in ("reservations", "bookings", "holdout/bookings"):
        _before(ts, log, key, "booked_on", "event_date")
    _before(ts, log, "rentals", "ship_date", "event_date")
    _before(ts, log, "rentals", "event_date", "due_back")
    _before(ts, log, "rentals", "ship_date", "returned_on")


def _date_rule(
    ts: TableSet,
    log: ProblemLog,
    key: str,
    column: str,
    bad: Callable[[pd.Series], pd.Series],
    message: str,
) -> None:
    frame = ts.get(key, column)
    if frame is not None:
        log.rows(ts.files[key], column, bad(frame[column]), message, values=frame[column])


def dates_relative_to_plan_date(ts: TableSet, log: ProblemLog) -> None:
    """Hard: what is known on the plan date happened by then; what is planned lies ahead of it.

    Reservations are booked by the plan date for events on or after it; bookings and rentals are
    history (booked, shipped, returned by the plan date); holdout bookings are made after the plan
    date for events in the horizon, holdout returns arrive on or after it.
    """
    plan = ts.plan_date
    if plan is None:
        return
    day = show(plan)
    _date_rule(ts, log, "reservations", "event_date", lambda d: d < plan, f"is before the plan date {day}")
    _date_rule(ts, log, "reservations", "booked_on", lambda d: d > plan, f"is after the plan date {day}")
    # Bookings are history, but a booking already shipped may be for an event on or after the plan
    # date (the generator writes those), so only booked_on is held to the plan date.
    _date_rule(ts, log, "bookings", "booked_on", lambda d: d > plan, f"is after the plan date {day}")
    for column in ("ship_date", "returned_on"):
        _date_rule(ts, log, "rentals", column, lambda d: d > plan, f"is after the plan date {day}")
    _date_rule(ts, log, "holdout/bookings", "booked_on", lambda d: d <= plan, f"must be after the plan date {day}")
    _date_rule(ts, log, "holdout/returns", "returned_on", lambda d: d < plan, f"is before the plan date {day}")
    end = ts.horizon_end()
    if end is None:
        return
    span = f"outside the horizon {day} .. {show(end)}"
    for key, column in (("holdout/bookings", "event_date"), ("holdout/disruptions", "date")):
        _date_rule(ts, log, key, column, lambda d: (d < plan) | (d > end), f"is {span}")


def holdout_returns_every_outstanding_rental(ts: TableSet, log: ProblemLog) -> None:
    """Hard: holdout/returns has one row per outstanding rental, and none for returned ones."""
    returns = ts.get("holdout/returns", "rental_id")
    rentals = ts.get("rentals", "rental_id", "returned_on")
    if returns is None or rentals is None:
        return
    file = ts.files["holdout/returns"]
    outstanding = rentals["returned_on"].isna().to_numpy() & ~ts.tables["rentals"].failed["returned_on"]
    done = rentals["rental_id"][rentals["returned_on"].notna()]
    ids = returns["rental_id"]
    log.rows(file, "rental_id", is_in(ids, done), "this rental was already returned", values=ids)
    pending = rentals["rental_id"][outstanding]
    absent = pending[~is_in(pending, ids)]
    log.items(file, "rental_id", absent, lambda rental: f"no return for outstanding rental {show(rental)}")


def holdout_covers_every_reservation(ts: TableSet, log: ProblemLog) -> None:
    """Hard: holdout/delays has the delay of every reservation in the horizon, known or new; new
    bookings do not reuse reservation ids."""
    known = ts.get("reservations", "reservation_id", "event_date")
    new = ts.get("holdout/bookings", "reservation_id")
    if known is None or new is None:
        return
    report = ts.files["holdout/bookings"]
    reused = is_in(new["reservation_id"], known["reservation_id"])
    log.rows(report, "reservation_id", reused, "reuses an id of reservations", values=new["reservation_id"])
    delays = ts.get("holdout/delays", "reservation_id")
    if delays is None:
        return
    everyone = pd.concat([known["reservation_id"], new["reservation_id"]], ignore_index=True)
    _unknown(ts, log, "holdout/delays", "reservation_id", everyone, "reservation")
    end = ts.horizon_end()
    if ts.plan_date is None or end is None:
        return
    ahead = known["reservation_id"][known["event_date"].between(ts.plan_date, end)]
    wanted = pd.concat([ahead, new["reservation_id"]], ignore_index=True).dropna()
    absent = wanted[~is_in(wanted, delays["reservation_id"])]
    log.items(
        ts.files["holdout/delays"],
        "reservation_id",
        absent,
        lambda reservation: f"no delay for reservation {show(reservation)}",
    )


RULES: Final = (
    references_resolve,
    each_site_has_one_station_of_each_kind,
    cleaning_takes_at_least_a_day,
    unit_state_requirements,
    unit_with_customer_is_on_its_rental,
    rental_outcome_matches_return,
    dates_in_order,
    dates_relative_to_plan_date,
    holdout_returns_every_outstanding_rental,
    holdout_covers_every_reservation,
)
"""Every rule beyond a single column, run in this order."""


def check_rules(ts: TableSet, log: ProblemLog) -> None:
    """Run every rule of :data:`RULES` over ``ts``, reporting into ``log``.

    A rule that fails on some input nobody foresaw is a problem about the folder (refused, with
    the rule named), never a traceback and never a folder that passes half-checked.
    """
    for rule in RULES:
        try:
            rule(ts, log)
        except Exception as exc:
            log.add(f"({rule.__name__})", f"{UNCHECKED}: {type(exc).__name__}: {exc}")
