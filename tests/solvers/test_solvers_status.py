"""Statuses, errors, duals, limits and output discipline of every backend."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from solvers_cases import (
    LP_BACKENDS,
    MIP_BACKENDS,
    assert_solution_consistent,
    infeasible_problem,
    integer_infeasible_problem,
    knapsack_problem,
    small_lp,
    unbounded_problem,
)

from solvers import (
    InvalidProblemError,
    LinearProblem,
    SolveOptions,
    SolverError,
    SolveStatus,
    UnknownBackendError,
    available_backends,
    solve,
)


@pytest.mark.parametrize("backend", LP_BACKENDS)
def test_infeasible_lp(backend: str) -> None:
    result = solve(infeasible_problem(integer=False), SolveOptions(backend=backend))
    assert result.status is SolveStatus.INFEASIBLE, result.message
    assert not result.has_solution
    assert result.x is None and result.row_activity is None and result.duals is None
    assert math.isnan(result.objective)


@pytest.mark.parametrize("backend", LP_BACKENDS)
@pytest.mark.parametrize("maximize", [False, True])
def test_unbounded_lp(backend: str, maximize: bool) -> None:
    result = solve(unbounded_problem(integer=False, maximize=maximize), SolveOptions(backend=backend))
    assert result.status is SolveStatus.UNBOUNDED, result.message
    assert not result.has_solution


@pytest.mark.parametrize("backend", [*MIP_BACKENDS, "cp-sat"])
def test_infeasible_mip(backend: str) -> None:
    for problem in (infeasible_problem(integer=True), integer_infeasible_problem()):
        result = solve(problem, SolveOptions(backend=backend))
        assert result.status is SolveStatus.INFEASIBLE, (result.message, problem)
        assert not result.has_solution


@pytest.mark.parametrize("backend", MIP_BACKENDS)
def test_unbounded_mip(backend: str) -> None:
    result = solve(unbounded_problem(integer=True), SolveOptions(backend=backend))
    assert result.status is SolveStatus.UNBOUNDED, result.message


def test_unknown_backend_is_rejected_before_the_problem_is_looked_at() -> None:
    broken = small_lp()
    broken.c = np.ones(5)  # would raise InvalidProblemError if validation came first
    with pytest.raises(UnknownBackendError) as info:
        solve(broken, SolveOptions(backend="gurobi"))
    message = str(info.value)
    assert "gurobi" in message
    for name in available_backends():
        assert name in message


def test_available_backends_lists_every_registered_backend() -> None:
    assert available_backends() == sorted(["highs", "glop", "pdlp", "scip", "cp-sat", "cbc", "dw", "auto"])


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("c", np.ones(3), "A has shape"),
        ("row_lower", np.zeros(1), "row_lower has shape"),
        ("col_upper", np.ones(5), "col_upper has shape"),
        ("integrality", np.ones(3, dtype=bool), "integrality has shape"),
        ("c", np.array([1.0, np.nan]), "c is not finite"),
        ("row_upper", np.array([np.nan, 1.0]), "row_upper is NaN"),
        ("col_lower", np.array([0.0, 2.0]), "col_lower > col_upper"),
        ("row_lower", np.array([np.inf, 0.0]), "row_lower is +inf"),
    ],
)
def test_invalid_problem_is_refused_with_the_field_named(field: str, value: np.ndarray, words: str) -> None:
    problem = small_lp()
    problem.col_upper = np.array([5.0, 1.0])
    setattr(problem, field, value)
    with pytest.raises(InvalidProblemError, match=re.escape(words)):
        solve(problem)


def test_invalid_problem_names_first_bad_index() -> None:
    problem = small_lp()
    problem.row_lower = np.array([4.0, 6.0])
    problem.row_upper = np.array([5.0, 1.0])
    with pytest.raises(InvalidProblemError, match="first 1"):
        problem.validate()


def test_problem_coerces_lists_and_dense_matrices() -> None:
    # Callers may hand over lists and dense integer arrays; the typed fields say ndarray.
    raw: dict[str, Any] = {
        "c": [1, 2],
        "A": np.array([[1, 1]]),
        "row_lower": [1],
        "row_upper": [np.inf],
        "col_lower": [0, 0],
        "col_upper": [np.inf, np.inf],
        "integrality": [1, 0],
    }
    problem = LinearProblem(**raw)
    assert isinstance(problem.A, sp.csr_matrix) and problem.A.dtype == np.float64
    assert problem.c.dtype == np.float64 and problem.integrality is not None
    assert problem.integrality.dtype == bool
    assert (problem.n_vars, problem.n_rows, problem.is_mip) == (2, 1, True)
    assert solve(problem).objective == pytest.approx(1.0)


@pytest.mark.parametrize("backend", ["glop", "pdlp"])
def test_lp_only_backend_refuses_integer_problem(backend: str) -> None:
    with pytest.raises(SolverError, match="relax_integrality"):
        solve(knapsack_problem(n=5, m=2), SolveOptions(backend=backend))


def test_cp_sat_refuses_continuous_and_fractional_data() -> None:
    with pytest.raises(SolverError, match="every variable integer"):
        solve(unbounded_problem(integer=True), SolveOptions(backend="cp-sat"))
    fractional = knapsack_problem(n=5, m=2)
    fractional.A = fractional.A * 0.5 + sp.csr_matrix(np.full((2, 5), 0.25))
    with pytest.raises(SolverError, match="integer matrix"):
        solve(fractional, SolveOptions(backend="cp-sat"))


def test_cp_sat_rounds_fractional_bounds_inward() -> None:
    problem = knapsack_problem(n=5, m=2)
    problem.row_upper = problem.row_upper + 0.5
    result = solve(problem, SolveOptions(backend="cp-sat", mip_gap=0.0))
    reference = solve(problem, SolveOptions(backend="highs", mip_gap=0.0))
    assert result.status is SolveStatus.OPTIMAL
    assert result.objective == pytest.approx(reference.objective)
    assert_solution_consistent(problem, result)


@pytest.mark.parametrize("backend", ["highs", "glop", "pdlp", "cbc"])
@pytest.mark.parametrize("maximize", [False, True])
def test_duals_are_derivatives_of_the_objective(backend: str, maximize: bool) -> None:
    problem = small_lp(maximize=maximize)
    result = solve(problem, SolveOptions(backend=backend))
    assert result.duals is not None
    sign = -1.0 if maximize else 1.0
    np.testing.assert_allclose(result.duals, sign * np.array([0.4, 0.2]), atol=1e-6)
    # Finite difference against a re-solve with the row bound moved.
    for row in range(problem.n_rows):
        moved = small_lp(maximize=maximize)
        moved.row_lower = moved.row_lower.copy()
        moved.row_lower[row] += 1e-3
        shifted = solve(moved, SolveOptions(backend=backend))
        assert (shifted.objective - result.objective) / 1e-3 == pytest.approx(result.duals[row], abs=1e-3)


@pytest.mark.parametrize("backend", [*MIP_BACKENDS, "cp-sat"])
def test_mip_reports_bound_and_gap_and_no_duals(backend: str) -> None:
    problem = knapsack_problem(n=12, m=3)
    problem.objective_offset = 7.5  # the bound must carry the offset like the objective
    result = solve(problem, SolveOptions(backend=backend, mip_gap=0.0))
    assert result.status is SolveStatus.OPTIMAL
    assert result.duals is None
    # A maximisation's bound is an upper bound on the optimum.
    assert result.bound >= result.objective - 1e-6
    assert result.gap == pytest.approx(0.0, abs=1e-6)
    assert_solution_consistent(problem, result)


@pytest.mark.parametrize("backend", MIP_BACKENDS)
def test_limit_stopped_result_is_consistent(backend: str) -> None:
    # Whatever the machine's speed, a stopped solve must say so coherently.
    problem = knapsack_problem(n=400, m=30, seed=3)
    result = solve(problem, SolveOptions(backend=backend, time_limit_s=0.05))
    assert result.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE, SolveStatus.NO_SOLUTION)
    assert result.has_solution == (result.x is not None)
    if result.has_solution:
        assert_solution_consistent(problem, result)
        if not math.isnan(result.bound):
            assert result.bound >= result.objective - 1e-6
            assert result.gap >= 0.0
    else:
        assert math.isnan(result.objective)


@pytest.mark.parametrize("backend", ["highs", "glop", "scip", "cbc"])
def test_verbose_logs_go_to_stderr_not_stdout(backend: str, capfd: pytest.CaptureFixture[str]) -> None:
    problem = knapsack_problem(n=8, m=2) if backend != "glop" else small_lp()
    result = solve(problem, SolveOptions(backend=backend, verbose=True))
    assert result.status is SolveStatus.OPTIMAL
    out, err = capfd.readouterr()
    assert out == ""
    assert err.strip() != ""


@pytest.mark.parametrize("backend", LP_BACKENDS)
def test_quiet_solve_prints_nothing(backend: str, capfd: pytest.CaptureFixture[str]) -> None:
    solve(small_lp(), SolveOptions(backend=backend))
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_importing_solvers_loads_no_optional_solver() -> None:
    code = "import sys, solvers; print(sorted(m for m in ('ortools', 'pulp') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [({"time_limit_s": 0.0}, "time_limit_s"), ({"mip_gap": -1.0}, "mip_gap"), ({"threads": 0}, "threads")],
)
def test_bad_options_are_refused(kwargs: dict[str, float], words: str) -> None:
    with pytest.raises(SolverError, match=words):
        SolveOptions(**kwargs)  # type: ignore[arg-type]
