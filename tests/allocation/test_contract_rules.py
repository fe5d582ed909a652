"""The contract decisions of docs/data.md that need more than one column, each shown satisfied and
violated on the tiny consistent world of ``worldfactory``; and generated worlds meet every one.

Decisions (docs/data.md says why):
* ``rentals.cleaning_failed`` is required once returned, except on the last rental of a unit still
  returning or in cleaning on the plan date;
* a unit in cleaning has ``due_back`` = its ready day: after the plan date, at most
  ``processing_days - 1`` days after it; a returning unit arrives on or after the plan date;
* for a returning unit, ``units.due_back`` counts and ``holdout/returns`` must repeat it; a
  return's unit is its rental's unit;
* ``holdout/cleaning`` lists any number of cycles per unit, from 0 with none skipped; an unlisted
  cycle succeeds;
* a reservation (or holdout booking) must be shippable in time from some site; its zone need not
  be its customer's; site pairs need no transfer lane, but a transfer lane joins two sites.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from allocation.data.io import load_world, write_world
from allocation.domain import DataValidationError, World
from allocation.simulate.world import simulate_world
from tests.allocation.worldfactory import make_world

DAY = pd.Timestamp


def _problems(tmp_path: Path, world: World, fmt: str = "parquet") -> list[str]:
    folder = tmp_path / "data"
    write_world(world, folder, fmt=fmt)
    try:
        load_world(folder)
    except DataValidationError as exc:
        return [str(p) for p in exc.problems]
    return []


def _one(problems: list[str], location: str, fragment: str) -> None:
    assert len(problems) == 1, problems
    assert problems[0].startswith(location + " ") and fragment in problems[0], problems


def _set(world: World, table: str, row: int, column: str, value: object) -> None:
    name = table.removeprefix("holdout/")
    frame = getattr(world.holdout, name) if table.startswith("holdout/") else world.table(name)
    frame.loc[row - 1, column] = value


# --- cleaning_failed once returned -------------------------------------------------------------


def test_cleaning_failed_may_be_empty_on_the_last_rental_of_a_unit_in_cleaning(tmp_path: Path) -> None:
    world = make_world()
    _set(world, "rentals", 4, "cleaning_failed", pd.NA)  # R4: U3's last rental; U3 is in cleaning

    assert _problems(tmp_path, world) == []


def test_cleaning_failed_is_required_once_returned(tmp_path: Path) -> None:
    world = make_world()
    _set(world, "rentals", 1, "cleaning_failed", pd.NA)  # R1: U4 is ready, its cleaning is done

    _one(_problems(tmp_path, world), "rentals.parquet:1:cleaning_failed:", "required once returned_on is set")


def test_cleaning_failed_is_required_on_an_earlier_rental_of_a_unit_in_cleaning(tmp_path: Path) -> None:
    world = make_world()
    world.rentals.loc[0, "unit_id"] = "U3"  # R1 (April) is now U3's earlier rental; R4 is its last
    _set(world, "rentals", 1, "cleaning_failed", pd.NA)

    _one(_problems(tmp_path, world), "rentals.parquet:1:cleaning_failed:", "required once returned_on is set")


# --- a unit in cleaning, a returning unit ------------------------------------------------------


def test_a_unit_in_cleaning_is_ready_within_its_sites_processing_days(tmp_path: Path) -> None:
    world = make_world()  # U3 at S1 (2 processing days) is ready on 2026-06-02: the latest allowed

    assert _problems(tmp_path, world) == []


@pytest.mark.parametrize(
    ("due_back", "fragment"),
    [
        (DAY("2026-06-01"), "a unit in cleaning is ready after the plan date 2026-06-01"),
        (DAY("2026-05-20"), "a unit in cleaning is ready after the plan date 2026-06-01"),
        (DAY("2026-06-03"), "ready at most processing_days - 1 = 1 days after the plan date"),
    ],
)
def test_a_unit_in_cleaning_with_an_impossible_ready_day(tmp_path: Path, due_back: pd.Timestamp, fragment: str) -> None:
    world = make_world()
    _set(world, "units", 3, "due_back", due_back)

    _one(_problems(tmp_path, world), "units.parquet:3:due_back:", fragment)


def test_a_returning_unit_arrives_on_or_after_the_plan_date(tmp_path: Path) -> None:
    world = make_world()
    _set(world, "units", 2, "due_back", DAY("2026-06-01"))  # back this morning, waiting to be cleaned
    _set(world, "holdout/returns", 3, "returned_on", DAY("2026-06-01"))
    assert _problems(tmp_path / "ok", world) == []

    _set(world, "units", 2, "due_back", DAY("2026-05-31"))
    problems = _problems(tmp_path / "bad", world)

    assert [p.split(" ")[0] for p in problems] == [
        "units.parquet:2:due_back:",
        "holdout/returns.parquet:3:returned_on:",
    ]
    assert "a returning unit arrives on or after the plan date 2026-06-01" in problems[0]


# --- units.due_back and holdout/returns for a returning unit ------------------------------------


def test_holdout_return_of_a_returning_unit_repeats_its_due_back(tmp_path: Path) -> None:
    world = make_world()  # U2 returning, due back 2026-06-02; holdout/returns row 3 (R5) says so too

    assert _problems(tmp_path, world) == []


def test_holdout_return_of_a_returning_unit_that_disagrees(tmp_path: Path) -> None:
    world = make_world()
    _set(world, "holdout/returns", 3, "returned_on", DAY("2026-06-04"))

    _one(
        _problems(tmp_path, world),
        "holdout/returns.parquet:3:returned_on:",
        "must be 2026-06-02, the due_back of returning unit 'U2' in units, which counts (got 2026-06-04)",
    )


def test_holdout_return_names_the_unit_of_its_rental(tmp_path: Path) -> None:
    world = make_world()
    _set(world, "holdout/returns", 1, "unit_id", "U4")  # R2 is U1's rental

    _one(
        _problems(tmp_path, world),
        "holdout/returns.parquet:1:unit_id:",
        "is not the unit of rental 'R2': rentals says 'U1' (got 'U4')",
    )


# --- holdout/cleaning cycles -------------------------------------------------------------------


def _with_cycles(world: World, unit: str, cycles: list[int]) -> World:
    assert world.holdout is not None
    more = pd.DataFrame({"unit_id": [unit] * len(cycles), "cycle": cycles, "failed": [False] * len(cycles)})
    cleaning = world.holdout.cleaning
    world.holdout.cleaning = pd.concat([cleaning, more.astype(cleaning.dtypes)], ignore_index=True)
    return world


def test_holdout_cleaning_lists_any_number_of_cycles_from_zero(tmp_path: Path) -> None:
    # U3 gets cycles 0..2, U1..U4 have one, U5 and U6 none: a cleaning not listed succeeds.
    world = _with_cycles(make_world(), "U3", [1, 2])

    assert _problems(tmp_path, world) == []


@pytest.mark.parametrize(
    ("unit", "cycles", "listed"),
    [
        ("U6", [1, 2], "2 of cycles 0..2"),
        ("U3", [2], "2 of cycles 0..2"),
        ("U6", [2**63 - 1], f"1 of cycles 0..{2**63 - 1}"),
    ],
)
def test_holdout_cleaning_cycles_with_a_gap(tmp_path: Path, unit: str, cycles: list[int], listed: str) -> None:
    world = _with_cycles(make_world(), unit, cycles)

    _one(_problems(tmp_path, world), "holdout/cleaning.parquet::cycle:", f"unit '{unit}' lists {listed}")


# --- shipping in time, zones, transfer lanes ---------------------------------------------------


def test_a_reservation_that_can_leave_on_the_plan_date_is_accepted(tmp_path: Path) -> None:
    world = make_world()
    _set(world, "reservations", 1, "event_date", DAY("2026-06-03"))  # zone Z1: 2 days from S1

    assert _problems(tmp_path, world) == []


def test_a_reservation_no_site_can_ship_in_time(tmp_path: Path) -> None:
    world = make_world()
    _set(world, "reservations", 1, "event_date", DAY("2026-06-02"))

    _one(
        _problems(tmp_path, world),
        "reservations.parquet:1:event_date:",
        "the fastest ship lane to zone 'Z1' takes 2 days, so it would have to leave before the plan date 2026-06-01",
    )


def test_a_holdout_booking_no_site_can_ship_once_booked(tmp_path: Path) -> None:
    world = make_world()
    _set(world, "holdout/bookings", 1, "event_date", DAY("2026-06-03"))  # booked 06-03, zone Z2: 1 day
    _one(_problems(tmp_path / "bad", world), "holdout/bookings.parquet:1:event_date:", "before its booked_on")

    _set(world, "holdout/bookings", 1, "event_date", DAY("2026-06-04"))
    assert _problems(tmp_path / "ok", world) == []


def test_a_reservation_may_ship_to_another_zone_than_its_customers(tmp_path: Path) -> None:
    world = make_world()
    _set(world, "reservations", 1, "zone", "Z2")  # C1 lives in Z1; the event is in Z2

    assert _problems(tmp_path, world) == []


def test_site_pairs_need_no_transfer_lane(tmp_path: Path) -> None:
    world = make_world()
    world.lanes = world.lanes.drop(index=1).reset_index(drop=True)  # no S2 -> S1

    assert _problems(tmp_path, world) == []


def test_a_transfer_lane_joins_two_sites(tmp_path: Path) -> None:
    world = make_world()
    _set(world, "lanes", 1, "destination", "S1")  # S1 -> S1

    _one(_problems(tmp_path, world), "lanes.parquet:1:destination:", "a transfer lane joins two different sites")


# --- generated worlds --------------------------------------------------------------------------


@pytest.mark.parametrize(("scale", "seed", "fmt"), [("tiny", 1, "csv"), ("tiny", 2, "parquet"), ("tiny", 3, "parquet"),
                                                    ("small", 4, "parquet"), ("small", 5, "csv")])  # fmt: skip
def test_generated_worlds_meet_every_rule(tmp_path: Path, scale: str, seed: int, fmt: str) -> None:
    assert _problems(tmp_path, simulate_world(scale, seed), fmt) == []
