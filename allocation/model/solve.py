"""Solve one planning input: the one way the job, the replay, what-ifs and benchmarks solve.

``solve_input`` builds the LP (``network.build_problem``), labels its columns by SKU
(``blocks.column_blocks``) and hands it to the backend the options name. With ``auto`` (the job's
default) a model up to ``solvers.decompose.AUTO_MONOLITHIC_MAX_VARS`` columns goes to HiGHS whole —
at that size the monolithic simplex is the fastest exact path — and a larger one to the
Dantzig-Wolfe decomposition (``dw``), which can start from the capacity prices of an earlier,
similar solve (``CapacityPrices``: last night's, or yesterday's in the holdout replay) and stops
at its time limit with the best feasible plan, a bound and a gap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from allocation.model.blocks import column_blocks, idle_point
from allocation.model.layout import Layout
from allocation.model.network import Decisions, build_problem, decode
from allocation.model.snapshot import PlanningInput
from solvers.base import LinearProblem, SolveOptions, SolveResult, SolveStatus, solve
from solvers.decompose import BlockStructure, DWSettings, DWTrace, GroupRunner, solve_block_angular, uses_decomposition

__all__ = ["CapacityPrices", "PlanRun", "solve_input"]

# Row families whose prices carry from one solve to the next: the rows shared by all SKUs, indexed
# by site and day, so a price found for Tuesday at Reno tonight is still a fair guess tomorrow.
PRICED_FAMILIES = ("cleaning_capacity_per_site_day", "shipping_capacity_per_site_day", "warehouse_picks_per_site_day")


@dataclass
class CapacityPrices:
    """Shadow prices of the site-day capacity rows, by absolute day (dollars per unit of capacity)."""

    day0: int
    prices: dict[str, np.ndarray]  # family -> (S, T)

    @classmethod
    def from_run(cls, inp: PlanningInput, layout: Layout, duals: np.ndarray | None) -> CapacityPrices | None:
        if duals is None or len(duals) != sum(b - a for a, b in layout.row_blocks.values()):
            return None
        out: dict[str, np.ndarray] = {}
        for fam in PRICED_FAMILIES:
            if fam in layout.row_blocks:
                a, b = layout.row_blocks[fam]
                out[fam] = np.asarray(duals[a:b], dtype=np.float64).reshape(layout.S, layout.T).copy()
        return cls(inp.day0, out)

    def row_prices(self, inp: PlanningInput, layout: Layout, n_rows: int) -> np.ndarray:
        """A price per row of a new model (NaN where unknown), days matched by date."""
        full = np.full(n_rows, np.nan)
        shift = inp.day0 - self.day0
        for fam, old in self.prices.items():
            if fam not in layout.row_blocks or old.shape[0] != layout.S:
                continue
            a, _ = layout.row_blocks[fam]
            new = np.full((layout.S, layout.T), np.nan)
            t_old = np.arange(layout.T) + shift
            ok = (t_old >= 0) & (t_old < old.shape[1])
            new[:, ok] = old[:, t_old[ok]]
            full[a : a + layout.S * layout.T] = new.ravel()
        return full

    def to_json(self) -> dict[str, object]:
        return {"day0": self.day0, "prices": {k: v.tolist() for k, v in self.prices.items()}}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> CapacityPrices:
        raw = data["prices"]
        assert isinstance(raw, dict)
        day0 = data["day0"]
        assert isinstance(day0, int)
        return cls(day0, {str(k): np.asarray(v, dtype=np.float64) for k, v in raw.items()})


@dataclass
class PlanRun:
    """One solved planning run."""

    inp: PlanningInput
    layout: Layout
    problem: LinearProblem
    result: SolveResult
    decisions: Decisions
    prices: CapacityPrices | None = None
    trace: DWTrace | None = None


RunnerFactory = Callable[[BlockStructure, bool], GroupRunner]


def solve_input(
    inp: PlanningInput,
    options: SolveOptions,
    *,
    warm: CapacityPrices | None = None,
    runner_factory: RunnerFactory | None = None,
    settings: DWSettings | None = None,
    progress: Callable[[DWTrace], None] | None = None,
) -> PlanRun:
    """Build and solve the model of ``inp``: an empty model is an optimal empty plan; a solve
    without a solution decodes as nothing planned (callers fall back, see ``replay.policies``)."""
    problem, layout = build_problem(inp)
    trace: DWTrace | None = None
    if problem.n_vars == 0:
        # Nothing left to decide (no open reservation, no forecast demand): an empty plan is optimal.
        z = np.zeros(0)
        result = SolveResult(
            options.backend, SolveStatus.OPTIMAL, 0.0, 0.0, 0.0, 0.0, 0, problem.n_rows, z, np.zeros(problem.n_rows),
            None, "empty problem",
        )  # fmt: skip
    elif uses_decomposition(problem.n_vars, options.backend):
        problem.col_block = column_blocks(inp, layout)
        start = warm.row_prices(inp, layout, problem.n_rows) if warm is not None else None
        result, trace = solve_block_angular(
            problem,
            options,
            settings=settings,
            prices=start,
            initial=idle_point(inp, layout),
            runner_factory=runner_factory,
            progress=progress,
        )
    else:
        result = solve(problem, _monolithic(options))
    if result.x is None:
        # No usable solution (time limit before any, solver error): ship nothing planned today;
        # the replay then only executes what recourse can. The status is reported upward.
        x = np.zeros(problem.n_vars)
        activity = problem.A @ x
    else:
        x = result.x
        activity = result.row_activity if result.row_activity is not None else problem.A @ x
    prices = CapacityPrices.from_run(inp, layout, result.duals)
    return PlanRun(inp, layout, problem, result, decode(inp, layout, x, activity), prices, trace)


def _monolithic(options: SolveOptions) -> SolveOptions:
    return dataclasses.replace(options, backend="highs") if options.backend == "auto" else options
