"""Explanations of tonight's plan: a tiny world bent so that a reservation is unfilled for each reason
(no supply in time, late-return risk, shipping capacity with a price, a business rule); the reason is
the one built in and the words name the reservation, site, day, price or rule behind it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from allocation.analysis.explain import BUSINESS_RULE, explain_plan, money, say_date
from allocation.domain import UnfilledReason, World
from allocation.model.business_rules import BusinessRules
from allocation.model.snapshot import Information, RiskPolicy
from allocation.plan import project_plan
from allocation.replay.policies import solve_plan
from allocation.simulate.world import simulate_world
from allocation.state import initial_state
from allocation.statics import Statics
from solvers.base import SolveOptions

SHIP_ROWS = ("shipping_capacity_per_site_day", "warehouse_picks_per_site_day")
DELAYS = 8  # width of the synthetic delay distributions: delay 0..7 days


@pytest.fixture(scope="module")
def tiny() -> World:
    return simulate_world("tiny", 3)


def _explain(
    world: World, pmf_rows: dict[int, np.ndarray] | None = None, risk: str = "expected", rules: list[str] | None = None
) -> tuple[pd.DataFrame, Statics]:
    """Solve, project and explain ``world`` with every return on time except ``pmf_rows``."""
    statics = Statics.from_world(world, include_new_bookings=False)
    pmf = np.zeros((len(world.units) + statics.n_res, DELAYS))
    pmf[:, 0] = 1.0
    for row, p in (pmf_rows or {}).items():
        pmf[row] = p
    info = Information(
        risk=RiskPolicy.parse(risk),
        pmf=pmf,
        schedule=None,
        demand_total=None,
        lead_cdf=None,
        rules=BusinessRules.parse(rules) if rules else None,
    )
    run = solve_plan(statics, initial_state(world, statics, None), 0, info, SolveOptions(backend="highs"))
    plan = project_plan(world, statics, run, info)
    return explain_plan(statics, run, plan, info), statics


def _early_reservation(world: World) -> pd.Series:
    """A known reservation whose event is about ten days out (room for a return before it)."""
    res = world.reservations
    days = (pd.to_datetime(res["event_date"]) - pd.Timestamp(world.plan_date)).dt.days
    return res.iloc[int(np.argmin((days - 10).abs().to_numpy()))]


def _with_new_sku(world: World, reservation_id: str, sku_id: str, event: pd.Timestamp | None = None) -> World:
    """``world`` with the reservation moved to a new SKU (a copy of its own SKU's row)."""
    res = world.reservations.copy()
    at = res["reservation_id"] == reservation_id
    old = res.loc[at, "sku_id"].iloc[0]
    res.loc[at, "sku_id"] = sku_id
    if event is not None:
        res.loc[at, "event_date"] = event
    skus = world.skus
    row = skus[skus["sku_id"] == old].copy()
    row["sku_id"] = sku_id
    return dataclasses.replace(world, reservations=res, skus=pd.concat([skus, row], ignore_index=True))


def test_a_reservation_of_a_sku_without_units_is_unfilled_for_no_supply(tiny: World) -> None:
    r = _early_reservation(tiny)
    world = _with_new_sku(tiny, r["reservation_id"], "K_NONE")
    frame, _ = _explain(world)
    row = frame.set_index("reservation_id").loc[r["reservation_id"]]
    assert not row["filled"]
    assert row["reason"] == UnfilledReason.NO_SUPPLY_IN_TIME
    assert pd.isna(row["ready_date"])
    assert r["reservation_id"] in row["text"]
    assert say_date(pd.Timestamp(row["ship_by"]).date()) in row["text"]


def test_a_reservation_waiting_on_a_likely_late_return_is_unfilled_for_late_return_risk(tiny: World) -> None:
    r = _early_reservation(tiny)
    statics = Statics.from_world(tiny)
    site = 0
    zone = int(np.flatnonzero(statics.zone_ids.astype(str) == r["zone"])[0])
    clean = int(statics.clean_days[site])
    due = 3
    # Shipped from SITE0 it must leave on the day the unit is back and clean if it returns on time.
    event = pd.Timestamp(tiny.plan_date) + pd.Timedelta(days=due + clean + int(statics.ship_days[site, zone]))
    world = _with_new_sku(tiny, r["reservation_id"], "K_LATE", event)
    unit = pd.DataFrame(
        {
            "unit_id": ["U_LATE"],
            "sku_id": ["K_LATE"],
            "site_id": [str(statics.site_ids[site])],
            "state": ["with_customer"],
            "due_back": [pd.Timestamp(tiny.plan_date) + pd.Timedelta(days=due)],
            "wear_count": [1],
            "rental_id": ["R_LATE"],
        }
    )
    units = pd.concat([world.units, unit.astype(world.units.dtypes.to_dict())], ignore_index=True)
    world = dataclasses.replace(world, units=units)
    on_time = 0.2
    late = np.zeros(DELAYS)
    late[0], late[5] = on_time, 1.0 - on_time
    frame, _ = _explain(world, {len(units) - 1: late}, risk="quantile:0.5")
    row = frame.set_index("reservation_id").loc[r["reservation_id"]]
    assert not row["filled"]
    assert row["reason"] == UnfilledReason.LATE_RETURN_RISK
    assert row["p_back_in_time"] == pytest.approx(on_time)
    assert "U_LATE" in row["text"] and f"{on_time:.0%}" in row["text"]


def test_reservations_unfilled_at_shipping_capacity_name_the_site_day_and_price(tiny: World) -> None:
    stations = tiny.stations.copy()
    stations.loc[stations["station_id"].str.startswith("SH"), "capacity_per_day"] = 1
    frame, _ = _explain(dataclasses.replace(tiny, stations=stations))
    capped = frame[frame["reason"] == UnfilledReason.SHIPPING_CAPACITY]
    assert len(capped) > 0
    priced = 0
    for _, row in capped.iterrows():
        binding = json.loads(row["binding"])
        at_ship = [b for b in binding if b["constraint"] in SHIP_ROWS]
        assert at_ship, row["text"]
        first = at_ship[0]  # the highest-priced shipping or pick row: the one the words name first
        assert first["site_id"] in row["text"]
        assert say_date(pd.Timestamp(first["date"]).date()) in row["text"]
        if first["price"] is not None and first["price"] > 0.005:
            priced += 1
            assert money(first["price"]) in row["text"]
    assert priced > 0  # at least one reservation's capacity carries a positive shadow price


def test_a_reservation_every_site_of_which_a_rule_blocks_is_unfilled_for_the_rule(tiny: World) -> None:
    last = tiny.plan_date + dt.timedelta(days=tiny.horizon_days - 1)
    rules = [f"block-site:{s}@{tiny.plan_date}..{last}" for s in tiny.sites["site_id"]]
    frame, _ = _explain(tiny, rules=rules)
    blocked = frame[frame["reason"] == BUSINESS_RULE]
    assert len(blocked) > 0 and not blocked["filled"].any()
    for _, row in blocked.iterrows():
        assert row["rule"] and row["rule"] in row["text"]


def test_every_shipment_says_its_site_and_day_and_why_that_site(tiny: World) -> None:
    frame, statics = _explain(tiny)
    shipped = frame[frame["filled"]]
    assert len(shipped) > 0
    for _, row in shipped.iterrows():
        assert row["text"].startswith(
            f"Ships from {row['site_id']} on {say_date(pd.Timestamp(row['ship_date']).date())}"
        )
        assert row["reason"] in {"cheapest_site", "cheaper_site_at_capacity", "cheaper_site_short"}
    assert set(frame["reservation_id"]) <= set(statics.reservations["reservation_id"])
