"""An LP kept loaded in HiGHS, re-solved after its costs change from the last optimal basis.

Price-directed decomposition (``solvers.decompose``) solves the same subproblem tens of times with
new prices: only the objective moves, so the previous optimal basis stays primal feasible and a
few primal-simplex pivots finish the job, where ``linprog`` would start from nothing every time.
SciPy ships the HiGHS class behind its ``linprog`` (``scipy.optimize._highspy._core._Highs``), which
loads beside OR-Tools in one process (the ``highspy`` wheel does not: ``docs/architecture.md``); it
is a private module of a pinned SciPy, so ``available()`` says whether it is there and
``solvers.decompose`` falls back to cold ``linprog`` solves without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["GrowingLP", "WarmLP", "WarmSolution", "available"]

try:  # SciPy's own HiGHS binding (private, but shipped with every SciPy >= 1.15)
    from scipy.optimize._highspy import _core as _h
except ImportError:  # pragma: no cover - depends on the SciPy build
    _h = None


def available() -> bool:
    """True when SciPy's HiGHS class can be used for warm re-solves."""
    return _h is not None


@dataclass
class WarmSolution:
    """One re-solve: status word, point, objective in the problem's own sense, row duals.

    ``row_dual`` follows ``solvers.base``: the derivative of the optimal objective, in the problem's
    own sense, with respect to the active bound of each row.
    """

    status: str  # "optimal", "infeasible", "unbounded", "time_limit" or "error"
    x: np.ndarray | None
    objective: float
    row_dual: np.ndarray | None
    iterations: int


def _finite(v: np.ndarray) -> np.ndarray:
    assert _h is not None
    out = np.asarray(v, dtype=np.float64).copy()
    out[out == np.inf] = _h.kHighsInf
    out[out == -np.inf] = -_h.kHighsInf
    return out


class WarmLP:
    """One LP loaded once; ``solve(costs)`` changes the objective and re-runs from the last basis.

    The model is always passed to HiGHS as a minimisation (``-c`` for a maximisation), so that the
    sign of HiGHS' row duals is known; ``solve`` turns them back into this package's convention.
    """

    def __init__(
        self,
        A: sp.spmatrix,
        row_lower: np.ndarray,
        row_upper: np.ndarray,
        col_lower: np.ndarray,
        col_upper: np.ndarray,
        *,
        maximize: bool,
        threads: int = 1,
    ) -> None:
        if _h is None:  # pragma: no cover - checked by callers through available()
            raise RuntimeError("SciPy's HiGHS binding is not available")
        csc = sp.csc_matrix(A, dtype=np.float64)
        csc.sort_indices()
        m, n = csc.shape
        self.n, self.m = int(n), int(m)
        self.sign = -1.0 if maximize else 1.0
        lp = _h.HighsLp()
        lp.num_col_ = self.n
        lp.num_row_ = self.m
        lp.a_matrix_.num_col_ = self.n
        lp.a_matrix_.num_row_ = self.m
        lp.a_matrix_.format_ = _h.MatrixFormat.kColwise
        lp.col_cost_ = np.zeros(self.n)
        lp.col_lower_ = _finite(col_lower)
        lp.col_upper_ = _finite(col_upper)
        lp.row_lower_ = _finite(row_lower)
        lp.row_upper_ = _finite(row_upper)
        lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
        lp.a_matrix_.index_ = csc.indices.astype(np.int32)
        lp.a_matrix_.value_ = csc.data
        self._highs: Any = _h._Highs()
        opts = _h.HighsOptions()
        opts.output_flag = False
        opts.log_to_console = False
        # Presolve would throw the basis away on every re-solve; the subproblems are small and
        # already tight (built from arrays), so plain simplex from the kept basis is faster.
        opts.presolve = "off"
        opts.threads = int(threads)
        self._highs.passOptions(opts)
        self._highs.passModel(lp)
        self._idx = np.arange(self.n, dtype=np.int32)
        self.solves = 0

    def solve(self, costs: np.ndarray, time_limit_s: float = math.inf) -> WarmSolution:
        """Minimise or maximise ``costs @ x`` over the loaded rows and bounds, from the last basis;
        if HiGHS reports an error from there (it can, on a basis gone numerically bad after a large
        change of costs) the same LP is solved once more from scratch."""
        sol = self._run(costs, time_limit_s)
        if sol.status == "error":
            self._highs.clearSolver()  # forget the basis; the model stays loaded
            sol = self._run(costs, time_limit_s)
        return sol

    def _run(self, costs: np.ndarray, time_limit_s: float) -> WarmSolution:
        assert _h is not None
        h = self._highs
        h.changeColsCost(self.n, self._idx, self.sign * np.asarray(costs, dtype=np.float64))
        h.setOptionValue("time_limit", float(time_limit_s) if math.isfinite(time_limit_s) else _h.kHighsInf)
        h.run()
        self.solves += 1
        status = h.getModelStatus()
        info = h.getInfo()
        iterations = int(info.simplex_iteration_count)
        if status == _h.HighsModelStatus.kOptimal or status == _h.HighsModelStatus.kModelEmpty:
            sol = h.getSolution()
            x = np.asarray(sol.col_value, dtype=np.float64)
            dual = self.sign * np.asarray(sol.row_dual, dtype=np.float64) if self.m else np.zeros(0)
            obj = float(np.dot(costs, x))
            return WarmSolution("optimal", x, obj, dual, iterations)
        word = {
            _h.HighsModelStatus.kInfeasible: "infeasible",
            _h.HighsModelStatus.kUnbounded: "unbounded",
            _h.HighsModelStatus.kUnboundedOrInfeasible: "infeasible",
            _h.HighsModelStatus.kTimeLimit: "time_limit",
        }.get(status, "error")
        return WarmSolution(word, None, math.nan, None, iterations)


class GrowingLP:
    """An LP with fixed rows whose columns come and go (a column-generation master): every solve
    continues from the last basis, new columns entering as non-basic at zero.

    Columns may only be removed while non-basic (``removable``), which keeps the basis valid.
    """

    def __init__(self, row_lower: np.ndarray, row_upper: np.ndarray, *, maximize: bool) -> None:
        if _h is None:  # pragma: no cover - checked by callers through available()
            raise RuntimeError("SciPy's HiGHS binding is not available")
        self.m = len(row_lower)
        self.sign = -1.0 if maximize else 1.0
        self.n = 0
        lp = _h.HighsLp()
        lp.num_col_ = 0
        lp.num_row_ = self.m
        lp.a_matrix_.num_col_ = 0
        lp.a_matrix_.num_row_ = self.m
        lp.a_matrix_.format_ = _h.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.zeros(1, dtype=np.int32)
        lp.row_lower_ = _finite(row_lower)
        lp.row_upper_ = _finite(row_upper)
        self._highs: Any = _h._Highs()
        opts = _h.HighsOptions()
        opts.output_flag = False
        opts.log_to_console = False
        opts.presolve = "off"  # keep the basis from one solve to the next
        self._highs.passOptions(opts)
        self._highs.passModel(lp)

    def add_columns(self, costs: np.ndarray, lower: np.ndarray, upper: np.ndarray, A: sp.spmatrix) -> None:
        """Append columns (``A``: rows x new columns)."""
        csc = sp.csc_matrix(A, dtype=np.float64)
        csc.sort_indices()
        k = csc.shape[1]
        if k == 0:
            return
        self._highs.addCols(
            k,
            self.sign * np.asarray(costs, dtype=np.float64),
            _finite(lower),
            _finite(upper),
            int(csc.nnz),
            csc.indptr[:-1].astype(np.int32),
            csc.indices.astype(np.int32),
            csc.data,
        )
        self.n += k

    def removable(self) -> np.ndarray:
        """Which columns are non-basic now (safe to delete)."""
        assert _h is not None
        status = self._highs.getBasis().col_status
        if len(status) != self.n:
            return np.zeros(self.n, dtype=bool)
        return np.array([s != _h.HighsBasisStatus.kBasic for s in status], dtype=bool)

    def delete_columns(self, idx: np.ndarray) -> None:
        if len(idx) == 0:
            return
        self._highs.deleteCols(len(idx), np.asarray(idx, dtype=np.int32))
        self.n -= len(idx)

    def solve(self, time_limit_s: float = math.inf) -> WarmSolution:
        """Solve from the last basis; columns' values, objective and row duals (own sense)."""
        assert _h is not None
        h = self._highs
        h.setOptionValue("time_limit", float(time_limit_s) if math.isfinite(time_limit_s) else _h.kHighsInf)
        h.run()
        status = h.getModelStatus()
        iterations = int(h.getInfo().simplex_iteration_count)
        if status not in (_h.HighsModelStatus.kOptimal, _h.HighsModelStatus.kTimeLimit):
            h.clearSolver()  # a numerically bad basis: once more from scratch
            h.run()
            status = h.getModelStatus()
        if status == _h.HighsModelStatus.kOptimal:
            sol = h.getSolution()
            x = np.asarray(sol.col_value, dtype=np.float64)
            dual = self.sign * np.asarray(sol.row_dual, dtype=np.float64)
            return WarmSolution("optimal", x, self.sign * float(h.getInfo().objective_function_value), dual, iterations)
        word = "time_limit" if status == _h.HighsModelStatus.kTimeLimit else "error"
        return WarmSolution(word, None, math.nan, None, iterations)
