"""What a planner knows on a morning, turned into the inputs of the decision model.

``Information`` says what the planner may see: closetflow sees unit states, known bookings, the
late-return distributions and the demand forecast, and today's capacities; the hindsight planner
sees the holdout schedule itself. ``planning_input`` builds the arrays of one planning run from a
replay state (or from the plan-date state). Risk policy decides how uncertain returns count:
``expected`` spreads each return over its delay distribution; ``quantile:a`` counts a return on the
first day it is back with probability >= a.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocation.domain import ClosetflowError
from allocation.model.business_rules import (
    BusinessRules,
    blocked_lanes,
    blocked_sites,
    cleaning_buffer,
    held_units,
    vip_first_bonus,
)
from allocation.model.protection import Protection, protection_segments
from allocation.state import ExecState, Schedule, U
from allocation.statics import Statics

__all__ = ["Information", "PlanningInput", "RiskPolicy", "conditional_return_pmf", "planning_input"]

# Dollars added per filled reservation so the plan fills many, then valuable ones, and the value share
# of a fill that is forecast rather than booked (held-back units). Both chosen by
# scripts/tune_policy.py on tuning seeds 101-103 (small), apart from the reporting seeds 1-5: the
# best mean realized closetflow value of the grid {0.25, 0.5, 0.75} x {50, 100, 200} (80,301 against
# 79,978 for the former 0.5 and 100; the whole grid spans 79,820-80,301, about one seed's noise).
FILL_BONUS = 200.0
PROTECT_WEIGHT = 0.25
# Dollars per day a shipment leaves before its ship-by day: a tie-break, so a unit ships early only
# when that frees capacity the plan needs later (otherwise it stays available for longer).
EARLY_SHIP_PENALTY = 0.01
# Shipment candidates up to this many days before the ship-by day. Chosen on tuning seeds 11-13
# (small), apart from the reporting seeds: summed realized value 257,806 with 0, 260,410 with 2,
# 260,113 with 4.
SHIP_EARLY_DAYS = 2


@dataclass(frozen=True)
class RiskPolicy:
    """How uncertain returns count in the plan."""

    kind: str = "expected"
    alpha: float = 0.5

    @classmethod
    def parse(cls, text: str) -> RiskPolicy:
        """``expected`` or ``quantile:<a>`` with 0 < a < 1.

        A ``scenarios:<n>`` policy (n sampled return and cleaning worlds in one LP sharing the first
        day) was built and measured (docs/architecture.md): it did not beat ``expected`` on realized
        value, so it is not offered.
        """
        if text == "expected":
            return cls("expected")
        if text.startswith("quantile:"):
            try:
                alpha = float(text.split(":", 1)[1])
            except ValueError:
                alpha = -1.0
            if 0.0 < alpha < 1.0:
                return cls("quantile", alpha)
        raise ClosetflowError(f"risk policy {text!r} is not 'expected' or 'quantile:<a>' with 0 < a < 1")

    def __str__(self) -> str:
        return "expected" if self.kind == "expected" else f"quantile:{self.alpha:g}"


@dataclass
class Information:
    """What a planning run may see besides the unit states."""

    risk: RiskPolicy
    pmf: np.ndarray | None  # (units + reservations, K+1) delay distributions; None = hindsight
    schedule: Schedule | None  # hindsight only: the truth
    demand_total: np.ndarray | None  # (skus, sites, horizon) expected demand by event day
    lead_cdf: np.ndarray | None  # P(lead <= L days)
    today_capacity: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # known on the day
    sku_fail_rate: np.ndarray | None = None  # (skus,) cleaning failure share; None: the stations' rate
    protect_weight: float = PROTECT_WEIGHT
    fill_bonus: float = FILL_BONUS  # dollars per filled reservation in the objective (not in realized value)
    ship_early_days: int = SHIP_EARLY_DAYS  # shipment candidates up to this many days before ship-by
    rules: BusinessRules | None = None  # the job's business rules (allocation.model.business_rules)

    @property
    def hindsight(self) -> bool:
        return self.schedule is not None


@dataclass
class PlanningInput:
    """Arrays of one planning run over days ``day0 .. day0 + T - 1`` (local day tau = day - day0)."""

    day0: int
    T: int
    n_sites: int
    skus: np.ndarray  # global SKU index of each local SKU
    ready0: np.ndarray  # (K, S)
    dirty0: np.ndarray  # (K, S)
    ready_in: np.ndarray  # (K, S, T) units becoming ready (cleanings finishing, transfers landing)
    dirty_in: np.ndarray  # (K, S, T) returns arriving
    clean_cap: np.ndarray  # (S, T)
    ship_cap: np.ndarray
    pick_cap: np.ndarray
    clean_days: np.ndarray  # (S,)
    clean_yield: np.ndarray  # (K, S) 1 - failure share
    transfer_days: np.ndarray
    transfer_cost: np.ndarray
    res: np.ndarray  # global reservation index of each open reservation
    cand_res: np.ndarray  # local reservation position of each (reservation, site) candidate
    cand_site: np.ndarray
    cand_tau: np.ndarray
    cand_sku: np.ndarray  # local SKU
    cand_obj: np.ndarray
    ret_cand: np.ndarray  # return arcs: candidate, local day, weight
    ret_tau: np.ndarray
    ret_w: np.ndarray
    protect: Protection  # units held back for forecast demand (``allocation.model.protection``)
    # Business rules (allocation.model.business_rules); the defaults mean none.
    rules: BusinessRules | None = None
    cand_rule: np.ndarray | None = None  # per candidate: "" or the text of the rule that blocks it
    cand_bonus: np.ndarray | None = None  # per candidate: objective-only bonus (vip-first)
    tr_blocked: np.ndarray | None = None  # (S, S, T) bool: nothing leaves lane a -> b on local day t
    max_transfers_per_lane_day: int | None = None


def conditional_return_pmf(pmf: np.ndarray, due: np.ndarray, day0: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return-day distribution of units still out on the morning of ``day0``: ``(start, p)``.

    ``pmf`` (n, K+1) is each unit's delay distribution (delay 0..K days after ``due``; the model's
    last bucket is "K or more"). A unit still out on the morning of ``day0`` is not back on any
    day up to and including ``day0`` (that day's returns are already processed: the replay plays
    arrivals before the planner runs, and on the plan date the data's states are the morning's),
    so its delay is at least ``m = day0 + 1 - due`` and
    ``P(back on day t) = pmf[t - due] / P(delay >= m)`` for ``t > day0``, zero before.
    Row ``i`` of ``p`` is the probability of coming back on day ``start[i] + j``; every row sums
    to 1. This protects the plan from counting supply that cannot come: without it a unit already
    late keeps the unconditional chance of being on time, and returns land on processed days.

    Past the model's support (``m >= K``: the unit is in the open "K or more" bucket, or the
    remaining mass is zero) the unit gets a geometric tail starting ``day0 + 1`` with the model's
    last hazard ``h = pmf[K-1] / (pmf[K-1] + pmf[K])`` (the chance of coming back the day after
    being ``K-1`` days late), over K+1 days, the mass left after them on the last one; not
    "back today". ``day0`` may be a scalar or one day per unit (a unit is never back before it).
    """
    pmf = np.asarray(pmf, dtype=float)
    width = pmf.shape[1]
    K = width - 1
    due = np.asarray(due, dtype=np.int64)
    first = np.broadcast_to(np.asarray(day0, dtype=np.int64), due.shape) + 1  # earliest possible day
    m = first - due  # least possible delay
    j = np.arange(width)[None, :]
    p = np.where(j >= m[:, None], pmf, 0.0)
    rest = p.sum(axis=1)
    tail = (rest <= 1e-12) | ((m > 0) & (m >= K))
    p[~tail] /= rest[~tail][:, None]
    if tail.any():
        if K >= 1:
            last = pmf[tail, K - 1]
            den = last + pmf[tail, K]
            h = np.where(den > 1e-12, last / np.where(den > 1e-12, den, 1.0), 1.0)
        else:
            h = np.ones(int(tail.sum()))
        geo = h[:, None] * (1.0 - h[:, None]) ** np.arange(width)[None, :]
        geo[:, -1] = (1.0 - h) ** K  # what is left after K tail days
        p[tail] = geo
    start = np.where(tail, first, due)
    return start, p


def _arrival_spread(
    due: np.ndarray, pmf: np.ndarray, day0: int | np.ndarray, risk: RiskPolicy
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, day, weight) of each unit's arrival, conditioned on not being back by ``day0``."""
    start, p = conditional_return_pmf(pmf, due, day0)
    if risk.kind == "quantile":
        jq = np.argmax(p.cumsum(axis=1) >= risk.alpha - 1e-12, axis=1)
        return np.arange(len(due)), start + jq, np.ones(len(due))
    rows, cols = np.nonzero(p > 1e-9)
    return rows, start[rows] + cols, p[rows, cols]


def _cycle_days(statics: Statics, own_days: np.ndarray, pmf: np.ndarray | None, n_units: int) -> np.ndarray:
    """(S,) days from shipping a held-back unit to it being back dirty: out to the nearest zone,
    the mean rental, back, and the mean expected lateness of the reservations' return models."""
    rental = float(statics.res_days.mean()) if statics.n_res else 0.0
    late = 0.0
    if pmf is not None and pmf.shape[0] > n_units:
        late = float((pmf[n_units:] @ np.arange(pmf.shape[1])).mean())
    return np.rint(2 * own_days + rental + late).astype(np.int64)


def _ship_candidates(
    statics: Statics, g: np.ndarray, cr: np.ndarray, cs: np.ndarray, day0: int, early_days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shipment candidates (reservation, site, ship day): the ship-by day and up to ``early_days``
    days before it, never before ``day0`` or the booking day, never past the horizon.

    Shipping early ties a unit up for longer but frees the later day's shipping and pick capacity;
    the replay allows it, so the model must too when capacity binds. Returns ``(cr, cs, g, ship_day,
    days_early)``; a unit's return day does not depend on when it left (the rental runs from the event).
    """
    last = statics.ship_by(g, cs)
    first = np.maximum(np.maximum(day0, statics.res_booked[g]), last - max(0, early_days))
    # A reservation whose ship-by day is past the horizon may still leave inside it, early.
    end = np.minimum(last, statics.horizon - 1)
    width = np.clip(end - first + 1, 0, None)
    rep = np.repeat(np.arange(len(g)), width)
    ship_day = end[rep] - (np.arange(len(rep)) - np.repeat(np.cumsum(width) - width, width))
    return cr[rep], cs[rep], g[rep], ship_day, (last[rep] - ship_day).astype(float)


def planning_input(statics: Statics, state: ExecState, day0: int, info: Information) -> PlanningInput:
    """Build the arrays of a planning run on the morning of ``day0`` (after that day's arrivals)."""
    T = statics.horizon - day0
    S = statics.n_sites
    sched = info.schedule
    res_all = np.arange(statics.n_res)
    visible = statics.res_booked <= day0 if sched is None else np.ones(statics.n_res, dtype=bool)
    open_ = visible & ~state.res_filled & (statics.res_event - statics.ship_days.min(axis=0)[statics.res_zone] >= day0)
    res = res_all[open_]

    demand = None
    if sched is None and info.demand_total is not None and info.lead_cdf is not None:
        lead_left = np.arange(statics.horizon) - day0 - 1  # booked after today: lead < event - day0
        share = np.where(lead_left >= 0, info.lead_cdf[np.clip(lead_left, 0, len(info.lead_cdf) - 1)], 0.0)
        demand = info.demand_total * share[None, None, :]
    active = np.zeros(statics.n_skus, dtype=bool)
    active[statics.res_sku[res]] = True
    if demand is not None:
        active |= demand[:, :, day0:].sum(axis=(1, 2)) > 0.05
    skus = np.nonzero(active)[0]
    K = len(skus)
    local = np.full(statics.n_skus, -1, dtype=np.int64)
    local[skus] = np.arange(K)

    usku = local[statics.unit_sku]
    mine = usku >= 0
    ready0 = np.zeros((K, S))
    dirty0 = np.zeros((K, S))
    ready_in = np.zeros((K, S, T))
    dirty_in = np.zeros((K, S, T))
    if info.sku_fail_rate is not None:
        clean_yield = np.repeat(1.0 - info.sku_fail_rate[skus][:, None], S, axis=1)
    else:
        clean_yield = np.repeat(1.0 - statics.clean_fail[None, :], K, axis=0)
    will_fail = np.zeros(len(state.state), dtype=bool)
    if sched is not None:
        # Hindsight knows which units fail their next cleaning: they never count as supply.
        clean_yield = np.ones((K, S))
        will_fail = sched.fails_at(np.arange(len(state.state)), state.cycle)

    release = held_units(info.rules, statics)  # held units count again from this day on

    def add(
        target: np.ndarray, units: np.ndarray, days: np.ndarray | None, w: np.ndarray, later: np.ndarray | None = None
    ) -> None:
        if days is None:
            held = release[units] > day0
            np.add.at(target, (usku[units[~held]], state.site[units[~held]]), w[~held])
            if later is not None and held.any():  # stock on hand that a hold keeps out until its end
                add(later, units[held], release[units[held]], w[held])
            return
        days = np.maximum(days, day0)  # a date already past arrives on the first morning, as in the replay
        days = np.maximum(days, release[units])
        ok = days < statics.horizon
        np.add.at(target, (usku[units[ok]], state.site[units[ok]], days[ok] - day0), w[ok])

    u = np.nonzero(mine & (state.state == U.READY))[0]
    add(ready0, u, None, np.ones(len(u)), later=ready_in)
    u = np.nonzero(mine & (state.state == U.DIRTY) & ~will_fail)[0]
    add(dirty0, u, None, np.ones(len(u)), later=dirty_in)
    u = np.nonzero(mine & (state.state == U.CLEANING))[0]
    y = np.where(will_fail[u], 0.0, 1.0) if sched is not None else clean_yield[usku[u], state.site[u]]
    add(ready_in, u, state.when[u], y)
    u = np.nonzero(mine & (state.state == U.TRANSIT))[0]
    add(ready_in, u, state.when[u], np.ones(len(u)))
    out = mine & (state.state == U.OUT) & ~will_fail
    known = np.nonzero(out & ((state.pmf_row < 0) | (sched is not None)))[0]
    add(dirty_in, known, state.when[known], np.ones(len(known)))
    if sched is None:
        unsure = np.nonzero(out & (state.pmf_row >= 0))[0]
        if len(unsure):
            if info.pmf is None:
                raise ClosetflowError("closetflow planning needs late-return distributions")
            rows, days, w = _arrival_spread(state.due[unsure], info.pmf[state.pmf_row[unsure]], day0, info.risk)
            add(dirty_in, unsure[rows], days, w)

    # Shipment candidates: every open reservation from every site whose ship-by day is still ahead.
    R = len(res)
    cr = np.repeat(np.arange(R), S)
    cs = np.tile(np.arange(S), R)
    g = res[cr]
    cr, cs, g, ship_day, early = _ship_candidates(statics, g, cr, cs, day0, info.ship_early_days)
    value = statics.res_value[g] * (1.0 + 0.5 * statics.res_priority[g]) + info.fill_bonus
    cand_obj = value - statics.ship_cost[cs, statics.res_zone[g]] - EARLY_SHIP_PENALTY * early
    back0 = statics.res_event[g] + statics.res_days[g] + statics.ship_days[cs, statics.res_zone[g]]
    if sched is not None:
        ret_c, ret_day, ret_w = np.arange(len(g)), back0 + sched.res_delay[g], np.ones(len(g))
    else:
        if info.pmf is None:
            raise ClosetflowError("closetflow planning needs late-return distributions")
        n_units = len(state.state)
        ret_c, ret_day, ret_w = _arrival_spread(back0, info.pmf[n_units + g], statics.res_event[g], info.risk)
    keep = ret_day < statics.horizon
    ret_c, ret_day, ret_w = ret_c[keep], ret_day[keep], ret_w[keep]

    protect = Protection.empty()
    if demand is not None:
        own = statics.ship_days.min(axis=1)
        protect = protection_segments(
            demand[skus][:, :, day0:],
            own,
            statics.sku_value[skus] + info.fill_bonus,
            _cycle_days(statics, own, info.pmf, len(state.state)),
            info.protect_weight,
        )

    caps: tuple[np.ndarray, ...]
    if sched is not None:
        caps = (sched.clean_cap[:, day0:], sched.ship_cap[:, day0:], sched.pick_cap[:, day0:])
    else:
        caps = tuple(
            np.repeat(c[:, None], T, axis=1).astype(float)
            for c in (statics.clean_cap, statics.ship_cap, statics.pick_cap)
        )
        if info.today_capacity is not None:
            for arr, today in zip(caps, info.today_capacity, strict=True):
                arr[:, 0] = today
    clean_cap, ship_cap, pick_cap = (np.asarray(c, dtype=float) for c in caps)
    cand_rule, tr_blocked, cand_bonus = None, None, None
    if info.rules:
        site_rule = blocked_sites(info.rules, statics, day0, T)
        shut = site_rule != ""
        clean_cap = np.where(shut, 0.0, cleaning_buffer(info.rules, clean_cap))
        ship_cap = np.where(shut, 0.0, ship_cap)
        pick_cap = np.where(shut, 0.0, pick_cap)
        ship_rule, tr_rule = blocked_lanes(info.rules, statics, day0, T)
        tau = ship_day - day0
        cand_rule = np.where(
            site_rule[cs, tau] != "", site_rule[cs, tau], ship_rule[cs, statics.res_zone[g], tau]
        ).astype(object)
        tr_blocked = tr_rule != ""
        cand_bonus = vip_first_bonus(
            info.rules, statics.res_priority[g] > 0, cand_obj, protect, statics.transfer_cost, T
        )
    return PlanningInput(
        day0=day0,
        T=T,
        n_sites=S,
        skus=skus,
        ready0=ready0,
        dirty0=dirty0,
        ready_in=ready_in,
        dirty_in=dirty_in,
        clean_cap=clean_cap,
        ship_cap=ship_cap,
        pick_cap=pick_cap,
        clean_days=statics.clean_days,
        clean_yield=clean_yield,
        transfer_days=statics.transfer_days,
        transfer_cost=statics.transfer_cost,
        res=res,
        cand_res=cr,
        cand_site=cs,
        cand_tau=ship_day - day0,
        cand_sku=local[statics.res_sku[g]],
        cand_obj=cand_obj,
        ret_cand=ret_c,
        ret_tau=ret_day - day0,
        ret_w=ret_w,
        protect=protect,
        rules=info.rules,
        cand_rule=cand_rule,
        cand_bonus=cand_bonus,
        tr_blocked=tr_blocked,
        max_transfers_per_lane_day=info.rules.max_transfers_per_lane_day if info.rules else None,
    )
