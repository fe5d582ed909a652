"""Free-format MPS writer for `LinearProblem`, built with numpy string arrays.

One Python object per nonzero would cost about a microsecond each on this machine kind, so
lines are assembled with ``numpy.strings`` on whole arrays, and each distinct coefficient is
formatted once (network models repeat a handful of values, mostly +-1).

Names are positional: column ``j`` is ``x{j}``, row ``i`` is ``r{i}``, the objective ``OBJ``.
Numbers are written with ``repr`` (shortest round-trip), so a reader gets the exact doubles.
The objective constant is written as the RHS of the objective row, negated: the convention of
CPLEX, Gurobi, HiGHS and OR-Tools (``min c@x + k`` has RHS ``-k``). Rows with no finite bound
are written as extra ``N`` rows, which most readers drop; they constrain nothing anyway.
"""

from __future__ import annotations

import io
import os
from typing import TextIO

import numpy as np
from numpy.dtypes import StringDType

from solvers.base import LinearProblem

__all__ = ["COLUMN_PREFIX", "OBJECTIVE_NAME", "ROW_PREFIX", "to_mps", "to_mps_string"]

COLUMN_PREFIX = "x"
ROW_PREFIX = "r"
OBJECTIVE_NAME = "OBJ"

_S = StringDType()
_INT_START = "    MARKER    'MARKER'    'INTORG'"
_INT_END = "    MARKER    'MARKER'    'INTEND'"


def to_mps(problem: LinearProblem, target: str | os.PathLike[str] | TextIO) -> None:
    """Write ``problem`` as free MPS.

    Args:
        problem: The problem (validated by the caller).
        target: A file path, or an open text stream to write into.
    """
    text = to_mps_string(problem)
    if isinstance(target, str | os.PathLike):
        with open(target, "w", encoding="ascii") as handle:
            handle.write(text)
    else:
        target.write(text)


def to_mps_string(problem: LinearProblem) -> str:
    """Return ``problem`` as a free-MPS string (see module docstring for conventions)."""
    out = io.StringIO()
    out.write("NAME closetflow\n")
    if problem.maximize:
        out.write("OBJSENSE\n    MAX\n")
    rows = _rows_section(problem)
    out.write("ROWS\n N  " + OBJECTIVE_NAME + "\n")
    _write_lines(out, rows.type_lines)
    out.write("COLUMNS\n")
    _write_lines(out, _columns_section(problem))
    out.write("RHS\n")
    if problem.objective_offset != 0.0:
        out.write(f"    RHS    {OBJECTIVE_NAME}    {-problem.objective_offset!r}\n")
    _write_lines(out, rows.rhs_lines)
    if rows.range_lines.size:
        out.write("RANGES\n")
        _write_lines(out, rows.range_lines)
    out.write("BOUNDS\n")
    _write_lines(out, _bounds_section(problem))
    out.write("ENDATA\n")
    return out.getvalue()


class _Rows:
    """Lines of the ROWS, RHS and RANGES sections."""

    def __init__(self, type_lines: np.ndarray, rhs_lines: np.ndarray, range_lines: np.ndarray) -> None:
        self.type_lines = type_lines
        self.rhs_lines = rhs_lines
        self.range_lines = range_lines


def _write_lines(out: io.StringIO, lines: np.ndarray) -> None:
    if lines.size:
        out.write("\n".join(lines.tolist()))
        out.write("\n")


def _names(prefix: str, count: int) -> np.ndarray:
    return np.strings.add(prefix, np.arange(count).astype(_S))


def _numbers(values: np.ndarray) -> np.ndarray:
    """Shortest round-trip text of each value, formatting each distinct value once."""
    if values.size == 0:
        return np.empty(0, dtype=_S)
    uniq, inverse = np.unique(values, return_inverse=True)
    text = np.array([repr(v) for v in uniq.tolist()], dtype=_S)
    return text[inverse.reshape(-1)]


def _join(*parts: np.ndarray | str) -> np.ndarray:
    """Concatenate string arrays / scalars element-wise, separating them by spaces."""
    result: np.ndarray | str = parts[0]
    for part in parts[1:]:
        result = np.strings.add(np.strings.add(result, "    "), part)
    return np.asarray(result, dtype=_S)


def _rows_section(problem: LinearProblem) -> _Rows:
    lower, upper = problem.row_lower, problem.row_upper
    has_lo, has_up = np.isfinite(lower), np.isfinite(upper)
    equal = has_lo & has_up & (lower == upper)
    ranged = has_lo & has_up & ~equal
    # A ranged row is written as G with rhs = lower and range = upper - lower: [rhs, rhs + |R|].
    kind = np.full(problem.n_rows, "N", dtype=_S)
    kind[has_up & ~has_lo] = "L"
    kind[has_lo] = "G"
    kind[equal] = "E"
    names = _names(ROW_PREFIX, problem.n_rows)
    type_lines = _join(np.strings.add(" ", kind), names)

    rhs = np.where(has_lo, lower, np.where(has_up, upper, 0.0))
    keep = rhs != 0.0
    rhs_lines = _join("    RHS", names[keep], _numbers(rhs[keep]))
    range_lines = _join("    RNG", names[ranged], _numbers((upper - lower)[ranged]))
    return _Rows(type_lines, rhs_lines, range_lines)


def _columns_section(problem: LinearProblem) -> np.ndarray:
    n = problem.n_vars
    csc = problem.A.tocsc()
    if not csc.has_canonical_format:
        csc.sum_duplicates()
    col_of_entry = np.repeat(np.arange(n), np.diff(csc.indptr))
    col_names = _names(COLUMN_PREFIX, n)

    # Every column gets an objective line, even a zero one, so that columns without matrix
    # entries still exist for the reader.
    obj_lines = _join(np.strings.add("    ", col_names), OBJECTIVE_NAME, _numbers(problem.c))
    mat_lines = _join(
        np.strings.add("    ", col_names[col_of_entry]),
        _names(ROW_PREFIX, problem.n_rows)[csc.indices],
        _numbers(csc.data),
    )
    # Sort key: 4 * column + slot, slot 0 = INTORG marker, 1 = objective, 2 = matrix, 3 = INTEND.
    lines = [obj_lines, mat_lines]
    keys = [4 * np.arange(n) + 1, 4 * col_of_entry + 2]
    if problem.integrality is not None and problem.integrality.any():
        starts, ends = _integer_runs(problem.integrality)
        lines += [np.full(starts.size, _INT_START, dtype=_S), np.full(ends.size, _INT_END, dtype=_S)]
        keys += [4 * starts, 4 * ends + 3]
    all_lines = np.concatenate(lines)
    order = np.argsort(np.concatenate(keys), kind="stable")
    return all_lines[order]


def _integer_runs(integrality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last column index of each maximal run of integer columns."""
    flags = np.concatenate(([0], integrality.astype(np.int8), [0]))
    edges = np.diff(flags)
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1


def _bounds_section(problem: LinearProblem) -> np.ndarray:
    n = problem.n_vars
    lower, upper = problem.col_lower, problem.col_upper
    integer = problem.integrality if problem.integrality is not None else np.zeros(n, dtype=bool)
    names = _names(COLUMN_PREFIX, n)
    has_lo, has_up = np.isfinite(lower), np.isfinite(upper)
    fixed = has_lo & has_up & (lower == upper)
    free = ~has_lo & ~has_up
    minus_inf = ~has_lo & has_up
    # Integer columns always get explicit bounds: some readers default a marked integer
    # column without bounds to binary.
    write_lo = has_lo & ~fixed & ((lower != 0.0) | integer)
    write_up = has_up & ~fixed
    write_pl = ~has_up & has_lo & integer

    # Key: 2 * column + slot, slot 0 = lower-type line, 1 = upper-type line, so that a reader
    # always sees the lower bound of a column before its upper bound.
    parts = [
        (_join(" FX BND", names[fixed], _numbers(lower[fixed])), 2 * np.flatnonzero(fixed)),
        (_join(" FR BND", names[free]), 2 * np.flatnonzero(free)),
        (_join(" MI BND", names[minus_inf]), 2 * np.flatnonzero(minus_inf)),
        (_join(" LO BND", names[write_lo], _numbers(lower[write_lo])), 2 * np.flatnonzero(write_lo)),
        (_join(" UP BND", names[write_up], _numbers(upper[write_up])), 2 * np.flatnonzero(write_up) + 1),
        (_join(" PL BND", names[write_pl]), 2 * np.flatnonzero(write_pl) + 1),
    ]
    lines = np.concatenate([p[0] for p in parts])
    keys = np.concatenate([p[1] for p in parts])
    return lines[np.argsort(keys, kind="stable")]
