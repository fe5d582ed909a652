"""Substitutes for unfilled reservations: same size, a ready unit the plan does not ship, nearest first."""

from __future__ import annotations

import pandas as pd
import pytest

from allocation.domain import World
from allocation.jobs.substitutes import COLUMNS, spare_units, suggest_substitutes
from allocation.simulate.world import simulate_world


@pytest.fixture(scope="module")
def world() -> World:
    return simulate_world("tiny", 3)


def test_substitutes_are_the_same_size_with_a_spare_unit_and_never_the_booked_sku(world: World) -> None:
    unfilled = world.reservations[["reservation_id", "sku_id"]].head(12)
    shipped = world.units.loc[world.units["state"].astype(str) == "ready", "unit_id"].head(20)
    subs = suggest_substitutes(world, unfilled, shipped, k=3)
    assert list(subs.columns) == COLUMNS and not subs.empty
    size = world.skus.set_index("sku_id")["size"].astype(str)
    assert (subs["sku_id"].map(size) == subs["substitute_id"].map(size)).all()
    assert (subs["substitute_id"] != subs["sku_id"]).all()
    spare = spare_units(world, shipped)
    assert (subs["spare"] == subs["substitute_id"].map(spare)).all() and (subs["spare"] > 0).all()
    assert subs.groupby("reservation_id").size().max() <= 3
    # Nearest first within each reservation.
    for _, g in subs.groupby("reservation_id"):
        assert g["similarity"].is_monotonic_decreasing
    assert set(subs["reservation_id"]) <= set(unfilled["reservation_id"])


def test_units_the_plan_ships_are_not_spare(world: World) -> None:
    ready = world.units[world.units["state"].astype(str) == "ready"]
    sku = ready["sku_id"].astype(str).value_counts().index[0]
    all_of_it = ready.loc[ready["sku_id"].astype(str) == sku, "unit_id"]
    assert spare_units(world, pd.Series([], dtype=str)).get(sku, 0) == len(all_of_it)
    assert spare_units(world, all_of_it).get(sku, 0) == 0


def test_nothing_unfilled_fits_nothing(world: World) -> None:
    subs = suggest_substitutes(
        world, world.reservations[["reservation_id", "sku_id"]].iloc[:0], pd.Series([], dtype=str)
    )
    assert subs.empty and list(subs.columns) == COLUMNS
