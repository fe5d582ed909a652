"""`allocation.buying` and its queue: fill is monotone in units on common random numbers, the
overflow shortcut equals the reference queue, edge cases give the fill they must, and the
recommendation reaches its target or says why not."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocation.buying import (
    BuyInputError,
    BuyPlan,
    UnknownStyleError,
    _site_of_zone,
    recommend_buy,
    season_demand,
    turn_times,
)
from allocation.buying_sim import (
    SizeDraws,
    TurnTimes,
    add_unit,
    draw_requests,
    fill_rate,
    fill_std_error,
    pool_takes,
    simulate_filled,
)
from allocation.domain import ClosetflowError, NotFoundError, World
from allocation.simulate.real_demand import MissingRealDemandError, real_demand_world
from allocation.simulate.world import simulate_world
from api.settings import real_data_dir
from forecasting.demand import DemandForecaster
from tests.servers import require

TIGHT_STYLE = "S00034"  # a style of the small seed-7 world short of units in one size


@pytest.fixture(scope="module")
def world() -> World:
    return simulate_world("small", 7)


@st.composite
def size_draws(draw: st.DrawFn) -> SizeDraws:
    """Small random draws: a few paths and days, up to 4 requests a day, turns of 1..12 days."""
    paths, days = draw(st.integers(1, 4)), draw(st.integers(1, 20))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    requests = rng.integers(0, draw(st.integers(1, 5)), size=(paths, days))
    turns = rng.integers(1, draw(st.integers(2, 13)), size=(paths, max(int(requests.sum(axis=1).max()), 1)))
    owned = rng.integers(0, days + 3, size=draw(st.integers(0, 4)))
    return SizeDraws(requests, turns, owned)


@settings(max_examples=60, deadline=None)
@given(draws=size_draws(), units=st.integers(0, 5))
def test_more_units_never_lower_the_fill_on_any_path(draws: SizeDraws, units: int) -> None:
    fewer, more = simulate_filled(draws, units), simulate_filled(draws, units + 1)
    assert (more >= fewer).all()
    assert (more <= draws.requests.sum(axis=1)).all()


@settings(max_examples=60, deadline=None)
@given(draws=size_draws(), units=st.integers(1, 5))
def test_overflow_units_equal_the_reference_queue(draws: SizeDraws, units: int) -> None:
    takes = pool_takes(draws)
    total = takes.sum(axis=1)
    unfilled_from = takes
    for _ in range(units):
        more, unfilled_from = add_unit(draws, unfilled_from)
        total = total + more
    np.testing.assert_array_equal(total, simulate_filled(draws, units))


def test_zero_demand_fills_everything() -> None:
    draws = SizeDraws(np.zeros((3, 10), dtype=np.int64), np.ones((3, 1), dtype=np.int64), np.array([0]))
    assert fill_rate(simulate_filled(draws), draws.requests) == 1.0
    assert fill_rate(simulate_filled(draws, 4), draws.requests) == 1.0


def test_one_unit_that_never_comes_back_fills_one_request_per_path() -> None:
    rng = np.random.default_rng(1)
    requests = rng.integers(1, 4, size=(5, 30))
    turns = np.full((5, int(requests.sum(axis=1).max())), 10_000)
    draws = SizeDraws(requests, turns, np.array([0]))
    np.testing.assert_array_equal(simulate_filled(draws), np.ones(5))
    assert fill_rate(simulate_filled(draws), requests) == pytest.approx(5 / requests.sum())


def test_a_unit_back_later_fills_only_from_its_release_day() -> None:
    requests = np.array([[1, 1, 1, 1]])
    draws = SizeDraws(requests, np.full((1, 4), 100), np.array([2]))  # on the shelf from day 2
    np.testing.assert_array_equal(pool_takes(draws), [[0, 0, 1, 0]])


def test_the_fill_standard_error_matches_the_spread_of_repeated_estimates() -> None:
    rng = np.random.default_rng(5)
    requested = rng.poisson(20, size=(400, 60)) + 1
    filled = rng.binomial(requested, 0.8)
    rates = [fill_rate(f, q) for f, q in zip(filled, requested, strict=True)]
    errors = [fill_std_error(f, q) for f, q in zip(filled, requested, strict=True)]
    assert np.mean(errors) == pytest.approx(np.std(rates, ddof=1), rel=0.15)
    assert fill_std_error(np.array([4, 8]), np.array([5, 10])) == 0.0  # the same rate on every path


def test_negative_binomial_draws_have_the_asked_mean_and_variance() -> None:
    rng = np.random.default_rng(0)
    y = draw_requests(np.full(50, 2.0), 0.5, 4000, rng)
    assert y.mean() == pytest.approx(2.0, rel=0.03)
    assert y.var() == pytest.approx(2.0 + 0.5 * 4.0, rel=0.06)  # mu + alpha mu^2


def test_turn_time_pmf_must_give_zero_days_no_weight() -> None:
    with pytest.raises(ValueError, match="0 days"):
        TurnTimes(np.array([0.5, 0.5]))
    assert TurnTimes(np.array([0.0, 0.2, 0.3, 0.5])).quantile(0.5) == 2


def test_season_demand_is_the_forecast_summed_over_sites(world: World) -> None:
    model = DemandForecaster().fit(world.bookings, world.skus, _site_of_zone(world), world.plan_date)
    ids = world.skus.loc[world.skus["style_id"] == TIGHT_STYLE, "sku_id"].astype(str).tolist()
    grid = model.predict(world.plan_date, 30, sku_ids=ids).groupby(["sku_id", "day"])["expected_total"].sum()
    expected = grid.unstack("day").reindex(ids).to_numpy()
    np.testing.assert_allclose(season_demand(model, ids, 30), expected, rtol=1e-9)


def test_a_style_without_rentals_takes_its_categorys_turn_times(world: World) -> None:
    skus = world.skus[world.skus["style_id"] == TIGHT_STYLE]
    bare = dataclasses.replace(world, rentals=world.rentals[~world.rentals["sku_id"].isin(skus["sku_id"])])
    turn, own, source = turn_times(bare, skus)
    assert own == 0 and source == f"category {skus['category'].iloc[0]}"
    assert 5 <= turn.quantile(0.5) <= turn.quantile(0.9) <= 30


def test_no_returned_rental_at_all_is_a_clear_error(world: World) -> None:
    bare = dataclasses.replace(world, rentals=world.rentals.iloc[:0])
    with pytest.raises(ClosetflowError, match="turn time"):
        turn_times(bare, world.skus[world.skus["style_id"] == TIGHT_STYLE])


@pytest.fixture(scope="module")
def plan(world: World) -> BuyPlan:
    return recommend_buy(world, TIGHT_STYLE, 0.97, paths=150, seed=3)


def test_the_recommendation_reaches_the_target(world: World, plan: BuyPlan) -> None:
    assert plan.current_fill < 0.97 <= plan.recommended_fill and plan.reached
    assert plan.units_added == sum(s.units_to_add for s in plan.sizes) > 0
    assert plan.cost == pytest.approx(sum(s.units_to_add * s.unit_cost for s in plan.sizes))
    for s in plan.sizes:
        assert s.recommended_fill >= s.current_fill
        assert s.units_to_add > 0 or s.recommended_fill == s.current_fill
    assert plan.assumptions.turn_median_days <= plan.assumptions.turn_p90_days
    assert 0 < plan.recommended_fill_se < 0.02
    assert recommend_buy(world, TIGHT_STYLE, 0.97, paths=150, seed=3) == plan  # seeded


def test_the_recommendation_says_when_the_budget_of_units_runs_out(world: World) -> None:
    plan = recommend_buy(world, TIGHT_STYLE, 0.999, paths=100, max_units=1)
    assert not plan.reached and plan.units_added == 1
    assert "not reached within 1" in plan.note


def test_a_style_already_at_target_buys_nothing(world: World) -> None:
    plan = recommend_buy(world, TIGHT_STYLE, 0.5, paths=100)
    assert plan.reached and plan.units_added == 0 and plan.cost == 0
    assert "buy nothing" in plan.note


def test_an_unknown_style_names_itself_and_some_known_ones(world: World) -> None:
    with pytest.raises(UnknownStyleError, match=r"'NOPE'.*S00000") as info:
        recommend_buy(world, "NOPE", 0.9)
    assert isinstance(info.value, NotFoundError)


@pytest.mark.parametrize("target", [0.0, 1.0, 1.5, -0.2, float("nan")])
def test_a_target_outside_zero_one_is_refused(world: World, target: float) -> None:
    with pytest.raises(BuyInputError, match="strictly between 0 and 1") as info:
        recommend_buy(world, TIGHT_STYLE, target)
    assert info.value.option == "target_fill"


def test_unit_cost_is_the_catalogues_retail_value(world: World, plan: BuyPlan) -> None:
    retail = world.skus.set_index("sku_id")["retail_value"]
    assert all(s.unit_cost == retail[s.sku_id] for s in plan.sizes)
    assert [s.size for s in plan.sizes] == sorted((s.size for s in plan.sizes), key=lambda x: pd.to_numeric(x))


def test_real_rentals_are_overdispersed_and_the_target_is_reached() -> None:
    """On the real-demand world (Rent the Runway rentals as bookings): skips without the file
    locally, fails under CI=true."""
    try:
        real = real_demand_world("tiny", 7, data_dir=real_data_dir())
    except MissingRealDemandError as error:
        require("the real rentals", str(error))
    style = str(real.skus["style_id"].iloc[0])
    plan = recommend_buy(real, style, 0.99, paths=100)
    assert plan.assumptions.demand_model == "negative binomial" and plan.assumptions.dispersion > 0.1
    assert plan.reached and plan.recommended_fill >= 0.99
