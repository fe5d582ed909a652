"""Check one table against its pandera schema, vectorised, and collect located problems.

pandera's own ``schema.validate(lazy=True)`` builds a row per failing cell, which is slow when a
whole column of ten million rows is wrong, and it cannot parse CSV text losslessly. So this module
reads the schema (columns, dtypes, ``nullable``, ``unique``, checks) and applies each part with
pandas itself, reporting at most :data:`ROW_LIMIT` rows per (file, column, rule) and a count of
the rest. Rows are numbered as a person counts data rows in the file: the first data row is 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd
import pandera.pandas as pa

from allocation.data.coercion import Coerced, coerce_column
from allocation.domain import Problem

__all__ = [
    "ROW_LIMIT",
    "UNCHECKED",
    "CheckedTable",
    "ProblemLog",
    "as_mask",
    "check_table",
    "final_dtype",
    "report_duplicates",
    "show",
]

ROW_LIMIT: Final = 20
"""Rows reported per (file, column, rule); the rest are counted in one more line."""

UNCHECKED: Final = "could not be checked (a fault in closetflow; please report it)"
"""What a problem says when checking itself failed: the folder is refused, never half-checked."""

# pandera's name for a column dtype -> the kind of converter that produces it.
_KINDS: Final = {
    "string[pyarrow]": "text",
    "str": "text",
    "int64": "int",
    "Int64": "int",
    "float64": "float",
    "datetime64[ns]": "date",
    "bool": "bool",
    "boolean": "bool",
}


def show(value: object) -> str:
    """A cell value as a planner would want to read it in a message."""
    if value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value))):  # type: ignore[call-overload]
        return "empty"
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, str):
        return repr(value)
    return str(value)


def as_mask(bad: pd.Series | np.ndarray) -> np.ndarray:
    """A plain boolean array; missing (NA) counts as not bad."""
    if isinstance(bad, pd.Series):
        return bad.to_numpy(dtype=bool, na_value=False)
    return np.asarray(bad, dtype=bool)


@dataclass
class ProblemLog:
    """Collects problems in the order found, capping each (file, column, rule) at ``limit`` rows."""

    limit: int = ROW_LIMIT
    problems: list[Problem] = field(default_factory=list)

    def add(self, file: str, message: str, *, column: str | None = None, row: int | None = None) -> None:
        """Record one problem about a file, a column or a single row."""
        self.problems.append(Problem(file, row, column, message))

    def items(
        self, file: str, column: str | None, found: Sequence[Any] | pd.Series, describe: Callable[[Any], str]
    ) -> None:
        """Record one row-less problem per thing in ``found`` (e.g. something absent), capped like rows.

        Args:
            file: File name relative to the data folder.
            column: Column the problems are about.
            found: The things, e.g. ids of rentals nobody returns.
            describe: The message for one thing.
        """
        head = found.iloc[: self.limit] if isinstance(found, pd.Series) else found[: self.limit]
        for thing in head:
            self.add(file, describe(thing), column=column)
        if len(found) > self.limit:
            self.add(file, f"... and {len(found) - self.limit} more like this", column=column)

    def rows(
        self,
        file: str,
        column: str,
        bad: pd.Series | np.ndarray,
        message: str,
        *,
        values: pd.Series | None = None,
        detail: Callable[[int], str] | None = None,
    ) -> None:
        """Record the rows where ``bad`` is true (position ``i`` is data row ``i + 1``).

        Args:
            file: File name relative to the data folder.
            column: Column the rule is about.
            bad: One flag per row of the table.
            message: The rule, e.g. "must be >= 0"; also used for the line counting the rest.
            values: If given, each row's message ends with the offending value.
            detail: If given, the full message for a row position (overrides ``values``).
        """
        positions = np.flatnonzero(as_mask(bad))
        for pos in positions[: self.limit]:
            if detail is not None:
                text = detail(int(pos))
            elif values is not None:
                text = f"{message} (got {show(values.iloc[pos])})"
            else:
                text = message
            self.add(file, text, column=column, row=int(pos) + 1)
        if len(positions) > self.limit:
            rest = len(positions) - self.limit
            self.add(file, f"... and {rest} more rows: {message}", column=column)


@dataclass
class CheckedTable:
    """A table after :func:`check_table`.

    Attributes:
        frame: All columns as read, contract columns converted to their working (nullable) dtypes.
        failed: Per contract column, the cells that held something unreadable (already reported).
        unusable: Contract columns that are absent or of an unusable type (already reported);
            rules that need them must be skipped.
    """

    frame: pd.DataFrame
    failed: dict[str, np.ndarray] = field(default_factory=dict)
    unusable: set[str] = field(default_factory=set)

    def usable(self, *columns: str) -> bool:
        """Whether every one of ``columns`` can be checked."""
        return all(c in self.frame.columns and c not in self.unusable for c in columns)

    def missing(self, column: str) -> np.ndarray:
        """Cells that are genuinely empty (not ones that were unreadable, those are reported)."""
        return self.frame[column].isna().to_numpy() & ~self.failed[column]


def final_dtype(column: pa.Column) -> str:
    """The dtype a loaded table has for a contract column (pandas' ``str`` for text)."""
    name = str(column.dtype)
    return "str" if _KINDS.get(name) == "text" else name


def _first_rows(codes: np.ndarray) -> np.ndarray:
    """For each row, the position of the first row with the same code (-1 for code -1)."""
    present, first = np.unique(codes, return_index=True)
    lookup = np.full(int(codes.max()) + 2, -1, dtype=np.int64)
    lookup[present + 1] = first
    return np.asarray(lookup[codes + 1], dtype=np.int64)


def report_duplicates(file: str, keys: list[str], frame: pd.DataFrame, log: ProblemLog) -> None:
    """Report every repeat of a key after its first row, naming the first row."""
    subset = frame[keys]
    # The fast path: hashing ten million ids is seconds, finding first rows only happens on failure.
    dup = subset.duplicated(keep="first") & subset.notna().all(axis=1)
    if not dup.any():
        return
    # A code per distinct key (-1 where a key is missing), to find each key's first row.
    if len(keys) == 1:
        codes = pd.Series(pd.factorize(subset[keys[0]])[0])
    else:
        codes = subset.groupby(keys, sort=False, dropna=True).ngroup().fillna(-1)
    first = _first_rows(codes.to_numpy(dtype=np.int64))
    label = "/".join(keys)

    def detail(pos: int) -> str:
        key = ", ".join(show(v) for v in subset.iloc[pos])
        return f"duplicate {label} {key} (first at row {first[pos] + 1})"

    log.rows(file, keys[0], dup, f"duplicate {label}", detail=detail)


def _run_check(file: str, name: str, values: pd.Series, check: pa.Check, log: ProblemLog) -> None:
    rule = str(check.error or check.name)
    result = check(values)  # pandera drops missing values first (ignore_na)
    output = result.check_output
    if not isinstance(output, pd.Series):
        if not bool(output):
            log.add(file, f"column fails: {rule}", column=name)
        return
    passed = output.to_numpy(dtype=bool, na_value=True)
    bad = np.zeros(len(values), dtype=bool)
    # Tables carry a RangeIndex, so the surviving index labels are row positions.
    bad[output.index.to_numpy()[~passed]] = True
    log.rows(file, name, bad, rule, values=values)


def _unreadable(raw: pd.Series, coerced: Coerced) -> Callable[[int], str]:
    def detail(pos: int) -> str:
        return f"cannot read {show(raw.iloc[pos])} as {coerced.expected}"

    return detail


def check_table(file: str, frame: pd.DataFrame, schema: pa.DataFrameSchema, log: ProblemLog) -> CheckedTable:
    """Convert and check one table against ``schema``, reporting every problem into ``log``.

    Args:
        file: File name relative to the data folder, for messages ("units.csv").
        frame: The table as read, with the default ``RangeIndex``.
        schema: The table's contract from :mod:`allocation.data.schemas`.
        log: Where problems go.

    Returns:
        The table with its contract columns in working dtypes (see :class:`CheckedTable`).
    """
    checked = CheckedTable(frame.copy(deep=False))
    for name, column in schema.columns.items():
        if name not in frame.columns:
            log.add(file, "missing column", column=name)
            checked.unusable.add(name)
            continue
        raw = frame[name]
        coerced = coerce_column(raw, _KINDS[str(column.dtype)])
        if coerced.column_error is not None:
            log.add(file, coerced.column_error, column=name)
            checked.unusable.add(name)
            continue
        log.rows(file, name, coerced.failed, f"cannot read as {coerced.expected}", detail=_unreadable(raw, coerced))
        values = coerced.values
        checked.frame[name] = values
        checked.failed[name] = coerced.failed
        if not column.nullable:
            log.rows(file, name, checked.missing(name), "missing value (this column is required)")
        if column.unique:
            report_duplicates(file, [name], checked.frame, log)
        for check in column.checks:
            _run_check(file, name, values, check, log)
    keys = list(schema.unique or [])
    if keys and checked.usable(*keys):
        report_duplicates(file, keys, checked.frame, log)
    return checked
