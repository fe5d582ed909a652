"""Every backend finds the same optimum as HiGHS on random feasible problems (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from solvers_cases import (
    LP_BACKENDS,
    MIP_BACKENDS,
    assert_solution_consistent,
    feasible_problems,
    objective_close,
    small_lp,
)

from solvers import LinearProblem, SolveOptions, SolveStatus, solve

_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Exact MIP optima for the comparison: the default 1e-4 gap would let backends stop early.
_EXACT = {"mip_gap": 0.0, "time_limit_s": 30.0}
# Relative tolerance per backend. PDLP is a first-order method stopped at a 1e-6 relative
# primal-dual gap (solvers.ortools_backend.PDLP_TOLERANCE): its objective and rows are only
# that close, which puts it a few 1e-6 from simplex now and then.
_TOL = {"pdlp": 1e-5}


def _optimal(problem: LinearProblem, backend: str, **kwargs: float | bool) -> tuple[float, np.ndarray]:
    result = solve(problem, SolveOptions(backend=backend, **kwargs))  # type: ignore[arg-type]
    assert result.status is SolveStatus.OPTIMAL, (backend, result.status, result.message)
    assert result.has_solution
    assert result.variables == problem.n_vars and result.constraints == problem.n_rows
    integral = not kwargs.get("relax_integrality", False)
    assert_solution_consistent(problem, result, integral=integral, tol=_TOL.get(backend, 1e-6))
    assert result.x is not None
    return result.objective, result.x


@_SETTINGS
@given(problem=feasible_problems())
def test_lp_objective_agrees_with_highs(problem: LinearProblem) -> None:
    reference, _ = _optimal(problem, "highs")
    for backend in LP_BACKENDS[1:]:
        objective, _ = _optimal(problem, backend)
        assert objective_close(objective, reference, _TOL.get(backend, 1e-6)), (backend, objective, reference)


@_SETTINGS
@given(problem=feasible_problems(integer="mixed"))
def test_mip_objective_agrees_across_backends(problem: LinearProblem) -> None:
    reference, _ = _optimal(problem, "highs", **_EXACT)
    for backend in MIP_BACKENDS[1:]:
        objective, _ = _optimal(problem, backend, **_EXACT)
        assert objective_close(objective, reference), (backend, objective, reference)


@_SETTINGS
@given(problem=feasible_problems(integer="all"))
def test_pure_integer_objective_agrees_with_cp_sat(problem: LinearProblem) -> None:
    reference, _ = _optimal(problem, "highs", **_EXACT)
    objective, _ = _optimal(problem, "cp-sat", **_EXACT)
    assert objective_close(objective, reference), (objective, reference)


@_SETTINGS
@given(problem=feasible_problems(integer="mixed"))
def test_relaxation_matches_lp_solve(problem: LinearProblem) -> None:
    relaxed = LinearProblem(
        c=problem.c,
        A=problem.A,
        row_lower=problem.row_lower,
        row_upper=problem.row_upper,
        col_lower=problem.col_lower,
        col_upper=problem.col_upper,
        maximize=problem.maximize,
        objective_offset=problem.objective_offset,
    )
    reference, _ = _optimal(relaxed, "highs")
    for backend in ["highs", "glop", "cbc", "scip"]:
        objective, _ = _optimal(problem, backend, relax_integrality=True)
        assert objective_close(objective, reference), (backend, objective, reference)


@pytest.mark.parametrize("backend", LP_BACKENDS)
@pytest.mark.parametrize("maximize", [False, True])
def test_lp_optimum_and_bound_on_known_problem(backend: str, maximize: bool) -> None:
    problem = small_lp(maximize=maximize)
    result = solve(problem, SolveOptions(backend=backend))
    expected = 10.0 + (-2.8 if maximize else 2.8)
    assert result.status is SolveStatus.OPTIMAL
    assert result.objective == pytest.approx(expected, rel=1e-6)
    assert result.bound == result.objective
    assert result.gap == 0.0
    assert result.x is not None
    np.testing.assert_allclose(result.x, [1.6, 1.2], atol=1e-5)
