"""Invariants of the replay, whatever a policy asks for (hypothesis).

A random policy asks for random shipments from random sites, random cleaning orders and random
transfers on generated tiny worlds; greedy, the rules planner and the model policies run too.
Every run must satisfy: no unit ships while it is out (never twice at once), no reservation is
filled twice, no capacity is exceeded, nothing ships before it is ready, and a reservation counts
as filled only if it left a site no later than its event date minus the transit days to its zone.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocation.domain import World
from allocation.model.snapshot import Information, RiskPolicy
from allocation.replay.engine import DayDecision, ReplayResult, replay
from allocation.replay.policies import GreedyPolicy, PlanningPolicy
from allocation.replay.rules_policy import RulesPolicy
from allocation.simulate.world import simulate_world
from allocation.state import ExecState, Schedule, U, initial_state, realized_schedule
from allocation.statics import Statics
from solvers.base import SolveOptions


@lru_cache(maxsize=8)
def tiny(seed: int) -> tuple[World, Statics, Schedule]:
    world = simulate_world("tiny", seed)
    statics = Statics.from_world(world)
    return world, statics, realized_schedule(world, statics)


class RandomPolicy:
    """Asks for anything: unknown-yet reservations, wrong days, any site, absurd transfers."""

    name = "random"

    def __init__(self, statics: Statics, rng: np.random.Generator) -> None:
        self.statics, self.rng = statics, rng

    def decide(self, state: ExecState, day: int) -> DayDecision:
        n = self.statics.n_res
        k = int(self.rng.integers(0, max(1, n // 2)))
        res = self.rng.integers(0, n, k)
        site = self.rng.integers(0, self.statics.n_sites, k)
        m = int(self.rng.integers(0, 6))
        transfers = (
            self.rng.integers(0, self.statics.n_skus, m),
            self.rng.integers(0, self.statics.n_sites, m),
            self.rng.integers(0, self.statics.n_sites, m),
            self.rng.integers(0, 4, m),
        )
        score = self.rng.uniform(0, 1, len(state.state))
        return DayDecision(ship_passes=[(res, site), (res[::-1], site[::-1])], clean_score=score, transfers=transfers)


def check_invariants(world: World, statics: Statics, sched: Schedule, result: ReplayResult) -> None:
    ships = result.log.get("ship", np.zeros((0, 4), dtype=np.int64))
    unit, res, site, day = ships.T
    # A reservation is filled at most once, and the result agrees with the log.
    assert len(np.unique(res)) == len(res)
    assert set(res.tolist()) == set(np.nonzero(result.filled)[0].tolist())
    # Filled only if it left no later than event date - transit, and not before it was booked.
    assert np.all(day <= statics.res_event[res] - statics.ship_days[site, statics.res_zone[res]])
    assert np.all(day >= statics.res_booked[res])
    # Capacities hold every site-day.
    assert np.all(result.clean_used <= sched.clean_cap)
    assert np.all(result.ship_used <= sched.ship_cap)
    assert np.all(result.pick_used <= sched.pick_cap)
    # A unit ships again only after it came back and was cleaned: never twice at once.
    order = np.lexsort((day, unit))
    u, r, s, d = unit[order], res[order], site[order], day[order]
    again = u[1:] == u[:-1]
    back = statics.res_event[r] + statics.res_days[r] + statics.ship_days[s, statics.res_zone[r]] + sched.res_delay[r]
    assert np.all(d[1:][again] >= back[:-1][again] + statics.clean_days[s[:-1][again]])
    # Nothing ships before it is ready: units not ready on the plan date wait for their return
    # (plus cleaning) or for their cleaning to finish.
    init = initial_state(world, statics, sched)
    first = np.r_[True, ~again]
    fu, fd = u[first], d[first]
    out = init.state[fu] == U.OUT
    assert np.all(fd[out] >= init.when[fu[out]] + statics.clean_days[init.site[fu[out]]])
    cleaning = init.state[fu] == U.CLEANING
    assert np.all(fd[cleaning] >= init.when[fu[cleaning]])
    assert not np.any(np.isin(init.state[fu], [U.RETIRED]))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 3), policy_seed=st.integers(0, 10_000))
def test_random_policy_never_breaks_the_rules(seed: int, policy_seed: int) -> None:
    world, statics, sched = tiny(seed)
    result = replay(
        RandomPolicy(statics, np.random.default_rng(policy_seed)), statics, sched, initial_state(world, statics, sched)
    )
    assert result.filled.any()  # the rules were exercised, not vacuously true
    check_invariants(world, statics, sched, result)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 50))
def test_greedy_rules_and_model_policies_keep_the_rules(seed: int) -> None:
    world, statics, sched = tiny(seed % 4)
    pmf = np.full((len(world.units) + statics.n_res, 4), 0.25)
    opts = SolveOptions(backend="highs", time_limit_s=30)

    def info(day: int) -> Information:
        return Information(RiskPolicy.parse("quantile:0.8"), pmf, None, None, None)

    policies = (
        GreedyPolicy(statics),
        RulesPolicy(statics),
        PlanningPolicy("closetflow", statics, info, opts, replan_every=2),
    )
    for policy in policies:
        result = replay(policy, statics, sched, initial_state(world, statics, sched))
        check_invariants(world, statics, sched, result)
