"""Solver-neutral LP/MIP model, options, result and the `solve` front door.

A `LinearProblem` is the array form every backend accepts::

    optimise  c @ x + objective_offset
    s.t.      row_lower <= A @ x <= row_upper
              col_lower <=   x   <= col_upper
              x[j] integer where integrality[j]

Infinite bounds mean "no bound". Backends are looked up by name in `BACKENDS` and imported
only when used, so `import solvers` never loads OR-Tools or PuLP.

Dual sign convention (every backend that reports duals): ``duals[i]`` is the derivative of the
optimal objective, in the problem's own sense (maximised objectives stay maximised), with
respect to the active bound of row ``i``. A binding ``<=`` row of a maximisation therefore has a
non-negative dual (more room, more objective); a binding ``>=`` row of a minimisation also has a
non-negative dual (a higher floor costs more).
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import scipy.sparse as sp

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


class SolveStatus(StrEnum):
    """Solver-neutral outcome of a solve."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"  # stopped by a limit, holding a feasible solution
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    NO_SOLUTION = "no_solution"  # stopped by a limit before any solution was found
    ERROR = "error"


class SolverError(Exception):
    """Base class of every error raised by the solvers package."""


class UnknownBackendError(SolverError):
    """The requested backend name is not registered."""


class InvalidProblemError(SolverError):
    """The problem arrays are inconsistent (shapes, NaN, crossed bounds)."""


@dataclass
class LinearProblem:
    """A linear (or mixed-integer linear) program in array form.

    Attributes:
        c: Objective coefficients, shape (n,).
        A: Constraint matrix, shape (m, n), CSR.
        row_lower: Row lower bounds, shape (m,); ``-inf`` for none.
        row_upper: Row upper bounds, shape (m,); ``+inf`` for none.
        col_lower: Variable lower bounds, shape (n,); ``-inf`` for none.
        col_upper: Variable upper bounds, shape (n,); ``+inf`` for none.
        integrality: Boolean mask of integer variables, shape (n,); None for a pure LP.
        maximize: True to maximise ``c @ x``, False to minimise.
        objective_offset: Constant added to the objective.
        col_block: Optional block of each column, shape (n,): a hint that rows touching one
            block only are the block's own, and the few others link blocks (``solvers.decompose``).
    """

    c: np.ndarray
    A: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray | None = None
    maximize: bool = False
    objective_offset: float = 0.0
    col_block: np.ndarray | None = None

    def __post_init__(self) -> None:
        # Coerce once here so that every backend can rely on float64 vectors and a CSR matrix;
        # np.asarray does not copy arrays that are already float64.
        self.c = np.asarray(self.c, dtype=np.float64)
        self.row_lower = np.asarray(self.row_lower, dtype=np.float64)
        self.row_upper = np.asarray(self.row_upper, dtype=np.float64)
        self.col_lower = np.asarray(self.col_lower, dtype=np.float64)
        self.col_upper = np.asarray(self.col_upper, dtype=np.float64)
        if not (isinstance(self.A, sp.csr_matrix) and self.A.dtype == np.float64):
            self.A = sp.csr_matrix(self.A, dtype=np.float64)
        if self.integrality is not None:
            self.integrality = np.asarray(self.integrality, dtype=bool)
        self.objective_offset = float(self.objective_offset)

    @property
    def n_vars(self) -> int:
        """Number of variables (columns)."""
        return int(self.c.shape[0])

    @property
    def n_rows(self) -> int:
        """Number of constraints (rows)."""
        return int(self.A.shape[0])

    @property
    def is_mip(self) -> bool:
        """True when at least one variable is integer."""
        return self.integrality is not None and bool(self.integrality.any())

    def validate(self) -> None:
        """Check shapes, finiteness and bound order.

        Raises:
            InvalidProblemError: With the offending field and first offending index.
        """
        if self.c.ndim != 1:
            raise InvalidProblemError(f"c must be 1-D, got shape {self.c.shape}")
        n = self.n_vars
        if self.A.ndim != 2 or self.A.shape[1] != n:
            raise InvalidProblemError(f"A has shape {self.A.shape}, expected (m, {n}) to match c")
        m = self.n_rows
        for name, vec, size in (
            ("row_lower", self.row_lower, m),
            ("row_upper", self.row_upper, m),
            ("col_lower", self.col_lower, n),
            ("col_upper", self.col_upper, n),
        ):
            if vec.shape != (size,):
                raise InvalidProblemError(f"{name} has shape {vec.shape}, expected ({size},)")
        if self.integrality is not None and self.integrality.shape != (n,):
            raise InvalidProblemError(f"integrality has shape {self.integrality.shape}, expected ({n},)")
        _require_finite("c", self.c)
        _require_finite("A values", self.A.data)
        if not math.isfinite(self.objective_offset):
            raise InvalidProblemError(f"objective_offset must be finite, got {self.objective_offset}")
        for kind, lower, upper in (
            ("row", self.row_lower, self.row_upper),
            ("col", self.col_lower, self.col_upper),
        ):
            _require_no_nan(f"{kind}_lower", lower)
            _require_no_nan(f"{kind}_upper", upper)
            _require_none(f"{kind}_lower is +inf", lower == np.inf)
            _require_none(f"{kind}_upper is -inf", upper == -np.inf)
            _require_none(f"{kind}_lower > {kind}_upper", lower > upper)

    def sense_sign(self) -> float:
        """Return +1.0 for minimisation and -1.0 for maximisation (to turn max into min)."""
        return -1.0 if self.maximize else 1.0


def _require_finite(name: str, values: np.ndarray) -> None:
    _require_none(f"{name} is not finite", ~np.isfinite(values))


def _require_no_nan(name: str, values: np.ndarray) -> None:
    _require_none(f"{name} is NaN", np.isnan(values))


def _require_none(what: str, bad: np.ndarray) -> None:
    if bad.any():
        idx = np.flatnonzero(bad)
        raise InvalidProblemError(f"{what} at {idx.size} index(es), first {int(idx[0])}")


@dataclass
class SolveOptions:
    """How to solve.

    Attributes:
        backend: Registered backend name, see `available_backends()`.
        time_limit_s: Wall-clock limit for the solver, seconds.
        mip_gap: Relative MIP gap at which to stop (|objective - bound| / |objective|).
        relax_integrality: Solve the LP relaxation of a MIP.
        threads: Solver threads where the backend supports choosing them.
        verbose: Let the solver log its progress; logs go to stderr, never stdout.
    """

    backend: str = "highs"
    time_limit_s: float = 60.0
    mip_gap: float = 1e-4
    relax_integrality: bool = False
    threads: int = 1
    verbose: bool = False

    def __post_init__(self) -> None:
        if not self.time_limit_s > 0:
            raise SolverError(f"time_limit_s must be > 0 seconds, got {self.time_limit_s}")
        if not self.mip_gap >= 0:
            raise SolverError(f"mip_gap must be >= 0, got {self.mip_gap}")
        if self.threads < 1:
            raise SolverError(f"threads must be >= 1, got {self.threads}")


@dataclass
class SolveResult:
    """Solver-neutral outcome.

    Attributes:
        backend: Backend name that produced the result.
        status: Neutral status.
        objective: Objective of ``x`` in the problem's own sense, offset included; nan if none.
        bound: Best proven bound on the optimum (equals objective for an optimal LP); nan if none.
        gap: Relative gap |objective - bound| / |objective| (0 for an optimal LP); nan if none.
        seconds: Wall time spent in the backend, building plus solving, seconds.
        variables: Number of variables of the problem.
        constraints: Number of rows of the problem.
        x: Variable values, shape (n,), or None without a solution.
        row_activity: ``A @ x``, shape (m,), or None without a solution.
        duals: Row duals, shape (m,), when the backend reports them (LPs only); see module
            docstring for the sign convention.
        message: Backend's own words about the outcome.
    """

    backend: str
    status: SolveStatus
    objective: float
    bound: float
    gap: float
    seconds: float
    variables: int
    constraints: int
    x: np.ndarray | None
    row_activity: np.ndarray | None
    duals: np.ndarray | None
    message: str = ""

    @property
    def has_solution(self) -> bool:
        """True when ``x`` holds a feasible (or optimal) point."""
        return self.x is not None and self.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)


BackendFn = Callable[[LinearProblem, SolveOptions], SolveResult]

# name -> "module:function"; modules are imported on first use only.
BACKENDS: dict[str, str] = {
    "highs": "solvers.highs_scipy:solve_highs",
    "glop": "solvers.ortools_backend:solve_glop",
    "pdlp": "solvers.ortools_backend:solve_pdlp",
    "scip": "solvers.ortools_backend:solve_scip",
    "cp-sat": "solvers.ortools_backend:solve_cp_sat",
    "cbc": "solvers.pulp_cbc:solve_cbc",
    "dw": "solvers.decompose:solve_dw",
    "auto": "solvers.decompose:solve_auto",
}


# Backends that take integer programs only (every variable integer): they cannot solve an LP.
INTEGER_ONLY_BACKENDS: frozenset[str] = frozenset({"cp-sat"})


def available_backends() -> list[str]:
    """Return the registered backend names, sorted."""
    return sorted(BACKENDS)


def lp_backends() -> list[str]:
    """The registered backends that can solve a linear program (continuous variables), sorted."""
    return [name for name in available_backends() if name not in INTEGER_ONLY_BACKENDS]


def _load_backend(name: str) -> BackendFn:
    try:
        target = BACKENDS[name]
    except KeyError:
        raise UnknownBackendError(
            f"unknown solver backend {name!r}; available: {', '.join(available_backends())}"
        ) from None
    module_name, _, func_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SolverError(
            f"backend {name!r} could not be loaded ({exc}); install its solver package "
            "(ortools for glop/pdlp/scip/cp-sat, pulp for cbc, scipy for highs)"
        ) from exc
    fn: BackendFn = getattr(module, func_name)
    return fn


def solve(problem: LinearProblem, options: SolveOptions | None = None) -> SolveResult:
    """Solve ``problem`` with the backend named in ``options``.

    Args:
        problem: The model; validated before any backend work.
        options: Solve options; defaults to `SolveOptions()` (HiGHS, 60 s).

    Returns:
        The neutral result.

    Raises:
        UnknownBackendError: If the backend name is not registered (checked first).
        InvalidProblemError: If the problem arrays are inconsistent.
        SolverError: If the backend cannot run the problem (e.g. an LP-only backend given a MIP).
    """
    options = options if options is not None else SolveOptions()
    backend = _load_backend(options.backend)
    problem.validate()
    if problem.is_mip and not options.relax_integrality:
        started = time.perf_counter()
        rounded = _round_integer_bounds(problem)
        if rounded is None:
            return SolveResult(
                backend=options.backend,
                status=SolveStatus.INFEASIBLE,
                objective=math.nan,
                bound=math.nan,
                gap=math.nan,
                seconds=time.perf_counter() - started,
                variables=problem.n_vars,
                constraints=problem.n_rows,
                x=None,
                row_activity=None,
                duals=None,
                message="an integer column has no integer value between its bounds",
            )
        problem = rounded
    return backend(problem, options)


def _round_integer_bounds(problem: LinearProblem) -> LinearProblem | None:
    """Copy of ``problem`` with integer columns' bounds rounded inward, None if one empties.

    Backends do not all do this themselves: HiGHS (SciPy 1.17) returned x = 2.5 for an integer
    column bounded above by 2.5. The copy shares every array but the column bounds.
    """
    assert problem.integrality is not None
    integer = problem.integrality
    lower, upper = problem.col_lower.copy(), problem.col_upper.copy()
    # The 1e-9 slack keeps 2.9999999999 at 3 rather than flooring it to 2.
    lower[integer] = np.ceil(lower[integer] - 1e-9)
    upper[integer] = np.floor(upper[integer] + 1e-9)
    if (lower > upper).any():
        return None
    return LinearProblem(
        c=problem.c,
        A=problem.A,
        row_lower=problem.row_lower,
        row_upper=problem.row_upper,
        col_lower=lower,
        col_upper=upper,
        integrality=integer,
        maximize=problem.maximize,
        objective_offset=problem.objective_offset,
    )
