"""Finding and reading the files of a data folder as a user may send them (docs/data.md, "Files").

Everything here turns a file that cannot be used into one located problem instead of a traceback:
a link that leads outside the folder, a pipe or a folder where a file should be, text that is not
UTF-8, columns separated by something other than commas, a header naming a column twice, an empty
or truncated file. Reading never writes to the folder and never follows a link out of it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Final

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from allocation.data.tablecheck import ProblemLog

__all__ = [
    "HOLDOUT_DIR",
    "MAX_HORIZON_DAYS",
    "META_FILE",
    "Unreadable",
    "inside",
    "present",
    "read_meta",
    "read_table",
    "usable_file",
]

META_FILE: Final = "meta.json"
HOLDOUT_DIR: Final = "holdout"
MAX_HORIZON_DAYS: Final = 120
MAX_META_BYTES: Final = 1 << 20
"""A meta.json holds four small fields; anything bigger is not one (and is not read into memory)."""

_ISO_DAY: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_OTHER_SEPARATORS: Final = (";", "\t", "|")
_UTF16_MARKS: Final = (b"\xff\xfe", b"\xfe\xff")
_PANDAS_INDEX: Final = re.compile(r"__index_level_[0-9]+__")


class Unreadable(Exception):
    """A file that cannot be used at all; the message says why, for the planner."""


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (readers append whole dumps after it)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def inside(root: Path, path: Path) -> bool:
    """Whether ``path``, links followed, lies within the (resolved) data folder ``root``."""
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a loop of links
        return False


def present(path: Path) -> bool:
    """Whether something (a file, a folder, a link, even a dangling one) has this name."""
    return path.is_symlink() or path.exists()


def usable_file(root: Path, path: Path, label: str, log: ProblemLog) -> bool:
    """Whether the ``present`` file at ``path`` may be read; else one problem about ``label``.

    A link is followed only while it stays inside the data folder ``root``: a folder sent by a
    user must not make the checker read (or quote lines of) files elsewhere on the machine. A
    link that leads out, a dangling link, or a folder, pipe or device under a file's name is
    refused.
    """
    if not inside(root, path):
        log.add(label, "is a link to a place outside the data folder (not read)")
    elif not path.exists():
        log.add(label, "is a link to nothing")
    elif not path.is_file():
        log.add(label, "is not a regular file")
    else:
        return True
    return False


def _one_key_each(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object hook that refuses a key given twice (json keeps the last one silently)."""
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"the key {key!r} appears twice")
        seen[key] = value
    return seen


def _plan_date(meta: dict[str, object], log: ProblemLog) -> pd.Timestamp | None:
    raw = meta.get("plan_date")
    if raw is None:
        log.add(META_FILE, "missing (an ISO date such as 2026-06-01 is required)", column="plan_date")
        return None
    # A string only: 20260601 as a JSON number would read as a date by accident.
    if not isinstance(raw, str) or not _ISO_DAY.fullmatch(raw):
        log.add(META_FILE, f"not an ISO date (YYYY-MM-DD, as a JSON string): {raw!r}", column="plan_date")
        return None
    try:
        day = pd.Timestamp(dt.date.fromisoformat(raw))
    except (ValueError, OverflowError):
        log.add(META_FILE, f"not an ISO date (YYYY-MM-DD): {raw!r} is no day of the calendar", column="plan_date")
        return None
    if not pd.Timestamp("1900-01-01") <= day <= pd.Timestamp("2200-12-31"):
        log.add(META_FILE, f"must be between 1900 and 2200 (got {raw!r})", column="plan_date")
        return None
    return day


def _horizon(meta: dict[str, object], log: ProblemLog) -> int | None:
    horizon = meta.get("horizon_days")
    # bool is an int in Python; `true` is not a horizon.
    if not isinstance(horizon, int) or isinstance(horizon, bool):
        log.add(META_FILE, f"must be a whole number of days 1..{MAX_HORIZON_DAYS}", column="horizon_days")
        return None
    if not 1 <= horizon <= MAX_HORIZON_DAYS:
        shown = horizon if abs(horizon) < 10**12 else "a huge number"
        log.add(META_FILE, f"must be 1..{MAX_HORIZON_DAYS} (got {shown})", column="horizon_days")
        return None
    return horizon


def read_meta(root: Path, log: ProblemLog) -> tuple[dict[str, object], pd.Timestamp | None, int | None]:
    """meta.json as a dict, with its plan date and horizon when they are usable.

    The file is UTF-8 (a byte-order mark is allowed), at most :data:`MAX_META_BYTES`, one JSON
    object with each key once; ``plan_date`` a JSON string ``YYYY-MM-DD`` naming a real day,
    ``horizon_days`` a JSON whole number 1..:data:`MAX_HORIZON_DAYS`.
    """
    path = root / META_FILE
    if not present(path):
        log.add(META_FILE, "missing file")
        return {}, None, None
    if not usable_file(root, path, META_FILE, log):
        return {}, None, None
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_META_BYTES + 1)
        if len(data) > MAX_META_BYTES:
            raise Unreadable(f"larger than {MAX_META_BYTES} bytes: not a meta.json")
        meta = json.loads(data.decode("utf-8-sig"), object_pairs_hook=_one_key_each)
    except Unreadable as exc:
        log.add(META_FILE, f"cannot read: {exc}")
        return {}, None, None
    except UnicodeDecodeError:
        log.add(META_FILE, "cannot read: not UTF-8 text")
        return {}, None, None
    except (OSError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        log.add(META_FILE, f"cannot read: {exc}")
        return {}, None, None
    if not isinstance(meta, dict):
        log.add(META_FILE, "must be a JSON object")
        return {}, None, None
    return meta, _plan_date(meta, log), _horizon(meta, log)


def _first_bad_line(path: Path) -> str:
    """Where a CSV file stops being UTF-8 (only called once reading it failed)."""
    data = path.read_bytes()
    if data.startswith(_UTF16_MARKS):
        return "it is UTF-16 text; save it as UTF-8"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return f"not UTF-8 text (the first bad byte is on line {line}); save it as UTF-8"
    return ""


def _read_csv(path: Path) -> pa.Table:
    # Every cell as text, so "007" stays "007" and each cell is parsed (and reported) exactly;
    # only an empty cell is missing: "NA" or "null" may be real ids or labels.
    convert = pacsv.ConvertOptions(
        default_column_type=pa.large_string(),
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    try:
        table = pacsv.read_csv(path, convert_options=convert)
        table.column_names  # noqa: B018 - decoded lazily: a bad byte in the header surfaces here
        return table
    except Exception as exc:  # any failure of the reader means the file cannot be used
        if path.stat().st_size == 0:
            raise Unreadable("the file is empty (a header row is needed)") from None
        why = _first_bad_line(path)
        raise Unreadable(why or f"not a CSV table: {_first_line(exc)}") from None


def _exact_ints(arrow_type: pa.DataType) -> object:
    """Arrow -> pandas dtypes that keep missing cells missing and values exact: whole numbers as
    Int64/UInt64 (not float64), flags as boolean (not Python objects)."""
    if pa.types.is_unsigned_integer(arrow_type):
        return pd.UInt64Dtype()
    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype()
    if pa.types.is_boolean(arrow_type):
        return pd.BooleanDtype()
    return None


def _check_text(table: pa.Table) -> pa.Table:
    """The table, once every text column is valid UTF-8 (Parquet text is not checked when read:
    a damaged page would otherwise fail later, far from its file)."""
    for name, column in zip(table.column_names, table.columns, strict=True):
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        try:
            # Casting bytes to text checks UTF-8 (cheaper than a full validation of the column).
            pc.cast(pc.cast(column, pa.large_binary()), pa.large_string())
        except pa.ArrowInvalid:
            raise Unreadable(f"the column {name!r} holds text that is not UTF-8 (a damaged file?)") from None
    return table


def _read_parquet(path: Path) -> pa.Table:
    """The Parquet file's table; any failure of the reader means the file cannot be used.

    A damaged file can fail in many ways (Arrow errors, a column name that is not UTF-8, a
    schema Thrift cannot decode), all of them "damaged" to a planner, so every one is caught.
    """
    try:
        table = pq.read_table(path)
        table.column_names  # noqa: B018 - decoded lazily: a damaged name surfaces here
        return table
    except Exception as exc:
        first = exc
    try:
        # The dataset reader refuses a file that names a column twice; the plain file reader
        # does not, so that the caller can say which column it is.
        table = pq.ParquetFile(path).read()
        table.column_names  # noqa: B018
        return table
    except Exception:
        raise Unreadable(f"not a Parquet file, or a damaged one: {_first_line(first)}") from None


def read_table(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """A table file as a frame with the default RangeIndex, and the column names given twice.

    CSV cells stay text (the checker parses each one exactly). A column named twice keeps its
    first copy here; the caller reports it. A CSV whose header is one name holding ``;``, a tab
    or ``|`` was written with another separator: that is said plainly instead of reporting
    every contract column missing.

    Raises:
        Unreadable: The file cannot be used at all.
    """
    if path.suffix == ".parquet":
        table = _check_text(_read_parquet(path))
    else:
        table = _read_csv(path)
        names = table.column_names
        if len(names) == 1 and (sep := next((s for s in _OTHER_SEPARATORS if s in names[0]), None)):
            shown = "a tab" if sep == "\t" else repr(sep)
            raise Unreadable(f"columns are separated by {shown}; closetflow reads comma-separated files")
    # pandas' own index columns ("__index_level_0__") are noise; a named index is a column to us.
    keep = [i for i, n in enumerate(table.column_names) if not _PANDAS_INDEX.fullmatch(str(n))]
    names = [str(table.column_names[i]) for i in keep]
    twice = sorted({n for n in names if names.count(n) > 1})
    firsts = [keep[names.index(n)] for n in dict.fromkeys(names)]
    table = table.select(firsts)
    try:
        # The file's values as they are: pandas metadata left behind by an earlier writer could
        # otherwise turn a column of numbers into text, or restore an index that is not there.
        frame = table.to_pandas(types_mapper=_exact_ints, ignore_metadata=True)
    except Exception as exc:  # a type pandas has no column for, a damaged value
        raise Unreadable(f"cannot convert to a table: {_first_line(exc)}") from None
    frame.columns = [str(c) for c in frame.columns]
    return frame, twice
