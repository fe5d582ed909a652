"""A unit still out after its ship-back day: its return distribution is conditioned on the time it
has already been out (issue 10, item 4). Hand-made delay distributions, exact figures."""

from __future__ import annotations

import numpy as np
import pytest

from allocation.model.snapshot import Information, RiskPolicy, conditional_return_pmf, planning_input
from allocation.plan import expected_schedule
from allocation.simulate.world import simulate_world
from allocation.state import U, initial_state
from allocation.statics import Statics

# 0.35 on time; the last bucket is "5 or more days late".
PMF = np.array([0.35, 0.25, 0.15, 0.10, 0.08, 0.07])
H = 0.08 / 0.15  # the model's last hazard: back the day after being 4 days late
TAIL = [H * (1 - H) ** i for i in range(5)] + [(1 - H) ** 5]


def test_a_unit_not_yet_due_keeps_its_distribution() -> None:
    start, p = conditional_return_pmf(PMF[None, :], np.array([5]), 0)
    assert start.tolist() == [5]
    np.testing.assert_allclose(p[0], PMF)


def test_a_late_unit_is_conditioned_on_not_being_back() -> None:
    # due 3 days before day0 and not back on its morning: delay >= 4.
    start, p = conditional_return_pmf(PMF[None, :], np.array([-3]), 0)
    days = start[0] + np.nonzero(p[0])[0]
    assert days.tolist() == [1, 2]  # nothing on day0 (its returns are processed) or before
    np.testing.assert_allclose(p[0][p[0] > 0], [0.08 / 0.15, 0.07 / 0.15])
    # due on day0 itself and not back: its 0.35 of being on time is gone.
    start, p = conditional_return_pmf(PMF[None, :], np.array([0]), 0)
    assert start[0] + np.nonzero(p[0])[0][0] == 1
    np.testing.assert_allclose(p[0][1:], PMF[1:] / 0.65)


def test_a_unit_past_the_tail_gets_a_tail_not_back_today() -> None:
    start, p = conditional_return_pmf(np.vstack([PMF, PMF]), np.array([-10, -5]), 0)
    assert start.tolist() == [1, 1]
    np.testing.assert_allclose(p, [TAIL, TAIL])
    assert p.sum(axis=1) == pytest.approx([1.0, 1.0])


def _world() -> tuple[Statics, object, int, int]:
    world = simulate_world("tiny", 4)
    statics = Statics.from_world(world)
    state = initial_state(world, statics, None)
    wanted = np.isin(statics.unit_sku, statics.res_sku)
    u = int(np.nonzero((state.state == U.OUT) & (state.pmf_row >= 0) & wanted)[0][0])
    return statics, state, u, len(world.units)


def _unit_returns(risk: str, due: int) -> np.ndarray:
    """Expected returns of one unit (due ``due``, not back on day 0's morning) per day, days 0..7."""
    statics, state, u, n_units = _world()
    pmf = np.tile(PMF, (n_units + statics.n_res, 1))
    info = Information(RiskPolicy.parse(risk), pmf, None, None, None)
    state.due[u] = due
    with_u = planning_input(statics, state, 0, info)
    state.state[u] = U.RETIRED
    without = planning_input(statics, state, 0, info)
    k = int(np.nonzero(with_u.skus == statics.unit_sku[u])[0][0])
    diff = with_u.dirty_in[k, state.site[u]] - without.dirty_in[k, state.site[u]]
    return diff[:8]


def test_expected_policy_counts_no_supply_that_cannot_come() -> None:
    # Before the fix: 0.4 of the unit landed on day 0 (due -3) and 0.35 (due 0).
    got = _unit_returns("expected", -3)
    np.testing.assert_allclose(got, [0, 0.08 / 0.15, 0.07 / 0.15, 0, 0, 0, 0, 0], atol=1e-12)
    got = _unit_returns("expected", 0)
    np.testing.assert_allclose(got, np.r_[0.0, PMF[1:] / 0.65, 0, 0], atol=1e-12)
    got = _unit_returns("expected", -20)  # past the tail: before the fix, all of it on day 0
    np.testing.assert_allclose(got, np.r_[0.0, TAIL, 0], atol=1e-12)


def test_quantile_policy_counts_a_late_unit_on_a_day_it_can_come() -> None:
    # quantile:0.3 before the fix: day 0 for all three (0.4, 0.35 and "back today").
    for due, day in [(-3, 1), (0, 1), (-20, 1)]:
        got = _unit_returns("quantile:0.3", due)
        assert got.tolist() == [1.0 if t == day else 0.0 for t in range(8)]
    got = _unit_returns("quantile:0.9", -20)  # tail cdf 0.533, 0.782, 0.898, 0.953 (day 4)
    assert int(np.argmax(got)) == 4 and got.sum() == 1.0


def test_expected_schedule_uses_the_conditional_median_never_before_day0() -> None:
    statics, state, u, n_units = _world()
    pmf = np.tile(PMF, (n_units + statics.n_res, 1))
    info = Information(RiskPolicy(), pmf, None, None, None)
    out = state.pmf_row >= 0
    v = np.nonzero(out)[0][1]
    state.due[u], state.due[v] = -3, 0
    sched = expected_schedule(statics, state, info)
    assert sched.arrival[u] == 1  # delay >= 4: median is 4 days late (before the fix: day 0)
    assert sched.arrival[v] == 2  # delay >= 1: 0.25/0.65 < 0.5 <= 0.40/0.65 (before: day 1)
    assert (sched.arrival[out] >= 1).all()
    state.due[u] = -20
    assert expected_schedule(statics, state, info).arrival[u] == 1  # the tail's median
