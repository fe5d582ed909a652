"""HiGHS through SciPy: ``linprog(method="highs")`` for LPs, ``milp`` for MIPs.

SciPy ships its own build of HiGHS, which loads beside OR-Tools in one process (the ``highspy``
wheel does not). LPs go through ``linprog`` because only it reports duals (marginals); MIPs go
through ``milp``, which takes ranged rows directly and reports the best bound.

SciPy exposes no thread setting; HiGHS runs its serial simplex / branch-and-bound here, so
`SolveOptions.threads` is ignored.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, OptimizeResult, linprog, milp

from solvers.base import (
    LinearProblem,
    SolveOptions,
    SolveResult,
    SolveStatus,
)
from solvers.support import infeasible_or_unbounded, make_result, stdout_to_stderr

__all__ = ["LinprogInput", "linprog_input", "solve_highs"]

NAME = "highs"

# HiGHS model status code (HighsModelStatus) -> neutral status. None marks "infeasible or
# unbounded", settled by a feasibility re-solve. Limits map to FEASIBLE; `make_result` turns that
# into NO_SOLUTION when no feasible point came back.
_STATUS: dict[int, SolveStatus | None] = {
    0: SolveStatus.ERROR,  # kNotset
    1: SolveStatus.ERROR,  # kLoadError
    2: SolveStatus.ERROR,  # kModelError
    3: SolveStatus.ERROR,  # kPresolveError
    4: SolveStatus.ERROR,  # kSolveError
    5: SolveStatus.ERROR,  # kPostsolveError
    6: SolveStatus.OPTIMAL,  # kModelEmpty: nothing to optimise
    7: SolveStatus.OPTIMAL,  # kOptimal
    8: SolveStatus.INFEASIBLE,  # kInfeasible
    9: None,  # kUnboundedOrInfeasible
    10: SolveStatus.UNBOUNDED,  # kUnbounded
    11: SolveStatus.FEASIBLE,  # kObjectiveBound
    12: SolveStatus.FEASIBLE,  # kObjectiveTarget
    13: SolveStatus.FEASIBLE,  # kTimeLimit
    14: SolveStatus.FEASIBLE,  # kIterationLimit
    15: SolveStatus.ERROR,  # kUnknown
    16: SolveStatus.FEASIBLE,  # kSolutionLimit
    17: SolveStatus.FEASIBLE,  # kInterrupt
    18: SolveStatus.ERROR,  # kMemoryLimit
    19: SolveStatus.FEASIBLE,  # kHighsInterrupt
}
# Used only if SciPy's message ever stops carrying the HiGHS code: SciPy's own status numbers.
_SCIPY_FALLBACK: dict[int, SolveStatus | None] = {
    0: SolveStatus.OPTIMAL,
    1: SolveStatus.FEASIBLE,
    2: SolveStatus.INFEASIBLE,
    3: SolveStatus.UNBOUNDED,
    4: SolveStatus.ERROR,
}
_HIGHS_CODE = re.compile(r"HiGHS Status (\d+)")


def solve_highs(problem: LinearProblem, options: SolveOptions) -> SolveResult:
    """Solve with HiGHS via SciPy.

    Args:
        problem: Validated problem.
        options: Time limit (s), MIP gap, relaxation and verbosity are honoured.

    Returns:
        The neutral result; duals for LPs (including relaxed MIPs) only.
    """
    started = time.perf_counter()
    sign = problem.sense_sign()
    with stdout_to_stderr():
        if problem.is_mip and not options.relax_integrality:
            res = _run_milp(problem, options, sign)
            x, duals = res.x, None
            dual_bound = getattr(res, "mip_dual_bound", None)
            bound = math.nan if dual_bound is None else sign * float(dual_bound) + problem.objective_offset
        else:
            res, duals = _run_linprog(problem, options, sign)
            x, bound = res.x, math.nan
    status = _native_status(res)
    message = str(res.message)
    if status is None:
        status = infeasible_or_unbounded(problem, options, solve_highs)
        message += f"; feasibility re-solve says {status}"
    return make_result(
        problem,
        backend=NAME,
        status=status,
        x=x,
        bound=bound,
        duals=duals,
        started=started,
        message=message,
    )


def _native_status(res: OptimizeResult) -> SolveStatus | None:
    match = _HIGHS_CODE.search(str(res.message))
    if match:
        return _STATUS.get(int(match.group(1)), SolveStatus.ERROR)
    return _SCIPY_FALLBACK.get(int(res.status), SolveStatus.ERROR)


def _run_milp(problem: LinearProblem, options: SolveOptions, sign: float) -> OptimizeResult:
    assert problem.integrality is not None  # is_mip checked by the caller
    constraints = [LinearConstraint(problem.A, problem.row_lower, problem.row_upper)] if problem.n_rows else []
    return milp(
        sign * problem.c,
        integrality=problem.integrality.astype(np.uint8),
        bounds=Bounds(problem.col_lower, problem.col_upper),
        constraints=constraints,
        options={
            "time_limit": options.time_limit_s,
            "mip_rel_gap": options.mip_gap,
            "disp": options.verbose,
            "presolve": True,
        },
    )


@dataclass
class LinprogInput:
    """The LP in linprog's form plus the row maps needed to turn marginals into row duals.

    Attributes:
        arguments: Keyword arguments for ``linprog`` (objective already in minimisation form).
        upper_rows: Rows written as ``A_ub`` rows with their upper bound.
        lower_rows: Rows written negated as ``A_ub`` rows with their lower bound.
        eq_rows: Rows written as ``A_eq`` rows.
    """

    arguments: dict[str, Any]
    upper_rows: np.ndarray
    lower_rows: np.ndarray
    eq_rows: np.ndarray


def linprog_input(problem: LinearProblem) -> LinprogInput:
    """Translate ``problem`` (integrality ignored) into ``linprog``'s form; vectorised.

    linprog knows only ``A_ub @ x <= b_ub`` and ``A_eq @ x == b_eq``, so a row with a finite lower
    bound l becomes ``-A @ x <= -l`` and a ranged row appears twice.
    """
    lower, upper = problem.row_lower, problem.row_upper
    equal = lower == upper
    upper_rows = np.flatnonzero(np.isfinite(upper) & ~equal)
    lower_rows = np.flatnonzero(np.isfinite(lower) & ~equal)
    eq_rows = np.flatnonzero(equal)
    a_ub = sp.vstack([problem.A[upper_rows], -problem.A[lower_rows]], format="csr")
    b_ub = np.concatenate([upper[upper_rows], -lower[lower_rows]])
    has_ub, has_eq = b_ub.size > 0, eq_rows.size > 0
    arguments: dict[str, Any] = {
        "c": problem.sense_sign() * problem.c,
        "A_ub": a_ub if has_ub else None,
        "b_ub": b_ub if has_ub else None,
        "A_eq": problem.A[eq_rows] if has_eq else None,
        "b_eq": lower[eq_rows] if has_eq else None,
        "bounds": np.column_stack([problem.col_lower, problem.col_upper]),
    }
    return LinprogInput(arguments, upper_rows, lower_rows, eq_rows)


def _run_linprog(
    problem: LinearProblem, options: SolveOptions, sign: float
) -> tuple[OptimizeResult, np.ndarray | None]:
    """Solve the LP (relaxation) and return the result with row duals in the module convention."""
    lp = linprog_input(problem)
    res = linprog(
        **lp.arguments,
        method="highs",
        options={"time_limit": options.time_limit_s, "disp": options.verbose, "presolve": True},
    )
    if res.x is None or int(res.status) != 0:
        return res, None
    # Marginals are d(min objective)/d(rhs); a >= row's rhs is -l, hence the sign flip, and
    # sign turns the min objective back into the problem's own sense.
    duals = np.zeros(problem.n_rows)
    if lp.arguments["b_ub"] is not None:
        ub_marg = np.asarray(res.ineqlin.marginals)
        duals[lp.upper_rows] += ub_marg[: lp.upper_rows.size]
        duals[lp.lower_rows] -= ub_marg[lp.upper_rows.size :]
    if lp.arguments["b_eq"] is not None:
        duals[lp.eq_rows] += np.asarray(res.eqlin.marginals)
    return res, sign * duals
