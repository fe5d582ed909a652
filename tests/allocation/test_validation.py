"""Validation on generated worlds: the hindsight optimum bounds the other policies."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocation.model.snapshot import Information, RiskPolicy
from allocation.replay.validation import gap_captured, validate_policies
from allocation.simulate.world import simulate_world
from allocation.statics import Statics
from solvers.base import SolveOptions


def base_rate_info(world_delays: np.ndarray, rows: int) -> Information:
    pmf = np.bincount(np.clip(world_delays, 0, 14), minlength=15) / len(world_delays)
    return Information(RiskPolicy(), np.tile(pmf, (rows, 1)), None, None, None)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_hindsight_bounds_closetflow_rules_and_greedy(seed: int) -> None:
    world = simulate_world("tiny", seed)
    statics = Statics.from_world(world)
    info = base_rate_info(
        world.rentals["delay_days"].dropna().to_numpy(dtype=np.int64), len(world.units) + statics.n_res
    )
    v = validate_policies(world, statics, lambda day: info, SolveOptions(backend="highs", time_limit_s=60))
    o = v.outcomes
    assert o["hindsight"].fill_rate >= o["closetflow"].fill_rate - 1e-9
    assert o["hindsight"].fill_rate >= o["greedy"].fill_rate - 1e-9
    assert o["hindsight"].value >= o["closetflow"].value - 1e-6
    assert o["hindsight"].value >= o["greedy"].value - 1e-6
    assert o["hindsight"].fill_rate >= o["rules"].fill_rate - 1e-9
    assert o["hindsight"].value >= o["rules"].value - 1e-6
    assert np.isfinite(v.gap_captured("value", baseline="rules")) or o["hindsight"].value <= o["rules"].value + 1e-9
    assert v.reservations == statics.n_res > 0


def test_gap_captured_definition() -> None:
    assert gap_captured(10.0, 15.0, 20.0) == 0.5
    assert gap_captured(10.0, 20.0, 20.0) == 1.0
    assert gap_captured(16.0, 15.0, 20.0) == -0.25  # below the baseline: negative, not clipped
    assert np.isnan(gap_captured(10.0, 12.0, 10.0))


def test_a_solve_without_a_plan_falls_back_instead_of_shipping_nothing() -> None:
    """With a time limit too short for any solution, closetflow runs first come first served on
    the days it has no plan; it never ships less than greedy does for lack of a plan."""
    from allocation.replay.engine import replay
    from allocation.replay.policies import GreedyPolicy, PlanningPolicy
    from allocation.state import initial_state, realized_schedule

    world = simulate_world("small", 1)
    statics = Statics.from_world(world)
    sched = realized_schedule(world, statics)
    info = base_rate_info(
        world.rentals["delay_days"].dropna().to_numpy(dtype=np.int64), len(world.units) + statics.n_res
    )
    starved = PlanningPolicy("closetflow", statics, lambda day: info, SolveOptions(backend="highs", time_limit_s=1e-6))
    result = replay(starved, statics, sched, initial_state(world, statics, sched))
    greedy = replay(GreedyPolicy(statics), statics, sched, initial_state(world, statics, sched))
    failed = [r for r in starved.runs if r.variables > 0]  # an empty last day needs no solver
    assert len(failed) >= statics.horizon - 2 and all(str(r.status) == "no_solution" for r in failed)
    assert len(starved.fallback_days) == len(failed)
    np.testing.assert_array_equal(result.filled, greedy.filled)
