"""Policies the replay compares: greedy, closetflow and the hindsight optimum (the rules planner
lives in ``rules_policy``).

- ``GreedyPolicy`` is what a spreadsheet does: first come first served, each reservation from its
  nearest site on its ship-by day if a unit is ready there, cleaning first-in first-out, no
  transfers, no look at risk.
- ``PlanningPolicy`` solves the allocation model every ``replan_every`` days with what it may know
  (``Information``) and executes the current day of the plan. With closetflow's information that
  is closetflow's nightly re-plan, which is also its recourse when a unit comes back late; with the
  holdout schedule as information it is the hindsight optimum.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from allocation.model.rounding import round_today
from allocation.model.snapshot import Information, planning_input
from allocation.model.solve import CapacityPrices, PlanRun, solve_input
from allocation.replay.engine import DayDecision, group_rank
from allocation.state import ExecState, U
from allocation.statics import Statics
from solvers.base import SolveOptions, SolveResult

__all__ = ["GreedyPolicy", "PlanRun", "PlanningPolicy", "solve_plan"]


class GreedyPolicy:
    """First come first served from the nearest site; FIFO cleaning; no transfers."""

    name = "greedy"

    def __init__(self, statics: Statics, *, known_only: bool = False) -> None:
        self.statics = statics
        self.known_only = known_only  # plan projections see only the reservations known tonight
        self.site = statics.nearest_site[statics.res_zone]
        self.ship_by = statics.ship_by(np.arange(statics.n_res), self.site)
        self.order = np.lexsort((np.arange(statics.n_res), statics.res_booked))

    def decide(self, state: ExecState, day: int) -> DayDecision:
        o = self.order
        due = o[(self.ship_by[o] == day) & ~state.res_filled[o] & (self.statics.res_booked[o] <= day)]
        if self.known_only:
            due = due[self.statics.res_known[due]]
        return DayDecision(ship_passes=[(due, self.site[due])])


def solve_plan(
    statics: Statics,
    state: ExecState,
    day: int,
    info: Information,
    options: SolveOptions,
    warm: CapacityPrices | None = None,
) -> PlanRun:
    """Build and solve the allocation model on the morning of ``day`` (``warm``: prices of an
    earlier solve for the decomposition to start from)."""
    return solve_input(planning_input(statics, state, day, info), options, warm=warm)


class PlanningPolicy:
    """Re-plans with the allocation model and executes the current day of its latest plan."""

    def __init__(
        self,
        name: str,
        statics: Statics,
        information: Callable[[int], Information],
        options: SolveOptions,
        replan_every: int = 1,
        on_solve: Callable[[PlanRun], None] | None = None,
    ) -> None:
        self.name = name
        self.statics = statics
        self.information = information
        self.options = options
        self.replan_every = max(1, replan_every)
        self.on_solve = on_solve
        self.current: PlanRun | None = None
        self.runs: list[SolveResult] = []
        self.fallback_days: list[int] = []  # days run on a fallback because a solve gave no plan
        self._greedy = GreedyPolicy(statics)
        self._last_try = -1

    def decide(self, state: ExecState, day: int) -> DayDecision:
        due = self.current is None or day - self.current.inp.day0 >= self.replan_every
        if due and day != self._last_try:
            self._last_try = day
            # Each re-plan starts from the prices of the last one (the decomposition uses them;
            # the monolithic path ignores them): day to day the capacities' value barely moves.
            warm = self.current.prices if self.current is not None else None
            run = solve_plan(self.statics, state, day, self.information(day), self.options, warm)
            self.runs.append(run.result)
            if self.on_solve is not None:
                self.on_solve(run)
            # A solve without a plan (time limit, solver error) never replaces a working one:
            # the last plan keeps running, and with none yet, today goes first come first served.
            if run.result.has_solution or run.problem.n_vars == 0:
                self.current = run
            else:
                self.fallback_days.append(day)
        if self.current is None:
            return self._greedy.decide(state, day)
        return day_decision(self.statics, state, self.current, day)


def day_decision(statics: Statics, state: ExecState, run: PlanRun, day: int) -> DayDecision:
    """Today's part of a plan: planned shipments (rounded to whole units by ``round_today``), then
    recourse from other sites; cleaning order; transfers rounded to whole units."""
    inp, dec = run.inp, run.decisions
    tau = day - inp.day0
    today = round_today(inp, dec, tau).chosen if tau < inp.T else np.zeros(0, dtype=np.int64)
    res = inp.res[inp.cand_res[today]]
    passes = [(res, inp.cand_site[today])]
    # Recourse: a planned unit that is not there (a late return, a failed cleaning) may be replaced
    # from another site that can still make the event date when shipping today.
    if len(res):
        alt_r = np.repeat(res, statics.n_sites)
        alt_s = np.tile(np.arange(statics.n_sites), len(res))
        ok = statics.ship_by(alt_r, alt_s) == day
        alt_r, alt_s = alt_r[ok], alt_s[ok]
        order = np.argsort(statics.ship_cost[alt_s, statics.res_zone[alt_r]], kind="stable")
        passes.append((alt_r[order], alt_s[order]))

    score = np.zeros(len(state.state))
    dirty = np.nonzero(state.state == U.DIRTY)[0]
    if len(dirty) and tau < inp.T:
        local = np.full(statics.n_skus, -1, dtype=np.int64)
        local[inp.skus] = np.arange(len(inp.skus))
        k = local[statics.unit_sku[dirty]]
        s = state.site[dirty]
        has = k >= 0
        planned = np.zeros(len(dirty))
        planned[has] = np.floor(dec.clean[k[has], s[has], tau] + 0.5)
        key = np.where(has, k * statics.n_sites + s, -1 - np.arange(len(dirty)))
        order = np.lexsort((dirty, state.dirty_since[dirty]))  # first in, first ranked
        rank = np.empty(len(dirty), dtype=np.int64)
        rank[order] = group_rank(key[order])
        # Planned cleanings first, then units of SKUs someone wants, then the rest (FIFO within).
        score[dirty] = np.where(has & (rank < planned), 2.0, np.where(has, 1.0, 0.0))

    lay = run.layout
    now = lay.tr_tau == tau
    qty = np.floor(dec.transfer[now] + 0.5).astype(np.int64)
    transfers = (inp.skus[lay.tr_k[now]], lay.tr_a[now], lay.tr_b[now], qty)
    return DayDecision(ship_passes=passes, clean_score=score, transfers=transfers)
