"""The published plan: tonight's solve turned into unit-level lists, KPIs and reasons.

The model decides in aggregate (how many units of a SKU to clean, ship or move per site-day);
which physical unit does it comes from projecting the plan day by day over the *expected* course
of events (returns on their median day, cleanings succeed, planned capacities) with the same
replay rules validation uses. Every known reservation the projection leaves unfilled gets a reason
from the binding constraints of the solve.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from allocation.domain import UnfilledReason, World
from allocation.model.snapshot import Information, conditional_return_pmf
from allocation.replay.engine import DayDecision, Policy, ReplayResult, replay
from allocation.replay.policies import GreedyPolicy, PlanRun, day_decision
from allocation.state import ExecState, Schedule, initial_state
from allocation.statics import Statics

__all__ = ["Plan", "SkuSupply", "expected_schedule", "project_plan", "sku_supply", "unfilled_reasons"]


@dataclass
class Plan:
    """Tonight's plan with its unit-level lists (DataFrames) and KPIs."""

    run: PlanRun
    projection: ReplayResult
    ships: pd.DataFrame
    cleaning: pd.DataFrame
    transfers: pd.DataFrame
    held_back: pd.DataFrame
    unfilled: pd.DataFrame
    plan_date: dt.date
    state: ExecState  # the plan-date morning's unit states (what explanations read)
    kpis: dict[str, object] = field(default_factory=dict)


def expected_schedule(
    statics: Statics,
    state: ExecState,
    info: Information,
    capacities: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Schedule:
    """The course of events the plan expects: median return days, no failures, planned capacity
    (or ``capacities``: (sites, horizon) cleaning, shipping and pick capacity a what-if changed).

    A unit out this morning returns on the median of its return day given it is not back yet
    (``conditional_return_pmf``): never on or before this morning.
    """
    n_units = len(state.state)
    arrival = np.full(n_units, -1, dtype=np.int64)
    med = np.zeros(statics.n_res, dtype=np.int64)
    if info.pmf is not None:
        median = np.argmax(info.pmf.cumsum(axis=1) >= 0.5, axis=1)
        out = np.nonzero(state.pmf_row >= 0)[0]
        # Units still out: the median of their return day given they are not back this morning.
        start, p = conditional_return_pmf(info.pmf[state.pmf_row[out]], state.due[out], state.day)
        arrival[out] = start + np.argmax(p.cumsum(axis=1) >= 0.5, axis=1)
        med = median[n_units:]
    H = statics.horizon
    planned = (statics.clean_cap, statics.ship_cap, statics.pick_cap)
    clean, ship, pick = (
        (np.repeat(c[:, None], H, axis=1) for c in planned)
        if capacities is None
        else (np.asarray(c, dtype=float) for c in capacities)
    )
    return Schedule(
        arrival=arrival,
        res_delay=med,
        fails=np.zeros((n_units, 1), dtype=bool),
        clean_cap=clean,
        ship_cap=ship,
        pick_cap=pick,
    )


class _Frozen:
    """Executes one plan as solved, without re-planning (the projection of tonight's plan)."""

    name = "plan"

    def __init__(self, statics: Statics, run: PlanRun) -> None:
        self.statics, self.run = statics, run

    def decide(self, state: ExecState, day: int) -> DayDecision:
        return day_decision(self.statics, state, self.run, day)


@dataclass
class SkuSupply:
    """How many units of each open reservation's SKU could be ready by its last ship-by day.

    ``k`` local SKU, ``day`` last ship-by day (local) and ``need`` how many units its SKU needs by
    then (the filled reservations of the SKU up to that day, plus this one), per open reservation;
    ``all_supply`` / ``risk_supply`` (K, T) units that could be ready by each day summed over sites
    (transfers can move them) with every return on time / with returns counted by the risk policy.
    """

    has_cand: np.ndarray
    k: np.ndarray
    day: np.ndarray
    need: np.ndarray
    all_supply: np.ndarray
    risk_supply: np.ndarray


def sku_supply(statics: Statics, run: PlanRun, filled: np.ndarray, state: ExecState) -> SkuSupply:
    """The supply side of each open reservation of ``run`` (see ``SkuSupply``)."""
    inp = run.inp
    res = inp.res
    has_cand = np.bincount(inp.cand_res, minlength=len(res)) > 0
    k_local = np.full(statics.n_skus, -1, dtype=np.int64)
    k_local[inp.skus] = np.arange(len(inp.skus))
    T = inp.T
    k = k_local[statics.res_sku[res]]
    last = np.full(len(res), -1, dtype=np.int64)
    np.maximum.at(last, inp.cand_res, inp.cand_tau)
    day = np.clip(last, 0, T - 1)

    # Units that could be ready by each day, summed over sites (transfers can move them).
    shift = np.zeros_like(inp.dirty_in)
    on_time = np.zeros_like(inp.dirty_in)
    out = np.nonzero((state.state == 0) & (k_local[statics.unit_sku] >= 0))[0]
    due = np.clip(state.due[out] - inp.day0, 0, None)
    ok = due < T
    np.add.at(on_time, (k_local[statics.unit_sku[out[ok]]], state.site[out[ok]], due[ok]), 1.0)
    for s in range(inp.n_sites):
        p = int(inp.clean_days[s])
        if p < T:
            shift[:, s, p:] = inp.dirty_in[:, s, : T - p]
            on_time[:, s, p:] = on_time[:, s, : T - p].copy()
            on_time[:, s, :p] = 0.0
    base = inp.ready0.sum(axis=1)[:, None] + inp.dirty0.sum(axis=1)[:, None] + inp.ready_in.sum(axis=1).cumsum(axis=1)
    risk_supply = base + shift.sum(axis=1).cumsum(axis=1)
    all_supply = base + on_time.sum(axis=1).cumsum(axis=1)

    was_filled = filled[res]
    order = np.lexsort((day, k))
    before = np.zeros(len(res))
    for_k = k[order]
    cum = np.cumsum(was_filled[order])
    first = np.r_[True, for_k[1:] != for_k[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    before[order] = cum - np.where(start > 0, cum[start - 1], 0)
    return SkuSupply(has_cand, k, day, before + 1, all_supply, risk_supply)


def unfilled_reasons(
    statics: Statics, run: PlanRun, filled: np.ndarray, info: Information, state: ExecState
) -> pd.Series:
    """A reason for each open reservation of the run that ``filled`` marks unfilled.

    Checked in order: no site can ship it in time; even with every return on time there are not
    enough units of the SKU by its last ship-by day for the reservations filled before it (no
    supply); there would be with on-time returns but not with returns counted by the risk policy
    (late-return risk); every site that could ship it is at shipping or pick capacity that day
    (shipping capacity); cleaning capacity was exhausted before its ship-by day at a site holding
    dirty units of the SKU (cleaning capacity); otherwise its units went to reservations worth more.
    """
    inp, dec = run.inp, run.decisions
    res = inp.res
    T = inp.T
    open_unfilled = ~filled[res]
    sup = sku_supply(statics, run, filled, state)
    has_cand, k, day, need = sup.has_cand, sup.k, sup.day, sup.need
    reasons = np.full(len(res), str(UnfilledReason.OUTRANKED), dtype=object)
    reasons[~has_cand] = str(UnfilledReason.TOO_LATE_TO_SHIP)
    valid = has_cand & (k >= 0)
    no_supply = valid & (sup.all_supply[np.maximum(k, 0), day] < need - 1e-6)
    risk = valid & ~no_supply & (sup.risk_supply[np.maximum(k, 0), day] < need - 1e-6)

    ship_slack = np.minimum(
        dec.slack.get("shipping_capacity_per_site_day", np.full((inp.n_sites, T), np.inf)),
        dec.slack.get("warehouse_picks_per_site_day", np.full((inp.n_sites, T), np.inf)),
    )
    tight = ship_slack[inp.cand_site, inp.cand_tau] < 0.5
    all_tight = np.ones(len(res), dtype=bool)
    np.logical_and.at(all_tight, inp.cand_res, tight)
    clean_slack = dec.slack.get("cleaning_capacity_per_site_day", np.full((inp.n_sites, T), np.inf))
    clean_tight = (clean_slack < 0.5).cumsum(axis=1) > 0  # exhausted on some day up to t
    dirty_here = (inp.dirty0.sum(axis=0)[:, None] + inp.dirty_in.sum(axis=0).cumsum(axis=1)) > 0
    clean_block = (clean_tight & dirty_here).any(axis=0)
    reasons[valid & all_tight] = str(UnfilledReason.SHIPPING_CAPACITY)
    reasons[valid & ~all_tight & clean_block[day]] = str(UnfilledReason.CLEANING_CAPACITY)
    reasons[risk] = str(UnfilledReason.LATE_RETURN_RISK)
    reasons[no_supply] = str(UnfilledReason.NO_SUPPLY_IN_TIME)
    return pd.Series(reasons[open_unfilled], index=res[open_unfilled], name="reason")


def project_plan(
    world: World,
    statics: Statics,
    run: PlanRun,
    info: Information,
    capacities: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Plan:
    """Unit-level lists, reasons and KPIs of tonight's plan ``run`` (solved on the plan date);
    ``capacities`` (sites, horizon) replace the planned ones (a what-if's)."""
    state = initial_state(world, statics, None)
    sched = expected_schedule(statics, state, info, capacities)
    state.when[state.pmf_row >= 0] = sched.arrival[state.pmf_row >= 0]
    solved = run.result.has_solution or run.problem.n_vars == 0
    # Without a solution tonight the published plan falls back to first come first served.
    policy: Policy = _Frozen(statics, run) if solved else GreedyPolicy(statics, known_only=True)
    proj = replay(policy, statics, sched, state)
    plan_ts = pd.Timestamp(world.plan_date)

    def date(days: np.ndarray) -> pd.Series:
        return pd.Series(plan_ts + pd.to_timedelta(days, unit="D"))

    ship = proj.log.get("ship", np.zeros((0, 4), dtype=np.int64))
    ships = pd.DataFrame(
        {
            "unit_id": statics.unit_ids[ship[:, 0]].to_numpy(),
            "reservation_id": statics.reservations["reservation_id"].to_numpy()[ship[:, 1]],
            "site_id": statics.site_ids[ship[:, 2]].to_numpy(),
            "ship_date": date(ship[:, 3]),
        }
    )
    cl = proj.log.get("clean", np.zeros((0, 3), dtype=np.int64))
    cleaning = pd.DataFrame(
        {
            "site_id": statics.site_ids[cl[:, 1]].to_numpy(),
            "date": date(cl[:, 2]),
            "unit_id": statics.unit_ids[cl[:, 0]].to_numpy(),
            "sku_id": statics.sku_ids[statics.unit_sku[cl[:, 0]]].to_numpy(),
        }
    )
    cleaning["rank"] = cleaning.groupby(["site_id", "date"]).cumcount() + 1
    tr = proj.log.get("transfer", np.zeros((0, 5), dtype=np.int64))
    transfers = pd.DataFrame(
        {
            "unit_id": statics.unit_ids[tr[:, 0]].to_numpy(),
            "sku_id": statics.sku_ids[tr[:, 1]].to_numpy(),
            "from_site": statics.site_ids[tr[:, 2]].to_numpy(),
            "to_site": statics.site_ids[tr[:, 3]].to_numpy(),
            "ship_date": date(tr[:, 4]),
            "arrive_date": date(tr[:, 4] + statics.transfer_days[tr[:, 2], tr[:, 3]]),
        }
    )
    inp, dec = run.inp, run.decisions
    cells = pd.DataFrame({"sku": inp.skus[inp.protect.sku], "site": inp.protect.site, "units": dec.protect})
    held = cells.groupby(["sku", "site"], as_index=False)["units"].sum()
    held = held[held["units"] >= 0.05]
    held_back = pd.DataFrame(
        {
            "sku_id": statics.sku_ids[held["sku"].to_numpy()].to_numpy(),
            "site_id": statics.site_ids[held["site"].to_numpy()].to_numpy(),
            "units_protected": held["units"].round(2).to_numpy(),
        }
    )
    morning = initial_state(world, statics, None)
    reasons = unfilled_reasons(statics, run, proj.filled, info, morning)
    unfilled = pd.DataFrame(
        {
            "reservation_id": statics.reservations["reservation_id"].to_numpy()[reasons.index.to_numpy()],
            "sku_id": statics.sku_ids[statics.res_sku[reasons.index.to_numpy()]].to_numpy(),
            "reason": reasons.to_numpy(),
        }
    )
    n_res = len(inp.res)
    filled = int(proj.filled[inp.res].sum())
    kpis: dict[str, object] = {
        "reservations": n_res,
        "filled": filled,
        "expected_fill_rate": float(dec.x.sum() / n_res) if n_res else float("nan"),
        "projected_fill_rate": filled / n_res if n_res else float("nan"),
        "transfers": len(transfers),
        "units_protected": float(dec.protect.sum()),
        "planned_value": float(proj.value(statics)),
        "shipping_cost": float(proj.ship_cost),
        "transfer_cost": float(proj.transfer_cost),
        "objective": float(run.result.objective) if solved else None,
        "unfilled_by_reason": {str(r): int((reasons == str(r)).sum()) for r in UnfilledReason},
        "fallback": None if solved else f"first come first served (solver status {run.result.status})",
    }
    return Plan(run, proj, ships, cleaning, transfers, held_back, unfilled, world.plan_date, morning, kpis)
