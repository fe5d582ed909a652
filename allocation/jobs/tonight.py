"""Tonight's solve as a step, and what a job inherits from the plan before it.

``solve_tonight`` builds tonight's planning input (a what-if's changes, the stability penalty on
the shipments the previous plan communicated), solves it through ``allocation.model.solve`` (warm
prices from the previous plan when the job has them; the workers' chord when the context carries
one) and stores the solution, the capacity prices and the figures. ``plan_run`` rebuilds the same
solved run in another process (the model is deterministic in its inputs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from allocation.analysis.whatif import WhatIf, whatif_input
from allocation.jobs.context import StepContext
from allocation.jobs.solve_stats import decomposition_stats, result_stats, rounding_stats
from allocation.jobs.store import RunStore, npz_bytes, read_npz, read_parquet
from allocation.model.network import build_problem, decode
from allocation.model.snapshot import PlanningInput, planning_input
from allocation.model.solve import CapacityPrices
from allocation.model.solve import solve_input as solve_planning_input
from allocation.model.stability import (
    Communicated,
    changed_shipments,
    communicated_from_ships,
    keep_communicated_shipments,
)
from allocation.replay.policies import PlanRun
from allocation.state import initial_state
from solvers.base import SolveResult, SolveStatus
from solvers.decompose import DWTrace

__all__ = [
    "COMMUNICATED",
    "PREVIOUS_PRICES",
    "PREVIOUS_SHIPS",
    "PRICES",
    "plan_run",
    "previous_artifacts",
    "seed_previous",
    "solve_tonight",
]


# What a job may inherit from the plan before it (``seed_previous``): the capacity prices its solve
# ended with (a warm start) and the shipments it told customers about (plan stability).
PREVIOUS_PRICES = "previous/capacity_prices.json"
PREVIOUS_SHIPS = "previous/ships.parquet"
PRICES = "capacity_prices.json"
COMMUNICATED = "plan/communicated.parquet"


def seed_previous(store: RunStore, job_id: str, artifacts: dict[str, bytes]) -> None:
    """Give a job its previous plan's prices and ships (``{"prices": ..., "ships": ...}`` bytes)."""
    if "prices" in artifacts:
        store.put(job_id, PREVIOUS_PRICES, artifacts["prices"])
    if "ships" in artifacts:
        store.put(job_id, PREVIOUS_SHIPS, artifacts["ships"])


def previous_artifacts(store: RunStore, job_id: str) -> dict[str, bytes]:
    """The artifacts a later job inherits from this one's plan (empty before it has solved)."""
    out: dict[str, bytes] = {}
    if store.has(job_id, PRICES):
        out["prices"] = store.get(job_id, PRICES)
    if store.has(job_id, COMMUNICATED):
        out["ships"] = store.get(job_id, COMMUNICATED)
    return out


def _communicated(ctx: StepContext) -> Communicated | None:
    if not ctx.store.has(ctx.job_id, PREVIOUS_SHIPS):
        return None
    ships = read_parquet(ctx.store.get(ctx.job_id, PREVIOUS_SHIPS))
    return communicated_from_ships(ctx.statics(), ships, "the previous plan's ships")


def _tonight_input(ctx: StepContext) -> PlanningInput:
    """Tonight's planning input: the job's what-if if it is one, and the stability penalty on the
    shipments the previous plan communicated (deterministic: the project step rebuilds it)."""
    world, statics = ctx.world(), ctx.statics()
    state = initial_state(world, statics, None)
    if ctx.options.whatif:  # a what-if job: tonight's model with its changes (allocation.whatif)
        inp, _ = whatif_input(world, statics, state, ctx.information(), WhatIf.from_json(ctx.options.whatif))
    else:
        inp = planning_input(statics, state, 0, ctx.information())
    told = _communicated(ctx)
    if told is not None and ctx.options.stability_penalty > 0:
        keep_communicated_shipments(inp, told, ctx.options.stability_penalty)
    return inp


def solve_tonight(ctx: StepContext) -> dict[str, Any]:
    """Build and solve tonight's allocation model; store the solution vector, the capacity prices
    (tomorrow's warm start) and the solver's figures."""
    ctx.progress("solving tonight's allocation", 0.0)
    inp = _tonight_input(ctx)
    warm = None
    if ctx.options.warm_start and ctx.store.has(ctx.job_id, PREVIOUS_PRICES):
        warm = CapacityPrices.from_json(ctx.get_json(PREVIOUS_PRICES))

    def on_round(trace: DWTrace) -> None:
        gap = abs(trace.bounds[-1] - trace.objectives[-1]) / max(1.0, abs(trace.bounds[-1]))
        ctx.progress(f"solving tonight's allocation: round {trace.rounds}, gap {gap:.2%}", 0.0)

    run = solve_planning_input(
        inp, ctx.options.solve_options(), warm=warm, runner_factory=ctx.runner_factory, progress=on_round
    )
    ctx.memo["run"] = run
    r = run.result
    stats = {
        **result_stats(r),
        "time_limit_s": ctx.options.time_limit_s,
        "warm_start": warm is not None and run.trace is not None,  # only the decomposition reads prices
        **decomposition_stats(run),
        **rounding_stats(run, ctx.options.solve_options()),
    }
    told = _communicated(ctx)
    if told is not None and r.x is not None:
        stats["communicated_shipments"], stats["changed_shipments"] = changed_shipments(inp, run.decisions.x, told)
        stats["stability_penalty"] = ctx.options.stability_penalty
    arrays = (
        {}
        if r.x is None
        else {"x": r.x, "row_activity": r.row_activity if r.row_activity is not None else run.problem.A @ r.x}
    )
    if r.x is not None and r.duals is not None:
        arrays["duals"] = r.duals  # the explanations' shadow prices, when the project step runs elsewhere
    ctx.store.put(ctx.job_id, "solution.npz", npz_bytes(**arrays))
    if run.prices is not None:
        ctx.put_json(PRICES, run.prices.to_json())
    ctx.put_json("solve.json", stats)
    return stats


def plan_run(ctx: StepContext) -> PlanRun:
    """Tonight's solved run: from the memo, else rebuilt from the stored solution (the model is
    deterministic in the dataset and the forecast arrays, so the same columns come back)."""
    if "run" in ctx.memo:
        run: PlanRun = ctx.memo["run"]
        return run
    stats = ctx.get_json("solve.json")
    arrays = read_npz(ctx.store.get(ctx.job_id, "solution.npz"))
    inp = _tonight_input(ctx)
    problem, layout = build_problem(inp)
    x = arrays.get("x")
    activity = arrays.get("row_activity")
    result = SolveResult(
        stats["backend"],
        SolveStatus(stats["status"]),
        stats["objective"],
        stats["bound"],
        stats["gap"],
        stats["seconds"],
        stats["variables"],
        stats["constraints"],
        x,
        activity,
        arrays.get("duals"),
        stats.get("message", ""),
    )
    x_used = x if x is not None else np.zeros(problem.n_vars)
    act_used = activity if activity is not None else problem.A @ x_used
    run = PlanRun(inp, layout, problem, result, decode(inp, layout, x_used, act_used))
    ctx.memo["run"] = run
    return run
