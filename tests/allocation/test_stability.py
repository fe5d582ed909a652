"""Plan stability: communicated shipments keep their site unless a move is worth the penalty."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from allocation.domain import DataValidationError
from allocation.model.solve import solve_input
from allocation.model.stability import (
    Communicated,
    changed_shipments,
    communicated_from_ships,
    keep_communicated_shipments,
)
from allocation.simulate.world import simulate_world
from allocation.statics import Statics
from solvers.base import SolveOptions
from tests.allocation.test_rules import tiny_input


def test_penalty_keeps_the_communicated_site_and_the_count_says_so() -> None:
    # Reservation 0 can ship from site 0 (worth 150) or site 1 (140); it was told site 1.
    told = Communicated(np.full(12, -1, dtype=np.int64))
    told.site[10] = 1
    free = solve_input(tiny_input(), SolveOptions(backend="highs"))
    assert free.result.x is not None
    assert changed_shipments(free.inp, free.decisions.x, told) == (1, 1)  # without the option it moves

    inp = tiny_input()
    keep_communicated_shipments(inp, told, penalty=50.0)
    kept = solve_input(inp, SolveOptions(backend="highs"))
    assert changed_shipments(kept.inp, kept.decisions.x, told) == (1, 0)
    assert kept.decisions.x[1] == pytest.approx(1.0)  # candidate 1: reservation 0 from site 1


def test_a_small_penalty_does_not_stop_a_move_worth_more() -> None:
    told = Communicated(np.full(12, -1, dtype=np.int64))
    told.site[10] = 1
    inp = tiny_input()
    keep_communicated_shipments(inp, told, penalty=1.0)  # the move is worth more than 1 dollar
    run = solve_input(inp, SolveOptions(backend="highs"))
    assert changed_shipments(run.inp, run.decisions.x, told) == (1, 1)


def test_communicated_from_a_plan_table_and_a_bad_site_is_refused_with_its_row() -> None:
    world = simulate_world("tiny", 1)
    statics = Statics.from_world(world)
    rid = str(statics.reservations["reservation_id"].iloc[3])
    site = str(statics.site_ids[1])
    ships = pd.DataFrame({"reservation_id": [rid, "GONE"], "site_id": [site, site]})
    got = communicated_from_ships(statics, ships, "last/plan/ships.parquet")
    assert got.count == 1 and got.site[3] == 1
    bad = pd.DataFrame({"reservation_id": [rid], "site_id": ["NOWHERE"]})
    with pytest.raises(DataValidationError, match=r"last/plan/ships\.parquet:1:site_id: site 'NOWHERE'"):
        communicated_from_ships(statics, bad, "last/plan/ships.parquet")
