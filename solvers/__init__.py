"""closetflow solvers: a solver-neutral LP/MIP model in, a neutral solution out.

Importing this package loads only NumPy and SciPy; OR-Tools and PuLP are imported on first
use of a backend that needs them.

Example::

    from solvers import LinearProblem, SolveOptions, solve

    result = solve(problem, SolveOptions(backend="glop", time_limit_s=30))
    if result.has_solution:
        flows = result.x
"""

from solvers.base import (
    BACKENDS,
    InvalidProblemError,
    LinearProblem,
    SolveOptions,
    SolverError,
    SolveResult,
    SolveStatus,
    UnknownBackendError,
    available_backends,
    solve,
)

__all__ = [
    "BACKENDS",
    "InvalidProblemError",
    "LinearProblem",
    "SolveOptions",
    "SolveResult",
    "SolveStatus",
    "SolverError",
    "UnknownBackendError",
    "available_backends",
    "solve",
]
