"""The rules planner on hand-built days: another site when the nearest is out and it can still make
the date (and not when it cannot), cleaning by the earliest open booking, the transfer rule."""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np
import pandas as pd

from allocation.replay.engine import replay
from allocation.replay.policies import GreedyPolicy
from allocation.replay.rules_policy import RulesPolicy
from allocation.simulate.world import simulate_world
from allocation.state import ExecState, Schedule, U
from allocation.statics import Statics

ZONE0 = 0  # nearest site 0 (1 day), site 1 two days away in the tiny world
TRANSFER_DAYS = 2


@lru_cache(maxsize=1)
def _base() -> Statics:
    statics = Statics.from_world(simulate_world("tiny", 1))
    assert statics.n_sites == 2 and statics.nearest_site[ZONE0] == 0
    assert statics.ship_days[0, ZONE0] == 1 and statics.ship_days[1, ZONE0] == 2
    assert statics.transfer_days[0, 1] == statics.transfer_days[1, 0] == TRANSFER_DAYS
    return statics


def _day(
    units: list[tuple[int, int, U, int]], res: list[tuple[int, int]], day: int, clean_cap: int = 5
) -> tuple[Statics, Schedule, ExecState]:
    """A world of ``units`` (sku, site, state, dirty since) and reservations (sku, event day) in
    zone 0, all booked on day 0, on the morning of ``day``."""
    base = _base()
    n, m, H = len(res), len(units), base.horizon
    sku, site, code, since = (np.array([u[i] for u in units], dtype=np.int64) for i in range(4))
    statics = dataclasses.replace(
        base,
        unit_ids=pd.Index([f"U{i}" for i in range(m)]),
        unit_sku=sku,
        unit_site=site,
        reservations=base.reservations.iloc[:n],
        res_sku=np.array([r[0] for r in res], dtype=np.int64),
        res_zone=np.full(n, ZONE0, dtype=np.int64),
        res_event=np.array([r[1] for r in res], dtype=np.int64),
        res_booked=np.zeros(n, dtype=np.int64),
        res_days=np.full(n, 2, dtype=np.int64),
        res_value=np.full(n, 100.0),
        res_priority=np.zeros(n, dtype=np.int64),
        res_known=np.ones(n, dtype=bool),
    )
    cap = np.full((2, H), 5, dtype=np.int64)
    sched = Schedule(
        arrival=np.full(m, -1, dtype=np.int64),
        res_delay=np.zeros(n, dtype=np.int64),
        fails=np.zeros((m, 1), dtype=bool),
        clean_cap=np.full((2, H), clean_cap, dtype=np.int64),
        ship_cap=cap,
        pick_cap=cap.copy(),
    )
    state = ExecState(
        day=day,
        state=code.astype(np.int8),
        site=site.copy(),
        when=np.zeros(m, dtype=np.int64),
        due=np.full(m, -1, dtype=np.int64),
        pmf_row=np.full(m, -1, dtype=np.int64),
        cycle=np.zeros(m, dtype=np.int64),
        dirty_since=since.copy(),
        res_filled=np.zeros(n, dtype=bool),
        res_unit=np.full(n, -1, dtype=np.int64),
        res_site=np.full(n, -1, dtype=np.int64),
        res_ship_day=np.full(n, -1, dtype=np.int64),
    )
    return statics, sched, state


def test_ships_from_another_site_that_can_still_make_the_date() -> None:
    """Nearest site 0 has none; site 1 (two days away) can make event day 6 only by shipping on
    day 4, which is today: rules ships from site 1; greedy waits for site 0 and misses."""
    statics, sched, state = _day([(0, 1, U.READY, 0)], [(0, 6)], day=4)
    replay(RulesPolicy(statics), statics, sched, state)
    assert state.res_filled[0] and state.res_site[0] == 1 and state.res_ship_day[0] == 4
    statics, sched, state = _day([(0, 1, U.READY, 0)], [(0, 6)], day=4)
    assert not replay(GreedyPolicy(statics), statics, sched, state).filled[0]


def test_does_not_ship_from_a_site_that_cannot_make_the_date() -> None:
    """On day 5 site 1 could only deliver on day 7, after the event: nothing ships."""
    statics, sched, state = _day([(0, 1, U.READY, 0)], [(0, 6)], day=5)
    decision = RulesPolicy(statics).decide(state, 5)
    assert all(not np.any(s == 1) for _, s in decision.ship_passes)
    replay(RulesPolicy(statics), statics, sched, state)
    assert not state.res_filled[0]


def test_waits_for_the_nearest_site_when_it_has_the_unit() -> None:
    """Both sites hold one: site 1's ship-by day is today, but the nearest site covers it."""
    statics, sched, state = _day([(0, 0, U.READY, 0), (0, 1, U.READY, 0)], [(0, 6)], day=4)
    replay(RulesPolicy(statics), statics, sched, state)
    assert state.res_site[0] == 0 and state.res_ship_day[0] == 5


def test_cleans_a_unit_someone_booked_before_an_older_one_nobody_did() -> None:
    """Capacity 1: the unit of the booked SKU 2 goes first although SKU 1's unit is dirty longer."""
    units = [(1, 0, U.DIRTY, 0), (2, 0, U.DIRTY, 1)]
    statics, sched, state = _day(units, [(2, 10)], day=2, clean_cap=1)
    result = replay(RulesPolicy(statics), statics, sched, state)
    first = result.log["clean"][0]
    assert first[0] == 1 and first[2] == 2
    statics, sched, state = _day(units, [(2, 10)], day=2, clean_cap=1)
    assert replay(GreedyPolicy(statics), statics, sched, state).log["clean"][0][0] == 0  # FIFO


def test_moves_a_shortfall_from_a_site_with_spare_and_only_once() -> None:
    """Site 0 has none of SKU 0 and two bookings within the lead time + slack; site 1 has three
    spare: two move on day 0 (not again on later days) and both ship from site 0."""
    units = [(0, 1, U.READY, 0)] * 3
    statics, sched, state = _day(units, [(0, 6), (0, 6)], day=0)
    result = replay(RulesPolicy(statics), statics, sched, state)
    moved = result.log["transfer"]
    assert result.transfers == 2 and np.all(moved[:, 4] == 0) and np.all(moved[:, 2:4] == [1, 0])
    assert result.filled.all() and np.all(result.res_site == 0)


def test_no_transfer_for_demand_beyond_the_window_or_without_spare() -> None:
    # Needed from site 0 on day 14: outside 2 days' lead + 3 days of slack on day 0.
    statics, _, state = _day([(0, 1, U.READY, 0)], [(0, 15)], day=0)
    assert RulesPolicy(statics).decide(state, 0).transfers is None
    # Site 1's only unit is wanted there (zone 1's nearest site is 1): no spare to move.
    statics, _, state = _day([(0, 1, U.READY, 0)], [(0, 6), (0, 6)], day=0)
    statics.res_zone[1] = 1
    assert RulesPolicy(statics).decide(state, 0).transfers is None
