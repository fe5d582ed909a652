"""Edge cases of the replay's arrivals: dates already past in the input are not lost."""

from __future__ import annotations

import datetime as dt

import numpy as np

from allocation.model.snapshot import Information, RiskPolicy, planning_input
from allocation.replay.engine import replay
from allocation.replay.policies import GreedyPolicy
from allocation.simulate.world import simulate_world
from allocation.state import U, initial_state, realized_schedule
from allocation.statics import Statics


def test_a_unit_due_before_the_plan_date_arrives_on_the_first_morning() -> None:
    world = simulate_world("tiny", 4)
    units = world.units
    wanted = set(world.reservations["sku_id"])  # a SKU with a reservation is always in the model
    returning = units.index[(units["state"] == "returning") & units["sku_id"].isin(wanted)][0]
    cleaning = units.index[units["state"] == "cleaning"][0]
    past = world.plan_date - dt.timedelta(days=2)
    units.loc[[returning, cleaning], "due_back"] = np.datetime64(past, "ns")
    statics = Statics.from_world(world)
    sched = realized_schedule(world, statics)

    state = initial_state(world, statics, sched)
    info = Information(RiskPolicy(), np.full((len(units) + statics.n_res, 2), 0.5), None, None, None)
    inp = planning_input(statics, state, 0, info)
    k = int(np.nonzero(inp.skus == statics.unit_sku[returning])[0][0])
    assert inp.dirty_in[k, statics.unit_site[returning], 0] >= 1.0  # counted on day 0, not never

    replay(GreedyPolicy(statics), statics, sched, state)
    assert state.state[returning] != U.OUT  # it came back (and maybe went out again)
    assert state.state[cleaning] != U.CLEANING or state.cycle[cleaning] > 0
