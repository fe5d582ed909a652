"""The pandera contracts: they match docs/data.md, accept the tiny world, and the vectorised checker
finds exactly what pandera's own validation finds (an independent oracle). Plus the lossless
conversions a CSV or Parquet column goes through before it is checked."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocation.data.coercion import coerce_column
from allocation.data.dates import parse_dates
from allocation.data.schemas import HOLDOUT_SCHEMAS, SCHEMAS
from allocation.data.tablecheck import ProblemLog, check_table, final_dtype
from allocation.domain import HOLDOUT_TABLES, TABLES
from tests.allocation.worldfactory import make_world

DOC = Path(__file__).resolve().parents[2] / "docs" / "data.md"
# The doc's type words and the dtypes that may implement them (nullable where values may be missing).
DOC_TYPES = {
    "str": {"str"},
    "int": {"int64", "Int64"},
    "float": {"float64"},
    "date": {"datetime64[ns]"},
    "bool": {"bool", "boolean"},
}


def _doc_tables() -> dict[str, dict[str, str | None]]:
    """Every table of docs/data.md: column -> documented type (None in holdout/, which has none)."""
    tables: dict[str, dict[str, str | None]] = {}
    prefix, current = "", ""
    for line in DOC.read_text().splitlines():
        if line.startswith("## holdout/"):
            prefix = "holdout/"
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("| ") else []
        if len(cells) < 3 or cells[0] in ("table", "---"):
            continue
        current = prefix + cells[0] if cells[0] else current
        names = re.findall(r"`(\w+)`", cells[1])
        if names == ["reservations"]:  # "the `reservations` columns"
            tables[current] = dict(tables["reservations"])
            continue
        kind = cells[2] if not prefix else None
        tables.setdefault(current, {}).update({name: kind for name in names})
    return tables


def _all_schemas() -> dict[str, pa.DataFrameSchema]:
    return SCHEMAS | {f"holdout/{name}": schema for name, schema in HOLDOUT_SCHEMAS.items()}


def test_there_is_a_schema_for_every_table() -> None:
    assert tuple(SCHEMAS) == TABLES
    assert tuple(HOLDOUT_SCHEMAS) == HOLDOUT_TABLES


def test_schemas_have_exactly_the_documented_columns_and_types() -> None:
    documented = _doc_tables()
    schemas = _all_schemas()

    assert set(documented) == set(schemas)
    for key, columns in documented.items():
        assert list(schemas[key].columns) == list(columns), key
        for name, kind in columns.items():
            if kind is not None:
                assert final_dtype(schemas[key].columns[name]) in DOC_TYPES[kind], (key, name)


def test_the_tiny_world_passes_pandera_itself() -> None:
    world = make_world()
    for name in TABLES:
        SCHEMAS[name].validate(world.table(name), lazy=True)
    for name in HOLDOUT_TABLES:
        HOLDOUT_SCHEMAS[name].validate(getattr(world.holdout, name), lazy=True)


def _broken_units() -> pd.DataFrame:
    units = make_world().units
    units.loc[0, "state"] = "lost"  # isin
    units.loc[1, "wear_count"] = -2  # ge(0)
    units.loc[2, "sku_id"] = None  # not nullable
    units.loc[3, "due_back"] = pd.NaT  # nullable: fine
    units.loc[5, "unit_id"] = "U1"  # unique
    return units


def _broken_stations() -> pd.DataFrame:
    stations = make_world().stations
    stations.loc[0, "failure_rate"] = 1.2  # in_range(0, 1)
    stations.loc[1, "failure_rate"] = -0.1
    stations.loc[2, "kind"] = "laundry"
    stations.loc[3, "capacity_per_day"] = -1
    return stations


def _broken_lanes() -> pd.DataFrame:
    lanes = make_world().lanes
    lanes.loc[4] = ["S1", "Z1", "ship", 0, -1.0]  # duplicate lane, days < 1, cost < 0
    return lanes


def _pandera_locations(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> set[tuple[int, str]]:
    """(row, column) of every failure pandera reports, duplicates counted as the checker counts them.

    pandera flags every copy of a duplicated key; the checker names the repeats after the first
    copy, at the key's first column.
    """
    with pytest.raises(pa.errors.SchemaErrors) as caught:
        schema.validate(frame, lazy=True)
    cases = caught.value.failure_cases
    located = set()
    copies: dict[tuple[str, ...], dict[tuple[object, ...], list[int]]] = {}
    for check, column, index in zip(cases["check"], cases["column"], cases["index"], strict=True):
        if "uniqueness" not in check:
            located.add((int(index) + 1, column))
            continue
        keys = tuple(schema.unique) if check == "multiple_fields_uniqueness" else (column,)
        value = tuple(frame.loc[index, list(keys)])
        copies.setdefault(keys, {}).setdefault(value, []).append(int(index))
    for keys, groups in copies.items():
        located |= {(row + 1, keys[0]) for rows in groups.values() for row in sorted(set(rows))[1:]}
    return located


@pytest.mark.parametrize(
    ("name", "frame"),
    [("units", _broken_units()), ("stations", _broken_stations()), ("lanes", _broken_lanes())],
)
def test_checker_finds_what_pandera_finds(name: str, frame: pd.DataFrame) -> None:
    expected = _pandera_locations(SCHEMAS[name], frame)
    log = ProblemLog()

    check_table(f"{name}.parquet", frame, SCHEMAS[name], log)

    assert {(p.row, p.column) for p in log.problems} == expected
    assert len(expected) >= 3  # the oracle did see the breakage


def test_checker_caps_rows_per_rule_and_counts_the_rest() -> None:
    units = pd.concat([make_world().units] * 5, ignore_index=True)
    units["unit_id"] = [f"U{i}" for i in range(len(units))]
    units["state"] = "lost"
    log = ProblemLog(limit=4)

    check_table("units.csv", units, SCHEMAS["units"], log)

    assert [p.row for p in log.problems] == [1, 2, 3, 4, None]
    assert str(log.problems[-1]) == "units.csv::state: ... and 26 more rows: " + (
        "must be one of with_customer, returning, cleaning, ready, retired"
    )


# --- conversions -------------------------------------------------------------------------------


JUNE_1 = pd.Timestamp("2026-06-01")


def _text(*values: str | None) -> pd.Series:
    return pd.Series(values, dtype="str")


@pytest.mark.parametrize(
    ("raw", "kind", "values", "failed"),
    [
        (_text("3", "3.0", "", "3.5", "x", None), "int", [3, 3, None, None, None, None], [0, 0, 0, 1, 1, 0]),
        (_text("0.25", "1e-2", "inf", "nope"), "float", [0.25, 0.01, None, None], [0, 0, 1, 1]),
        (_text("True", "false", " 1 ", "0", "maybe", None), "bool",
         [True, False, True, False, None, None], [0, 0, 0, 0, 1, 0]),
        (_text("2026-06-01", "2026-6-2", "2026-06-01T00:00:00", "2026-06-01T09:30", "9999-12-31", "1/6/26"),
         "date", [JUNE_1, JUNE_1 + pd.Timedelta(days=1), JUNE_1, None, None, None], [0, 0, 0, 1, 1, 1]),
        # Never rolled over (February 30 is not March 2), never shortened, never zoned.
        (_text("2026-02-30", "2024-02-29", "2026-06", "20260601", "2026-06-01T00:00:00+02:00", "2026-06-01 00:00"),
         "date", [None, pd.Timestamp("2024-02-29"), None, None, None, JUNE_1], [1, 0, 1, 1, 1, 0]),
        (pd.Series([2**63, 7], dtype="uint64"), "int", [None, 7], [1, 0]),
        (pd.Series([2**63, 7], dtype="uint64"), "float", [2.0**63, 7.0], [0, 0]),
        (pd.Series([None, None], dtype=object), "date", [None, None], [0, 0]),
        (pd.Series([1, None], dtype="int64[pyarrow]"), "int", [1, None], [0, 0]),
        (_text("K1", "", None), "text", ["K1", None, None], [0, 0, 0]),
        (pd.Series(["ready", None, "ready"], dtype="category"), "text", ["ready", None, "ready"], [0, 0, 0]),
        (pd.Series([7, 12], dtype="int32"), "text", ["7", "12"], [0, 0]),
        (pd.Series([1, 2], dtype="int32"), "int", [1, 2], [0, 0]),
        (pd.Series([1.0, np.nan, 2.5]), "int", [1, None, None], [0, 0, 1]),
        (pd.Series([True, None], dtype=object), "bool", [True, None], [0, 0]),
    ],
)  # fmt: skip
def test_conversions_are_lossless_and_flag_every_unreadable_cell(
    raw: pd.Series, kind: str, values: list[object], failed: list[int]
) -> None:
    coerced = coerce_column(raw, kind)

    assert coerced.column_error is None
    assert coerced.failed.tolist() == [bool(f) for f in failed]
    assert [None if pd.isna(v) else v for v in coerced.values] == values


def test_parquet_dates_of_any_unit_become_nanoseconds_at_midnight() -> None:
    days = ["2026-06-01", "2300-01-01", "2026-06-01 12:00"]
    micro = pd.Series(pd.to_datetime(days, format="ISO8601")).astype("datetime64[us]")

    coerced = coerce_column(micro, "date")

    assert str(coerced.values.dtype) == "datetime64[ns]"
    assert coerced.failed.tolist() == [False, True, True]  # beyond 2262, and a time of day


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (pd.Series([20260601]), "date"),
        (pd.Series([1.5]), "text"),
        (pd.Series(pd.to_datetime(["2026-06-01"])), "int"),
        (pd.Series([True]), "float"),
        (pd.Series(pd.to_datetime(["2026-06-01"]).tz_localize("UTC")), "date"),
        (pd.Series(pd.to_timedelta([1], unit="D")), "int"),
        (pd.Series([b"K1"], dtype=object), "text"),
        (pd.Series([[1], [2]], dtype=object), "int"),
        (pd.Series(pd.to_datetime(["2026-06-01"]).date, dtype=object), "bool"),
    ],
)
def test_a_column_of_the_wrong_type_is_one_column_error(raw: pd.Series, kind: str) -> None:
    coerced = coerce_column(raw, kind)

    assert coerced.column_error is not None and coerced.column_error.startswith("expected ")


FIRST_DAY, LAST_DAY = dt.date(1677, 9, 22), dt.date(2262, 4, 11)  # what nanosecond timestamps hold


def _calendar(y: int, m: int, d: int) -> pd.Timestamp | None:
    try:
        day = dt.date(y, m, d)
    except ValueError:
        return None
    return pd.Timestamp(day) if FIRST_DAY <= day <= LAST_DAY else None


@settings(max_examples=150, deadline=None, database=None)
@given(
    fields=st.lists(st.tuples(st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32)), max_size=12),
    padded=st.booleans(),
    suffix=st.sampled_from(["", "T00:00:00", " 00:00", "T00:00:00.000"]),
)
def test_text_dates_are_exactly_the_days_of_the_calendar(
    fields: list[tuple[int, int, int]], padded: bool, suffix: str
) -> None:
    texts = [(f"{y:04d}-{m:02d}-{d:02d}" if padded else f"{y:04d}-{m}-{d}") + suffix for y, m, d in fields]

    values, failed = parse_dates(pd.Series(texts, dtype="str"))

    expected = [_calendar(*f) for f in fields]
    assert [None if pd.isna(v) else v for v in values] == expected
    assert failed.tolist() == [e is None for e in expected]


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=24)), max_size=12))
def test_any_text_is_a_calendar_day_or_a_failed_cell(texts: list[str | None]) -> None:
    values, failed = parse_dates(pd.Series(texts, dtype="str"))

    for text, value, bad in zip(texts, values, failed, strict=True):
        if text is None:
            assert pd.isna(value) and not bad
        elif not bad:  # accepted: a date, maybe with a midnight time, read as the calendar reads it
            found = re.fullmatch(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})([T ]00:00(:00(\.0+)?)?)?", text)
            assert found is not None, text
            assert value == _calendar(*(int(found.group(i)) for i in (1, 2, 3)))
