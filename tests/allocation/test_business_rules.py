"""Business rules (allocation.model.business_rules): parsing, each rule satisfied and violated on a
hand-built instance (the one of tests/allocation/test_rules.py), each rule changing a solved plan
as intended, and a property: random rules on tiny worlds are never broken by the solved plan."""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocation.domain import ClosetflowError
from allocation.model.business_rules import (
    BusinessRuleError,
    BusinessRules,
    blocked_lanes,
    blocked_sites,
    cleaning_buffer,
    describe,
    held_units,
    rule_blocked_candidates,
    vip_first_bonus,
)
from allocation.model.layout import Layout
from allocation.model.network import build_problem
from allocation.model.snapshot import Information, PlanningInput, RiskPolicy, planning_input
from allocation.simulate.world import simulate_world
from allocation.state import ExecState, U, initial_state
from allocation.statics import Statics
from solvers.base import LinearProblem, SolveOptions, solve
from tests.allocation.test_rules import feasible_plan, residual, tiny_input, var

HIGHS = SolveOptions(backend="highs")


def bound_violation(problem: LinearProblem, x: np.ndarray) -> float:
    """Largest amount by which x leaves its column bounds (0 when within them)."""
    return float(max(np.max(x - problem.col_upper, initial=0.0), np.max(problem.col_lower - x, initial=0.0)))


# --- text forms ----------------------------------------------------------------------------------

ALL = [
    "hold:U0000001",
    "hold:U0000002,U0000003@2026-10-05..2026-10-07",
    "block-site:SITE1@2026-10-06",
    "block-lane:SITE0->SITE1@2026-10-05..2026-10-08",
    "block-lane:SITE0->Z3@2026-10-06",
    "vip-first",
    "max-transfers:5",
    "cleaning-buffer:12.5%",
]


def test_every_form_reads_back_to_its_own_text_and_through_json() -> None:
    rules = BusinessRules.parse(ALL)
    assert rules.texts() == ALL
    assert BusinessRules.from_json(rules.to_json()) == rules
    assert rules.max_transfers_per_lane_day == 5 and rules.cleaning_buffer == pytest.approx(0.125)
    assert rules.holds[1].dates == BusinessRules.parse(["hold:X@2026-10-05..2026-10-07"]).holds[0].dates
    assert BusinessRules.parse(["cleaning-buffer:0.1"]).cleaning_buffer == pytest.approx(0.1)
    assert not BusinessRules.parse([]) and BusinessRules.parse(["vip-first"])


def test_describe_says_one_line_per_rule_in_planner_words() -> None:
    lines = describe(BusinessRules.parse(ALL))
    assert len(lines) == len(ALL)
    assert lines[2] == "SITE1 ships, picks and cleans nothing on 2026-10-06"
    assert lines[3] == "nothing leaves on the lane SITE0 -> SITE1 on 2026-10-05 to 2026-10-08"
    assert lines[7] == "12.5% of each site's daily cleaning capacity is kept free"
    assert describe(None) == []


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("bogus", "not a rule"),
        ("hold:", "not a rule"),
        ("hold:U1,,U2", "unit id(s)"),
        ("block-site:SITE1", "needs the days"),
        ("block-site:SITE1,SITE2@2026-10-05", "one site per rule"),
        ("block-site:SITE1@2026-13-01", "calendar does not have"),
        ("block-site:SITE1@05/10/2026", "is not a date"),
        ("block-site:SITE1@2026-10-07..2026-10-05", "ends before it starts"),
        ("block-lane:SITE0@2026-10-05", "ORIGIN->DESTINATION"),
        ("block-lane:SITE0->@2026-10-05", "ORIGIN->DESTINATION"),
        ("max-transfers:-1", "whole number"),
        ("max-transfers:two", "whole number"),
        ("cleaning-buffer:60%", "between 0% and 50%"),
        ("cleaning-buffer:lots", "is not a share"),
        ("vip-first:yes", "not a rule"),
    ],
)
def test_a_bad_rule_is_one_line_naming_the_rule(text: str, words: str) -> None:
    with pytest.raises(BusinessRuleError) as err:
        BusinessRules.parse([text])
    message = str(err.value)
    assert isinstance(err.value, ClosetflowError)
    assert "\n" not in message and message.startswith(f"rule {text!r}: ") and words in message


def test_a_single_valued_rule_given_twice_is_refused() -> None:
    with pytest.raises(BusinessRuleError, match="max-transfers is given twice"):
        BusinessRules.parse(["max-transfers:1", "max-transfers:2"])


def test_json_that_is_not_a_list_of_texts_is_refused() -> None:
    with pytest.raises(BusinessRuleError, match="list of rule texts"):
        BusinessRules.from_json({"rules": "vip-first"})


# --- a tiny simulated world (ids SITE0/SITE1, zones Z0..Z3, plan date 2026-10-05, 21 days) --------


@cache
def world_statics(seed: int = 1) -> tuple[Statics, ExecState, Information]:
    world = simulate_world("tiny", seed)
    statics = Statics.from_world(world)
    rng = np.random.default_rng(seed)
    pmf = rng.dirichlet(np.ones(6), size=len(world.units) + statics.n_res)
    info = Information(RiskPolicy.parse("expected"), pmf, None, None, None)
    return statics, initial_state(world, statics, None), info


def day(statics: Statics, t: int) -> str:
    assert statics.plan_date is not None
    return (statics.plan_date + dt.timedelta(days=t)).isoformat()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("hold:NOPE", "unknown unit 'NOPE'"),
        ("block-site:SITE9@2026-10-06", "unknown site 'SITE9'"),
        ("block-lane:SITE0->Z9@2026-10-06", "unknown site or zone 'Z9'"),
        ("block-lane:SITE9->Z0@2026-10-06", "unknown site 'SITE9'"),
        ("block-site:SITE1@2025-10-06", "outside the plan's days 2026-10-05..2026-10-25"),
        ("hold:U0000001@2026-11-01..2026-11-03", "outside the plan's days"),
    ],
)
def test_rules_that_do_not_fit_the_data_are_refused_with_their_words(text: str, words: str) -> None:
    statics, _, _ = world_statics()
    with pytest.raises(BusinessRuleError) as err:
        BusinessRules.parse([text]).check(statics)
    assert str(err.value).startswith(f"rule {text!r}: ") and words in str(err.value)


def test_a_lane_that_does_not_exist_is_refused() -> None:
    statics, _, _ = world_statics()
    no_lane = dataclasses.replace(statics, transfer_days=np.where(statics.transfer_days > 0, 10_000, 0))
    with pytest.raises(BusinessRuleError, match="there is no transfer lane SITE0->SITE1"):
        BusinessRules.parse(["block-lane:SITE0->SITE1@2026-10-06"]).check(no_lane)
    BusinessRules.parse(["block-lane:SITE0->SITE1@2026-10-06"]).check(statics)


def solve_input(inp: PlanningInput) -> tuple[np.ndarray, Layout]:
    problem, lay = build_problem(inp)
    result = solve(problem, HIGHS)
    assert result.x is not None
    return result.x, lay


def plan_with(rules: BusinessRules | None, seed: int = 1) -> PlanningInput:
    statics, state, info = world_statics(seed)
    return planning_input(statics, state, 0, dataclasses.replace(info, rules=rules))


# --- hold ------------------------------------------------------------------------------------------


def test_hold_satisfied_and_violated_on_the_hand_built_instance() -> None:
    """The hold takes site 0's only ready unit out of ready0: the plan shipping it breaks the ready
    balance; the plan shipping from site 1 instead does not."""
    inp = tiny_input()
    inp.ready0 = np.array([[0.0, 0.0]])  # what planning_input leaves when that unit is held
    _, lay = build_problem(inp)
    x = feasible_plan(inp, lay)
    x[var(lay, "I", 0, 0, 0)] = 0
    assert residual("ready_inventory_balance", inp, lay, x) == pytest.approx(1.0)
    x[lay.off_X + 0] = 0  # reservation 0 from site 1 on day 2 instead, the cleaned unit
    x[lay.off_X + 1] = 1
    x[var(lay, "I", 0, 1, 2)] = 0
    assert residual("ready_inventory_balance", inp, lay, x) == pytest.approx(0.0)


def local_sku(inp: PlanningInput, statics: Statics) -> np.ndarray:
    local = np.full(statics.n_skus, -1, dtype=np.int64)
    local[inp.skus] = np.arange(len(inp.skus))
    return local


def test_held_units_leave_stock_until_the_day_after_the_hold() -> None:
    statics, state, _ = world_statics()
    base = plan_with(None)
    local = local_sku(base, statics)
    ready = [int(u) for u in np.nonzero(state.state == U.READY)[0] if local[statics.unit_sku[u]] >= 0]
    a, b = ready[0], ready[1]
    rules = BusinessRules.parse(
        [f"hold:{statics.unit_ids[a]}", f"hold:{statics.unit_ids[b]}@{day(statics, 0)}..{day(statics, 3)}"]
    )
    release = held_units(rules, statics)
    assert release[a] == statics.horizon and release[b] == 4
    assert (np.delete(release, [a, b]) == -1).all()
    held = plan_with(rules)
    ready0, ready_in = base.ready0.copy(), base.ready_in.copy()
    for u in (a, b):
        ready0[local[statics.unit_sku[u]], state.site[u]] -= 1
    ready_in[local[statics.unit_sku[b]], state.site[b], 4] += 1  # b is ready again the day after its hold
    np.testing.assert_allclose(held.ready0, ready0)
    np.testing.assert_allclose(held.ready_in, ready_in)
    np.testing.assert_allclose(held.dirty0, base.dirty0)


def test_a_hold_changes_the_solved_plan() -> None:
    """Holding every ready unit of the SKU-site the plan ships from today: nothing ships from there today."""
    statics, state, _ = world_statics()
    base = plan_with(None)
    x, lay = solve_input(base)
    ships = x[lay.off_X : lay.off_Y] > 0.5
    today = ships & (base.cand_tau == 0)
    assert today.any()
    c = int(np.nonzero(today)[0][0])
    k, s = int(base.skus[base.cand_sku[c]]), int(base.cand_site[c])
    units = np.nonzero((state.state == U.READY) & (statics.unit_sku == k) & (state.site == s))[0]
    held = plan_with(BusinessRules.parse([f"hold:{','.join(statics.unit_ids[units].astype(str))}"]))
    assert held.ready0[held.cand_sku[c], s] == 0
    x, lay = solve_input(held)
    same = (held.cand_sku == held.cand_sku[c]) & (held.cand_site == s) & (held.cand_tau == 0)
    assert x[lay.off_X : lay.off_Y][same].sum() == pytest.approx(0.0, abs=1e-7)


# --- block-site and block-lane: column bounds -----------------------------------------------------


def test_block_site_satisfied_and_violated_on_the_hand_built_instance() -> None:
    inp = tiny_input()
    inp.cand_rule = np.array(["block-site:S0@2026-10-06", "", ""], dtype=object)  # site 0 on day 1
    problem, lay = build_problem(inp)
    x = feasible_plan(inp, lay)  # ships reservation 0 from site 0 on day 1
    assert bound_violation(problem, x) == pytest.approx(1.0)
    assert list(rule_blocked_candidates(inp)) == ["block-site:S0@2026-10-06", "", ""]
    x[lay.off_X + 0] = 0
    assert bound_violation(problem, x) == pytest.approx(0.0)


def test_block_lane_transfer_satisfied_and_violated_on_the_hand_built_instance() -> None:
    inp = tiny_input()
    inp.tr_blocked = np.zeros((2, 2, inp.T), dtype=bool)
    inp.tr_blocked[0, 1, 0] = True  # nothing leaves 0 -> 1 on day 0
    problem, lay = build_problem(inp)
    x = feasible_plan(inp, lay)
    m = np.nonzero((lay.tr_a == 0) & (lay.tr_b == 1))[0]
    blocked = m[lay.tr_tau[m] == 0][0]
    other = m[lay.tr_tau[m] == 1][0]
    x[lay.off_TR + other] = 1
    assert bound_violation(problem, x) == pytest.approx(0.0)
    x[lay.off_TR + blocked] = 1
    assert bound_violation(problem, x) == pytest.approx(1.0)


def test_blocked_sites_and_lanes_mark_their_days_only() -> None:
    statics, _, _ = world_statics()
    rules = BusinessRules.parse(
        [
            f"block-site:SITE1@{day(statics, 1)}..{day(statics, 2)}",
            f"block-lane:SITE0->Z3@{day(statics, 2)}",
            f"block-lane:SITE0->SITE1@{day(statics, -3)}..{day(statics, 0)}",
        ]
    )
    sites = blocked_sites(rules, statics, 1, statics.horizon - 1)  # planning on day 1: local day 0 = day 1
    assert set(zip(*np.nonzero(sites != ""), strict=True)) == {(1, 0), (1, 1)}
    ship, transfer = blocked_lanes(rules, statics, 0, statics.horizon)
    assert set(zip(*np.nonzero(ship != ""), strict=True)) == {(0, 3, 2)}
    assert set(zip(*np.nonzero(transfer != ""), strict=True)) == {(0, 1, 0)}
    assert ship[0, 3, 2] == f"block-lane:SITE0->Z3@{day(statics, 2)}"


def test_a_blocked_site_ships_picks_and_cleans_nothing_on_its_days_in_the_solved_plan() -> None:
    statics, _, _ = world_statics()
    base = plan_with(None)
    x, lay = solve_input(base)
    shipped = x[lay.off_X : lay.off_Y] > 1e-6
    s = int(np.bincount(base.cand_site[shipped & (base.cand_tau <= 2)], minlength=2).argmax())
    text = f"block-site:{statics.site_ids[s]}@{day(statics, 0)}..{day(statics, 2)}"
    inp = plan_with(BusinessRules.parse([text]))
    assert (inp.clean_cap[s, :3] == 0).all() and (inp.ship_cap[s, :3] == 0).all() and (inp.pick_cap[s, :3] == 0).all()
    np.testing.assert_allclose(inp.clean_cap[s, 3:], base.clean_cap[s, 3:])
    blocked = (inp.cand_site == s) & (inp.cand_tau <= 2)
    assert (rule_blocked_candidates(inp)[blocked] == text).all() and (
        rule_blocked_candidates(inp)[~blocked] == ""
    ).all()
    x, lay = solve_input(inp)
    assert x[lay.off_X : lay.off_Y][blocked].max() == pytest.approx(0.0, abs=1e-9)
    assert x[lay.off_C : lay.off_X].reshape(lay.K, lay.S, lay.T)[:, s, :3].sum() == pytest.approx(0.0, abs=1e-9)


def test_a_blocked_shipping_lane_moves_the_shipments_in_the_solved_plan() -> None:
    statics, _, _ = world_statics()
    base = plan_with(None)
    x, lay = solve_input(base)
    zone = statics.res_zone[base.res[base.cand_res]]
    used = (x[lay.off_X : lay.off_Y] > 0.5) & (base.cand_tau == 0)
    c = int(np.nonzero(used)[0][0])
    text = f"block-lane:{statics.site_ids[base.cand_site[c]]}->{statics.zone_ids[zone[c]]}@{day(statics, 0)}"
    inp = plan_with(BusinessRules.parse([text]))
    blocked = (inp.cand_site == base.cand_site[c]) & (zone == zone[c]) & (inp.cand_tau == 0)
    assert (rule_blocked_candidates(inp)[blocked] == text).all()
    x, lay = solve_input(inp)
    assert x[lay.off_X : lay.off_Y][blocked].max() == pytest.approx(0.0, abs=1e-9)


# --- max-transfers: the transfers_per_lane_day row family -------------------------------------------


def test_transfers_per_lane_day_satisfied_and_violated_on_the_hand_built_instance() -> None:
    inp = tiny_input()
    _, lay = build_problem(inp)
    x = feasible_plan(inp, lay)
    m = int(np.nonzero((lay.tr_a == 1) & (lay.tr_b == 0) & (lay.tr_tau == 1))[0][0])
    x[lay.off_TR + m] = 2
    assert residual("transfers_per_lane_day", inp, lay, x) == pytest.approx(0.0)  # no rule: no rows
    inp.max_transfers_per_lane_day = 1
    _, lay = build_problem(inp)
    assert lay.row_blocks["transfers_per_lane_day"][1] > lay.row_blocks["transfers_per_lane_day"][0]
    assert residual("transfers_per_lane_day", inp, lay, x) == pytest.approx(1.0)
    x[lay.off_TR + m] = 1
    assert residual("transfers_per_lane_day", inp, lay, x) == pytest.approx(0.0)


def test_max_transfers_zero_stops_the_tiny_models_transfer() -> None:
    """The tiny model's optimum moves the cleaned unit 1 -> 0 (test_rules); with max-transfers:0 it
    ships reservation 0 from site 1 instead."""
    inp = tiny_input()
    x, lay = solve_input(inp)
    assert x[lay.off_TR :].sum() == pytest.approx(1.0)
    inp.max_transfers_per_lane_day = 0
    x, lay = solve_input(inp)
    assert x[lay.off_TR :].sum() == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(x[lay.off_X : lay.off_Y], [0.0, 1.0, 1.0], atol=1e-7)


# --- cleaning-buffer ----------------------------------------------------------------------------


def test_cleaning_buffer_satisfied_and_violated_on_the_hand_built_instance() -> None:
    inp = tiny_input()
    inp.clean_cap = cleaning_buffer(BusinessRules.parse(["cleaning-buffer:10%"]), inp.clean_cap)
    _, lay = build_problem(inp)
    x = feasible_plan(inp, lay)  # cleans one unit at site 1 on day 0, where the capacity is 1
    assert residual("cleaning_capacity_per_site_day", inp, lay, x) == pytest.approx(0.1)
    x[var(lay, "C", 0, 1, 0)] = 0.9
    assert residual("cleaning_capacity_per_site_day", inp, lay, x) == pytest.approx(0.0)


def test_a_cleaning_buffer_keeps_that_share_free_in_the_solved_plan() -> None:
    base = plan_with(None)
    inp = plan_with(BusinessRules.parse(["cleaning-buffer:40%"]))
    np.testing.assert_allclose(inp.clean_cap, 0.6 * base.clean_cap)
    x, lay = solve_input(inp)
    used = x[lay.off_C : lay.off_X].reshape(lay.K, lay.S, lay.T).sum(axis=0)
    assert (used <= 0.6 * base.clean_cap + 1e-7).all()


# --- vip-first ----------------------------------------------------------------------------------


def vip_input() -> tuple[PlanningInput, np.ndarray]:
    """Two ready units at site 0, three reservations on day 1 from site 0: A is VIP and worth $50,
    B and C ordinary and worth $150 and $140. Without the rule the plan fills B and C."""
    inp = tiny_input()
    inp.ready0 = np.array([[2.0, 0.0]])
    inp.dirty0 = np.zeros((1, 2))
    inp.ship_cap = np.full((2, 3), 3.0)
    inp.pick_cap = np.full((2, 3), 3.0)
    inp.res = np.array([10, 11, 12])
    inp.cand_res = np.array([0, 1, 2])
    inp.cand_site = np.array([0, 0, 0])
    inp.cand_tau = np.array([1, 1, 1])
    inp.cand_sku = np.array([0, 0, 0])
    inp.cand_obj = np.array([50.0, 150.0, 140.0])
    return inp, np.array([True, False, False])


def most_vip_fills(inp: PlanningInput, vip: np.ndarray) -> float:
    """The most VIP reservations any plan can fill: the same rows, VIP fills as the only objective."""
    problem, lay = build_problem(inp)
    c = np.zeros(lay.n)
    c[lay.off_X : lay.off_Y] = vip
    result = solve(dataclasses.replace(problem, c=c), HIGHS)
    assert result.objective is not None
    return float(result.objective)


def test_vip_first_satisfied_and_violated_on_the_hand_built_instance() -> None:
    inp, vip = vip_input()
    x, lay = solve_input(inp)
    filled = x[lay.off_X : lay.off_Y]
    np.testing.assert_allclose(filled, [0.0, 1.0, 1.0], atol=1e-7)  # violated: A left for B and C
    assert filled[vip].sum() < most_vip_fills(inp, vip) - 0.5
    inp.cand_bonus = vip_first_bonus(
        BusinessRules.parse(["vip-first"]), vip, inp.cand_obj, inp.protect, inp.transfer_cost, inp.T
    )
    assert inp.cand_bonus is not None and inp.cand_bonus[0] > 150 + 140 and (inp.cand_bonus[1:] == 0).all()
    x, lay = solve_input(inp)
    filled = x[lay.off_X : lay.off_Y]
    np.testing.assert_allclose(filled, [1.0, 1.0, 0.0], atol=1e-7)  # satisfied: A, then the better of B and C
    assert filled[vip].sum() == pytest.approx(most_vip_fills(inp, vip))
    assert vip_first_bonus(None, vip, inp.cand_obj, inp.protect, inp.transfer_cost, inp.T) is None


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 500))
def test_vip_first_fills_as_many_vip_reservations_as_any_plan_can(seed: int) -> None:
    """On a tiny world with every third reservation made VIP and scarce stock (half the units held)."""
    statics, state, info = world_statics(1)
    rng = np.random.default_rng(seed)
    statics = dataclasses.replace(statics, res_priority=(rng.random(statics.n_res) < 0.4).astype(np.int64))
    units = [str(u) for u in statics.unit_ids[rng.random(len(statics.unit_ids)) < 0.5]]
    rules = BusinessRules.parse([f"hold:{','.join(units)}", "vip-first"])
    inp = planning_input(statics, state, 0, dataclasses.replace(info, rules=rules))
    vip = statics.res_priority[inp.res[inp.cand_res]] > 0
    x, lay = solve_input(inp)
    assert x[lay.off_X : lay.off_Y][vip].sum() == pytest.approx(most_vip_fills(inp, vip), abs=1e-6)


# --- the property: random rules on tiny worlds ----------------------------------------------------


@st.composite
def random_rules(draw: st.DrawFn, statics: Statics) -> BusinessRules:
    H = statics.horizon
    texts: list[str] = []

    def dates() -> str:
        a = draw(st.integers(0, H - 1))
        b = draw(st.integers(a, min(H - 1, a + 4)))
        return f"{day(statics, a)}..{day(statics, b)}"

    units = draw(st.lists(st.sampled_from([str(u) for u in statics.unit_ids]), max_size=25, unique=True))
    if units:
        texts.append(f"hold:{','.join(units)}" + (f"@{dates()}" if draw(st.booleans()) else ""))
    for _ in range(draw(st.integers(0, 2))):
        texts.append(f"block-site:{draw(st.sampled_from(list(statics.site_ids)))}@{dates()}")
    for _ in range(draw(st.integers(0, 3))):
        a = draw(st.sampled_from(list(statics.site_ids)))
        b = draw(st.sampled_from([*statics.site_ids.drop(a), *statics.zone_ids]))
        texts.append(f"block-lane:{a}->{b}@{dates()}")
    if draw(st.booleans()):
        texts.append(f"max-transfers:{draw(st.integers(0, 2))}")
    if draw(st.booleans()):
        texts.append("vip-first")
    return BusinessRules.parse(texts)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.sampled_from([1, 2]))
def test_solved_plans_never_break_random_rules(data: st.DataObject, seed: int) -> None:
    statics, state, info = world_statics(seed)
    rules = data.draw(random_rules(statics))
    rules.check(statics)
    inp = planning_input(statics, state, 0, dataclasses.replace(info, rules=rules))
    base = planning_input(statics, state, 0, info)
    x, lay = solve_input(inp)
    ship = x[lay.off_X : lay.off_Y]
    tr = x[lay.off_TR :]
    # Never ships from a blocked site or along a blocked shipping lane on a blocked day.
    site_rule = blocked_sites(rules, statics, 0, inp.T)
    ship_rule, tr_rule = blocked_lanes(rules, statics, 0, inp.T)
    zone = statics.res_zone[inp.res[inp.cand_res]]
    blocked = (site_rule[inp.cand_site, inp.cand_tau] != "") | (ship_rule[inp.cand_site, zone, inp.cand_tau] != "")
    assert ship[blocked].max(initial=0.0) <= 1e-9
    np.testing.assert_array_equal(rule_blocked_candidates(inp) != "", blocked)
    # Nothing leaves along a blocked transfer lane or a blocked site on its days.
    out = (tr_rule[lay.tr_a, lay.tr_b, lay.tr_tau] != "") | (site_rule[lay.tr_a, lay.tr_tau] != "")
    assert tr[out].max(initial=0.0) <= 1e-7
    # Never uses a held unit: it is in no stock before its release day.
    release = held_units(rules, statics)
    local = local_sku(inp, statics)
    held_now = (release > 0) & (local[statics.unit_sku] >= 0) & (state.state == U.READY)
    expect = base.ready0.copy()
    np.subtract.at(expect, (local[statics.unit_sku[held_now]], state.site[held_now]), 1.0)
    np.testing.assert_allclose(inp.ready0, expect)
    # At most N transfers per lane-day, all SKUs together.
    if rules.max_transfers_per_lane_day is not None:
        per = np.zeros((lay.S, lay.S, lay.T))
        np.add.at(per, (lay.tr_a, lay.tr_b, lay.tr_tau), tr)
        assert per.max(initial=0.0) <= rules.max_transfers_per_lane_day + 1e-7
