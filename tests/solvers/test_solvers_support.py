"""Result assembly shared by backends, and the front door's integer-bound rounding."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import scipy.sparse as sp
from solvers_cases import MIP_BACKENDS, knapsack_problem, small_lp

from solvers import LinearProblem, SolveOptions, SolveStatus, solve
from solvers.support import make_result, max_violation, relative_gap


@pytest.mark.parametrize(
    ("objective", "bound", "gap"),
    [(10.0, 10.0, 0.0), (100.0, 110.0, 0.1), (-100.0, -90.0, 0.1), (0.0, 1.0, math.inf), (0.0, 0.0, 0.0)],
)
def test_relative_gap(objective: float, bound: float, gap: float) -> None:
    assert relative_gap(objective, bound) == pytest.approx(gap)


def test_relative_gap_is_nan_without_a_bound() -> None:
    assert math.isnan(relative_gap(1.0, math.nan))


def test_limit_stopped_infeasible_point_is_not_a_solution() -> None:
    problem = small_lp()
    bad_point = np.array([0.0, 0.0])  # violates both >= rows
    assert max_violation(problem, bad_point) == pytest.approx(6.0 / 7.0)  # (6 - 0) / (1 + 6)
    result = make_result(
        problem,
        backend="test",
        status=SolveStatus.FEASIBLE,
        x=bad_point,
        bound=5.0,
        duals=None,
        started=time.perf_counter(),
        message="stopped",
    )
    assert result.status is SolveStatus.NO_SOLUTION
    assert not result.has_solution and result.x is None and math.isnan(result.objective)
    assert result.bound == 5.0  # a proven bound stays useful without a solution


def test_limit_stopped_feasible_point_keeps_objective_bound_and_gap() -> None:
    problem = small_lp()
    point = np.array([2.0, 2.0])
    result = make_result(
        problem,
        backend="test",
        status=SolveStatus.FEASIBLE,
        x=point,
        bound=12.8,
        duals=None,
        started=time.perf_counter(),
        message="stopped",
    )
    assert result.status is SolveStatus.FEASIBLE and result.has_solution
    assert result.objective == pytest.approx(14.0)  # 2 + 2 + offset 10
    assert result.gap == pytest.approx(1.2 / 14.0)
    np.testing.assert_array_equal(result.row_activity, problem.A @ point)


def test_fractional_integer_point_is_not_a_solution() -> None:
    problem = knapsack_problem(n=4, m=1)
    assert max_violation(problem, np.array([0.5, 0.0, 0.0, 0.0])) == pytest.approx(0.5)


@pytest.mark.parametrize("backend", [*MIP_BACKENDS, "cp-sat"])
def test_fractional_bounds_of_integer_columns_are_respected(backend: str) -> None:
    # max x + y, x, y integer in [-2.5, 2.5] and x + y <= 10: the optimum is x = y = 2.
    problem = LinearProblem(
        c=np.array([1.0, 1.0]),
        A=sp.csr_matrix(np.ones((1, 2))),
        row_lower=np.array([-np.inf]),
        row_upper=np.array([10.0]),
        col_lower=np.full(2, -2.5),
        col_upper=np.full(2, 2.5),
        integrality=np.ones(2, dtype=bool),
        maximize=True,
    )
    result = solve(problem, SolveOptions(backend=backend))
    assert result.status is SolveStatus.OPTIMAL and result.x is not None
    np.testing.assert_allclose(result.x, np.array([2.0, 2.0]))
    # The caller's problem is left as it was.
    np.testing.assert_array_equal(problem.col_upper, [2.5, 2.5])


def test_integer_column_without_an_integer_value_is_infeasible() -> None:
    problem = knapsack_problem(n=3, m=1)
    problem.col_lower = np.array([0.2, 0.0, 0.0])
    problem.col_upper = np.array([0.8, 1.0, 1.0])
    result = solve(problem, SolveOptions(backend="cbc"))
    assert result.status is SolveStatus.INFEASIBLE and result.backend == "cbc"
    relaxed = solve(problem, SolveOptions(backend="cbc", relax_integrality=True))
    assert relaxed.status is SolveStatus.OPTIMAL
