"""Property tests: mutate a good data folder the way a new user might, then load it.

Starting points are the tiny hand-made world of ``worldfactory`` and a generated tiny world, each
written as CSV and as Parquet. Whatever the mutation, ``load_world`` returns a world or raises
``DataValidationError`` whose problems are located (``file:row:column:``, the file relative to the
folder): never another exception, never a hang, never "could not be checked". A mutation that
breaks a rule is refused with a problem naming its file (and column, and row where there is one);
one that breaks nothing is accepted.

This module holds the harness and the mutations that break a rule; ``test_contract_fuzz.py`` uses
the harness for meta.json, harmless changes and arbitrary damage.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocation.data.io import load_world, write_world
from allocation.data.references import REFERENCES
from allocation.data.schemas import HOLDOUT_SCHEMAS, SCHEMAS
from allocation.data.tablecheck import UNCHECKED, final_dtype
from allocation.domain import ClosetflowError, DataValidationError, Problem
from allocation.simulate.world import simulate_world
from tests.allocation.worldfactory import make_world

# CLOSETFLOW_FUZZ_DEPTH=20 multiplies every example count, for a deeper run by hand.
DEPTH = int(os.environ.get("CLOSETFLOW_FUZZ_DEPTH", "1"))
FUZZ = settings(
    max_examples=30 * DEPTH,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HANG_SECONDS = 30

ALL_SCHEMAS = SCHEMAS | {f"holdout/{name}": schema for name, schema in HOLDOUT_SCHEMAS.items()}
TABLE_KEYS = sorted(ALL_SCHEMAS)
KIND = {"str": "text", "int64": "int", "Int64": "int", "float64": "float", "datetime64[ns]": "date"}
KEY_COLUMN = {"lanes": "origin", "holdout/cleaning": "unit_id", "holdout/disruptions": "station_id"} | {
    key: name for key, schema in ALL_SCHEMAS.items() for name, column in schema.columns.items() if column.unique
}


def kind_of(table: str, column: str) -> str:
    return KIND.get(final_dtype(ALL_SCHEMAS[table].columns[column]), "bool")


# --- the good folders and one scratch copy per example ------------------------------------------


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    root = tmp_path_factory.mktemp("bases")
    worlds = {"factory": make_world(), "generated": simulate_world("tiny", 3)}
    folders = {}
    for name, world in worlds.items():
        for fmt in ("csv", "parquet"):
            folders[(name, fmt)] = root / f"{name}-{fmt}"
            write_world(world, folders[(name, fmt)], fmt=fmt)
            load_world(folders[(name, fmt)])  # the unmutated folders are accepted
    return folders


@dataclass
class Scratch:
    """A copy of a good folder inside a private directory (links out of ``folder`` land in ``outside``)."""

    folder: Path
    outside: Path
    fmt: str

    def file(self, table: str) -> Path:
        return self.folder / f"{table}.{self.fmt}"

    def name(self, table: str) -> str:
        return f"{table}.{self.fmt}"

    def read(self, table: str) -> pd.DataFrame:
        if self.fmt == "csv":
            return pd.read_csv(self.file(table), dtype=str, keep_default_na=False)
        return pd.read_parquet(self.file(table))

    def write(self, table: str, frame: pd.DataFrame) -> None:
        if self.fmt == "csv":
            frame.to_csv(self.file(table), index=False)
        else:
            frame.to_parquet(self.file(table), index=False)


@contextmanager
def scratch(bases: dict[tuple[str, str], Path], base: str, fmt: str) -> Iterator[Scratch]:
    work = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        shutil.copytree(bases[(base, fmt)], work / "data", symlinks=True)
        yield Scratch(work / "data", work, fmt)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _timeout(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError(f"load_world ran longer than {HANG_SECONDS} s")


def outcome(folder: Path) -> list[Problem] | None:
    """The problems of loading ``folder`` (None when accepted); fails the test on anything else."""
    previous = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(HANG_SECONDS)
    try:
        load_world(folder)
        return None
    except DataValidationError as exc:
        problems = exc.problems
    except ClosetflowError as exc:
        pytest.fail(f"the folder itself was refused: {exc}")
    except Exception as exc:  # the property: nothing else may escape
        pytest.fail(f"load_world raised {type(exc).__name__}: {exc}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert problems
    for p in problems:
        assert UNCHECKED not in p.message, p
        assert p.file and not p.file.startswith("/") and ".." not in p.file, p
        assert p.row is None or p.row >= 1, p
        assert str(p).startswith(f"{p.file}:{'' if p.row is None else p.row}:{p.column or ''}: "), p
    return problems


def refused_at(problems: list[Problem] | None, file: str, column: str | None = None, row: int | None = None) -> None:
    assert problems is not None, f"accepted, but {file}:{row or ''}:{column or ''} was broken"
    hits = [p for p in problems if p.file == file and column in (None, p.column) and row in (None, p.row)]
    assert hits, (file, column, row, [str(p) for p in problems])


BASE = st.sampled_from([("factory", "csv"), ("factory", "parquet"), ("generated", "csv"), ("generated", "parquet")])
FACTORY = st.sampled_from([("factory", "csv"), ("factory", "parquet")])


def _row(data: st.DataObject, frame: pd.DataFrame) -> int:
    """A 0-based row of ``frame`` (the test is skipped for an empty table)."""
    if frame.empty:
        pytest.skip("empty table")  # pragma: no cover - every starting table has rows
    return data.draw(st.integers(0, len(frame) - 1), label="row")


def _as_text(values: pd.Series) -> pd.Series:
    """A column as the text a CSV cell would hold (Parquet: the column becomes a text column)."""

    def one(v: object) -> object:
        if v is None or (pd.api.types.is_scalar(v) and pd.isna(v)):  # type: ignore[call-overload]
            return None
        return v.date().isoformat() if isinstance(v, pd.Timestamp) else str(v)

    return values.astype(object).map(one)


# --- mutations that break a rule: refused, located -------------------------------------------

BAD_TEXT = {
    "int": ["abc", "1.5", "1e400", "--3", "0x10", "99999999999999999999"],
    "float": ["abc", "inf", "1,5", "nan?"],
    "date": ["2026-02-30", "2026-06", "2026-06-01T00:00:00+02:00", "20260601", "June 5", "2026-06-01T09:30"],
    "bool": ["maybe", "2", "yess"],
}
OUT_OF_RANGE = [
    ("stations", "capacity_per_day", -1), ("stations", "processing_days", -2), ("stations", "failure_rate", 1.5),
    ("stations", "kind", "laundry"), ("lanes", "days", 0), ("lanes", "cost_per_unit", -0.5),
    ("lanes", "kind", "teleport"), ("skus", "rental_value", 0.0), ("skus", "retail_value", -10.0),
    ("units", "state", "lost"), ("units", "wear_count", -3), ("reservations", "rental_days", 5),
    ("reservations", "value", -1.0), ("reservations", "priority", -1), ("rentals", "rental_days", 7),
    ("bookings", "rental_days", 0), ("holdout/delays", "delay_days", -2), ("holdout/cleaning", "cycle", -1),
    ("holdout/disruptions", "capacity_per_day", -4), ("holdout/bookings", "rental_days", 3),
    ("reservations", "event_date", pd.Timestamp("2020-01-01")),
    ("reservations", "booked_on", pd.Timestamp("2027-01-01")),
    ("bookings", "booked_on", pd.Timestamp("2027-01-01")), ("rentals", "ship_date", pd.Timestamp("2027-01-01")),
    ("holdout/returns", "returned_on", pd.Timestamp("2020-01-01")),
    ("holdout/disruptions", "date", pd.Timestamp("2030-01-01")),
]  # fmt: skip


def drop_column(s: Scratch, data: st.DataObject) -> tuple[str, str | None, int | None]:
    table = data.draw(st.sampled_from(TABLE_KEYS), label="table")
    column = data.draw(st.sampled_from(list(ALL_SCHEMAS[table].columns)), label="column")
    frame = s.read(table)
    how = data.draw(st.sampled_from(["drop", "rename", "upper"]), label="how")
    if how == "drop":
        frame = frame.drop(columns=column)
    else:
        frame = frame.rename(columns={column: f"{column} " if how == "rename" else column.upper()})
    s.write(table, frame)
    return s.name(table), column, None


def duplicate_column(s: Scratch, data: st.DataObject) -> tuple[str, str | None, int | None]:
    table = data.draw(st.sampled_from(TABLE_KEYS), label="table")
    column = data.draw(st.sampled_from(list(ALL_SCHEMAS[table].columns)), label="column")
    if s.fmt == "csv":
        lines = s.file(table).read_text(encoding="utf-8").splitlines()
        s.file(table).write_text("\n".join([f"{lines[0]},{column}"] + [f"{line},x" for line in lines[1:]]) + "\n")
    else:
        arrow = pq.read_table(s.file(table))
        pq.write_table(arrow.append_column(column, arrow[column]), s.file(table))
    return s.name(table), column, None


def bad_cell(s: Scratch, data: st.DataObject) -> tuple[str, str | None, int | None]:
    table = data.draw(st.sampled_from(TABLE_KEYS), label="table")
    columns = [c for c, col in ALL_SCHEMAS[table].columns.items() if kind_of(table, c) != "text" or not col.nullable]
    column = data.draw(st.sampled_from(columns), label="column")
    kind = kind_of(table, column)
    frame = s.read(table)
    row = _row(data, frame)
    frame[column] = _as_text(frame[column])  # text in any format (Parquet: a text column)
    frame.loc[row, column] = "" if kind == "text" else data.draw(st.sampled_from(BAD_TEXT[kind]), label="text")
    s.write(table, frame)
    return s.name(table), column, row + 1


def out_of_range(s: Scratch, data: st.DataObject) -> tuple[str, str | None, int | None]:
    table, column, value = data.draw(st.sampled_from(OUT_OF_RANGE), label="rule")
    frame = s.read(table)
    row = _row(data, frame)
    if s.fmt == "csv":
        value = value.date().isoformat() if isinstance(value, pd.Timestamp) else str(value)
    frame.loc[row, column] = value
    s.write(table, frame)
    return s.name(table), column, row + 1


def dangling_id(s: Scratch, data: st.DataObject) -> tuple[str, str | None, int | None]:
    table, column, *_ = data.draw(st.sampled_from(REFERENCES), label="reference")
    frame = s.read(table)
    row = _row(data, frame)
    frame.loc[row, column] = data.draw(st.sampled_from(["NOPE", "u1", " U1", "U1 ", "S 1", "K0"]), label="id")
    s.write(table, frame)
    return s.name(table), column, row + 1


def duplicate_row(s: Scratch, data: st.DataObject) -> tuple[str, str | None, int | None]:
    table = data.draw(st.sampled_from(sorted(KEY_COLUMN)), label="table")
    frame = s.read(table)
    row = _row(data, frame)
    s.write(table, pd.concat([frame, frame.iloc[[row]]], ignore_index=True))
    return s.name(table), KEY_COLUMN[table], len(frame) + 1


def whole_file(s: Scratch, data: st.DataObject) -> tuple[str, str | None, int | None]:
    table = data.draw(st.sampled_from(TABLE_KEYS), label="table")
    how = data.draw(st.sampled_from(["delete", "empty", "outside", "folder"]), label="how")
    path = s.file(table)
    if how == "delete":
        path.unlink()
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "outside":  # a good copy, but outside the folder
        target = s.outside / f"{table.replace('/', '-')}.{s.fmt}"
        shutil.move(path, target)
        path.symlink_to(target)
    else:
        path.unlink()
        path.mkdir()
    return s.name(table), None, None


def encoding_or_separator(s: Scratch, data: st.DataObject) -> tuple[str, str | None, int | None]:
    table = data.draw(st.sampled_from(TABLE_KEYS), label="table")
    path = s.file(table)
    if s.fmt == "parquet":
        raw = path.read_bytes()
        path.write_bytes(raw[: data.draw(st.integers(0, len(raw) - 1), label="cut")])
        return s.name(table), None, None
    how = data.draw(st.sampled_from(["latin-1", "utf-16", ";", "\t", "|"]), label="how")
    frame = s.read(table)
    if how == "latin-1":
        first = frame.columns[0]
        frame[first] = frame[first].astype(object)
        frame.loc[_row(data, frame), first] = "Neuchâtel"
        path.write_bytes(frame.to_csv(index=False).encode("latin-1"))
    elif how == "utf-16":
        path.write_bytes(frame.to_csv(index=False).encode("utf-16"))
    else:
        frame.to_csv(path, index=False, sep=how)
    return s.name(table), None, None


def wrong_parquet_type(s: Scratch, data: st.DataObject) -> tuple[str, str | None, int | None]:
    table = data.draw(st.sampled_from(TABLE_KEYS), label="table")
    column = data.draw(st.sampled_from(list(ALL_SCHEMAS[table].columns)), label="column")
    arrow = pq.read_table(s.file(table))
    n = arrow.num_rows
    wrong = {
        "text": [pa.array(np.full(n, 1.5)), pa.array(np.ones(n, dtype=bool))],
        "int": [pa.array(np.ones(n, dtype=bool)), pa.array(np.full(n, np.datetime64("2026-06-01", "ns")))],
        "float": [pa.array(np.full(n, np.datetime64("2026-06-01", "D"))), pa.array(np.ones(n, dtype=bool))],
        "date": [
            pa.array(np.arange(n, dtype=np.int64)),
            pa.array(np.full(n, np.datetime64("2026-06-01", "ns")), pa.timestamp("ns", tz="UTC")),
            pa.array(np.full(n, np.timedelta64(86_400, "s"))),
        ],
        "bool": [pa.array(np.full(n, np.datetime64("2026-06-01", "D"))), pa.array(np.full(n, 0.5))],
    }[kind_of(table, column)]
    values = data.draw(st.sampled_from(wrong), label="values")
    pq.write_table(arrow.set_column(arrow.schema.get_field_index(column), column, values), s.file(table))
    return s.name(table), column, None


BREAKING: dict[str, Callable[[Scratch, st.DataObject], tuple[str, str | None, int | None]]] = {
    "drop_column": drop_column,
    "duplicate_column": duplicate_column,
    "bad_cell": bad_cell,
    "out_of_range": out_of_range,
    "dangling_id": dangling_id,
    "duplicate_row": duplicate_row,
    "whole_file": whole_file,
    "encoding_or_separator": encoding_or_separator,
}


@FUZZ
@given(data=st.data(), base=BASE, mutation=st.sampled_from(sorted(BREAKING)))
def test_a_mutation_that_breaks_a_rule_is_refused_where_it_is(
    bases: dict[tuple[str, str], Path], data: st.DataObject, base: tuple[str, str], mutation: str
) -> None:
    with scratch(bases, *base) as s:
        file, column, row = BREAKING[mutation](s, data)
        refused_at(outcome(s.folder), file, column, row)


@settings(FUZZ, max_examples=20 * DEPTH)
@given(data=st.data(), base=st.sampled_from([("factory", "parquet"), ("generated", "parquet")]))
def test_a_parquet_column_of_the_wrong_type_is_refused(
    bases: dict[tuple[str, str], Path], data: st.DataObject, base: tuple[str, str]
) -> None:
    with scratch(bases, *base) as s:
        file, column, _ = wrong_parquet_type(s, data)
        refused_at(outcome(s.folder), file, column)


def test_the_unmutated_folders_are_accepted(bases: dict[tuple[str, str], Path]) -> None:
    for folder in bases.values():
        assert outcome(folder) is None
