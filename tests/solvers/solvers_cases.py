"""Problem generators shared by the solvers tests (hypothesis strategies and fixed cases).

Random problems are feasible and bounded by construction: a point ``x0`` is drawn first, column
bounds are put around it, and each row's bounds around ``A @ x0``. Boundedness comes from the
columns: a column may lack a bound only on the side its objective coefficient does not pull to.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import strategies as st

from solvers.base import LinearProblem, SolveResult

LP_BACKENDS = ["highs", "glop", "pdlp", "scip", "cbc"]
MIP_BACKENDS = ["highs", "scip", "cbc"]

# Row kinds drawn by the generators.
_ROW_KINDS = ["eq", "le", "ge", "range", "free"]


def objective_close(a: float, b: float, rel: float = 1e-6) -> bool:
    """Relative agreement with an absolute floor of ``rel`` (for optima near zero)."""
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


@st.composite
def feasible_problems(draw: st.DrawFn, *, integer: str = "none") -> LinearProblem:
    """Small feasible, bounded LP or MIP.

    Args:
        draw: Hypothesis draw function.
        integer: "none" for an LP, "mixed" for some integer columns, "all" for a pure integer
            program with integer data (CP-SAT can take it).
    """
    n = draw(st.integers(1, 7))
    m = draw(st.integers(0, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    maximize = draw(st.booleans())

    if integer == "all":
        mask = np.ones(n, dtype=bool)
    elif integer == "mixed":
        mask = rng.random(n) < 0.6
        mask[0] = True
    else:
        mask = np.zeros(n, dtype=bool)

    # Halves keep every number exact in binary so that backends cannot disagree on rounding.
    x0 = rng.integers(-6, 7, n) / 2.0
    x0[mask] = np.round(x0[mask])
    dense = rng.integers(-3, 4, (m, n)).astype(float)
    dense[rng.random((m, n)) < 0.35] = 0.0
    A = sp.csr_matrix(dense)
    c = rng.integers(-5, 6, n).astype(float)
    if integer != "all":
        c += rng.integers(0, 4, n) / 4.0

    col_lower = x0 - rng.integers(0, 5, n) / (1.0 if integer == "all" else 2.0)
    col_upper = x0 + rng.integers(0, 5, n) / (1.0 if integer == "all" else 2.0)
    if integer != "all":
        # Drop the bound on the side the objective does not pull towards (keeps it bounded).
        pull_down = (c > 0) != maximize  # minimising a positive coefficient pushes x down
        open_side = rng.random(n) < 0.3
        col_upper[open_side & pull_down & (c != 0)] = np.inf
        col_lower[open_side & ~pull_down & (c != 0)] = -np.inf

    activity = A @ x0
    slack = rng.integers(0, 5, m) / (1.0 if integer == "all" else 2.0)
    slack2 = rng.integers(0, 5, m) / (1.0 if integer == "all" else 2.0)
    kinds = [draw(st.sampled_from(_ROW_KINDS)) for _ in range(m)]
    row_lower = np.full(m, -np.inf)
    row_upper = np.full(m, np.inf)
    for i, kind in enumerate(kinds):
        if kind in ("eq", "ge", "range"):
            row_lower[i] = activity[i] - (0.0 if kind == "eq" else slack[i])
        if kind in ("eq", "le", "range"):
            row_upper[i] = activity[i] + (0.0 if kind == "eq" else slack2[i])
    return LinearProblem(
        c=c,
        A=A,
        row_lower=row_lower,
        row_upper=row_upper,
        col_lower=col_lower,
        col_upper=col_upper,
        integrality=mask if integer != "none" else None,
        maximize=maximize,
        objective_offset=float(draw(st.integers(-20, 20))),
    )


def assert_solution_consistent(
    problem: LinearProblem, result: SolveResult, *, integral: bool = True, tol: float = 1e-6
) -> None:
    """x within column bounds, rows within row bounds, row_activity == A @ x, objective == c @ x.

    Args:
        problem: The problem solved.
        result: Its result, which must hold a solution.
        integral: Check integrality of integer columns (False for a relaxed solve).
        tol: Feasibility tolerance, scaled by 1 + |value|.
    """
    assert result.x is not None and result.row_activity is not None
    x = result.x
    assert x.shape == (problem.n_vars,)
    scale_c = 1.0 + np.abs(x)
    assert np.all(x >= problem.col_lower - tol * scale_c)
    assert np.all(x <= problem.col_upper + tol * scale_c)
    np.testing.assert_allclose(result.row_activity, problem.A @ x, rtol=1e-12, atol=1e-12)
    act = result.row_activity
    scale_r = 1.0 + np.abs(act)
    assert np.all(act >= problem.row_lower - tol * scale_r)
    assert np.all(act <= problem.row_upper + tol * scale_r)
    expected = float(problem.c @ x) + problem.objective_offset
    assert objective_close(result.objective, expected, 1e-12)
    if integral and problem.is_mip:
        assert problem.integrality is not None
        xi = x[problem.integrality]
        np.testing.assert_allclose(xi, np.round(xi), atol=1e-6)


def small_lp(*, maximize: bool = False, offset: float = 10.0) -> LinearProblem:
    """min/max of x + y (min) or -x - y (max) over x + 2y >= 4, 3x + y >= 6, x, y >= 0.

    The optimum x = 1.6, y = 1.2 is unique and non-degenerate; both rows bind, with duals
    d(x + y)/d(rhs) = (0.4, 0.2).
    """
    sign = -1.0 if maximize else 1.0
    return LinearProblem(
        c=sign * np.array([1.0, 1.0]),
        A=sp.csr_matrix(np.array([[1.0, 2.0], [3.0, 1.0]])),
        row_lower=np.array([4.0, 6.0]),
        row_upper=np.array([np.inf, np.inf]),
        col_lower=np.zeros(2),
        col_upper=np.full(2, np.inf),
        maximize=maximize,
        objective_offset=offset,
    )


def infeasible_problem(*, integer: bool) -> LinearProblem:
    """x in [0, 1] with x >= 2."""
    return LinearProblem(
        c=np.array([1.0]),
        A=sp.csr_matrix(np.array([[1.0]])),
        row_lower=np.array([2.0]),
        row_upper=np.array([np.inf]),
        col_lower=np.array([0.0]),
        col_upper=np.array([1.0]),
        integrality=np.array([True]) if integer else None,
    )


def integer_infeasible_problem() -> LinearProblem:
    """Integer x in [0, 3] with 2x = 3: the LP relaxation is feasible, the MIP is not."""
    return LinearProblem(
        c=np.array([1.0]),
        A=sp.csr_matrix(np.array([[2.0]])),
        row_lower=np.array([3.0]),
        row_upper=np.array([3.0]),
        col_lower=np.array([0.0]),
        col_upper=np.array([3.0]),
        integrality=np.array([True]),
    )


def unbounded_problem(*, integer: bool, maximize: bool = False) -> LinearProblem:
    """min -(x + y) (or max x + y) over x + y >= 0, x, y >= 0: feasible and unbounded."""
    sign = 1.0 if maximize else -1.0
    return LinearProblem(
        c=sign * np.ones(2),
        A=sp.csr_matrix(np.ones((1, 2))),
        row_lower=np.array([0.0]),
        row_upper=np.array([np.inf]),
        col_lower=np.zeros(2),
        col_upper=np.full(2, np.inf),
        integrality=np.array([True, False]) if integer else None,
        maximize=maximize,
    )


def knapsack_problem(n: int = 300, m: int = 20, seed: int = 1) -> LinearProblem:
    """Multi-dimensional 0/1 knapsack: feasible (x = 0), hard enough not to finish instantly."""
    rng = np.random.default_rng(seed)
    weights = rng.integers(1, 100, (m, n)).astype(float)
    return LinearProblem(
        c=rng.integers(1, 100, n).astype(float),
        A=sp.csr_matrix(weights),
        row_lower=np.full(m, -np.inf),
        row_upper=weights.sum(axis=1) / 3.0,
        col_lower=np.zeros(n),
        col_upper=np.ones(n),
        integrality=np.ones(n, dtype=bool),
        maximize=True,
    )
