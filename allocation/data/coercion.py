"""Lossless, vectorised conversion of a raw column (CSV text or any Parquet type) to its contract type.

Every converter returns the values in a *working* dtype that can hold missing values (``str``,
``Int64``, ``float64``, ``datetime64[ns]``, ``boolean``) plus a mask of the cells that held something
that could not be read. Failed cells become missing, so later checks skip them instead of
reporting the same cell twice. A column whose whole type is wrong (dates stored as numbers, say)
gets a single column-level error rather than one problem per row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api import types as ptypes

__all__ = ["WORKING_DTYPES", "Coerced", "coerce_column"]

WORKING_DTYPES: Final = {
    "text": "str",
    "int": "Int64",
    "float": "float64",
    "date": "datetime64[ns]",
    "bool": "boolean",
}
"""The nullable dtype each kind of column is held in while it is checked."""

_BOOL_WORDS: Final = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
# Whole numbers beyond this do not survive a float64 round trip or an int64 cast.
_INT_LIMIT: Final = 2.0**63
_DAY_NS: Final = 86_400 * 10**9
_NULLABLE: Final = {pa.int64(): pd.Int64Dtype()}  # keep missing cells missing, ints exact


@dataclass
class Coerced:
    """One column converted to its working dtype.

    Attributes:
        values: The converted column; cells that could not be read are missing.
        failed: ``True`` at each cell that held a value that could not be read.
        expected: What a cell should hold, for messages ("a whole number").
        column_error: Set when the column as a whole has an unusable type; then ``values`` is
            meaningless and nothing else about the column should be checked.
    """

    values: pd.Series
    failed: np.ndarray
    expected: str
    column_error: str | None = None


def _nothing_failed(values: pd.Series) -> np.ndarray:
    return np.zeros(len(values), dtype=bool)


def _wrong_type(raw: pd.Series, expected: str, found: object) -> Coerced:
    return Coerced(raw, _nothing_failed(raw), expected, f"expected {expected}, found {found} values")


def _failed_mask(raw: pd.Series, readable: pd.Series | np.ndarray) -> np.ndarray:
    """Cells that held something (not missing) but did not convert."""
    ok = readable.to_numpy(dtype=bool, na_value=False) if isinstance(readable, pd.Series) else readable
    return raw.notna().to_numpy(dtype=bool) & ~np.asarray(ok, dtype=bool)


def _is_text(raw: pd.Series) -> bool:
    # object columns are handled by inspecting their values; is_string_dtype says True for them.
    return raw.dtype != object and ptypes.is_string_dtype(raw.dtype)


def _to_text(raw: pd.Series) -> Coerced:
    expected = "text"
    if raw.dtype == object:
        inferred = ptypes.infer_dtype(raw, skipna=True)
        if inferred not in ("string", "empty", "integer"):
            return _wrong_type(raw, expected, inferred)
    elif not (_is_text(raw) or ptypes.is_integer_dtype(raw.dtype)) or ptypes.is_bool_dtype(raw.dtype):
        # Integers print losslessly as ids ("17"); floats, dates and flags do not.
        return _wrong_type(raw, expected, raw.dtype)
    return Coerced(raw.astype("str"), _nothing_failed(raw), expected)


def _numbers(raw: pd.Series) -> pd.Series | None:
    """The column as numbers (NaN where text does not parse), or None if it cannot be numbers."""
    if ptypes.is_bool_dtype(raw.dtype) or ptypes.is_datetime64_any_dtype(raw.dtype):
        return None
    if ptypes.is_numeric_dtype(raw.dtype):
        return raw
    if raw.dtype == object and ptypes.infer_dtype(raw, skipna=True) in ("boolean", "datetime", "date"):
        return None
    if _is_text(raw):
        # Arrow parses a clean text column in C++, several times faster than pandas; only a column
        # with some unparsable cell takes the slow path that finds which cells.
        text = pa.array(raw, from_pandas=True)
        for target in (pa.int64(), pa.float64()):
            try:
                return pc.cast(text, target).to_pandas(types_mapper=_NULLABLE.get).set_axis(raw.index)
            except pa.ArrowInvalid:
                continue
    return pd.to_numeric(raw, errors="coerce")


def _to_int(raw: pd.Series) -> Coerced:
    expected = "a whole number"
    nums = _numbers(raw)
    if nums is None:
        return _wrong_type(raw, expected, raw.dtype)
    if ptypes.is_integer_dtype(nums.dtype):
        return Coerced(nums.astype("Int64"), _failed_mask(raw, nums.notna()), expected)
    floats = nums.astype("float64")
    whole = np.isfinite(floats) & (floats == np.floor(floats)) & (floats.abs() < _INT_LIMIT)
    failed = _failed_mask(raw, whole)
    return Coerced(floats.where(~failed).astype("Int64"), failed, expected)


def _to_float(raw: pd.Series) -> Coerced:
    expected = "a number"
    nums = _numbers(raw)
    if nums is None:
        return _wrong_type(raw, expected, raw.dtype)
    floats = nums.astype("float64")
    # inf is refused: no amount or rate in the contract is infinite, and it poisons sums.
    failed = _failed_mask(raw, np.isfinite(floats.to_numpy()))
    return Coerced(floats.where(~failed), failed, expected)


def _iso_days(raw: pd.Series) -> Coerced:
    """Text dates: ``YYYY-MM-DD`` parsed in Arrow; anything else goes through the general parser."""
    expected = "a date (YYYY-MM-DD, no time of day)"
    days = pc.strptime(pa.array(raw, from_pandas=True), format="%Y-%m-%d", unit="ns", error_is_null=True)
    values = days.to_pandas().set_axis(raw.index).astype("datetime64[ns]")
    failed = _nothing_failed(raw)
    retry = raw.notna().to_numpy() & values.isna().to_numpy()
    if retry.any():
        # ISO variants ("2026-06-01T00:00:00") are fine; a time of day or a far year is not.
        again = _to_date(raw[retry], text_parser=False)
        values[retry] = again.values
        failed[retry] = again.failed
    return Coerced(values, failed, expected)


def _to_date(raw: pd.Series, *, text_parser: bool = True) -> Coerced:
    expected = "a date (YYYY-MM-DD, no time of day)"
    if text_parser and _is_text(raw):
        return _iso_days(raw)
    if ptypes.is_datetime64_any_dtype(raw.dtype):
        parsed = raw.dt.tz_localize(None) if getattr(raw.dtype, "tz", None) is not None else raw
    elif ptypes.is_numeric_dtype(raw.dtype) or ptypes.is_bool_dtype(raw.dtype):
        # Numbers as dates are ambiguous (epoch days? seconds?); refuse rather than guess.
        return _wrong_type(raw, expected, raw.dtype)
    elif _is_text(raw):
        parsed = pd.to_datetime(raw, format="ISO8601", errors="coerce")
    else:
        try:
            parsed = pd.to_datetime(raw, errors="coerce")
        except (TypeError, ValueError) as exc:
            return _wrong_type(raw, expected, f"unreadable ({exc})")
    if parsed.dtype != np.dtype("datetime64[ns]"):
        # Dates beyond 1677..2262 do not fit nanoseconds; they become failures, not an overflow.
        fits = (parsed >= pd.Timestamp.min) & (parsed <= pd.Timestamp.max)
        parsed = parsed.where(fits).astype("datetime64[ns]")
    # A time of day would be silently lost by normalising, so it is a failure too.
    nanos = parsed.to_numpy().view(np.int64)
    failed = _failed_mask(raw, parsed.notna().to_numpy() & (nanos % _DAY_NS == 0))
    return Coerced(parsed.where(~failed), failed, expected)


def _to_bool(raw: pd.Series) -> Coerced:
    expected = "true or false"
    if ptypes.is_bool_dtype(raw.dtype):
        return Coerced(raw.astype("boolean"), _nothing_failed(raw), expected)
    if raw.dtype == object and ptypes.infer_dtype(raw, skipna=True) in ("boolean", "empty"):
        return Coerced(raw.astype("boolean"), _nothing_failed(raw), expected)
    if _is_text(raw) or raw.dtype == object:
        mapped = raw.astype("str").str.strip().str.lower().map(_BOOL_WORDS)
    elif ptypes.is_numeric_dtype(raw.dtype):
        mapped = raw.map({0: False, 1: True})
    else:
        return _wrong_type(raw, expected, raw.dtype)
    failed = _failed_mask(raw, mapped.notna())
    return Coerced(mapped.where(~failed).astype("boolean"), failed, expected)


_CONVERTERS: Final[dict[str, Callable[[pd.Series], Coerced]]] = {
    "text": _to_text,
    "int": _to_int,
    "float": _to_float,
    "date": _to_date,
    "bool": _to_bool,
}


def coerce_column(raw: pd.Series, kind: str) -> Coerced:
    """Convert ``raw`` to the working dtype of ``kind`` (a key of :data:`WORKING_DTYPES`).

    Args:
        raw: The column as read; its index must be the default ``RangeIndex``.
        kind: ``"text"``, ``"int"``, ``"float"``, ``"date"`` or ``"bool"``.

    Returns:
        The converted values and which cells could not be read.
    """
    if isinstance(raw.dtype, pd.CategoricalDtype):
        # Parquet written from categoricals: the categories' own type is what the cells hold.
        raw = raw.astype(raw.dtype.categories.dtype)
    if _is_text(raw):
        # An empty string is an empty cell, whatever the file format (CSV already reads it so).
        empty = raw.str.len() == 0
        if empty.any():
            raw = raw.mask(empty)
    return _CONVERTERS[kind](raw)
