"""The ``scenarios:N`` risk policy: one LP over N sampled worlds sharing tonight's decisions.

``expected`` counts a fraction of every uncertain return on every day it may come back;
``quantile:a`` counts it whole on one pessimistic day. ``scenarios:N`` instead samples N worlds
(``planning_input(..., scenario=i)``): each unit still out and each return of tonight's shipments
lands whole on one sampled day of its conditional delay distribution, and each running cleaning
works or fails. The N plan LPs are stacked block-diagonally with the objective averaged (a
sample-average approximation) and tied by non-anticipativity rows: today's shipments, cleanings
and transfers are the same in every scenario, because tonight the planner must choose them before
it learns which world it is in; later days may differ (the nightly re-plan is the recourse).
With ``replan_every`` > 1 the days between re-plans execute scenario 0's plan for them, which
is as good as one sampled world's: re-plan daily with this policy.

Cleanings the plan starts keep the expected yield in every scenario: the aggregate model cannot
tell which unit a cleaning takes, and dropping a sampled failing dirty unit from stock would make
today's shared cleanings fit the scenario with the most failures, while in reality a failing
unit still takes a cleaning slot.

Measured on the small tuning worlds (docs/architecture.md) it does not beat ``expected`` on
realized value, at 6-17 times the solve time: an opt-in policy, not the default.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from allocation.domain import ClosetflowError
from allocation.model.layout import Layout
from allocation.model.network import build_problem
from allocation.model.snapshot import Information, PlanningInput, planning_input
from allocation.state import ExecState
from allocation.statics import Statics
from solvers.base import LinearProblem, SolveResult

__all__ = ["ScenarioProblem", "build_scenario_problem", "first_day_columns", "scenario_inputs"]

NON_ANTICIPATIVITY = "non_anticipativity"


@dataclass
class ScenarioProblem:
    """The stacked LP and where each scenario sits in it.

    Scenario ``i`` owns columns ``i * n .. (i + 1) * n - 1`` and rows ``i * m .. (i + 1) * m - 1``
    (``n``, ``m``: one scenario's LP); the non-anticipativity rows come last.
    """

    problem: LinearProblem
    inputs: list[PlanningInput]
    problems: list[LinearProblem]  # each scenario's own LP (same columns and rows in each)
    layout: Layout  # one scenario's layout (identical in all)
    first_day: np.ndarray  # columns (within a scenario) of today's decisions

    @property
    def n_scenarios(self) -> int:
        return len(self.inputs)

    def scenario_x(self, x: np.ndarray, i: int = 0) -> np.ndarray:
        """Scenario ``i``'s part of a stacked solution vector."""
        n = self.layout.n
        return x[i * n : (i + 1) * n]

    def scenario_rows(self, activity: np.ndarray, i: int = 0) -> np.ndarray:
        """Scenario ``i``'s part of the stacked row activity."""
        m = self.problems[0].n_rows
        return activity[i * m : (i + 1) * m]

    def first_scenario_result(self, result: SolveResult) -> SolveResult:
        """The stacked solve's result as scenario 0's run: its ``x`` and row activity (so they
        decode and store like a single plan's), with the stacked solve's status, objective (the
        sample-average plan value), seconds and sizes. Duals are dropped: a stacked row's dual is
        a share of one scenario's, not a plan's."""
        return replace(
            result,
            x=None if result.x is None else self.scenario_x(result.x),
            row_activity=None if result.row_activity is None else self.scenario_rows(result.row_activity),
            duals=None,
        )


def scenario_inputs(
    statics: Statics, state: ExecState, day0: int, info: Information, scenarios: list[int] | None = None
) -> list[PlanningInput]:
    """The planning inputs of the sampled scenarios (``0 .. N-1`` unless ``scenarios`` names them)."""
    if info.risk.kind != "scenarios" or info.hindsight:
        raise ClosetflowError(f"scenario inputs need a scenarios:<n> risk policy without hindsight, not {info.risk}")
    which = list(range(info.risk.n)) if scenarios is None else scenarios
    return [planning_input(statics, state, day0, info, scenario=i) for i in which]


def first_day_columns(inp: PlanningInput, lay: Layout) -> np.ndarray:
    """Columns of the decisions executed today: shipments leaving today, cleanings started today,
    transfers leaving today. Protection is not executed (it only holds stock back in the plan)."""
    x = lay.off_X + np.nonzero(inp.cand_tau == 0)[0]
    c = lay.off_C + (np.arange(lay.K * lay.S) * lay.T)  # C[k, s, 0]
    tr = lay.off_TR + np.nonzero(lay.tr_tau == 0)[0]
    return np.concatenate([x, c, tr]).astype(np.int64)


def _same_columns(a: PlanningInput, la: Layout, b: PlanningInput, lb: Layout) -> bool:
    # Columns come from reservations, SKUs, demand and lanes, none of which a scenario samples;
    # if they ever differed, tying column j of one scenario to column j of another would be wrong.
    same_offsets = (la.K, la.S, la.T, la.off_X, la.off_Y, la.off_TR, la.n) == (
        lb.K,
        lb.S,
        lb.T,
        lb.off_X,
        lb.off_Y,
        lb.off_TR,
        lb.n,
    )
    return (
        same_offsets
        and all(
            np.array_equal(getattr(a, f), getattr(b, f)) for f in ("skus", "res", "cand_res", "cand_site", "cand_tau")
        )
        and all(np.array_equal(getattr(la, f), getattr(lb, f)) for f in ("tr_k", "tr_a", "tr_b", "tr_tau"))
    )


def build_scenario_problem(inputs: list[PlanningInput]) -> ScenarioProblem:
    """Stack the scenarios' LPs block-diagonally, average their objectives, and tie today's decisions.

    Non-anticipativity: ``x_i[j] - x_0[j] = 0`` for every scenario ``i >= 1`` and first-day column ``j``.
    """
    if not inputs:
        raise ClosetflowError("a scenarios plan needs at least one scenario")
    built = [build_problem(inp) for inp in inputs]
    problems = [p for p, _ in built]
    lay = built[0][1]
    for inp, (_, other) in zip(inputs[1:], built[1:], strict=True):
        if not _same_columns(inputs[0], lay, inp, other):
            raise ClosetflowError("scenario plans differ in their columns; they cannot share today's decisions")
    N, n = len(inputs), lay.n
    first = first_day_columns(inputs[0], lay)
    m_na = (N - 1) * len(first)
    na_rows = np.repeat(np.arange(m_na), 2)
    scen = np.repeat(np.arange(1, N), len(first))  # scenario of each row
    j = np.tile(first, N - 1)
    na_cols = np.column_stack([scen * n + j, j]).ravel()
    na_vals = np.tile([1.0, -1.0], m_na)
    na = sp.csr_matrix((na_vals, (na_rows, na_cols)), shape=(m_na, N * n))
    A = sp.vstack([sp.block_diag([p.A for p in problems], format="csr"), na], format="csr")
    problem = LinearProblem(
        c=np.concatenate([p.c for p in problems]) / N,
        A=A,
        row_lower=np.concatenate([*(p.row_lower for p in problems), np.zeros(m_na)]),
        row_upper=np.concatenate([*(p.row_upper for p in problems), np.zeros(m_na)]),
        col_lower=np.concatenate([p.col_lower for p in problems]),
        col_upper=np.concatenate([p.col_upper for p in problems]),
        maximize=True,
    )
    return ScenarioProblem(problem, list(inputs), problems, lay, first)
