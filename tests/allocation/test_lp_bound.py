"""The perfect-information LP bound (allocation/replay/bound.py) bounds every policy's realized value.

Checked on generated tiny worlds against greedy, rules, closetflow, hindsight and a random policy
that ships early from any site and moves stock at random (the freedoms the bound must cover), and
on the hand-made contract world; and a few sanity checks of its construction.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocation.domain import World
from allocation.model.network import build_problem
from allocation.model.snapshot import Information, RiskPolicy
from allocation.replay.bound import bound_input, lp_bound
from allocation.replay.engine import DayDecision, _arrivals, replay
from allocation.replay.validation import ValidationResult, validate_policies
from allocation.simulate.world import simulate_world
from allocation.state import ExecState, Schedule, U, initial_state, realized_schedule
from allocation.statics import Statics
from solvers.base import SolveOptions, solve
from tests.allocation.worldfactory import make_world

OPTS = SolveOptions(backend="highs", time_limit_s=60)
REL_TOL = 1e-6


@lru_cache(maxsize=8)
def tiny(seed: int) -> tuple[World, Statics, Schedule]:
    world = simulate_world("tiny", seed)
    statics = Statics.from_world(world)
    return world, statics, realized_schedule(world, statics)


def _info(world: World, statics: Statics) -> Information:
    delays = world.rentals["delay_days"].dropna().to_numpy(dtype=np.int64)
    pmf = np.bincount(np.clip(delays, 0, 14), minlength=15) / max(1, len(delays))
    return Information(RiskPolicy(), np.tile(pmf, (len(world.units) + statics.n_res, 1)), None, None, None)


def _within(value: float, bound: float) -> bool:
    return value <= bound + REL_TOL * max(1.0, abs(bound))


class EarlyRandomPolicy:
    """Ships booked reservations on random days from random sites (early included), cleans in a
    random order and moves random stock: freedoms no planner here uses all of."""

    name = "early-random"

    def __init__(self, statics: Statics, rng: np.random.Generator) -> None:
        self.statics, self.rng = statics, rng

    def decide(self, state: ExecState, day: int) -> DayDecision:
        s = self.statics
        open_ = np.nonzero(~state.res_filled & (s.res_booked <= day))[0]
        pick = open_[self.rng.uniform(size=len(open_)) < 0.4]
        site = self.rng.integers(0, s.n_sites, len(pick))
        m = int(self.rng.integers(0, 4))
        transfers = (
            self.rng.integers(0, s.n_skus, m),
            self.rng.integers(0, s.n_sites, m),
            self.rng.integers(0, s.n_sites, m),
            self.rng.integers(0, 3, m),
        )
        score = self.rng.uniform(size=len(state.state))
        return DayDecision(ship_passes=[(pick, site)], clean_score=score, transfers=transfers)


def _validate(world: World, statics: Statics) -> ValidationResult:
    info = _info(world, statics)
    return validate_policies(world, statics, lambda _day: dataclasses.replace(info), OPTS)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_the_bound_is_above_every_policys_realized_value(seed: int) -> None:
    world = simulate_world("tiny", seed)
    statics = Statics.from_world(world)
    v = _validate(world, statics)
    assert v.lp_bound is not None and v.lp_bound.status == "optimal"
    bound = v.lp_bound.value
    for name, o in v.outcomes.items():
        assert _within(o.value, bound), f"{name} realized {o.value} above the bound {bound} (seed {seed})"
    rnd = replay(
        EarlyRandomPolicy(statics, np.random.default_rng(seed)),
        statics,
        v.schedule,
        initial_state(world, statics, v.schedule),
    )
    assert _within(rnd.value(statics), bound)
    if bound > 1e-9:
        assert v.hindsight_vs_lp_bound <= 1.0 + REL_TOL


def test_the_bound_holds_on_the_contract_world() -> None:
    """The hand-made world has a unit in every state, outstanding rentals and a reservation past
    the horizon."""
    world = make_world()
    statics = Statics.from_world(world)
    v = _validate(world, statics)
    assert v.lp_bound is not None and np.isfinite(v.lp_bound.value)
    for o in v.outcomes.values():
        assert _within(o.value, v.lp_bound.value)


def test_the_bound_is_finite_and_positive_on_a_tiny_world() -> None:
    world, statics, sched = tiny(1)
    b = lp_bound(statics, sched, initial_state(world, statics, sched), OPTS)
    assert b.status == "optimal"
    assert np.isfinite(b.value) and b.value > 0
    assert b.n_vars > 0 and b.seconds >= 0


def test_the_state_given_is_not_changed() -> None:
    world, statics, sched = tiny(2)
    state = initial_state(world, statics, sched)
    before = state.state.copy(), state.cycle.copy()
    lp_bound(statics, sched, state, OPTS)
    assert np.array_equal(state.state, before[0]) and np.array_equal(state.cycle, before[1])


def test_the_objective_is_the_realized_value_of_each_shipment() -> None:
    """No VIP uplift, no fill bonus, no early-shipping penalty: value - shipping cost."""
    world, statics, sched = tiny(3)
    st0 = initial_state(world, statics, sched)
    _arrivals(st0, statics, sched, 0)
    inp = bound_input(statics, sched, st0)
    g = inp.res[inp.cand_res]
    want = statics.res_value[g] - statics.ship_cost[inp.cand_site, statics.res_zone[g]]
    assert np.allclose(inp.cand_obj, want)
    _, lay = build_problem(inp)
    assert lay.off_TR == lay.off_Y  # no held-back units for forecast demand: their value is never realized
    # Every day from the booking (or day 0) to the ship-by day, clipped to the horizon, is a candidate.
    last = np.minimum(statics.ship_by(g, inp.cand_site), statics.horizon - 1)
    first = np.maximum(0, statics.res_booked[g])
    assert ((inp.cand_tau >= first) & (inp.cand_tau <= last)).all()
    n_days = np.clip(
        np.minimum(statics.ship_by(inp.res[:, None], np.arange(statics.n_sites)[None, :]), statics.horizon - 1)
        - np.maximum(0, statics.res_booked[inp.res])[:, None]
        + 1,
        0,
        None,
    )
    assert len(inp.cand_res) == int(n_days.sum())


def test_units_that_fail_their_next_cleaning_never_count() -> None:
    world, statics, sched = tiny(0)
    st0 = initial_state(world, statics, sched)
    _arrivals(st0, statics, sched, 0)
    fails = sched.fails_at(np.arange(len(st0.state)), st0.cycle)
    dirty = (st0.state == U.DIRTY) & ~fails
    inp = bound_input(statics, sched, st0)
    assert inp.dirty0.sum() == pytest.approx(float(np.isin(statics.unit_sku[dirty], inp.skus).sum()))


def test_fewer_ship_days_can_only_lower_the_bound() -> None:
    """Dropping every early candidate (ship on the ship-by day only) restricts the LP."""
    world, statics, sched = tiny(1)
    st0 = initial_state(world, statics, sched)
    _arrivals(st0, statics, sched, 0)
    inp = bound_input(statics, sched, st0)
    full = solve(build_problem(inp)[0], OPTS)
    g = inp.res[inp.cand_res]
    keep = inp.cand_tau == np.minimum(statics.ship_by(g, inp.cand_site), statics.horizon - 1)
    new_pos = np.cumsum(keep) - 1
    ret_keep = keep[inp.ret_cand]
    narrow = dataclasses.replace(
        inp,
        cand_res=inp.cand_res[keep],
        cand_site=inp.cand_site[keep],
        cand_tau=inp.cand_tau[keep],
        cand_sku=inp.cand_sku[keep],
        cand_obj=inp.cand_obj[keep],
        ret_cand=new_pos[inp.ret_cand[ret_keep]],
        ret_tau=inp.ret_tau[ret_keep],
        ret_w=inp.ret_w[ret_keep],
    )
    less = solve(build_problem(narrow)[0], OPTS)
    assert less.objective <= full.objective + REL_TOL * max(1.0, abs(full.objective))
