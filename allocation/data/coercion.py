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

from allocation.data.dates import DATE_FORM, parse_dates

__all__ = ["WORKING_DTYPES", "Coerced", "coerce_column", "holds"]

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
_INT64_MAX: Final = np.iinfo(np.int64).max
_DAY_NS: Final = 86_400 * 10**9
_NULLABLE: Final = {pa.int64(): pd.Int64Dtype()}  # keep missing cells missing, ints exact


def _exact_ints(arrow_type: pa.DataType) -> object:
    """Arrow -> pandas dtype mapper: whole numbers as nullable Int64/UInt64 (exact, missing kept)."""
    if pa.types.is_unsigned_integer(arrow_type):
        return pd.UInt64Dtype()
    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype()
    return None


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


# How a class of :func:`holds` reads in a message ("found zoned timestamp values").
_LABELS: Final = {"int": "whole number", "float": "decimal number", "bool": "true/false", "zoned": "zoned timestamp"}


def _wrong_type(raw: pd.Series, expected: str, found: object) -> Coerced:
    label = _LABELS.get(str(found), found)
    return Coerced(raw, _nothing_failed(raw), expected, f"expected {expected}, found {label} values")


def _failed_mask(raw: pd.Series, readable: pd.Series | np.ndarray) -> np.ndarray:
    """Cells that held something (not missing) but did not convert."""
    ok = readable.to_numpy(dtype=bool, na_value=False) if isinstance(readable, pd.Series) else readable
    return raw.notna().to_numpy(dtype=bool) & ~np.asarray(ok, dtype=bool)


def _is_text(raw: pd.Series) -> bool:
    # object columns are handled by inspecting their values; is_string_dtype says True for them.
    return raw.dtype != object and ptypes.is_string_dtype(raw.dtype)


# What the cells of an object column hold (pandas' infer_dtype) -> the class of :func:`holds`.
_OBJECT_HOLDS: Final = {
    "string": "text",
    "empty": "empty",
    "integer": "int",
    "floating": "float",
    "mixed-integer-float": "float",
    "decimal": "float",
    "boolean": "bool",
    "date": "date",
    "datetime": "date",
    "datetime64": "date",
}
_KIND_HOLDS: Final = {"i": "int", "u": "int", "f": "float", "b": "bool", "M": "date"}


def holds(raw: pd.Series) -> str:
    """What a column holds: ``text``, ``int``, ``float``, ``bool``, ``date``, ``zoned`` (timestamps
    with a time zone), ``empty`` (nothing at all), or the name of anything else (``timedelta64[s]``,
    ``bytes``, ``mixed``), which no contract column accepts."""
    if raw.dtype == object:
        inferred = ptypes.infer_dtype(raw, skipna=True)
        return _OBJECT_HOLDS.get(inferred, inferred)
    if _is_text(raw):
        return "text"
    if raw.dtype.kind == "M":
        try:
            zoned = raw.dt.tz is not None
        except (AttributeError, TypeError):  # Arrow date32/date64: calendar days, no zone
            zoned = False
        return "zoned" if zoned else "date"
    return _KIND_HOLDS.get(raw.dtype.kind, str(raw.dtype))


def _empty(raw: pd.Series, kind: str, expected: str) -> Coerced:
    """A column with no value at all (Parquet's null type): all missing, in the working dtype."""
    return Coerced(pd.Series(pd.NA, index=raw.index, dtype=WORKING_DTYPES[kind]), _nothing_failed(raw), expected)


def _to_text(raw: pd.Series) -> Coerced:
    expected = "text"
    found = holds(raw)
    if found == "empty":
        return _empty(raw, "text", expected)
    if found not in ("text", "int"):
        # Integers print losslessly as ids ("17"); floats, dates and flags do not.
        return _wrong_type(raw, expected, found)
    return Coerced(raw.astype("str"), _nothing_failed(raw), expected)


def _numbers(raw: pd.Series, found: str) -> pd.Series:
    """The column as numbers (NaN where text does not parse); ``found`` is int, float or text."""
    if found == "text":
        # Arrow parses a clean text column in C++, several times faster than pandas; only a column
        # with some unparsable cell takes the slow path that finds which cells.
        text = pa.array(raw, from_pandas=True)
        # Arrow reads "0x10" as 16; numbers in a data folder are decimal, so such a column takes
        # the slow path, where the hexadecimal cells fail.
        hexadecimal = any(pc.any(pc.match_substring(text, x)).as_py() for x in "xX")
        for target in (pa.float64(),) if hexadecimal else (pa.int64(), pa.float64()):
            try:
                return pc.cast(text, target).to_pandas(types_mapper=_NULLABLE.get).set_axis(raw.index)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
    if raw.dtype.kind == "u":
        # Unsigned beyond the int64 range (2**63 and up): missing here, so they are failed cells.
        unsigned = raw.astype("UInt64")
        fits = (unsigned <= _INT64_MAX).fillna(False).astype(bool)
        return unsigned.where(fits).astype("Int64")
    if raw.dtype.kind in "iuf":
        return raw
    return pd.to_numeric(raw.astype(object), errors="coerce")


def _to_int(raw: pd.Series) -> Coerced:
    expected = "a whole number"
    found = holds(raw)
    if found == "empty":
        return _empty(raw, "int", expected)
    if found not in ("int", "float", "text"):
        return _wrong_type(raw, expected, found)
    nums = _numbers(raw, found)
    if ptypes.is_integer_dtype(nums.dtype):
        return Coerced(nums.astype("Int64"), _failed_mask(raw, nums.notna()), expected)
    floats = nums.astype("float64")
    whole = np.isfinite(floats) & (floats == np.floor(floats)) & (floats.abs() < _INT_LIMIT)
    failed = _failed_mask(raw, whole)
    return Coerced(floats.where(~failed).astype("Int64"), failed, expected)


def _to_float(raw: pd.Series) -> Coerced:
    expected = "a number"
    found = holds(raw)
    if found == "empty":
        return _empty(raw, "float", expected)
    if found not in ("int", "float", "text"):
        return _wrong_type(raw, expected, found)
    floats = (raw if raw.dtype.kind in "iuf" else _numbers(raw, found)).astype("float64")
    # inf is refused: no amount or rate in the contract is infinite, and it poisons sums.
    failed = _failed_mask(raw, np.isfinite(floats.to_numpy()))
    return Coerced(floats.where(~failed), failed, expected)


def _midnights(raw: pd.Series, parsed: pd.Series, expected: str) -> Coerced:
    """Typed timestamps -> dates: out-of-range years and times of day are failed cells."""
    if parsed.dtype != np.dtype("datetime64[ns]"):
        # Dates beyond 1677..2262 do not fit nanoseconds; they become failures, not an overflow.
        fits = (parsed >= pd.Timestamp.min) & (parsed <= pd.Timestamp.max)
        parsed = parsed.where(fits).astype("datetime64[ns]")
    # A time of day would be silently lost by normalising, so it is a failure too.
    nanos = parsed.to_numpy().view(np.int64)
    failed = _failed_mask(raw, parsed.notna().to_numpy() & (nanos % _DAY_NS == 0))
    return Coerced(parsed.where(~failed), failed, expected)


def _to_date(raw: pd.Series) -> Coerced:
    expected = DATE_FORM
    found = holds(raw)
    if found == "empty":
        return _empty(raw, "date", expected)
    if found == "text":
        values, failed = parse_dates(raw.astype("str"))
        return Coerced(values, failed, expected)
    if found != "date":
        # A zoned timestamp is an instant, not a calendar day: which day it is depends on where
        # one stands. Numbers as dates are ambiguous (epoch days? seconds?). Refuse, never guess.
        return _wrong_type(raw, expected, found)
    if raw.dtype.kind == "M" and not isinstance(raw.dtype, pd.ArrowDtype):
        return _midnights(raw, raw, expected)
    try:
        # Python dates and datetimes (Parquet date32 comes back so), or Arrow-backed dates.
        parsed = pd.to_datetime(raw.astype(object), errors="coerce")
    except (TypeError, ValueError) as exc:  # mixed time zones, mixed naive and zoned values
        return _wrong_type(raw, expected, f"unreadable ({exc})")
    if getattr(parsed.dtype, "tz", None) is not None:
        return _wrong_type(raw, expected, "zoned")
    return _midnights(raw, parsed, expected)


def _to_bool(raw: pd.Series) -> Coerced:
    expected = "true or false"
    found = holds(raw)
    if found == "empty":
        return _empty(raw, "bool", expected)
    if found == "bool":
        return Coerced(raw.astype("boolean"), _nothing_failed(raw), expected)
    if found == "text":
        mapped = raw.astype("str").str.strip().str.lower().map(_BOOL_WORDS)
    elif found in ("int", "float"):
        nums = _numbers(raw, found).astype("float64")
        mapped = nums.map({0.0: False, 1.0: True})
    else:
        return _wrong_type(raw, expected, found)
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
    if isinstance(raw.dtype, pd.ArrowDtype) and not pa.types.is_timestamp(raw.dtype.pyarrow_dtype):
        # Arrow-backed columns (a frame written with dtype_backend="pyarrow"): in the plain pandas
        # dtypes the converters know; whole numbers stay exact (Int64/UInt64, not float64).
        raw = pd.Series(
            pa.array(raw, from_pandas=True).to_pandas(types_mapper=_exact_ints), index=raw.index, name=raw.name
        )
    if _is_text(raw):
        # An empty string is an empty cell, whatever the file format (CSV already reads it so).
        empty = raw.str.len() == 0
        if empty.any():
            raw = raw.mask(empty)
    return _CONVERTERS[kind](raw)
