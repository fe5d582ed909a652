"""The fast path (decomposition by SKU) against the exact monolithic model on random small worlds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from allocation.model.blocks import idle_point
from allocation.model.network import build_problem
from allocation.model.snapshot import Information, PlanningInput, RiskPolicy, planning_input
from allocation.model.solve import CapacityPrices, solve_input
from allocation.simulate.world import simulate_world
from allocation.state import initial_state
from allocation.statics import Statics
from solvers.base import SolveOptions, SolveStatus, solve
from solvers.decompose import BlockStructure, DWSettings, GroupSolution, LocalRunner
from solvers.support import max_violation


def tight_input(seed: int, squeeze: float, protect: bool) -> PlanningInput:
    """A tiny world whose site-day capacities are cut to ``squeeze`` of their size, so that the
    rows linking SKUs bind and the decomposition has prices to find."""
    world = simulate_world("tiny", seed)
    statics = Statics.from_world(world)
    rng = np.random.default_rng(seed)
    pmf = rng.dirichlet(np.ones(6), size=len(world.units) + statics.n_res)
    demand = rng.uniform(0, 0.3, (statics.n_skus, statics.n_sites, statics.horizon)) if protect else None
    lead = np.linspace(0.2, 1.0, 60)
    info = Information(RiskPolicy.parse("expected"), pmf, None, demand, lead if protect else None)
    inp = planning_input(statics, initial_state(world, statics, None), 0, info)
    inp.clean_cap = np.floor(inp.clean_cap * squeeze)
    inp.ship_cap = np.floor(inp.ship_cap * squeeze * 0.3)
    inp.pick_cap = np.floor(inp.pick_cap * squeeze * 0.5)
    return inp


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(seed=407, squeeze=0.6, protect=False)  # a slow tail: 60 rounds end with a gap of 1.8e-4
@example(seed=904, squeeze=0.75, protect=False)  # a warm re-solve HiGHS gives up on: solved again cold
@example(seed=906, squeeze=0.75, protect=False)  # another slow tail (gap 0.175% at 60 rounds)
@given(seed=st.integers(0, 1000), squeeze=st.floats(0.05, 1.0), protect=st.booleans())
def test_decomposed_plan_is_within_a_tenth_of_a_percent_and_feasible(seed: int, squeeze: float, protect: bool) -> None:
    inp = tight_input(seed, squeeze, protect)
    exact = solve(build_problem(inp)[0], SolveOptions(backend="highs"))
    # Small groups, so that several group LPs meet in the capacity rows even on a tiny world.
    run = solve_input(inp, SolveOptions(backend="dw", time_limit_s=120), settings=DWSettings(group_nnz=300))
    # Within its tolerance (1e-4), or stopped at its round limit (a slow tail) with a feasible plan.
    assert run.result.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)
    assert run.result.x is not None
    assert max_violation(run.problem, run.result.x) <= 1e-6  # every constraint family holds
    assert run.result.objective == pytest.approx(exact.objective, rel=1e-3, abs=1e-6)
    assert run.result.objective <= exact.objective + 1e-6 <= run.result.bound + 1e-3 * abs(exact.objective) + 1e-6
    assert run.trace is not None and run.trace.groups > 1


def test_auto_solves_a_small_model_whole_and_yesterdays_prices_carry_by_date() -> None:
    inp = tight_input(4, 0.3, True)
    run = solve_input(inp, SolveOptions(backend="auto"))
    assert run.trace is None and run.result.backend == "highs"
    assert run.prices is not None
    ship = run.prices.prices["shipping_capacity_per_site_day"]
    # Tomorrow's model (day0 + 1) reads tonight's day t + 1 as its day t.
    moved = CapacityPrices(run.prices.day0 - 1, run.prices.prices)
    full = moved.row_prices(run.inp, run.layout, run.problem.n_rows)
    a, _ = run.layout.row_blocks["shipping_capacity_per_site_day"]
    got = full[a : a + ship.size].reshape(ship.shape)
    assert np.array_equal(got[:, :-1], ship[:, 1:])
    assert np.isnan(got[:, -1]).all()
    again = CapacityPrices.from_json(run.prices.to_json())
    assert np.array_equal(again.prices["shipping_capacity_per_site_day"], ship)


def test_warm_prices_close_the_gap_in_fewer_rounds() -> None:
    inp = tight_input(9, 0.2, False)
    opts = SolveOptions(backend="dw", time_limit_s=120)
    cold = solve_input(inp, opts, settings=DWSettings(group_nnz=300))
    warm = solve_input(inp, opts, settings=DWSettings(group_nnz=300), warm=cold.prices)
    assert cold.trace is not None and warm.trace is not None
    assert warm.result.objective == pytest.approx(cold.result.objective, rel=1e-3)
    assert warm.trace.bounds[0] <= cold.trace.bounds[0] + 1e-6


class _HalfTheGroups:
    """A runner whose time runs out halfway through the first round (the later groups unsolved)."""

    def __init__(self, structure: BlockStructure, maximize: bool) -> None:
        self.inner = LocalRunner(structure.groups, maximize)

    def solve_all(self, prices: np.ndarray, time_limit_s: float) -> list[GroupSolution | None]:
        answers = self.inner.solve_all(prices, time_limit_s)
        half = len(answers) // 2
        return [a if i < half else None for i, a in enumerate(answers)]


def test_a_round_cut_short_still_returns_a_feasible_plan_better_than_doing_nothing() -> None:
    inp = tight_input(6, 1.0, False)
    # Last night's prices (here: tonight's exact ones) make even a half round's proposals fit the
    # shared capacity; cold, the first proposals ignore it and mix in only as far as it allows.
    warm = solve_input(inp, SolveOptions(backend="highs")).prices
    opts = SolveOptions(backend="dw", time_limit_s=60)
    run = solve_input(inp, opts, settings=DWSettings(group_nnz=300), runner_factory=_HalfTheGroups, warm=warm)
    assert run.trace is not None and run.trace.stopped_by == "time_limit" and run.trace.rounds == 1
    assert run.result.status is SolveStatus.FEASIBLE and run.result.x is not None
    assert max_violation(run.problem, run.result.x) <= 1e-6
    nothing = run.problem.c @ idle_point(run.inp, run.layout)
    assert run.result.objective > nothing  # the solved half ships something
