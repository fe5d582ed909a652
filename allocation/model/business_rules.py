"""Business rules a planner sets on a job: hold units, block sites and lanes, VIP first, transfer and
cleaning limits.

A rule is written as text (one ``--rule`` each on the command line, one string each in the HTTP job
request) and kept as a frozen, JSON-safe ``BusinessRules``. Forms (ids as in the data: ``U0000123``,
``SITE1``, ``Z3``; dates ``YYYY-MM-DD``, a range ``A..B`` inclusive):

- ``hold:U0000123`` or ``hold:U0000123,U0000124@2026-10-05..2026-10-07`` — the units are not used;
- ``block-site:SITE1@2026-10-05..2026-10-07`` — the site ships, picks and cleans nothing those days;
- ``block-lane:SITE0->SITE1@2026-10-06`` (a transfer lane) or ``block-lane:SITE0->Z3@...`` (a
  shipping lane) — nothing leaves along it those days;
- ``vip-first`` — a VIP reservation (priority > 0) is never left unfilled so that others are filled;
- ``max-transfers:5`` — at most 5 units leave along one transfer lane on one day (all SKUs);
- ``cleaning-buffer:10%`` (or ``0.1``) — that share of every site-day's cleaning capacity stays free.

Each rule is one function below, named for it, that turns the rules into arrays of one planning run;
``allocation.model.snapshot.planning_input`` applies them (stock, capacities, candidates, objective),
``allocation.model.network.build_problem`` turns the blocked candidates and lane-days into column
bounds, and ``allocation.model.rules.transfers_per_lane_day`` is the one row family they add.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from allocation.domain import ClosetflowError
from allocation.model.protection import Protection
from allocation.statics import Statics

__all__ = [
    "BlockLane",
    "BlockSite",
    "BusinessRuleError",
    "BusinessRules",
    "DateRange",
    "Hold",
    "blocked_lanes",
    "blocked_sites",
    "cleaning_buffer",
    "describe",
    "held_units",
    "rule_blocked_candidates",
    "vip_first_bonus",
]

MAX_CLEANING_BUFFER = 0.5
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class BusinessRuleError(ClosetflowError):
    """A business rule that cannot be read or does not fit the data; the message names the rule."""


def _fail(text: str, what: str) -> BusinessRuleError:
    return BusinessRuleError(f"rule {text!r}: {what}")


@dataclass(frozen=True)
class DateRange:
    """Calendar days ``start .. end``, both included."""

    start: dt.date
    end: dt.date

    @classmethod
    def parse(cls, part: str, text: str) -> DateRange:
        ends = part.split("..")
        if len(ends) > 2 or not all(_DATE.fullmatch(e) for e in ends):
            raise _fail(text, f"{part!r} is not a date YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD")
        try:
            days = [dt.date.fromisoformat(e) for e in ends]
        except ValueError:
            raise _fail(text, f"{part!r} names a day the calendar does not have") from None
        if days[-1] < days[0]:
            raise _fail(text, f"the range {part!r} ends before it starts")
        return cls(days[0], days[-1])

    def days(self, plan_date: dt.date) -> tuple[int, int]:
        """First and last day index (day 0 = the plan date)."""
        return (self.start - plan_date).days, (self.end - plan_date).days

    def __str__(self) -> str:
        return self.start.isoformat() if self.start == self.end else f"{self.start}..{self.end}"


@dataclass(frozen=True)
class Hold:
    """Units kept out of the plan, for the whole horizon or through a date range."""

    unit_ids: tuple[str, ...]
    dates: DateRange | None = None

    def __str__(self) -> str:
        return f"hold:{','.join(self.unit_ids)}" + ("" if self.dates is None else f"@{self.dates}")


@dataclass(frozen=True)
class BlockSite:
    """A site that ships, picks and cleans nothing on the given days."""

    site_id: str
    dates: DateRange

    def __str__(self) -> str:
        return f"block-site:{self.site_id}@{self.dates}"


@dataclass(frozen=True)
class BlockLane:
    """A transfer lane (site -> site) or shipping lane (site -> zone) nothing leaves on, on the given days."""

    origin: str
    destination: str
    dates: DateRange

    def __str__(self) -> str:
        return f"block-lane:{self.origin}->{self.destination}@{self.dates}"


def _ids(part: str, text: str, what: str) -> tuple[str, ...]:
    ids = tuple(part.split(","))
    if not all(i.strip() == i and i for i in ids):
        raise _fail(text, f"expected {what} id(s) separated by commas, got {part!r}")
    return ids


def _split_dates(body: str, text: str, *, required: bool) -> tuple[str, DateRange | None]:
    if "@" not in body:
        if required:
            raise _fail(text, "needs the days it applies to: ...@YYYY-MM-DD or ...@YYYY-MM-DD..YYYY-MM-DD")
        return body, None
    head, dates = body.rsplit("@", 1)
    return head, DateRange.parse(dates, text)


def _share(part: str, text: str) -> float:
    try:
        value = float(part[:-1]) / 100.0 if part.endswith("%") else float(part)
    except ValueError:
        raise _fail(text, f"{part!r} is not a share such as 10% or 0.1") from None
    if not 0.0 <= value <= MAX_CLEANING_BUFFER:
        raise _fail(text, f"the buffer must be between 0% and {MAX_CLEANING_BUFFER:.0%} of cleaning capacity")
    return value


@dataclass(frozen=True)
class BusinessRules:
    """The business rules of one job (JSON-safe through ``to_json``; read from text with ``parse``)."""

    holds: tuple[Hold, ...] = ()
    blocked_sites: tuple[BlockSite, ...] = ()
    blocked_lanes: tuple[BlockLane, ...] = ()
    vip_first: bool = False
    max_transfers_per_lane_day: int | None = None
    cleaning_buffer: float = 0.0

    @classmethod
    def parse(cls, texts: Iterable[str]) -> BusinessRules:
        """Read rules from their text forms (module docstring); a bad one raises ``BusinessRuleError``."""
        holds: list[Hold] = []
        sites: list[BlockSite] = []
        lanes: list[BlockLane] = []
        vip, cap, buffer = False, None, 0.0
        seen: set[str] = set()
        for text in texts:
            kind, _, body = text.partition(":")
            if kind in ("vip-first", "max-transfers", "cleaning-buffer") and kind in seen:
                raise _fail(text, f"{kind} is given twice")
            seen.add(kind)
            if kind == "hold" and body:
                head, dates = _split_dates(body, text, required=False)
                holds.append(Hold(_ids(head, text, "unit"), dates))
            elif kind == "block-site" and body:
                head, dates = _split_dates(body, text, required=True)
                assert dates is not None
                if not head or "," in head or head.strip() != head:
                    raise _fail(text, f"block one site per rule (block-site:SITE@DATES), got {head!r}")
                sites.append(BlockSite(head, dates))
            elif kind == "block-lane" and body:
                head, dates = _split_dates(body, text, required=True)
                assert dates is not None
                ends = head.split("->")
                if len(ends) != 2 or not all(ends):
                    raise _fail(text, f"a lane is ORIGIN->DESTINATION, got {head!r}")
                lanes.append(BlockLane(ends[0], ends[1], dates))
            elif text == "vip-first":
                vip = True
            elif kind == "max-transfers" and body:
                if not body.isdigit():
                    raise _fail(text, f"{body!r} is not a whole number of transfers (0 or more)")
                cap = int(body)
            elif kind == "cleaning-buffer" and body:
                buffer = _share(body, text)
            else:
                raise _fail(
                    text,
                    "not a rule; use hold:UNIT[,UNIT...][@DATES], block-site:SITE@DATES, "
                    "block-lane:FROM->TO@DATES, vip-first, max-transfers:N or cleaning-buffer:P%",
                )
        return cls(tuple(holds), tuple(sites), tuple(lanes), vip, cap, buffer)

    def texts(self) -> list[str]:
        """The rules in their canonical text forms (``parse`` reads them back to equal rules)."""
        out = [str(r) for r in (*self.holds, *self.blocked_sites, *self.blocked_lanes)]
        if self.vip_first:
            out.append("vip-first")
        if self.max_transfers_per_lane_day is not None:
            out.append(f"max-transfers:{self.max_transfers_per_lane_day}")
        if self.cleaning_buffer > 0:
            out.append(f"cleaning-buffer:{self.cleaning_buffer * 100:g}%")
        return out

    def __bool__(self) -> bool:
        return bool(self.texts())

    def to_json(self) -> dict[str, Any]:
        return {"rules": self.texts()}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> BusinessRules:
        if data is None:
            return cls()
        rules = data.get("rules")
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            raise BusinessRuleError(f"business rules must be a list of rule texts, got {rules!r}")
        return cls.parse(rules)

    def check(self, statics: Statics) -> None:
        """Every id is in the data, every lane exists and every date range touches the plan's days;
        otherwise ``BusinessRuleError`` naming the rule and what is wrong."""
        plan = _plan_date(statics)
        last = plan + dt.timedelta(days=statics.horizon - 1)
        sites, zones, units = set(statics.site_ids), set(statics.zone_ids), set(statics.unit_ids)
        dated: list[tuple[object, DateRange | None]] = []
        for h in self.holds:
            missing = [u for u in h.unit_ids if u not in units]
            if missing:
                raise _fail(str(h), f"unknown unit {missing[0]!r}")
            dated.append((h, h.dates))
        for b in self.blocked_sites:
            if b.site_id not in sites:
                raise _fail(str(b), f"unknown site {b.site_id!r}")
            dated.append((b, b.dates))
        for lane in self.blocked_lanes:
            if lane.origin not in sites:
                raise _fail(str(lane), f"unknown site {lane.origin!r}")
            a = statics.site_ids.get_loc(lane.origin)
            if lane.destination in sites:
                if statics.transfer_days[a, statics.site_ids.get_loc(lane.destination)] >= _NO_LANE:
                    raise _fail(str(lane), f"there is no transfer lane {lane.origin}->{lane.destination}")
            elif lane.destination in zones:
                if statics.ship_days[a, statics.zone_ids.get_loc(lane.destination)] >= _NO_LANE:
                    raise _fail(str(lane), f"there is no shipping lane {lane.origin}->{lane.destination}")
            else:
                raise _fail(str(lane), f"unknown site or zone {lane.destination!r}")
            dated.append((lane, lane.dates))
        for rule, dates in dated:
            if dates is not None and (dates.end < plan or dates.start > last):
                raise _fail(str(rule), f"its days lie outside the plan's days {plan}..{last}")


_NO_LANE = 10_000  # allocation.statics marks a missing lane with this many days


def _pos(index: pd.Index, ids: list[str]) -> np.ndarray:
    return np.asarray(index.get_indexer(pd.Index(ids)), dtype=np.int64)


def _plan_date(statics: Statics) -> dt.date:
    if statics.plan_date is None:
        raise BusinessRuleError("business rules name calendar days: the world's plan date is needed")
    return statics.plan_date


def _local_days(dates: DateRange, plan: dt.date, day0: int, T: int) -> np.ndarray:
    a, b = dates.days(plan)
    return np.arange(max(a - day0, 0), max(min(b - day0 + 1, T), 0))


def held_units(rules: BusinessRules | None, statics: Statics) -> np.ndarray:
    """Rule ``hold``. Protects a unit the business needs (a shoot, an inspection, a repair) from
    being planned: per unit, the first day it may count as stock again (-1: not held; the horizon
    or later: held throughout).

    A held unit leaves ready and dirty stock from this morning through the hold's last day and comes
    back, in the state it would be in, the day after; so the plan never ships, cleans or moves it
    before or during the hold (a hold starting later still keeps it from leaving now: a rental would
    not be back in time).
    """
    release = np.full(len(statics.unit_ids), -1, dtype=np.int64)
    if rules is None or not rules.holds:
        return release
    plan = _plan_date(statics)
    for h in rules.holds:
        pos = _pos(statics.unit_ids, list(h.unit_ids))
        pos = pos[pos >= 0]
        until = statics.horizon if h.dates is None else h.dates.days(plan)[1] + 1
        release[pos] = np.maximum(release[pos], until)
    return release


def blocked_sites(rules: BusinessRules | None, statics: Statics, day0: int, T: int) -> np.ndarray:
    """Rule ``block-site``. Protects a site that cannot work (a holiday, an audit, a move): (S, T)
    object array, the rule's text on each blocked local site-day, "" elsewhere. On those days its
    cleaning, shipping and pick capacities are 0 and no shipment leaves it."""
    out = np.full((statics.n_sites, T), "", dtype=object)
    if rules is None:
        return out
    plan = _plan_date(statics)
    for b in rules.blocked_sites:
        s = _pos(statics.site_ids, [b.site_id])[0]
        if s >= 0:
            out[s, _local_days(b.dates, plan, day0, T)] = str(b)
    return out


def blocked_lanes(rules: BusinessRules | None, statics: Statics, day0: int, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Rule ``block-lane``. Protects a lane that cannot be used (a carrier strike, a closed road):
    ``(ship, transfer)`` object arrays (S, zones, T) and (S, S, T), the rule's text on each blocked
    lane and local departure day, "" elsewhere. Nothing leaves along a blocked lane on those days."""
    ship = np.full((statics.n_sites, len(statics.zone_ids), T), "", dtype=object)
    transfer = np.full((statics.n_sites, statics.n_sites, T), "", dtype=object)
    if rules is None:
        return ship, transfer
    plan = _plan_date(statics)
    for lane in rules.blocked_lanes:
        a = _pos(statics.site_ids, [lane.origin])[0]
        days = _local_days(lane.dates, plan, day0, T)
        b = _pos(statics.site_ids, [lane.destination])[0]
        z = _pos(statics.zone_ids, [lane.destination])[0]
        if a < 0:
            continue
        if b >= 0:
            transfer[a, b, days] = str(lane)
        elif z >= 0:
            ship[a, z, days] = str(lane)
    return ship, transfer


def cleaning_buffer(rules: BusinessRules | None, clean_cap: np.ndarray) -> np.ndarray:
    """Rule ``cleaning-buffer``. Protects slack at the cleaning stations for the unplanned (rush
    orders, re-cleans): the plan uses at most ``1 - buffer`` of every site-day's cleaning capacity."""
    if rules is None or rules.cleaning_buffer <= 0:
        return clean_cap
    return clean_cap * (1.0 - rules.cleaning_buffer)


def vip_first_bonus(
    rules: BusinessRules | None,
    vip: np.ndarray,
    cand_obj: np.ndarray,
    protect: Protection,
    transfer_cost: np.ndarray,
    T: int,
) -> np.ndarray | None:
    """Rule ``vip-first``. Protects VIP customers (reservation priority > 0): a bonus ``B`` added to
    the objective of every VIP shipment candidate (None when the rule is off).

    ``B`` = 1 + the positive objective of every non-VIP candidate + the value of every held-back
    segment + T x the dearest transfer. One more VIP fill is thus worth more than everything the
    non-VIP reservations, the held-back units and one unit's transfers over the whole horizon could
    earn or save together, so the plan never leaves a VIP reservation unfilled to fill non-VIP ones:
    it fills as many VIP reservations as any plan can (tested against a plan maximising VIP fills
    alone), and among such plans maximises the usual objective. The bonus is objective only: it is
    not value and no report counts it.
    """
    if rules is None or not rules.vip_first:
        return None
    others = float(np.clip(cand_obj[~vip], 0.0, None).sum())
    held = float((np.clip(protect.obj, 0.0, None) * np.minimum(protect.ub, 1.0)).sum())
    dearest = float(transfer_cost.max(initial=0.0))
    return np.where(vip, 1.0 + others + held + T * dearest, 0.0)


class Candidates(Protocol):
    """What ``rule_blocked_candidates`` reads of a ``PlanningInput`` (which imports this module)."""

    cand_res: np.ndarray
    cand_rule: np.ndarray | None


def rule_blocked_candidates(inp: Candidates) -> np.ndarray:
    """Per shipment candidate of ``inp``: "" or the text of the rule that blocked it (object array)."""
    if inp.cand_rule is not None:
        return inp.cand_rule
    return np.full(len(inp.cand_res), "", dtype=object)


def describe(rules: BusinessRules | None) -> list[str]:
    """The active rules in a planner's words, one line each."""
    if rules is None:
        return []
    lines: list[str] = []
    for h in rules.holds:
        when = "for the whole plan" if h.dates is None else f"through {h.dates.end}"
        units = ", ".join(h.unit_ids)
        lines.append(f"{units} {'is' if len(h.unit_ids) == 1 else 'are'} held {when}")
    for b in rules.blocked_sites:
        lines.append(f"{b.site_id} ships, picks and cleans nothing on {_on(b.dates)}")
    for lane in rules.blocked_lanes:
        lines.append(f"nothing leaves on the lane {lane.origin} -> {lane.destination} on {_on(lane.dates)}")
    if rules.vip_first:
        lines.append("VIP reservations (priority above 0) are filled first: none is left unfilled to fill others")
    if rules.max_transfers_per_lane_day is not None:
        n = rules.max_transfers_per_lane_day
        lines.append(f"at most {n} unit{'s' if n != 1 else ''} transferred per lane per day")
    if rules.cleaning_buffer > 0:
        lines.append(f"{rules.cleaning_buffer * 100:g}% of each site's daily cleaning capacity is kept free")
    return lines


def _on(dates: DateRange) -> str:
    return str(dates.start) if dates.start == dates.end else f"{dates.start} to {dates.end}"
