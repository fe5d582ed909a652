"""The MPS writer round-trips through OR-Tools' reader: same counts, bounds and optimum."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ortools.linear_solver.python import model_builder as mb
from ortools.linear_solver.python import model_builder_helper as mbh
from solvers_cases import feasible_problems, objective_close, small_lp

from solvers import LinearProblem, SolveOptions, SolveStatus, solve
from solvers.mps import to_mps, to_mps_string

_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _read_back(text: str) -> mb.Model:
    model = mb.Model()
    model.import_from_mps_string(text)
    return model


@_SETTINGS
@given(problem=st.one_of(feasible_problems(), feasible_problems(integer="mixed")))
def test_round_trip_keeps_counts_bounds_and_optimum(problem: LinearProblem) -> None:
    model = _read_back(to_mps_string(problem))
    helper = model.helper
    assert model.num_variables == problem.n_vars
    assert model.num_constraints == problem.n_rows
    assert helper.maximize() == problem.maximize
    assert helper.objective_offset() == problem.objective_offset

    n = problem.n_vars
    np.testing.assert_array_equal([helper.var_lower_bound(j) for j in range(n)], problem.col_lower)
    np.testing.assert_array_equal([helper.var_upper_bound(j) for j in range(n)], problem.col_upper)
    np.testing.assert_array_equal([helper.var_objective_coefficient(j) for j in range(n)], problem.c)
    integer = problem.integrality if problem.integrality is not None else np.zeros(n, dtype=bool)
    np.testing.assert_array_equal([helper.var_is_integral(j) for j in range(n)], integer)
    for i in range(problem.n_rows):
        assert helper.constraint_lower_bound(i) == problem.row_lower[i]
        assert helper.constraint_upper_bound(i) == problem.row_upper[i]
        row = problem.A.getrow(i)
        read = dict(zip(helper.constraint_var_indices(i), helper.constraint_coefficients(i), strict=True))
        assert read == dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))

    solver = mbh.ModelSolverHelper("scip")
    solver.set_solver_specific_parameters("limits/gap = 0")
    solver.solve(helper)
    reference = solve(problem, SolveOptions(backend="highs", mip_gap=0.0))
    assert solver.status().name == "OPTIMAL"
    assert reference.status is SolveStatus.OPTIMAL
    assert objective_close(solver.objective_value(), reference.objective)


def test_numbers_round_trip_exactly() -> None:
    problem = small_lp()
    problem.c = np.array([0.1 + 0.2, -1e-17])
    problem.A = problem.A * np.pi
    problem.row_lower = np.array([1 / 3, 2e300])
    problem.row_upper = np.array([np.inf, np.inf])
    helper = _read_back(to_mps_string(problem)).helper
    assert [helper.var_objective_coefficient(j) for j in range(2)] == problem.c.tolist()
    assert helper.constraint_coefficients(0) == (problem.A.getrow(0).data).tolist()
    assert [helper.constraint_lower_bound(i) for i in range(2)] == problem.row_lower.tolist()


def test_path_and_stream_targets_write_the_same_text(tmp_path: Path) -> None:
    problem = small_lp(maximize=True)
    to_mps(problem, tmp_path / "model.mps")
    stream = io.StringIO()
    to_mps(problem, stream)
    text = (tmp_path / "model.mps").read_text(encoding="ascii")
    assert text == stream.getvalue() == to_mps_string(problem)
    assert "OBJSENSE" in text and text.endswith("ENDATA\n")


def test_empty_and_unconstrained_columns_survive() -> None:
    # Column 2 has no matrix entries and no objective; it must still exist after the round trip.
    problem = LinearProblem(
        c=np.array([1.0, 0.0, 0.0]),
        A=np.array([[1.0, 1.0, 0.0]]),
        row_lower=np.array([-np.inf]),
        row_upper=np.array([np.inf]),
        col_lower=np.array([-np.inf, -3.0, 2.0]),
        col_upper=np.array([4.0, np.inf, 2.0]),
        integrality=np.array([False, True, False]),
    )
    helper = _read_back(to_mps_string(problem)).helper
    assert helper.num_variables() == 3 and helper.num_constraints() == 1
    assert [helper.var_lower_bound(j) for j in range(3)] == [-np.inf, -3.0, 2.0]
    assert [helper.var_upper_bound(j) for j in range(3)] == [4.0, np.inf, 2.0]
    assert [helper.var_is_integral(j) for j in range(3)] == [False, True, False]
