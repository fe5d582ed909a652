"""load_world / write_world: round trips, one test per kind of broken data, atomic writes, the CLI.

Each broken-data test breaks exactly one thing in the tiny consistent world of ``worldfactory`` and
expects exactly the problems it names, as ``file:row:column: message``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import allocation.data.io as io
from allocation.data.io import load_world, write_world
from allocation.data.tablecheck import ROW_LIMIT
from allocation.domain import HOLDOUT_TABLES, TABLES, ClosetflowError, DataValidationError, World
from api.cli import app
from tests.allocation.worldfactory import LOADED_DTYPES, PLAN_DATE, make_world


def _frames(world: World) -> dict[str, pd.DataFrame]:
    frames = {name: world.table(name) for name in TABLES}
    if world.holdout is not None:
        frames |= {f"holdout/{name}": getattr(world.holdout, name) for name in HOLDOUT_TABLES}
    return frames


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def _written(tmp_path: Path, world: World | None = None, fmt: str = "parquet") -> Path:
    folder = tmp_path / "data"
    write_world(world if world is not None else make_world(), folder, fmt=fmt)
    return folder


def _problems(folder: Path, **kwargs: bool) -> list[str]:
    with pytest.raises(DataValidationError) as caught:
        load_world(folder, **kwargs)
    return [str(p) for p in caught.value.problems]


def _edit_csv(folder: Path, table: str, row: int, column: str, text: str) -> None:
    """Set one cell of a CSV table to ``text`` (``row`` counted from 1, as in problems)."""
    path = folder / f"{table}.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[row - 1, column] = text
    frame.to_csv(path, index=False)


def assert_only(problems: list[str], location: str, fragment: str) -> None:
    """Exactly one problem, at ``location`` (``file:row:column:``), whose message has ``fragment``."""
    assert len(problems) == 1, problems
    assert problems[0].startswith(location + " "), problems
    assert fragment in problems[0], problems


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_round_trip_keeps_every_table_value_and_dtype(tmp_path: Path, fmt: str) -> None:
    world = make_world()
    folder = _written(tmp_path, world, fmt)
    before = _snapshot(folder)

    loaded = load_world(folder)

    assert loaded.plan_date == PLAN_DATE and loaded.horizon_days == world.horizon_days
    assert loaded.meta == world.meta
    for key, frame in _frames(world).items():
        pd.testing.assert_frame_equal(_frames(loaded)[key], frame, obj=key)
    assert _snapshot(folder) == before  # loading never touches the folder


def test_loaded_tables_have_the_documented_dtypes(tmp_path: Path) -> None:
    loaded = load_world(_written(tmp_path, fmt="csv"))

    dtypes = {key: {c: str(t) for c, t in frame.dtypes.items()} for key, frame in _frames(loaded).items()}
    assert dtypes == LOADED_DTYPES
    assert all(isinstance(frame.index, pd.RangeIndex) for frame in _frames(loaded).values())


def test_parquet_is_preferred_when_both_formats_exist(tmp_path: Path) -> None:
    folder = _written(tmp_path)
    (folder / "units.csv").write_text("not,a\nvalid,units table\n")

    assert len(load_world(folder).units) == 6


def test_holdout_is_optional_and_skipped_on_request(tmp_path: Path) -> None:
    world = make_world()
    world.holdout = None
    assert load_world(_written(tmp_path, world)).holdout is None
    full = _written(tmp_path / "full")
    (full / "holdout" / "delays.parquet").unlink()  # never read when with_holdout=False

    assert load_world(full, with_holdout=False).holdout is None


def test_a_generated_world_passes_every_contract(tmp_path: Path) -> None:
    from allocation.simulate.world import simulate_world

    world = load_world(_written(tmp_path, simulate_world("tiny", 7)))

    assert world.holdout is not None and len(world.units) > 0


# --- whole files and meta.json -----------------------------------------------------------------


def test_corrupt_file(tmp_path: Path) -> None:
    folder = _written(tmp_path)
    (folder / "units.parquet").write_bytes(b"PAR1 this is not parquet")

    assert_only(_problems(folder), "units.parquet:::", "cannot read")


def test_missing_file(tmp_path: Path) -> None:
    folder = _written(tmp_path)
    (folder / "skus.parquet").unlink()

    assert_only(_problems(folder), "skus.parquet:::", "missing file")


def test_missing_holdout_file(tmp_path: Path) -> None:
    folder = _written(tmp_path, fmt="csv")
    (folder / "holdout" / "disruptions.csv").unlink()

    assert_only(_problems(folder), "holdout/disruptions.csv:::", "missing file")


def test_missing_column(tmp_path: Path) -> None:
    world = make_world()
    world.units = world.units.drop(columns="wear_count")

    assert_only(_problems(_written(tmp_path, world)), "units.parquet::wear_count:", "missing column")


def test_column_of_the_wrong_type(tmp_path: Path) -> None:
    world = make_world()
    world.reservations["event_date"] = 20260606  # a number is not a date

    assert_only(_problems(_written(tmp_path, world)), "reservations.parquet::event_date:", "expected a date")


@pytest.mark.parametrize(
    ("meta", "location", "fragment"),
    [
        (None, "meta.json:::", "missing file"),
        ("{not json", "meta.json:::", "cannot read"),
        ({"horizon_days": 21}, "meta.json::plan_date:", "missing"),
        ({"plan_date": "1 June 2026", "horizon_days": 21}, "meta.json::plan_date:", "not an ISO date"),
        ({"plan_date": "2026-06-01"}, "meta.json::horizon_days:", "whole number"),
        ({"plan_date": "2026-06-01", "horizon_days": 0}, "meta.json::horizon_days:", "1..120"),
        ({"plan_date": "2026-06-01", "horizon_days": 121}, "meta.json::horizon_days:", "1..120"),
        ({"plan_date": "2026-06-01", "horizon_days": "21"}, "meta.json::horizon_days:", "whole number"),
        # Formerly accepted: a JSON number 20260601 read as a date by way of str().
        ({"plan_date": 20260601, "horizon_days": 21}, "meta.json::plan_date:", "as a JSON string"),
        ({"plan_date": "20260601", "horizon_days": 21}, "meta.json::plan_date:", "not an ISO date"),
        ({"plan_date": "2026-02-30", "horizon_days": 21}, "meta.json::plan_date:", "no day of the calendar"),
        ({"plan_date": "2026-06-01", "horizon_days": 10**30}, "meta.json::horizon_days:", "1..120"),
        ('{"plan_date": "2026-06-01", "horizon_days": 1' + "0" * 5000 + "}", "meta.json:::", "cannot read"),
        ("[" * 100_000 + "]" * 100_000, "meta.json:::", "cannot read"),
        ('{"plan_date": "2026-06-01", "plan_date": "2026-06-02", "horizon_days": 21}', "meta.json:::", "twice"),
        ([1, 2], "meta.json:::", "must be a JSON object"),
    ],
)
def test_bad_meta(tmp_path: Path, meta: object, location: str, fragment: str) -> None:
    folder = _written(tmp_path)
    path = folder / "meta.json"
    if meta is None:
        path.unlink()
    else:
        path.write_text(meta if isinstance(meta, str) else json.dumps(meta))

    assert_only(_problems(folder), location, fragment)


# --- cells -------------------------------------------------------------------------------------


def _set_cell(world: World, table: str, row: int, column: str, value: object) -> None:
    """Set one cell (``row`` counted from 1) of a main or holdout table."""
    name = table.removeprefix("holdout/")
    frame = getattr(world.holdout, name) if table.startswith("holdout/") else world.table(name)
    frame.loc[row - 1, column] = value


DAY = pd.Timestamp


@pytest.mark.parametrize(
    ("table", "row", "column", "value", "fragment"),
    [
        ("stations", 1, "capacity_per_day", -5, "must be >= 0"),
        ("stations", 4, "failure_rate", 1.5, "between 0 and 1"),
        ("stations", 4, "processing_days", 0, "a cleaning station needs processing_days >= 1"),
        ("lanes", 3, "days", 0, "must be >= 1"),
        ("units", 3, "state", "lost", "must be one of"),
        ("reservations", 2, "rental_days", 5, "must be one of 4, 8 (got 5)"),
        ("skus", 2, "rental_value", 0.0, "must be > 0"),
        ("customers", 1, "zone", None, "missing value"),
        ("units", 2, "sku_id", "NOPE", "unknown SKU 'NOPE'"),
        ("lanes", 1, "origin", "S9", "unknown site 'S9'"),
        ("lanes", 1, "destination", "S9", "transfer to an unknown site 'S9'"),
        ("rentals", 3, "customer_id", "C9", "unknown customer 'C9'"),
        ("rentals", 1, "unit_id", "U9", "unknown unit 'U9'"),
        ("reservations", 1, "zone", "Z9", "unknown zone 'Z9'"),
        ("customers", 3, "zone", "Z9", "unknown zone 'Z9'"),
        ("holdout/cleaning", 2, "unit_id", "U9", "unknown unit 'U9'"),
        ("holdout/disruptions", 1, "station_id", "XX", "unknown station 'XX'"),
        ("units", 2, "due_back", pd.NaT, "required unless ready or retired"),
        ("units", 1, "rental_id", None, "required when with_customer"),
        ("units", 1, "rental_id", "R99", "unknown rental 'R99'"),
        ("units", 1, "rental_id", "R3", "its rental is of another unit"),
        ("reservations", 1, "event_date", DAY("2026-05-31"), "before the plan date 2026-06-01"),
        ("reservations", 2, "booked_on", DAY("2026-06-02"), "after the plan date 2026-06-01"),
        ("bookings", 2, "booked_on", DAY("2026-05-30"), "must be on or before event_date 2026-05-29"),
        ("rentals", 1, "delay_days", 3, "returned_on - due_back in days, clipped at 0: 1 (got 3)"),
        ("rentals", 2, "cleaning_failed", True, "must be empty while outstanding"),
        ("holdout/bookings", 1, "booked_on", DAY("2026-06-01"), "must be after the plan date"),
        ("holdout/bookings", 1, "event_date", DAY("2026-06-22"), "outside the horizon"),
        ("holdout/disruptions", 2, "date", DAY("2026-05-31"), "outside the horizon"),
        ("holdout/returns", 2, "returned_on", DAY("2026-05-31"), "before the plan date"),
    ],
)
def test_one_broken_cell_is_one_located_problem(
    tmp_path: Path, table: str, row: int, column: str, value: object, fragment: str
) -> None:
    world = make_world()
    _set_cell(world, table, row, column, value)

    assert_only(_problems(_written(tmp_path, world)), f"{table}.parquet:{row}:{column}:", fragment)


def test_duplicate_id_names_the_first_row(tmp_path: Path) -> None:
    world = make_world()
    world.sites = pd.concat([world.sites, world.sites.iloc[[0]]], ignore_index=True)

    problems = _problems(_written(tmp_path, world))

    assert_only(problems, "sites.parquet:3:site_id:", "duplicate site_id 'S1' (first at row 1)")


def test_a_site_without_a_station_kind(tmp_path: Path) -> None:
    world = make_world()
    world.stations = world.stations.drop(index=5).reset_index(drop=True)  # SH-2
    world.holdout.disruptions.loc[1, "station_id"] = "SH-1"  # type: ignore[union-attr]

    problems = _problems(_written(tmp_path, world))

    assert_only(problems, "stations.parquet::kind:", "site 'S2' has no shipping station")


def test_holdout_must_return_every_outstanding_rental(tmp_path: Path) -> None:
    world = make_world()
    world.holdout.returns = world.holdout.returns.iloc[:2]  # type: ignore[union-attr]  # R5 is gone

    assert_only(_problems(_written(tmp_path, world)), "holdout/returns.parquet::rental_id:", "'R5'")


def test_holdout_returns_no_returned_rental(tmp_path: Path) -> None:
    world = make_world()
    returns = world.holdout.returns  # type: ignore[union-attr]
    extra = pd.DataFrame({"rental_id": ["R1"], "unit_id": ["U4"], "returned_on": [DAY("2026-06-03")]})
    world.holdout.returns = pd.concat([returns, extra.astype(returns.dtypes)], ignore_index=True)  # type: ignore[union-attr]

    problems = _problems(_written(tmp_path, world))

    assert_only(problems, "holdout/returns.parquet:4:rental_id:", "already returned (got 'R1')")


@pytest.mark.parametrize(
    ("table", "row", "column", "text", "fragment"),
    [
        ("units", 2, "wear_count", "many", "cannot read 'many' as a whole number"),
        ("stations", 1, "processing_days", "2.5", "cannot read '2.5' as a whole number"),
        ("reservations", 3, "event_date", "June 5", "cannot read 'June 5' as a date"),
        ("reservations", 3, "booked_on", "2026-05-20T10:30", "no time of day"),
        ("rentals", 1, "cleaning_failed", "maybe", "cannot read 'maybe' as true or false"),
        ("skus", 3, "retail_value", "cheap", "cannot read 'cheap' as a number"),
        ("customers", 2, "customer_id", "", "missing value"),
        # Formerly a traceback (a zoned timestamp compared with the plan date).
        ("reservations", 3, "event_date", "2026-06-25T00:00:00+02:00", "no time of day or time zone"),
        ("reservations", 3, "event_date", "2026-06-25T00:00:00Z", "cannot read '2026-06-25T00:00:00Z'"),
        # Formerly rolled over silently to March 2, July 1 and March 1.
        ("reservations", 3, "event_date", "2026-02-30", "cannot read '2026-02-30' as a date"),
        ("reservations", 3, "event_date", "2026-06-31", "cannot read '2026-06-31' as a date"),
        ("rentals", 1, "returned_on", "2026-02-29", "cannot read '2026-02-29' as a date"),
        # Formerly accepted as the first of the month (or of the year), or as a basic ISO date.
        ("reservations", 3, "event_date", "2026-06", "cannot read '2026-06' as a date"),
        ("reservations", 3, "event_date", "2026", "cannot read '2026' as a date"),
        ("reservations", 3, "event_date", "20260625", "cannot read '20260625' as a date"),
    ],
)
def test_unreadable_csv_cell(tmp_path: Path, table: str, row: int, column: str, text: str, fragment: str) -> None:
    # Nobody may refer to the customer whose id goes missing, or that would be a second problem.
    world = _without_customer_c2() if table == "customers" else make_world()
    folder = _written(tmp_path, world, fmt="csv")
    _edit_csv(folder, table, row, column, text)

    assert_only(_problems(folder), f"{table}.csv:{row}:{column}:", fragment)


def test_unsigned_parquet_column_beyond_int64(tmp_path: Path) -> None:
    # Formerly a traceback: "cannot safely cast non-equivalent uint64 to int64".
    folder = _written(tmp_path)
    table = pq.read_table(folder / "units.parquet")
    wear = pa.array([3, 5, 7, 1, 40, 2**63], pa.uint64())
    pq.write_table(
        table.set_column(table.schema.get_field_index("wear_count"), "wear_count", wear), folder / "units.parquet"
    )

    assert_only(_problems(folder), "units.parquet:6:wear_count:", "cannot read 9223372036854775808 as a whole number")


def test_unsigned_parquet_column_within_int64_is_read_exactly(tmp_path: Path) -> None:
    folder = _written(tmp_path)
    table = pq.read_table(folder / "units.parquet")
    wear = pa.array([3, 5, 7, 1, 2**62 + 1, 2], pa.uint64())
    pq.write_table(
        table.set_column(table.schema.get_field_index("wear_count"), "wear_count", wear), folder / "units.parquet"
    )

    assert load_world(folder).units["wear_count"].tolist() == [3, 5, 7, 1, 2**62 + 1, 2]


def _without_customer_c2() -> World:
    world = make_world()
    for frame in (world.reservations, world.rentals, world.bookings, world.holdout.bookings):  # type: ignore[union-attr]
        frame.loc[frame["customer_id"] == "C2", "customer_id"] = "C1"
    return world


def test_problems_in_several_files_are_all_reported(tmp_path: Path) -> None:
    world = make_world()
    world.units.loc[2, "state"] = "lost"
    world.skus.loc[0, "rental_value"] = -1.0
    world.holdout.disruptions.loc[0, "station_id"] = "XX"  # type: ignore[union-attr]
    folder = _written(tmp_path, world)
    (folder / "meta.json").write_text(json.dumps({"plan_date": "2026-06-01", "horizon_days": 500}))
    (folder / "customers.parquet").unlink()

    located = [p.split(" ")[0] for p in _problems(folder)]

    assert located == [
        "meta.json::horizon_days:",
        "skus.parquet:1:rental_value:",
        "units.parquet:3:state:",
        "customers.parquet:::",
        "holdout/disruptions.parquet:1:station_id:",
    ]


def test_many_bad_rows_are_capped_with_a_count(tmp_path: Path) -> None:
    world = make_world()
    many = pd.concat([world.bookings] * 10, ignore_index=True)
    many["booking_id"] = [f"B{i}" for i in range(len(many))]
    many["rental_days"] = 5
    world.bookings = many.astype({"booking_id": "str"})

    problems = _problems(_written(tmp_path, world))

    assert len(problems) == ROW_LIMIT + 1
    assert problems[0].startswith("bookings.parquet:1:rental_days: must be one of 4, 8 (got 5)")
    assert problems[-1] == "bookings.parquet::rental_days: ... and 10 more rows: must be one of 4, 8"


# --- write_world -------------------------------------------------------------------------------


def test_write_refuses_a_folder_that_is_not_a_data_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")

    with pytest.raises(ClosetflowError, match="not a closetflow data folder"):
        write_world(make_world(), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_write_refuses_an_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ClosetflowError, match="unknown format"):
        write_world(make_world(), tmp_path / "data", fmt="xlsx")


def test_write_replaces_a_data_folder(tmp_path: Path) -> None:
    folder = _written(tmp_path)

    write_world(make_world(), folder, fmt="csv")

    assert not list(folder.glob("*.parquet")) and load_world(folder).units.shape == (6, 7)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no staging or old folder left


def _fail_on_third_table(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[Path] = []
    real = io._write_table

    def flaky(frame: pd.DataFrame, path: Path, fmt: str) -> None:
        written.append(path)
        if len(written) == 3:
            raise OSError("disk full")
        real(frame, path, fmt)

    monkeypatch.setattr(io, "_write_table", flaky)


def test_a_failed_write_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_on_third_table(monkeypatch)

    with pytest.raises(OSError, match="disk full"):
        write_world(make_world(), tmp_path / "data")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rewrite_keeps_the_old_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _written(tmp_path)
    before = _snapshot(folder)
    _fail_on_third_table(monkeypatch)

    with pytest.raises(OSError, match="disk full"):
        write_world(make_world(), folder, fmt="csv")
    assert _snapshot(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


# --- closetflow validate -----------------------------------------------------------------------


def test_cli_validate_good_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(_written(tmp_path))])

    assert result.exit_code == 0, result.output
    assert "rentals" in result.output and "holdout/returns" in result.output and "OK" in result.output


def test_cli_validate_broken_folder_lists_every_problem(tmp_path: Path) -> None:
    world = make_world()
    world.units.loc[2, "state"] = "lost"
    folder = _written(tmp_path, world)
    (folder / "skus.parquet").unlink()

    result = CliRunner().invoke(app, ["validate", str(folder)])

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "skus.parquet::: missing file (neither skus.parquet nor skus.csv exists)"
    assert lines[1].startswith("units.parquet:3:state: must be one of")
    assert lines[-1] == f"2 problem(s) in {folder}"
    assert "Traceback" not in result.output


def test_cli_validate_missing_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "nowhere")])

    assert result.exit_code == 2
    assert "no data folder" in result.output and "Traceback" not in result.output
