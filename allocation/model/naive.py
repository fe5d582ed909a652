"""The allocation model as a user writes it first: one PuLP object per variable, a Python loop per
constraint family, solved by CBC as one monolithic program.

Two uses, one model:

* the **exact reference** the array-built model (``allocation.model.network``) is checked against
  on tiny instances (``reference_objective``, continuous columns: the same LP);
* the **naive anchor** of ``benchmarks/solve_scaling.py`` (``solve_naive``): shipments ``X`` and
  transfers ``TR`` integer, as a planner who ships whole units would first write it, one MIP
  for CBC under a time limit.

The equations are those of docs/architecture.md ("The decision model in one screen") and
``allocation.model.rules`` (business rules included: blocked candidates and lane-days at 0, the
vip-first bonus, the transfers-per-lane-day rows), written term by term from ``PlanningInput`` without sharing code with
the array builder, so that an error in one does not hide in the other. The terms of each row are
gathered by one pass over the columns into a dictionary keyed by the row (as a user does once the
first version's scan of every column per row is too slow to build at all); the model still holds
one Python object per variable and per row, which is what the anchor measures.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pulp

from allocation.model.snapshot import PlanningInput

__all__ = ["NaiveModel", "NaiveSolve", "build_naive_model", "reference_objective", "solve_naive"]

Key = tuple[int, int, int]  # (local SKU, site, local day) or (site, local day, 0)
Terms = dict[Key, list[tuple[pulp.LpVariable, float]]]


@dataclass
class NaiveModel:
    """The PuLP model and the shipment variables whose values give the plan's fills."""

    model: pulp.LpProblem
    ship: list[pulp.LpVariable]


@dataclass
class NaiveSolve:
    """What the naive anchor gives back.

    Attributes:
        status: ``optimal``, ``feasible`` (CBC stopped by the time limit holding an integer
            solution), ``no_solution`` (stopped before any), ``infeasible``, ``unbounded`` or
            ``error`` — the words of ``solvers.base.SolveStatus``.
        objective: Dollars of the solution found (maximised); nan without one.
        build_s: Seconds to create the PuLP variables, rows and objective.
        solve_s: Seconds CBC took, writing and reading its files included.
        x: Shipment values per candidate (``PlanningInput.cand_*`` order); None without a solution.
        n_vars: Variables of the model.
        n_rows: Rows of the model.
    """

    status: str
    objective: float
    build_s: float
    solve_s: float
    x: np.ndarray | None
    n_vars: int
    n_rows: int


def _add(terms: Terms, key: Key, var: pulp.LpVariable, coef: float) -> None:
    terms[key].append((var, coef))


def _expr(terms: Terms, key: Key) -> pulp.LpAffineExpression:
    return pulp.LpAffineExpression(terms.get(key, []))


def build_naive_model(
    inp: PlanningInput, *, integer_shipments: bool = False, integer_transfers: bool = False
) -> NaiveModel:
    """One PuLP variable per I, D, C, X, Y and TR column; one PuLP row per constraint.

    Args:
        inp: The planning run's arrays.
        integer_shipments: Shipments ``X`` integer (0 or 1) rather than 0..1.
        integer_transfers: Transfers ``TR`` in whole units.
    """
    K, S, T = len(inp.skus), inp.n_sites, inp.T
    m = pulp.LpProblem("naive", pulp.LpMaximize)
    x_cat = pulp.LpInteger if integer_shipments else pulp.LpContinuous
    tr_cat = pulp.LpInteger if integer_transfers else pulp.LpContinuous
    kst = [(k, s, t) for k in range(K) for s in range(S) for t in range(T)]
    ready = {key: pulp.LpVariable("I_{}_{}_{}".format(*key), lowBound=0) for key in kst}
    dirty = {key: pulp.LpVariable("D_{}_{}_{}".format(*key), lowBound=0) for key in kst}
    clean = {key: pulp.LpVariable("C_{}_{}_{}".format(*key), lowBound=0) for key in kst}
    # Business rules (allocation.model.business_rules): a candidate a rule blocks cannot ship.
    blocked = [bool(inp.cand_rule is not None and inp.cand_rule[c] != "") for c in range(len(inp.cand_res))]
    ship = [
        pulp.LpVariable(f"X_{c}", lowBound=0, upBound=0 if blocked[c] else 1, cat=x_cat)
        for c in range(len(inp.cand_res))
    ]
    bonus = [0.0 if inp.cand_bonus is None else float(inp.cand_bonus[c]) for c in range(len(ship))]
    y = inp.protect
    protect = [pulp.LpVariable(f"Y_{j}", lowBound=0, upBound=float(y.ub[j])) for j in range(len(y))]
    # Transfers only for SKUs with a reservation to serve, and only arcs landing inside the horizon.
    wanted = sorted(set(inp.cand_sku.tolist()))
    moves: dict[tuple[int, int, int, int], pulp.LpVariable] = {}
    for k in wanted:
        for a in range(S):
            for b in range(S):
                d = int(inp.transfer_days[a, b])
                if a == b or d <= 0 or d >= 10_000:
                    continue
                for t in range(T - d):
                    shut = inp.tr_blocked is not None and bool(inp.tr_blocked[a, b, t])  # a blocked lane-day
                    moves[(k, a, b, t)] = pulp.LpVariable(
                        f"TR_{k}_{a}_{b}_{t}", lowBound=0, upBound=0 if shut else None, cat=tr_cat
                    )

    m += (
        pulp.lpSum((float(inp.cand_obj[c]) + bonus[c]) * ship[c] for c in range(len(ship)))
        + pulp.lpSum(float(y.obj[j]) * protect[j] for j in range(len(protect)))
        - pulp.lpSum(float(inp.transfer_cost[a, b]) * v for (k, a, b, t), v in moves.items())
    )

    # Terms of each (SKU, site, day) balance row and each (site, day) capacity row.
    ready_use: Terms = defaultdict(list)  # leaves ready stock (+) or comes back into it (-)
    dirty_back: Terms = defaultdict(list)  # returns into dirty stock
    ships_out: Terms = defaultdict(list)  # shipping capacity use, keyed (site, day, 0)
    picks: Terms = defaultdict(list)  # warehouse picks, keyed (site, day, 0)
    per_res: dict[int, list[pulp.LpVariable]] = defaultdict(list)
    for c, var in enumerate(ship):
        k, s, t = int(inp.cand_sku[c]), int(inp.cand_site[c]), int(inp.cand_tau[c])
        _add(ready_use, (k, s, t), var, 1.0)
        _add(ships_out, (s, t, 0), var, 1.0)
        _add(picks, (s, t, 0), var, 1.0)
        per_res[int(inp.cand_res[c])].append(var)
    for i in range(len(inp.ret_cand)):
        c = int(inp.ret_cand[i])
        _add(
            dirty_back, (int(inp.cand_sku[c]), int(inp.cand_site[c]), int(inp.ret_tau[i])), ship[c], float(inp.ret_w[i])
        )
    for j, var in enumerate(protect):
        k, s = int(y.sku[j]), int(y.site[j])
        _add(ready_use, (k, s, int(y.tau[j])), var, 1.0)
        # Held-back units no booking came for are ready again after their week.
        _add(ready_use, (k, s, int(y.free_tau[j])), var, -float(y.free_w[j]))
        _add(dirty_back, (k, s, int(y.back_tau[j])), var, float(y.back_w[j]))
        # They use capacity on the day they are expected to ship, as often as they do.
        _add(ships_out, (s, int(y.ship_tau[j]), 0), var, float(y.ship_w[j]))
        _add(picks, (s, int(y.ship_tau[j]), 0), var, float(y.ship_w[j]))
    for (k, a, b, t), var in moves.items():
        _add(ready_use, (k, a, t), var, 1.0)
        _add(ready_use, (k, b, t + int(inp.transfer_days[a, b])), var, -1.0)
        _add(picks, (a, t, 0), var, 1.0)

    for k, s, t in kst:
        p = int(inp.clean_days[s])
        inflow = float(inp.ready_in[k, s, t]) + (float(inp.ready0[k, s]) if t == 0 else 0.0)
        expr = ready[k, s, t] - (ready[k, s, t - 1] if t > 0 else 0) + _expr(ready_use, (k, s, t))
        if t >= p:
            expr -= float(inp.clean_yield[k, s]) * clean[k, s, t - p]
        m += expr == inflow, f"ready_{k}_{s}_{t}"
        dirty_in = float(inp.dirty_in[k, s, t]) + (float(inp.dirty0[k, s]) if t == 0 else 0.0)
        m += (
            dirty[k, s, t] - (dirty[k, s, t - 1] if t > 0 else 0) + clean[k, s, t] - _expr(dirty_back, (k, s, t))
            == dirty_in,
            f"dirty_{k}_{s}_{t}",
        )
    for s in range(S):
        for t in range(T):
            m += pulp.lpSum(clean[k, s, t] for k in range(K)) <= float(inp.clean_cap[s, t]), f"clean_cap_{s}_{t}"
            m += _expr(ships_out, (s, t, 0)) <= float(inp.ship_cap[s, t]), f"ship_cap_{s}_{t}"
            m += _expr(picks, (s, t, 0)) <= float(inp.pick_cap[s, t]), f"pick_cap_{s}_{t}"
    for r, vars_ in per_res.items():
        m += pulp.lpSum(vars_) <= 1, f"once_{r}"
    if inp.max_transfers_per_lane_day is not None:  # the max-transfers business rule
        lane_day: dict[tuple[int, int, int], list[pulp.LpVariable]] = defaultdict(list)
        for (_k, a, b, t), var in moves.items():
            lane_day[(a, b, t)].append(var)
        for (a, b, t), vars_ in lane_day.items():
            m += pulp.lpSum(vars_) <= float(inp.max_transfers_per_lane_day), f"lane_{a}_{b}_{t}"
    return NaiveModel(m, ship)


_SOLUTION_STATUS = {
    pulp.LpSolutionOptimal: "optimal",
    pulp.LpSolutionIntegerFeasible: "feasible",
    pulp.LpSolutionNoSolutionFound: "no_solution",
    pulp.LpSolutionInfeasible: "infeasible",
    pulp.LpSolutionUnbounded: "unbounded",
}


def solve_naive(
    inp: PlanningInput,
    *,
    integer_shipments: bool = True,
    integer_transfers: bool = True,
    time_limit_s: float = 600.0,
) -> NaiveSolve:
    """Build the per-variable model and solve it with CBC (default settings, one thread).

    Args:
        inp: The planning run's arrays.
        integer_shipments: Shipments integer (the anchor) or 0..1 (the LP reference).
        integer_transfers: Transfers integer (the anchor) or continuous.
        time_limit_s: CBC's wall-clock limit, seconds; the build is not counted in it.
    """
    t0 = time.perf_counter()
    built = build_naive_model(inp, integer_shipments=integer_shipments, integer_transfers=integer_transfers)
    build_s = time.perf_counter() - t0
    m = built.model
    t0 = time.perf_counter()
    m.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s, threads=1))
    solve_s = time.perf_counter() - t0
    status = _SOLUTION_STATUS.get(m.sol_status, "error")
    solved = status in ("optimal", "feasible")
    x = np.array([v.varValue or 0.0 for v in built.ship]) if solved else None
    objective = float(pulp.value(m.objective) or 0.0) if solved else float("nan")
    return NaiveSolve(status, objective, build_s, solve_s, x, len(m.variables()), len(m.constraints))


def reference_objective(inp: PlanningInput, *, integer_shipments: bool = False) -> float:
    """Optimal objective of the per-variable model, transfers continuous (the exact reference).

    Raises:
        AssertionError: CBC did not prove optimality (a reference must be exact).
    """
    got = solve_naive(inp, integer_shipments=integer_shipments, integer_transfers=False, time_limit_s=600.0)
    assert got.status == "optimal", got.status
    return got.objective
