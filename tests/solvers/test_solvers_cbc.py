"""Known MIPs on which the CBC that PuLP bundles (2.10.3) used to claim a wrong optimum.

Each instance was found by the agreement property test or by fuzzing it. The expected optima
are checked independently below: the mixed one by enumerating its integer columns with an LP
for the rest, the pure integer ones by CP-SAT (exact integer arithmetic) on scaled copies. CBC
got them wrong with its default switches whatever the MPS said (PuLP's own model
gave the same answers): its MIP preprocessing and its two-step MIR cuts lose the optimum, so
`solvers.pulp_cbc` turns both off. Every MIP backend runs each instance, so a backend that
starts to disagree shows up here with a fixed problem rather than a hypothesis draw.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog
from solvers_cases import MIP_BACKENDS, assert_solution_consistent

from solvers import LinearProblem, SolveOptions, SolveStatus, solve

_INF = np.inf


def _preprocessing_loses_optimum() -> LinearProblem:
    """The example hypothesis stored for test_mip_objective_agrees_across_backends.

    min -x0 + 2.75 x1 - 3.5 x2 - 4.75 x3, x0 and x1 integer, with fractional and negative bounds
    on the integer columns (x0 <= -0.5, x1 in [0.5, 2]). Optimum 9.75 at (-1, 1, 1, -2); CBC's
    preprocessing fixed x1 = 2 and reported 11.875 at (-1, 2, 0.5, -1.5) as optimal.
    """
    return LinearProblem(
        c=np.array([-1.0, 2.75, -3.5, -4.75]),
        A=sp.csr_matrix(np.array([[2.0, -1.0, 0.0, 0.0], [0.0, -2.0, -3.0, 1.0]])),
        row_lower=np.array([-7.0, -7.0]),
        row_upper=np.array([_INF, -7.0]),
        col_lower=np.array([-_INF, 0.5, 0.0, -_INF]),
        col_upper=np.array([-0.5, 2.0, 1.0, -1.5]),
        integrality=np.array([True, True, False, False]),
    )


def _two_mir_cuts_off_optimum() -> LinearProblem:
    """Pure integer program, integer columns with negative, fractional and missing bounds.

    Optimum -30.25 at (3, 0, 0, -2, 0, 3); CBC's two-step MIR cuts cut it off and CBC reported
    -26 at (3, 0, 0, -2, -1, 3) as optimal.
    """
    return LinearProblem(
        c=np.array([-4.5, 0.75, 2.75, 5.75, -4.25, -3.75]),
        A=sp.csr_matrix(
            np.array(
                [
                    [0.0, 1.0, 0.0, -1.0, 0.0, 0.0],
                    [-1.0, -2.0, 0.0, -3.0, 0.0, 0.0],
                    [3.0, 0.0, 1.0, 0.0, 3.0, 0.0],
                    [0.0, 2.0, 0.0, 0.0, -1.0, -2.0],
                    [-1.0, 3.0, 2.0, -2.0, 1.0, 3.0],
                ]
            )
        ),
        row_lower=np.array([0.5, -_INF, -_INF, -6.5, 9.0]),
        row_upper=np.array([2.5, _INF, _INF, -4.0, 11.0]),
        col_lower=np.array([-_INF, -0.5, 0.0, -2.0, -_INF, 3.0]),
        col_upper=np.array([3.5, _INF, _INF, _INF, 1.5, 5.0]),
        integrality=np.ones(6, dtype=bool),
        objective_offset=6.0,
    )


def _two_mir_says_integer_infeasible() -> LinearProblem:
    """Pure integer program with negative and fractional bounds (x1 in [-3.5, -1], x3 >= 0.5).

    Optimum 7.25 at (0, -2, 2, 2, -3, 2); with its two-step MIR cuts (and preprocessing off)
    CBC said "Integer infeasible".
    """
    return LinearProblem(
        c=np.array([-3.25, -2.75, -1.0, 1.25, -0.75, -0.5]),
        A=sp.csr_matrix(
            np.array(
                [
                    [-3.0, -1.0, 2.0, 0.0, 0.0, 0.0],
                    [2.0, 0.0, 0.0, 1.0, 0.0, 3.0],
                    [2.0, 0.0, 3.0, 0.0, 0.0, 2.0],
                    [0.0, -1.0, -1.0, 0.0, 2.0, 0.0],
                    [-2.0, -3.0, 1.0, 0.0, 0.0, -3.0],
                    [0.0, 0.0, 1.0, -1.0, -2.0, -3.0],
                ]
            )
        ),
        row_lower=np.array([4.5, 8.0, 10.0, -6.0, 1.0, 0.0]),
        row_upper=np.array([6.0, 8.0, 10.0, -6.0, 4.0, 0.0]),
        col_lower=np.array([-_INF, -3.5, 0.0, 0.5, -_INF, -_INF]),
        col_upper=np.array([2.0, -1.0, 3.0, _INF, -1.0, 3.0]),
        integrality=np.ones(6, dtype=bool),
    )


_CASES = {
    "preprocessing-loses-optimum": (_preprocessing_loses_optimum, 9.75),
    "two-mir-cuts-off-optimum": (_two_mir_cuts_off_optimum, -30.25),
    "two-mir-says-integer-infeasible": (_two_mir_says_integer_infeasible, 7.25),
}


@pytest.mark.parametrize("backend", MIP_BACKENDS)
@pytest.mark.parametrize("case", sorted(_CASES))
def test_known_mip_optimum(case: str, backend: str) -> None:
    build, optimum = _CASES[case]
    problem = build()
    for maximize in (False, True):
        # The same optimum as a maximisation of -c (CBC always gets a minimisation).
        if maximize:
            problem.c, problem.maximize, problem.objective_offset = -problem.c, True, -problem.objective_offset
        result = solve(problem, SolveOptions(backend=backend, mip_gap=0.0, time_limit_s=30.0))
        assert result.status is SolveStatus.OPTIMAL, (maximize, result.message)
        assert_solution_consistent(problem, result)
        expected = -optimum if maximize else optimum
        assert result.objective == pytest.approx(expected, rel=1e-9, abs=1e-9), (maximize, result.x)
        assert result.bound == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_first_optimum_is_the_enumerated_one() -> None:
    # Integer columns enumerated, the continuous ones solved as an LP. x1 is 1 or 2, and
    # 2 x0 - x1 >= -7 with x0 <= -0.5 leaves x0 in {-3, -2, -1}.
    problem = _preprocessing_loses_optimum()
    a = problem.A.toarray()
    best = np.inf
    for x0, x1 in itertools.product((-3.0, -2.0, -1.0), (1.0, 2.0)):
        fixed = np.array([x0, x1])
        activity = a[:, :2] @ fixed
        lp = linprog(
            problem.c[2:],
            A_ub=-a[:1, 2:],
            b_ub=activity[:1] - problem.row_lower[:1],
            A_eq=a[1:, 2:],
            b_eq=problem.row_lower[1:] - activity[1:],
            bounds=list(zip(problem.col_lower[2:], problem.col_upper[2:], strict=True)),
        )
        if lp.status == 0:
            best = min(best, float(problem.c[:2] @ fixed) + lp.fun)
    assert best == pytest.approx(_CASES["preprocessing-loses-optimum"][1], abs=1e-9)


@pytest.mark.parametrize("backend", MIP_BACKENDS)
@pytest.mark.parametrize("maximize", [False, True])
def test_every_kind_of_column_bound_reaches_the_solver(backend: str, maximize: bool) -> None:
    # Each column alone in the objective with coefficient 1, so the optimum puts every column at
    # the bound it is pushed to: any bound the MPS writer or CBC's reader got wrong (a negative
    # UP on a column without a lower bound, an integer column defaulting to binary, MI/PL/FR/FX on
    # integer columns, fractional bounds on integer columns) shows up in x.
    inf = np.inf
    col_lower = np.array([-inf, 0.5, -2.5, -3.5, 0.0, -inf, 0.0, -inf, -inf])
    col_upper = np.array([-0.5, 2.0, -1.5, inf, 5.0, inf, inf, -1.5, 2.25])
    integrality = np.array([True, True, True, True, True, True, True, False, False])
    # Rows close the sides the column bounds leave open: x0 >= -9.5, x3 <= 7.5, -4.5 <= x5 <= 6.5,
    # x6 <= 8.5, x7 >= -9.25, x8 >= -3.75.
    rows = [0, 3, 5, 6, 7, 8]
    a = sp.csr_matrix((np.ones(len(rows)), (np.arange(len(rows)), rows)), shape=(len(rows), 9))
    problem = LinearProblem(
        c=np.ones(9),
        A=a,
        row_lower=np.array([-9.5, -inf, -4.5, -inf, -9.25, -3.75]),
        row_upper=np.array([inf, 7.5, 6.5, 8.5, inf, inf]),
        col_lower=col_lower,
        col_upper=col_upper,
        integrality=integrality,
        maximize=maximize,
    )
    result = solve(problem, SolveOptions(backend=backend, mip_gap=0.0))
    assert result.status is SolveStatus.OPTIMAL, result.message
    assert_solution_consistent(problem, result)
    if maximize:
        expected = [-1.0, 2.0, -2.0, 7.0, 5.0, 6.0, 8.0, -1.5, 2.25]
    else:
        expected = [-9.0, 1.0, -2.0, -3.0, 0.0, -4.0, 0.0, -9.25, -3.75]
    np.testing.assert_allclose(result.x, expected, atol=1e-9)


@pytest.mark.parametrize("case", ["two-mir-cuts-off-optimum", "two-mir-says-integer-infeasible"])
def test_pure_integer_optimum_is_cp_sats(case: str) -> None:
    # CP-SAT wants integer data and finite bounds: c * 4 and rows * 2 are integral, and a box of
    # +-10,000 closes the open sides (the optima are far inside it).
    build, optimum = _CASES[case]
    problem = build()
    scaled = LinearProblem(
        c=4 * problem.c,
        A=2 * problem.A,
        row_lower=2 * problem.row_lower,
        row_upper=2 * problem.row_upper,
        col_lower=np.maximum(problem.col_lower, -1e4),
        col_upper=np.minimum(problem.col_upper, 1e4),
        integrality=problem.integrality,
    )
    result = solve(scaled, SolveOptions(backend="cp-sat", mip_gap=0.0))
    assert result.status is SolveStatus.OPTIMAL, result.message
    assert result.objective / 4 + problem.objective_offset == optimum
