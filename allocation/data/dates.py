"""Exact, vectorised parsing of text dates (CSV cells, or text columns of a Parquet file).

A date is written ``YYYY-MM-DD`` (month and day may drop their leading zero: ``2026-6-2``),
optionally followed by a midnight time (``T00:00``, ``T00:00:00``, ``T00:00:00.000``, or the same
after a space), which is what spreadsheets and pandas write for a date. Nothing else is a date:

* no time of day and no time zone (``2026-06-01T00:00:00+02:00`` is the evening of May 31 in UTC:
  which calendar day it means depends on where one stands);
* no shortened forms (``2026-06``, ``2026``, ``20260601``, week dates): a month is not a day;
* no impossible days: February 30 is refused, never rolled over to March 2;
* only days that fit the nanosecond timestamps pandas holds (1677-09-22 .. 2262-04-11).

Arrow's own ``strptime`` is fast but lenient (it rolls February 30 over to March 2 and skips
leading blanks), so this module reads the digits itself: for the usual file, where every date is
ten characters long, straight from Arrow's character buffer with numpy, without a Python object
per cell.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["DATE_FORM", "parse_dates"]

DATE_FORM: Final = "a date (YYYY-MM-DD, no time of day or time zone)"
"""What a date cell must hold, for messages."""

_SHAPE: Final = r"^(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})-(?P<d>[0-9]{1,2})(?:[T ]00:00(?::00(?:\.0+)?)?)?$"
_DIGITS: Final = np.array([0, 1, 2, 3, 5, 6, 8, 9])  # positions of the digits in YYYY-MM-DD
# The days nanosecond timestamps can hold (1677-09-22 .. 2262-04-11), as days since 1970-01-01.
_FIRST: Final = int(np.datetime64(pd.Timestamp.min.ceil("D").date(), "D").astype(np.int64))
_LAST: Final = int(np.datetime64(pd.Timestamp.max.floor("D").date(), "D").astype(np.int64))
_DAY_NS: Final = 86_400 * 10**9
_YEARS: Final = np.arange(10_000)
_LEAP: Final = ((_YEARS % 4 == 0) & ((_YEARS % 100 != 0) | (_YEARS % 400 == 0))).astype(np.int64)
# Days from 1970-01-01 to January 1 of each year 0000..9999 (proleptic Gregorian).
_YEAR_START: Final = (_YEARS - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
# Per [leap][month 1..12]: the month's length, and its first day's offset in the year.
_MONTH_DAYS: Final = np.array([[0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]] * 2, dtype=np.int64) + np.array(
    [[0] * 13, [0, 0, 1] + [0] * 10], dtype=np.int64
)
_MONTH_START: Final = np.concatenate([np.zeros((2, 1), dtype=np.int64), np.cumsum(_MONTH_DAYS, axis=1)[:, :-1]], axis=1)


def _as_large_string(values: pd.Series) -> pa.LargeStringArray:
    arr = pa.array(values, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.large_string())


def _fixed_width_fields(arr: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(year, month, day, well formed) of every cell when every non-empty cell is 10 characters.

    Then the characters of the non-empty cells lie back to back in Arrow's data buffer, so they
    can be viewed as an (n, 10) byte matrix without copying. ``None`` when the cells differ in
    length (the regular-expression path handles that rarer file).
    """
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    lengths = np.diff(offsets)
    filled = lengths > 0
    if not (lengths[filled] == 10).all():
        return None
    data = arr.buffers()[2]
    matrix = (
        np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(-1, 10)
        if data is not None and offsets[-1] > offsets[0]
        else np.zeros((0, 10), dtype=np.uint8)
    )
    # uint8 arithmetic: a character below "0" wraps round to a large value, so "> 9" catches it.
    digits = matrix[:, _DIGITS] - np.uint8(ord("0"))
    shaped = (digits <= 9).all(axis=1) & (matrix[:, 4] == ord("-")) & (matrix[:, 7] == ord("-"))
    d32 = digits.astype(np.int32)
    fields = (
        d32[:, 0] * 1000 + d32[:, 1] * 100 + d32[:, 2] * 10 + d32[:, 3],
        d32[:, 4] * 10 + d32[:, 5],
        d32[:, 6] * 10 + d32[:, 7],
        shaped,
    )
    if filled.all():  # the usual column: no empty cell to make room for
        return fields
    spread = []
    for values in fields:
        full = np.zeros(n, dtype=values.dtype)
        full[filled] = values
        spread.append(full)
    return spread[0], spread[1], spread[2], spread[3]


def _pattern_fields(arr: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day, well formed) of every cell, by regular expression (any cell lengths)."""
    found = pc.extract_regex(arr, _SHAPE)
    ok = np.asarray(found.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    fields = []
    for name in ("y", "m", "d"):
        part = pc.if_else(found.is_valid(), pc.struct_field(found, name), "0")
        fields.append(np.asarray(pc.cast(part, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64))
    return fields[0], fields[1], fields[2], ok


def _calendar_days(y: np.ndarray, m: np.ndarray, d: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Midnight timestamps (ns) of real calendar days, and which cells are one.

    Table look-ups per year and month (first day, leap year, month lengths and offsets) instead
    of calendar arithmetic: a few gathers per cell.
    """
    ok = ok & (y >= 0) & (y <= 9999) & (m >= 1) & (m <= 12) & (d >= 1)
    y, m = np.where(ok, y, 1970), np.where(ok, m, 1)
    leap = _LEAP[y]
    ok &= d <= _MONTH_DAYS[leap, m]
    days = _YEAR_START[y] + _MONTH_START[leap, m] + d.astype(np.int64) - 1
    ok &= (days >= _FIRST) & (days <= _LAST)
    nanos = np.where(ok, days * _DAY_NS, np.iinfo(np.int64).min)  # int64 min is NaT
    return nanos.view("datetime64[ns]"), ok


def parse_dates(text: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse a text column of dates exactly.

    Args:
        text: Text cells (missing cells stay missing); the default ``RangeIndex``.

    Returns:
        The dates (``datetime64[ns]``, NaT where missing or unreadable) and a mask of the cells
        that held text that is not a date of the accepted form.
    """
    arr = _as_large_string(text)
    fields = _fixed_width_fields(arr)
    y, m, d, shaped = fields if fields is not None else _pattern_fields(arr)
    values, ok = _calendar_days(y, m, d, shaped)
    present = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return pd.Series(values, index=text.index), present & ~ok
