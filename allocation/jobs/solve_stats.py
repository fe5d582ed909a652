"""The figures the solve step stores in ``solve.json``: the solver's, the decomposition's and what
making today's shipments whole units cost."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from allocation.model.rounding import round_today
from allocation.model.solve import PlanRun
from solvers.base import SolveOptions, SolveResult, solve

__all__ = ["decomposition_stats", "result_stats", "rounding_stats"]


def result_stats(r: SolveResult) -> dict[str, Any]:
    return {
        "backend": r.backend,
        "status": str(r.status),
        "objective": r.objective,
        "bound": r.bound,
        "gap": r.gap,
        "seconds": r.seconds,
        "variables": r.variables,
        "constraints": r.constraints,
        "message": r.message,
    }


def decomposition_stats(run: PlanRun) -> dict[str, Any]:
    """Rounds, groups, linking rows, where the time went and why it stopped (decomposed solves only)."""
    t = run.trace
    if t is None:
        return {}
    return {
        "decomposition": {
            "rounds": t.rounds,
            "groups": t.groups,
            "blocks": t.blocks,
            "linking_rows": t.link_rows,
            "stopped_by": t.stopped_by,
            "group_seconds": round(t.group_seconds, 3),
            "master_seconds": round(t.master_seconds, 3),
            "setup_seconds": round(t.setup_seconds, 3),
            "bound_by_round": [b if math.isfinite(b) else None for b in t.bounds],
            "objective_by_round": [o if math.isfinite(o) else None for o in t.objectives],
        }
    }


def rounding_stats(run: PlanRun, options: SolveOptions) -> dict[str, Any]:
    """How fractional tonight's shipments were and what making them whole units cost.

    The cost is measured, not estimated: the LP is solved again with today's shipments fixed to
    the rounded ones (later days free), and the objectives compared.
    """
    if run.result.x is None or run.problem.n_vars == 0:
        return {}
    rounded = round_today(run.inp, run.decisions)
    today = np.nonzero(run.inp.cand_tau == 0)[0]
    cols = run.layout.off_X + today
    fixed = np.isin(today, rounded.chosen).astype(float)
    lo, hi = run.problem.col_lower.copy(), run.problem.col_upper.copy()
    lo[cols] = hi[cols] = fixed
    again = solve(dataclasses.replace(run.problem, col_lower=lo, col_upper=hi), options)
    base = run.result.objective
    cost = None if again.x is None or base is None else float(base - again.objective)
    return {
        "today_shipments": len(rounded.chosen),
        "today_fractional": rounded.fractional,
        "today_candidates_used": rounded.candidates,
        "rounding_cost": cost,
    }
