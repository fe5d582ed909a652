"""Validation against the holdout schedule: four policies replayed on the same realized days.

Greedy (first come first served, the floor), rules (a competent warehouse's rules, no optimiser:
``rules_policy.RulesPolicy``), closetflow (tonight's model re-solved every ``replan_every``
days with what it may know that morning: its recourse for late returns and failed cleanings) and
the hindsight optimum (the same model solved knowing the schedule). Figures are realized ones:
reservations actually filled under the realized returns, cleaning outcomes, bookings and capacity.
Beside them, ``bound.lp_bound``: one perfect-information LP from day 0 whose optimum no policy's
realized value can exceed, so "hindsight / bound" says how far from the best possible the strongest
policy still is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from allocation.domain import World
from allocation.model.snapshot import Information
from allocation.replay.bound import LpBound
from allocation.replay.bound import lp_bound as solve_lp_bound
from allocation.replay.engine import Policy, ReplayResult, replay
from allocation.replay.parallel import run_side_by_side
from allocation.replay.policies import GreedyPolicy, PlanningPolicy
from allocation.replay.rules_policy import RulesPolicy
from allocation.state import Schedule, initial_state, realized_schedule
from allocation.statics import Statics
from solvers.base import SolveOptions

__all__ = ["PolicyOutcome", "ValidationResult", "gap_captured", "validate_policies"]


@dataclass
class PolicyOutcome:
    """Realized figures of one policy."""

    name: str
    replay: ReplayResult
    fill_rate: float
    value: float
    cost: float
    filled: int
    solves: int
    solve_seconds: float
    fallback_days: int

    def summary(self) -> dict[str, object]:
        r = self.replay
        return {
            "fill_rate": self.fill_rate,
            "value": self.value,
            "cost": self.cost,
            "filled": self.filled,
            "transfers": r.transfers,
            "capacity_overflow": r.overflow,
            "cleaning_backlog_unit_days": int(r.cleaning_backlog.sum()),
            "solves": self.solves,
            "solve_seconds": round(self.solve_seconds, 3),
            "fallback_days": self.fallback_days,
        }


@dataclass
class ValidationResult:
    reservations: int
    outcomes: dict[str, PolicyOutcome]
    schedule: Schedule
    lp_bound: LpBound | None = None  # the perfect-information LP bound; None when not asked for

    @property
    def hindsight_vs_lp_bound(self) -> float:
        """Hindsight's realized value / the LP bound (<= 1 up to solver tolerance); nan without a
        bound or when the bound is not positive (a ratio of a non-positive bound says nothing)."""
        b = self.lp_bound
        if b is None or not np.isfinite(b.value) or b.value <= 1e-9:
            return float("nan")
        return float(self.outcomes["hindsight"].value / b.value)

    def gap_captured(self, metric: str = "value", baseline: str = "greedy") -> float:
        """Share of the ``baseline``-to-hindsight gap closetflow captures on ``metric``."""
        o = self.outcomes
        return gap_captured(
            getattr(o[baseline], metric), getattr(o["closetflow"], metric), getattr(o["hindsight"], metric)
        )


def gap_captured(baseline: float, closetflow: float, hindsight: float) -> float:
    """(closetflow - baseline) / (hindsight - baseline); nan when hindsight does no better than the
    baseline (greedy, the floor, or rules)."""
    span = hindsight - baseline
    return float((closetflow - baseline) / span) if span > 1e-9 else float("nan")


def _outcome(
    policy: Policy, statics: Statics, world: World, sched: Schedule, on_day: Callable[[int], None] | None
) -> PolicyOutcome:
    result = replay(policy, statics, sched, initial_state(world, statics, sched), on_day)
    runs = getattr(policy, "runs", [])
    return PolicyOutcome(
        name=policy.name,
        replay=result,
        fill_rate=result.fill_rate(),
        value=result.value(statics),
        cost=result.ship_cost + result.transfer_cost,
        filled=int(result.filled.sum()),
        solves=len(runs),
        solve_seconds=float(sum(r.seconds for r in runs)),
        fallback_days=len(getattr(policy, "fallback_days", [])),
    )


def validate_policies(
    world: World,
    statics: Statics,
    closetflow_info: Callable[[int], Information],
    options: SolveOptions,
    *,
    replan_every: int = 1,
    on_day: Callable[[str, int], None] | None = None,
    lp_bound: bool = True,
) -> ValidationResult:
    """Replay greedy, rules, closetflow and hindsight on the world's holdout schedule.

    Args:
        world: a world with ``holdout``.
        statics: ``Statics.from_world(world)`` (new bookings included).
        closetflow_info: what closetflow knows on the morning of a day.
        options: solver options for closetflow's and hindsight's solves.
        replan_every: days between re-plans for both model policies.
        on_day: progress callback (policy name, day).
        lp_bound: also solve the perfect-information LP bound (``bound.lp_bound``) with ``options``.
    """
    sched = realized_schedule(world, statics)

    def hindsight_info(day: int) -> Information:
        return Information(risk=closetflow_info(day).risk, pmf=None, schedule=sched, demand_total=None, lead_cdf=None)

    def cf_info(day: int) -> Information:
        info = closetflow_info(day)
        # A disruption is known on the morning it happens, not before.
        info.today_capacity = (sched.clean_cap[:, day], sched.ship_cap[:, day], sched.pick_cap[:, day])
        return info

    planners = [
        PlanningPolicy("closetflow", statics, cf_info, options, replan_every),
        PlanningPolicy("hindsight", statics, hindsight_info, options, replan_every),
    ]
    outcomes: dict[str, PolicyOutcome] = {}
    bound: list[LpBound] = []

    def replay_one(p: Policy, report: bool) -> PolicyOutcome:
        cb = (lambda d, name=p.name: on_day(name, d)) if on_day is not None and report else None
        return _outcome(p, statics, world, sched, cb)

    def cheap_ones() -> None:
        # The two rule policies and the bound, in this process while the planners replay.
        for p in (GreedyPolicy(statics), RulesPolicy(statics)):
            outcomes[p.name] = replay_one(p, report=True)
        if lp_bound:
            bound.append(solve_lp_bound(statics, sched, initial_state(world, statics, sched), options))

    # The model policies re-solve their LP every day and are the slow part: side by side in
    # forked children (progress is reported from this process only, per finished policy).
    jobs = [lambda p=p: replay_one(p, report=False) for p in planners]
    for p, outcome in zip(planners, run_side_by_side(jobs, here=cheap_ones), strict=True):
        outcomes[p.name] = outcome
        if on_day is not None:
            on_day(p.name, statics.horizon - 1)
    order = ("greedy", "rules", "closetflow", "hindsight")
    outcomes = {name: outcomes[name] for name in order}
    return ValidationResult(
        reservations=statics.n_res, outcomes=outcomes, schedule=sched, lp_bound=bound[0] if bound else None
    )


def fill_by_event_day(result: ReplayResult, statics: Statics) -> list[float]:
    """Share of reservations filled, per event day of the horizon (nan for days without events)."""
    H = statics.horizon
    ev = np.clip(statics.res_event, 0, H - 1)
    total = np.bincount(ev, minlength=H)
    got = np.bincount(ev, weights=result.filled.astype(float), minlength=H)
    return [float(g / t) if t else float("nan") for g, t in zip(got, total, strict=True)]
