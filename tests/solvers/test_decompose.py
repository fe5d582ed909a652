"""The Dantzig-Wolfe decomposition against HiGHS on the whole LP: random block-angular problems."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solvers.base import LinearProblem, SolveOptions, SolveStatus, solve
from solvers.decompose import DWSettings, block_structure, solve_block_angular
from solvers.support import max_violation


def block_angular(seed: int, blocks: int, maximize: bool) -> LinearProblem:
    """Blocks of small knapsack-like LPs sharing a few capacity rows (all columns bounded, so every
    block has an optimum; x = 0 is feasible, so the whole problem is)."""
    rng = np.random.default_rng(seed)
    n_b, m_b, m_link = 6, 3, 4
    n = blocks * n_b
    local = sp.block_diag([sp.random(m_b, n_b, density=0.7, random_state=rng) for _ in range(blocks)], format="csr")
    link = sp.random(m_link, n, density=0.5, random_state=rng, format="csr")
    A = sp.vstack([local, link], format="csr")
    row_upper = np.concatenate([rng.uniform(0.5, 2.0, blocks * m_b), rng.uniform(0.5, 2.0, m_link) * blocks / 4])
    c = rng.uniform(0.1, 1.0, n) * (1.0 if maximize else -1.0)
    return LinearProblem(
        c=c,
        A=A,
        row_lower=np.full(A.shape[0], -np.inf),
        row_upper=row_upper,
        col_lower=np.zeros(n),
        col_upper=rng.uniform(0.5, 3.0, n),
        maximize=maximize,
        col_block=np.repeat(np.arange(blocks), n_b),
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    blocks=st.integers(1, 12),
    maximize=st.booleans(),
    group_nnz=st.sampled_from([5, 40, 10_000]),
)
def test_decomposition_matches_the_whole_lp(seed: int, blocks: int, maximize: bool, group_nnz: int) -> None:
    problem = block_angular(seed, blocks, maximize)
    whole = solve(problem, SolveOptions(backend="highs"))
    dw, trace = solve_block_angular(
        problem, SolveOptions(time_limit_s=60), settings=DWSettings(tolerance=1e-7, group_nnz=group_nnz)
    )
    assert dw.status is SolveStatus.OPTIMAL
    assert dw.x is not None
    assert max_violation(problem, dw.x) <= 1e-7
    assert dw.objective == pytest.approx(whole.objective, rel=1e-5, abs=1e-6)
    # The bound is on the right side of the optimum, and the gap reported is the one between them.
    sense = 1.0 if maximize else -1.0
    assert sense * (dw.bound - whole.objective) >= -1e-6
    assert dw.gap == pytest.approx(abs(dw.bound - dw.objective) / max(1.0, abs(dw.bound)), abs=1e-12)
    assert trace.rounds >= 1


def test_linking_rows_are_the_rows_that_span_blocks() -> None:
    problem = block_angular(1, 5, True)
    structure = block_structure(problem, problem.col_block, group_nnz=10)  # type: ignore[arg-type]
    assert list(structure.link_rows) == list(range(15, 19))
    assert sum(len(g.blocks) for g in structure.groups) == 5
    assert len(structure.groups) > 1
    cols = np.sort(np.concatenate([g.cols for g in structure.groups]))
    assert np.array_equal(cols, np.arange(problem.n_vars))


def test_optimal_prices_give_the_optimum_as_the_first_bound() -> None:
    problem = block_angular(7, 10, True)
    whole = solve(problem, SolveOptions(backend="highs"))
    assert whole.duals is not None
    _, trace = solve_block_angular(problem, SolveOptions(time_limit_s=60), prices=whole.duals)
    assert trace.bounds[0] == pytest.approx(whole.objective, rel=1e-6)


def test_a_round_limit_returns_the_best_plan_with_its_bound_and_gap() -> None:
    problem = block_angular(11, 30, True)
    whole = solve(problem, SolveOptions(backend="highs"))
    dw, trace = solve_block_angular(
        problem, SolveOptions(time_limit_s=60), settings=DWSettings(max_rounds=1, tolerance=0.0)
    )
    assert trace.rounds == 1 and trace.stopped_by == "max_rounds"
    assert dw.x is not None and max_violation(problem, dw.x) <= 1e-7
    assert dw.objective <= whole.objective + 1e-9 <= dw.bound + 2e-9
    assert math.isfinite(dw.gap) and dw.gap >= 0.0


def test_an_infeasible_block_is_reported_infeasible() -> None:
    problem = block_angular(3, 4, True)
    problem.row_lower = problem.row_lower.copy()
    problem.row_upper = problem.row_upper.copy()
    problem.row_lower[0], problem.row_upper[0] = 1e6, 2e6  # block 0 cannot reach this
    dw, _ = solve_block_angular(problem, SolveOptions(time_limit_s=60))
    assert dw.status is SolveStatus.INFEASIBLE and dw.x is None
