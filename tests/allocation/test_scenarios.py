"""The ``scenarios:N`` risk policy: parsing, sampled worlds, the stacked LP and its replay."""

from __future__ import annotations

import numpy as np
import pytest

from allocation.domain import ClosetflowError, World
from allocation.model.network import build_problem
from allocation.model.scenarios import build_scenario_problem, scenario_inputs
from allocation.model.snapshot import Information, RiskPolicy, ScenarioDraws, planning_input
from allocation.replay.engine import replay
from allocation.replay.policies import PlanningPolicy, solve_plan
from allocation.replay.validation import validate_policies
from allocation.state import ExecState, initial_state
from allocation.statics import Statics
from solvers.base import SolveOptions, solve
from tests.allocation.test_replay_properties import check_invariants, tiny

OPTS = SolveOptions(backend="highs", time_limit_s=60)


def _info(world: World, statics: Statics, risk: str, *, degenerate: bool = False, seed: int = 0) -> Information:
    rows = len(world.units) + statics.n_res
    if degenerate:
        # Every return exactly one day late and no cleaning ever fails: nothing left to sample.
        pmf = np.zeros((rows, 4))
        pmf[:, 1] = 1.0
        fail = np.zeros(statics.n_skus)
    else:
        pmf = np.random.default_rng(seed).dirichlet(np.ones(4), size=rows)
        fail = np.full(statics.n_skus, 0.3)  # high, so running cleanings sample both ways
    return Information(RiskPolicy.parse(risk), pmf, None, None, None, sku_fail_rate=fail)


def _morning(seed: int) -> tuple[World, Statics, ExecState]:
    world, statics, _ = tiny(seed)
    return world, statics, initial_state(world, statics, None)


def test_parse_accepts_scenarios() -> None:
    risk = RiskPolicy.parse("scenarios:5")
    assert (risk.kind, risk.n, str(risk)) == ("scenarios", 5, "scenarios:5")
    assert RiskPolicy.parse("scenarios:2").n == 2 and RiskPolicy.parse("scenarios:50").n == 50


@pytest.mark.parametrize(
    "text", ["scenarios:0", "scenarios:1", "scenarios:51", "scenarios:x", "scenarios:", "scenarios: 5"]
)
def test_parse_refuses_other_counts_in_one_line(text: str) -> None:
    with pytest.raises(ClosetflowError) as err:
        RiskPolicy.parse(text)
    msg = str(err.value)
    assert "\n" not in msg and repr(text) in msg
    assert "'scenarios:<n>' with 2 <= n <= 50" in msg and "quantile:<a>" in msg


def test_scenarios_are_reproducible_and_differ() -> None:
    world, statics, state = _morning(1)
    info = _info(world, statics, "scenarios:3")
    a = scenario_inputs(statics, state, 0, info)
    b = scenario_inputs(statics, state, 0, info)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.dirty_in, y.dirty_in)
        np.testing.assert_array_equal(x.ret_tau, y.ret_tau)
    # Each return lands whole on one day, and the worlds are not all the same.
    assert all(np.all(inp.ret_w == 1.0) for inp in a)
    assert all(len(inp.ret_cand) == len(np.unique(inp.ret_cand)) for inp in a)
    assert any(not np.array_equal(a[0].ret_tau, other.ret_tau) for other in a[1:])
    # Sampled supply is whole units: a running cleaning works or fails, a return comes on one day.
    for inp in a:
        np.testing.assert_array_equal(inp.ready_in, np.round(inp.ready_in))
        np.testing.assert_array_equal(inp.dirty_in, np.round(inp.dirty_in))


def test_draws_are_stratified_across_scenarios() -> None:
    n = 7
    u = np.stack([ScenarioDraws.sample(4, i, n, 50, 30).unit_return for i in range(n)])
    assert np.all((u > 0) & (u <= 1))
    # Every unit's n draws fall one in each n-th of (0, 1].
    strata = np.sort(np.ceil(u * n).astype(int) - 1, axis=0)
    np.testing.assert_array_equal(strata, np.repeat(np.arange(n)[:, None], 50, axis=1))
    assert not np.allclose(u[0], u[0].mean())  # and differ from unit to unit


def test_first_day_decisions_are_shared_across_scenarios() -> None:
    world, statics, state = _morning(2)
    sc = build_scenario_problem(scenario_inputs(statics, state, 0, _info(world, statics, "scenarios:4")))
    assert len(sc.first_day) > 0 and sc.problem.n_vars == 4 * sc.layout.n
    result = solve(sc.problem, OPTS)
    assert result.x is not None
    first = sc.scenario_x(result.x, 0)[sc.first_day]
    for i in range(1, sc.n_scenarios):
        np.testing.assert_allclose(sc.scenario_x(result.x, i)[sc.first_day], first, atol=1e-7)
    # The stacked optimum is the sample average of the scenarios' values at that solution.
    values = [p.c @ sc.scenario_x(result.x, i) for i, p in enumerate(sc.problems)]
    assert result.objective == pytest.approx(np.mean(values), rel=1e-9, abs=1e-6)


def test_copies_of_one_scenario_solve_to_the_single_plan() -> None:
    world, statics, state = _morning(3)
    info = _info(world, statics, "scenarios:3")
    sc = build_scenario_problem(scenario_inputs(statics, state, 0, info, scenarios=[1, 1, 1]))
    single = solve(build_problem(planning_input(statics, state, 0, info, scenario=1))[0], OPTS)
    assert solve(sc.problem, OPTS).objective == pytest.approx(single.objective, rel=1e-7, abs=1e-6)


def test_a_world_without_uncertainty_plans_as_expected() -> None:
    world, statics, state = _morning(0)
    sc = build_scenario_problem(
        scenario_inputs(statics, state, 0, _info(world, statics, "scenarios:3", degenerate=True))
    )
    expected = planning_input(statics, state, 0, _info(world, statics, "expected", degenerate=True))
    np.testing.assert_allclose(sc.inputs[2].dirty_in, expected.dirty_in)
    np.testing.assert_allclose(sc.inputs[2].ready_in, expected.ready_in)
    single = solve(build_problem(expected)[0], OPTS)
    assert solve(sc.problem, OPTS).objective == pytest.approx(single.objective, rel=1e-7, abs=1e-6)


def test_solve_plan_runs_as_scenario_zero() -> None:
    world, statics, state = _morning(1)
    info = _info(world, statics, "scenarios:3")
    run = solve_plan(statics, state, 0, info, OPTS)
    assert run.result.has_solution and run.result.x is not None
    # x and row activity are scenario 0's, so they store and decode like a single plan's.
    assert len(run.result.x) == run.problem.n_vars == run.layout.n
    assert run.result.row_activity is not None and len(run.result.row_activity) == run.problem.n_rows
    assert run.result.variables == 3 * run.layout.n  # the figures are the stacked solve's
    # planning_input alone rebuilds the same run (a resumed job decodes the stored x with it).
    np.testing.assert_array_equal(run.inp.dirty_in, planning_input(statics, state, 0, info).dirty_in)


@pytest.mark.parametrize("seed", [0, 2])
def test_scenario_plans_replay_within_the_rules(seed: int) -> None:
    world, statics, sched = tiny(seed)
    info = _info(world, statics, "scenarios:3")
    policy = PlanningPolicy("closetflow", statics, lambda day: info, OPTS, replan_every=2)
    result = replay(policy, statics, sched, initial_state(world, statics, sched))
    check_invariants(world, statics, sched, result)
    assert result.filled.any() and not policy.fallback_days


def test_validation_with_scenarios_keeps_hindsight_on_top() -> None:
    world, statics, _ = tiny(3)
    info = _info(world, statics, "scenarios:3")
    v = validate_policies(world, statics, lambda day: info, OPTS, replan_every=3)
    o = v.outcomes
    assert o["hindsight"].value >= o["closetflow"].value - 1e-6
    assert o["hindsight"].fill_rate >= o["closetflow"].fill_rate - 1e-9
