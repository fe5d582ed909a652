"""Helpers every backend shares: result assembly, status disambiguation, stdout guarding.

Not part of the public API; backends import from here so that `solvers.base` stays the model.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import sys
import time
from collections.abc import Iterator

import numpy as np

from solvers.base import BackendFn, LinearProblem, SolveOptions, SolveResult, SolveStatus

__all__ = [
    "FEASIBILITY_TOL",
    "infeasible_or_unbounded",
    "make_result",
    "max_violation",
    "relative_gap",
    "stdout_to_stderr",
]

# Feasibility tolerance (absolute, scaled by 1 + |bound|) used to decide whether a point that a
# solver returned after hitting a limit is a usable solution.
FEASIBILITY_TOL = 1e-6


def relative_gap(objective: float, bound: float) -> float:
    """Relative gap |objective - bound| / |objective|; 0 when equal, nan when either is nan."""
    if math.isnan(objective) or math.isnan(bound):
        return math.nan
    diff = abs(objective - bound)
    if diff == 0.0:
        return 0.0
    return diff / abs(objective) if objective != 0.0 else math.inf


def max_violation(problem: LinearProblem, x: np.ndarray) -> float:
    """Largest scaled violation of a bound, a row or integrality by ``x`` (0 when feasible)."""
    act = problem.A @ x
    viol = 0.0
    if problem.integrality is not None and problem.integrality.any():
        xi = x[problem.integrality]
        viol = float(np.abs(xi - np.round(xi)).max())
    checks = ((x, problem.col_lower, problem.col_upper), (act, problem.row_lower, problem.row_upper))
    for val, lower, upper in checks:
        if val.size == 0:
            continue
        with np.errstate(invalid="ignore"):
            low = np.where(np.isfinite(lower), (lower - val) / (1.0 + np.abs(lower)), 0.0)
            high = np.where(np.isfinite(upper), (val - upper) / (1.0 + np.abs(upper)), 0.0)
        viol = max(viol, float(low.max(initial=0.0)), float(high.max(initial=0.0)))
    return viol


def make_result(
    problem: LinearProblem,
    *,
    backend: str,
    status: SolveStatus,
    x: np.ndarray | None,
    bound: float,
    duals: np.ndarray | None,
    started: float,
    message: str,
) -> SolveResult:
    """Assemble a `SolveResult` the same way for every backend.

    The objective is recomputed from ``x`` so that it always matches the returned point. A point
    returned after a limit is kept only if it is feasible; an optimal LP gets bound = objective.

    Args:
        problem: The problem solved (its own sense and offset).
        backend: Backend name.
        status: Status from the backend's native-status table.
        x: Point returned by the solver, or None.
        bound: Best bound in the problem's sense with the offset included, nan if unknown.
        duals: Row duals in the module's convention, or None.
        started: `time.perf_counter()` taken when the backend started building.
        message: Backend's words.
    """
    if status not in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        x = None
    elif x is not None and status is SolveStatus.FEASIBLE and max_violation(problem, x) > FEASIBILITY_TOL:
        # Stopped by a limit on a point that is not primal feasible (e.g. mid-simplex).
        x = None
    if x is None and status is SolveStatus.FEASIBLE:
        status = SolveStatus.NO_SOLUTION
    if x is None:
        objective, activity, duals = math.nan, None, None
        bound = bound if status is SolveStatus.NO_SOLUTION else math.nan
    else:
        x = np.asarray(x, dtype=np.float64)
        objective = float(problem.c @ x) + problem.objective_offset
        activity = np.asarray(problem.A @ x, dtype=np.float64)
        if status is SolveStatus.OPTIMAL and (not problem.is_mip or math.isnan(bound)):
            bound = objective
    gap = relative_gap(objective, bound)
    return SolveResult(
        backend=backend,
        status=status,
        objective=objective,
        bound=bound,
        gap=gap,
        seconds=time.perf_counter() - started,
        variables=problem.n_vars,
        constraints=problem.n_rows,
        x=x,
        row_activity=activity,
        duals=duals,
        message=message,
    )


def infeasible_or_unbounded(problem: LinearProblem, options: SolveOptions, backend: BackendFn) -> SolveStatus:
    """Tell "infeasible" from "unbounded" when a solver could only say "one of the two".

    Presolvers often stop at "infeasible or unbounded". Solving the same constraints with a zero
    objective (which cannot be unbounded) settles it: feasible means the original is unbounded.

    Args:
        problem: The problem that got the ambiguous answer.
        options: Options of the original solve.
        backend: The backend function to re-run.

    Returns:
        UNBOUNDED, INFEASIBLE, or the feasibility solve's status when that too is inconclusive.
    """
    if not problem.c.any():
        # A zero objective cannot be unbounded, so the answer is already known.
        return SolveStatus.INFEASIBLE
    feasibility = LinearProblem(
        c=np.zeros_like(problem.c),
        A=problem.A,
        row_lower=problem.row_lower,
        row_upper=problem.row_upper,
        col_lower=problem.col_lower,
        col_upper=problem.col_upper,
        integrality=problem.integrality,
    )
    outcome = backend(feasibility, options)
    if outcome.has_solution:
        return SolveStatus.UNBOUNDED
    return outcome.status


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Point file descriptor 1 at stderr while native solver code runs.

    Native solvers print with C ``printf``, which Python's ``sys.stdout`` cannot catch, and
    some print even when asked to be quiet (SciPy 1.17's HiGHS MIP prints debug lines). So every
    in-process solve runs inside this. The redirection is process-wide: another thread writing
    to stdout during a solve lands on stderr too.
    """
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no usable fd 1 (daemonised process): nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        # C stdio buffers a piped stdout; flush it while fd 1 still points at stderr.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).fflush(None)
        os.dup2(saved, 1)
        os.close(saved)
