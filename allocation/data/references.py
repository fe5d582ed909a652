"""Rules that need more than one column (docs/data.md), and :func:`check_rules`, which runs them all.

This module holds references between tables, station rules and dates relative to the plan date;
unit states and rentals are in :mod:`allocation.data.state_rules`, the holdout schedule in
:mod:`allocation.data.holdout_rules`, lanes and shipping in time in
:mod:`allocation.data.lane_rules`. One function per rule, named for it.

Every rule skips silently when a table or column it needs is absent or unusable: that was already
reported, and a cascade of follow-on problems would hide the real one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import pandas as pd

from allocation.data.holdout_rules import (
    holdout_cleaning_cycles_have_no_gaps,
    holdout_returns_every_outstanding_rental,
    returning_units_arrive_when_units_say,
)
from allocation.data.lane_rules import reservations_can_ship_in_time, transfer_lanes_join_two_sites
from allocation.data.state_rules import (
    rental_outcome_matches_return,
    unit_dates_fit_their_state,
    unit_state_requirements,
    unit_with_customer_is_on_its_rental,
)
from allocation.data.tablecheck import UNCHECKED, ProblemLog, as_mask, report_duplicates, show
from allocation.data.tableset import TableSet, is_in, report_unknown
from allocation.domain import LaneKind, StationKind

__all__ = ["REFERENCES", "RULES", "TableSet", "check_rules", "is_in"]


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


def references_resolve(ts: TableSet, log: ProblemLog) -> None:
    """Hard: every id in :data:`REFERENCES`, transfer destination and zone names a known thing."""
    for key, column, target, target_column, what in REFERENCES:
        referenced = ts.get(target, target_column)
        if referenced is not None:
            report_unknown(ts, log, key, column, referenced[target_column], what)
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
        report_unknown(ts, log, key, "zone", zones, "zone", " (no ship lane serves it)")


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
    report_unknown(ts, log, "holdout/delays", "reservation_id", everyone, "reservation")
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
    transfer_lanes_join_two_sites,
    unit_state_requirements,
    unit_with_customer_is_on_its_rental,
    unit_dates_fit_their_state,
    rental_outcome_matches_return,
    dates_in_order,
    dates_relative_to_plan_date,
    reservations_can_ship_in_time,
    holdout_returns_every_outstanding_rental,
    returning_units_arrive_when_units_say,
    holdout_cleaning_cycles_have_no_gaps,
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
