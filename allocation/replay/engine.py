"""Day-by-day replay of a policy against a schedule: the physical rules every policy lives by.

Each day: arrivals (returns become dirty, cleanings finish or fail, transfers land), then the policy
decides with what it may know, then the day is executed under the *realized* capacities: cleaning
in the policy's priority order, shipments in the policy's order (a unit must be ready at the site,
the day must be no later than the reservation's ship-by day), transfers with the picks left.
The replay enforces the hard rules, so no policy can ship a unit twice, exceed a capacity or ship
before a unit is ready, whatever it asks for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from allocation.state import ExecState, Schedule, U
from allocation.statics import Statics

__all__ = ["DayDecision", "Policy", "ReplayResult", "group_rank", "replay"]


@dataclass
class DayDecision:
    """What a policy asks for on one day.

    ``ship_passes`` are tried in order; each is (reservations, sites) in priority order, and a
    reservation filled by an earlier pass is skipped in later ones (recourse). ``clean_score`` ranks
    dirty units for cleaning (higher first; ties go first-in first-out). Transfers are
    (sku, from_site, to_site, quantity).
    """

    ship_passes: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    clean_score: np.ndarray | None = None
    transfers: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None


class Policy(Protocol):
    name: str

    def decide(self, state: ExecState, day: int) -> DayDecision: ...


@dataclass
class ReplayResult:
    """What happened under one policy."""

    policy: str
    filled: np.ndarray  # (reservations,) bool
    res_site: np.ndarray
    res_unit: np.ndarray
    res_ship_day: np.ndarray
    ship_cost: float
    transfer_cost: float
    transfers: int
    clean_used: np.ndarray  # (sites, horizon)
    ship_used: np.ndarray
    pick_used: np.ndarray
    overflow: int  # shipments and transfers asked for that a unit was there for but capacity was not
    cleaning_backlog: np.ndarray  # (sites, horizon) dirty units left uncleaned at day end
    log: dict[str, np.ndarray]

    def value(self, statics: Statics) -> float:
        """Dollars: value of filled reservations minus shipping and transfer costs."""
        return float(statics.res_value[self.filled].sum() - self.ship_cost - self.transfer_cost)

    def fill_rate(self) -> float:
        return float(self.filled.mean()) if len(self.filled) else float("nan")


def group_rank(keys: np.ndarray) -> np.ndarray:
    """Rank of each element within its key group, in the given order (0 for the first)."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    first = np.r_[True, sk[1:] != sk[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(sk)), 0))
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = np.arange(len(sk)) - start
    return rank


def _arrivals(st: ExecState, statics: Statics, sched: Schedule, day: int) -> None:
    """Returns become dirty, cleanings finish (or fail), transfers land.

    ``<=`` rather than ``==``: a date already past in the input (a unit due back before the plan
    date, a cleaning that should have finished) takes effect on the first morning instead of never.
    """
    back = (st.state == U.OUT) & (st.when <= day)
    st.state[back] = U.DIRTY
    st.dirty_since[back] = day
    done = np.nonzero((st.state == U.CLEANING) & (st.when <= day))[0]
    failed = sched.fails_at(done, st.cycle[done])
    st.state[done] = np.where(failed, U.REPAIR, U.READY)
    st.cycle[done] += 1
    landed = (st.state == U.TRANSIT) & (st.when <= day)
    st.state[landed] = U.READY


def _clean(
    st: ExecState,
    statics: Statics,
    sched: Schedule,
    day: int,
    score: np.ndarray | None,
    used: np.ndarray,
    backlog: np.ndarray,
) -> None:
    dirty = np.nonzero(st.state == U.DIRTY)[0]
    if len(dirty) == 0:
        return
    pri = np.zeros(len(dirty)) if score is None else score[dirty]
    order = np.lexsort((dirty, st.dirty_since[dirty], -pri, st.site[dirty]))
    dirty = dirty[order]
    rank = group_rank(st.site[dirty])
    take = rank < sched.clean_cap[st.site[dirty], day]
    chosen = dirty[take]
    st.state[chosen] = U.CLEANING
    st.when[chosen] = day + statics.clean_days[st.site[chosen]]
    used[:, day] = np.bincount(st.site[chosen], minlength=statics.n_sites)
    st.log.setdefault("clean", []).append(np.c_[chosen, st.site[chosen], np.full(len(chosen), day)])
    backlog[:, day] = np.bincount(st.site[dirty[~take]], minlength=statics.n_sites)


def _claim(
    st: ExecState, statics: Statics, sku: np.ndarray, site: np.ndarray, cap_left: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Match requests for a ready unit of ``sku`` at ``site``, in the order given, to distinct
    ready units there, within each site's remaining capacity ``cap_left``.

    Returns the mask of requests served, the unit serving each, and how many requests had a
    unit but no capacity left.
    """
    ready = np.nonzero(st.state == U.READY)[0]
    n_sites = statics.n_sites
    key_ready = statics.unit_sku[ready] * n_sites + st.site[ready]
    order = np.argsort(key_ready, kind="stable")
    ready, key_ready = ready[order], key_ready[order]
    key = sku * n_sites + site
    lo = np.searchsorted(key_ready, key, side="left")
    hi = np.searchsorted(key_ready, key, side="right")
    has_unit = group_rank(key) < (hi - lo)
    srank = np.full(len(key), np.iinfo(np.int64).max)
    srank[has_unit] = group_rank(site[has_unit])
    go = has_unit & (srank < cap_left[site])
    # Capacity refusals free their units for later requests of the same (sku, site).
    rank = group_rank(key[go])
    return go, ready[lo[go] + rank], int((has_unit & ~go).sum())


def _ship(
    st: ExecState,
    statics: Statics,
    sched: Schedule,
    day: int,
    res: np.ndarray,
    site: np.ndarray,
    ship_used: np.ndarray,
    pick_used: np.ndarray,
) -> tuple[float, int]:
    """Execute one pass of shipments; returns (shipping cost, capacity refusals)."""
    res = np.asarray(res, dtype=np.int64)
    site = np.asarray(site, dtype=np.int64)
    valid = (~st.res_filled[res]) & (statics.res_booked[res] <= day) & (day <= statics.ship_by(res, site))
    _, first = np.unique(res, return_index=True)
    once = np.zeros(len(res), dtype=bool)
    once[first] = True  # a reservation listed twice in one pass ships at most once
    keep = valid & once
    res, site = res[keep], site[keep]
    if len(res) == 0:
        return 0.0, 0
    cap = np.minimum(sched.ship_cap[:, day] - ship_used[:, day], sched.pick_cap[:, day] - pick_used[:, day])
    go, units, refused = _claim(st, statics, statics.res_sku[res], site, cap)
    r, s = res[go], site[go]
    st.state[units] = U.OUT
    transit = statics.ship_days[s, statics.res_zone[r]]
    st.due[units] = statics.res_event[r] + statics.res_days[r] + transit
    st.when[units] = st.due[units] + sched.res_delay[r]  # the truth, hidden from policies
    st.pmf_row[units] = len(st.state) + r
    st.site[units] = s
    st.res_filled[r] = True
    st.res_unit[r] = units
    st.res_site[r] = s
    st.res_ship_day[r] = day
    np.add.at(ship_used[:, day], s, 1)
    np.add.at(pick_used[:, day], s, 1)
    st.log.setdefault("ship", []).append(np.c_[units, r, s, np.full(len(r), day)])
    return float(statics.ship_cost[s, statics.res_zone[r]].sum()), refused


def _transfer(
    st: ExecState,
    statics: Statics,
    sched: Schedule,
    day: int,
    tr: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    pick_used: np.ndarray,
) -> tuple[float, int, int]:
    sku, a, b, qty = (np.asarray(v, dtype=np.int64) for v in tr)
    ok = (qty > 0) & (a != b) & (statics.transfer_days[a, b] < 10_000)
    sku, a, b, qty = sku[ok], a[ok], b[ok], qty[ok]
    if len(sku) == 0:
        return 0.0, 0, 0
    rows = np.repeat(np.arange(len(sku)), qty)  # one row per unit asked for
    ku, au, bu = sku[rows], a[rows], b[rows]
    go, units, refused = _claim(st, statics, ku, au, sched.pick_cap[:, day] - pick_used[:, day])
    st.state[units] = U.TRANSIT
    st.site[units] = bu[go]
    st.when[units] = day + statics.transfer_days[au[go], bu[go]]
    np.add.at(pick_used[:, day], au[go], 1)
    st.log.setdefault("transfer", []).append(np.c_[units, ku[go], au[go], bu[go], np.full(len(units), day)])
    cost = float(statics.transfer_cost[au[go], bu[go]].sum())
    return cost, int(go.sum()), refused


def replay(
    policy: Policy, statics: Statics, schedule: Schedule, state: ExecState, on_day: Callable[[int], None] | None = None
) -> ReplayResult:
    """Play ``policy`` over the horizon from ``state`` (which it mutates) against ``schedule``."""
    horizon = statics.horizon
    shape = (statics.n_sites, horizon)
    clean_used, ship_used, pick_used = (np.zeros(shape, dtype=np.int64) for _ in range(3))
    backlog = np.zeros(shape, dtype=np.int64)
    ship_cost = transfer_cost = 0.0
    n_transfers = overflow = 0
    for day in range(state.day, horizon):
        state.day = day
        _arrivals(state, statics, schedule, day)
        decision = policy.decide(state, day)
        _clean(state, statics, schedule, day, decision.clean_score, clean_used, backlog)
        for res, site in decision.ship_passes:
            cost, refused = _ship(state, statics, schedule, day, res, site, ship_used, pick_used)
            ship_cost += cost
            overflow += refused
        if decision.transfers is not None:
            cost, moved, refused = _transfer(state, statics, schedule, day, decision.transfers, pick_used)
            transfer_cost += cost
            n_transfers += moved
            overflow += refused
        if on_day is not None:
            on_day(day)
    log = {k: np.concatenate(v) if v else np.zeros((0, 4), dtype=np.int64) for k, v in state.log.items()}
    return ReplayResult(
        policy=policy.name,
        filled=state.res_filled.copy(),
        res_site=state.res_site.copy(),
        res_unit=state.res_unit.copy(),
        res_ship_day=state.res_ship_day.copy(),
        ship_cost=ship_cost,
        transfer_cost=transfer_cost,
        transfers=n_transfers,
        clean_used=clean_used,
        ship_used=ship_used,
        pick_used=pick_used,
        overflow=overflow,
        cleaning_backlog=backlog,
        log=log,
    )
