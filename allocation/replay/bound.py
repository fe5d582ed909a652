"""An upper bound on the realized value of every policy: one perfect-information LP over the horizon.

The hindsight policy re-solves the model every morning and executes one day of each plan in the
replay, so it is a strong policy, not a bound: its plans are fractional and rounded, and recourse
decides the rest. ``lp_bound`` solves the allocation LP once, on the morning of day 0 (after that
day's arrivals, as every policy sees it), knowing the whole schedule, with the objective replaced
by exactly what ``ReplayResult.value`` counts: the value of each reservation filled (no VIP uplift,
no fill bonus, no forecast protection, no early-shipping tie-break) minus shipping and transfer
costs. Its optimum is at least the realized value of any policy the replay can play, because any
replay maps to a feasible LP solution with the same or a higher objective:

- **Aggregate flows relax unit identity.** The LP counts ready and dirty units per SKU, site and
  day; the replay's units of one SKU at one site are interchangeable when they ship, clean or move
  (``engine._claim`` picks any ready one), so counting a replay's shipments ``X``, cleanings ``C``
  and transfers ``TR`` per (SKU, site, day) satisfies every balance row (below), and integrality is
  dropped on top (the LP relaxation of an integer set bounds it).
- **Units that fail their next cleaning are excluded** (hindsight inputs of ``planning_input``):
  a dirty, returning or cleaning unit whose next cleaning fails goes to repair in the replay
  (``engine._arrivals``) for the rest of the horizon, so it never ships again and leaving it out
  loses nothing; its cleanings are dropped from ``C`` (they only used capacity).
- **Returns of new shipments come back with yield 1** (``clean_yield`` = 1): a unit shipped inside
  the horizon returns dirty on ``event + rental days + transit + realized delay`` to the site it
  left (as in ``engine._ship``, whatever the ship day) and every later cleaning counts as a
  success. A replay cleaning that fails leaves a phantom ready unit in the LP, which only loosens
  ``I >= 0``: optimistic, never pessimistic.
- **Early shipping is allowed**: a candidate on every day from ``max(day 0, booking day)`` to the
  ship-by day, as ``engine._ship`` accepts. The model's own candidates stop at ship-by days inside
  the horizon; the replay may also ship a reservation whose ship-by day lies past the horizon on any
  day inside it, so the candidates are rebuilt here with the ship day clipped to the horizon's last
  day instead of dropped.
- **Transfers for every SKU with bookings**: the model gives transfer columns only to SKUs with a
  candidate; with hindsight every booking of the horizon is a candidate, and a transfer of a SKU
  nobody booked only costs money and picks, so dropping it from the mapped replay keeps the LP
  feasible and raises its objective. Transfers landing past the horizon are dropped the same way.
  A lane of 0 days between two sites lands on the next morning in the replay (``_arrivals`` runs
  before the day's moves), so it is given 1 day here (the model skips 0-day arcs).
- **Realized capacities**: cleaning, shipping and warehouse picks per site-day are the schedule's,
  with the replay's rows (cleanings <= cleaning capacity; shipments <= shipping capacity;
  shipments + transfers out <= picks).

Same-day order matches the replay: returns landing on day t may be cleaned on t (``D`` balance),
cleanings started on t are ready on ``t + clean_days``, transfers sent on t ready on ``t + days``,
and a unit ready on the morning of t may ship or move on t. Reservations whose event cannot be
reached from any site by day 0 are left out, as ``engine._ship`` would refuse them.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np

from allocation.model.network import build_problem
from allocation.model.snapshot import Information, PlanningInput, RiskPolicy, planning_input
from allocation.replay.engine import _arrivals
from allocation.state import ExecState, Schedule
from allocation.statics import Statics
from solvers.base import SolveOptions, SolveStatus, solve

__all__ = ["LpBound", "bound_input", "lp_bound"]

LANE_MISSING_DAYS = 10_000  # Statics marks a missing lane with this many days


@dataclass
class LpBound:
    """The perfect-information LP bound.

    Attributes:
        value: dollars in realized-value units (filled value - shipping - transfer costs); the LP
            optimum, or the solver's proven bound when it stopped early, nan when it has neither.
        seconds: wall seconds to build the input and the problem and to solve it.
        status: the solver's neutral status (``optimal``, ``feasible``, ...).
        n_vars: columns of the LP.
    """

    value: float
    seconds: float
    status: str
    n_vars: int

    def summary(self) -> dict[str, object]:
        return {"value": self.value, "seconds": round(self.seconds, 3), "status": self.status}


def _every_ship_day(statics: Statics, res: np.ndarray, day0: int) -> tuple[np.ndarray, ...]:
    """Candidates (local reservation, site, reservation, ship day) for every day the replay accepts a
    shipment: booked, not before ``day0``, no later than the ship-by day, inside the horizon."""
    S = statics.n_sites
    cr = np.repeat(np.arange(len(res)), S)
    cs = np.tile(np.arange(S), len(res))
    g = res[cr]
    first = np.maximum(day0, statics.res_booked[g])
    # A missing lane has a ship-by day far in the past, so it gets no candidate.
    last = np.minimum(statics.ship_by(g, cs), statics.horizon - 1)
    width = np.clip(last - first + 1, 0, None)
    rep = np.repeat(np.arange(len(g)), width)
    offset = np.arange(len(rep)) - np.repeat(np.cumsum(width) - width, width)
    return cr[rep], cs[rep], g[rep], first[rep] + offset


def bound_input(statics: Statics, sched: Schedule, state: ExecState, day0: int = 0) -> PlanningInput:
    """The hindsight planning input with the bound's candidates, returns, arcs and objective.

    ``state`` is the morning of ``day0`` after that day's arrivals.
    """
    info = Information(
        risk=RiskPolicy(),
        pmf=None,
        schedule=sched,
        demand_total=None,
        lead_cdf=None,
        fill_bonus=0.0,
        ship_early_days=statics.horizon,
    )
    inp = planning_input(statics, state, day0, info)
    local = np.full(statics.n_skus, -1, dtype=np.int64)
    local[inp.skus] = np.arange(len(inp.skus))
    cr, cs, g, ship_day = _every_ship_day(statics, inp.res, day0)
    zone = statics.res_zone[g]
    back = statics.res_event[g] + statics.res_days[g] + statics.ship_days[cs, zone] + sched.res_delay[g]
    ret = np.nonzero(back < statics.horizon)[0]
    inp.cand_res, inp.cand_site, inp.cand_tau = cr, cs, ship_day - day0
    inp.cand_sku = local[statics.res_sku[g]]
    # Exactly ReplayResult.value per shipment: no VIP uplift, no fill bonus, no early tie-break.
    inp.cand_obj = statics.res_value[g] - statics.ship_cost[cs, zone]
    inp.ret_cand, inp.ret_tau, inp.ret_w = ret, back[ret] - day0, np.ones(len(ret))
    # No forecast protection to remove: with the schedule as information every booking is known and
    # planning_input plans no held-back units (their value would not be realized).
    td = statics.transfer_days.copy()
    off = ~np.eye(statics.n_sites, dtype=bool) & (td < LANE_MISSING_DAYS)
    td[off] = np.maximum(td[off], 1)
    inp.transfer_days = td
    return inp


def lp_bound(statics: Statics, sched: Schedule, state: ExecState, options: SolveOptions) -> LpBound:
    """Solve the perfect-information LP from day 0 over the whole horizon.

    Args:
        statics: the world's index arrays (new bookings included).
        sched: the realized schedule the policies are replayed against.
        state: unit states on the morning of day 0 *before* that day's arrivals
            (``initial_state(world, statics, sched)``); it is not mutated.
        options: solver options (an LP: no integrality).

    Returns:
        The bound in realized-value dollars, with the solve's seconds, status and size.
    """
    t0 = time.perf_counter()
    st = copy.deepcopy(state)
    st.day = 0
    _arrivals(st, statics, sched, 0)  # what every policy sees on day 0
    inp = bound_input(statics, sched, st, 0)
    problem, _ = build_problem(inp)
    if problem.n_vars == 0:
        return LpBound(0.0, time.perf_counter() - t0, str(SolveStatus.OPTIMAL), 0)
    result = solve(problem, options)
    if result.status == SolveStatus.OPTIMAL:
        value = float(result.objective)
    else:
        # Only a proven bound is an upper bound; a feasible point stopped early is not.
        value = float(result.bound) if np.isfinite(result.bound) else float("nan")
    return LpBound(value, time.perf_counter() - t0, str(result.status), problem.n_vars)
