"""Substitutes for unfilled reservations: same size, a ready unit the plan does not ship, nearest first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from allocation.domain import World
from allocation.jobs.substitutes import COLUMNS, DIM, sku_vectors, spare_units, suggest_substitutes
from allocation.simulate.world import simulate_world


@pytest.fixture(scope="module")
def world() -> World:
    return simulate_world("tiny", 3)


@pytest.fixture(scope="module")
def vectors(world: World) -> np.ndarray:
    return sku_vectors(world)


def test_the_vectors_are_per_sku_and_unit_length_where_rented(world: World, vectors: np.ndarray) -> None:
    assert vectors.shape == (len(world.skus), DIM)
    rented = world.skus["sku_id"].isin(set(world.rentals["sku_id"]))
    np.testing.assert_allclose(np.linalg.norm(vectors[rented.to_numpy()], axis=1), 1.0, rtol=1e-5)
    assert not np.abs(vectors[~rented.to_numpy()]).any()


def test_substitutes_are_the_same_size_with_a_spare_unit_and_never_the_booked_sku(
    world: World, vectors: np.ndarray
) -> None:
    unfilled = world.reservations[["reservation_id", "sku_id"]].head(12)
    shipped = world.units.loc[world.units["state"].astype(str) == "ready", "unit_id"].head(20)
    subs = suggest_substitutes(world, unfilled, shipped, vectors, k=3)
    assert list(subs.columns) == COLUMNS and not subs.empty
    size = world.skus.set_index("sku_id")["size"].astype(str)
    assert (subs["sku_id"].map(size) == subs["substitute_id"].map(size)).all()
    assert (subs["substitute_id"] != subs["sku_id"]).all()
    spare = spare_units(world, shipped)
    assert (subs["spare"] == subs["substitute_id"].map(spare)).all() and (subs["spare"] > 0).all()
    assert subs.groupby("reservation_id").size().max() <= 3
    for _, g in subs.groupby("reservation_id"):  # nearest first, ranks 1..n
        assert g["similarity"].is_monotonic_decreasing and g["rank"].tolist() == list(range(1, len(g) + 1))
    assert set(subs["reservation_id"]) <= set(unfilled["reservation_id"])
    # The similarity is the cosine of the two SKUs' embeddings.
    pos = {s: i for i, s in enumerate(world.skus["sku_id"].astype(str))}
    first = subs.iloc[0]
    assert first["similarity"] == pytest.approx(
        float(vectors[pos[first["sku_id"]]] @ vectors[pos[first["substitute_id"]]])
    )


def test_units_the_plan_ships_are_not_spare(world: World) -> None:
    ready = world.units[world.units["state"].astype(str) == "ready"]
    sku = ready["sku_id"].astype(str).value_counts().index[0]
    all_of_it = ready.loc[ready["sku_id"].astype(str) == sku, "unit_id"]
    assert spare_units(world, pd.Series([], dtype=str)).get(sku, 0) == len(all_of_it)
    assert spare_units(world, all_of_it).get(sku, 0) == 0


def test_no_embeddings_or_nothing_unfilled_suggests_nothing(world: World, vectors: np.ndarray) -> None:
    unfilled = world.reservations[["reservation_id", "sku_id"]].head(5)
    none = pd.Series([], dtype=str)
    assert suggest_substitutes(world, unfilled, none, np.zeros_like(vectors)).empty
    subs = suggest_substitutes(world, unfilled.iloc[:0], none, vectors)
    assert subs.empty and list(subs.columns) == COLUMNS
