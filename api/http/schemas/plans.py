"""A plan: its KPIs, its lists (ships, cleaning order, transfers, unfilled with reasons) and its
holdout validation. Lists are pages: ``items`` plus the ``total`` of the filtered list."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BindingConstraint",
    "CleaningPage",
    "PlanKpis",
    "PlanValidation",
    "ReservationExplanation",
    "ShipmentPage",
    "TransferPage",
    "UnfilledPage",
    "WhatIfComparison",
    "WhatIfCreate",
]


class PlanKpis(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "plan_id": "47d08820beb846ef9c62bee02b20c6e6",
                    "job_id": "5e166ca666f04cd6b8d7c6c82d6334ee",
                    "dataset_id": "b06ce6bfdff5410c891dcd88dd8a7ced",
                    "created_at": "2026-10-05T21:04:05Z",
                    "published_at": "2026-10-05T21:04:09Z",
                    "kpis": {"reservations": 45, "filled": 41, "fill_rate": 0.911},
                }
            ]
        }
    )
    plan_id: str
    job_id: str
    dataset_id: str
    created_at: dt.datetime
    published_at: dt.datetime | None = Field(description="null until the job's publish step has run")
    kpis: dict[str, Any]


class _Page(BaseModel):
    total: int = Field(description="rows in the whole filtered list")
    limit: int
    offset: int


class Shipment(BaseModel):
    unit_id: str
    reservation_id: str
    site_id: str
    ship_date: dt.date


class ShipmentPage(_Page):
    items: list[Shipment]


class Cleaning(BaseModel):
    site_id: str
    date: dt.date
    unit_id: str
    sku_id: str
    rank: int = Field(description="1 is cleaned first at that site and day")


class CleaningPage(_Page):
    items: list[Cleaning]


class Transfer(BaseModel):
    unit_id: str
    sku_id: str
    from_site: str
    to_site: str
    ship_date: dt.date
    arrive_date: dt.date


class TransferPage(_Page):
    items: list[Transfer]


class Unfilled(BaseModel):
    reservation_id: str
    sku_id: str
    reason: str = Field(description="why it is unfilled: no supply in time, cleaning or shipping capacity, ...")


class UnfilledPage(_Page):
    items: list[Unfilled]
    reasons: dict[str, int] = Field(description="unfilled reservations per reason, over the whole plan")


class PolicyOutcome(BaseModel):
    """One policy replayed on the holdout schedule."""

    model_config = ConfigDict(extra="allow")
    fill_rate: float
    value: float
    cost: float
    filled: int
    transfers: int


class LpBound(BaseModel):
    """One LP over the whole horizon knowing the holdout, scored like the policies' realized value."""

    value: float | None = Field(description="dollars: filled value - shipping - transfer costs; null if unsolved")
    seconds: float
    status: str


class PlanValidation(BaseModel):
    """greedy (first come first served, the floor), rules (a warehouse's rules planner), closetflow and
    the hindsight optimum on the same holdout."""

    model_config = ConfigDict(extra="allow")
    plan_id: str
    reservations: int
    replan_every_days: int
    greedy: PolicyOutcome
    rules: PolicyOutcome | None = Field(None, description="the rules planner; absent in reports made before it")
    closetflow: PolicyOutcome
    hindsight: PolicyOutcome
    gap_captured: float | None = Field(description="(closetflow - greedy) / (hindsight - greedy), by value")
    gap_captured_fill_rate: float | None
    gap_captured_vs_rules: float | None = Field(
        None, description="(closetflow - rules) / (hindsight - rules), by value: the headline"
    )
    gap_captured_vs_rules_fill_rate: float | None = None
    lp_bound: LpBound | None = Field(
        None, description="the perfect-information LP bound no policy can beat; absent in reports made before it"
    )
    hindsight_vs_lp_bound: float | None = Field(
        None, description="hindsight's realized value / the LP bound: how far the strongest policy is from the best"
    )


class BindingConstraint(BaseModel):
    """A capacity row of tonight's model with under half a unit of room left."""

    constraint: str = Field(description="the row family: shipping_capacity_per_site_day, ...")
    site_id: str | None
    to_site: str | None = Field(None, description="a lane's destination (transfer rows)")
    date: dt.date | None
    capacity: float
    used: float
    price: float | None = Field(description="dollars one more unit of this capacity is worth tonight; null: no duals")


class ReservationExplanation(BaseModel):
    """Why an open reservation is filled from its site and day, or not filled."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "plan_id": "47d08820beb846ef9c62bee02b20c6e6",
                    "reservation_id": "V0000064",
                    "sku_id": "SKU0012",
                    "filled": False,
                    "site_id": None,
                    "ship_date": None,
                    "ship_by": "2026-10-05",
                    "reason": "shipping_capacity",
                    "binding": [],
                    "ready_date": "2026-10-01",
                    "p_back_in_time": None,
                    "rule": "",
                    "text": "Unfilled: every site that could ship V0000064 by Mon 5 Oct was at shipping capacity",
                }
            ]
        }
    )
    plan_id: str
    reservation_id: str
    sku_id: str
    filled: bool
    site_id: str | None = Field(description="the site it ships from; null when unfilled")
    ship_date: dt.date | None
    ship_by: dt.date | None = Field(description="the last day any site could ship it")
    reason: str = Field(
        description="unfilled: no_supply_in_time, late_return_risk, shipping_capacity, cleaning_capacity, "
        "outranked_by_higher_value, too_late_to_ship, business_rule; filled: cheapest_site, "
        "cheaper_site_at_capacity, cheaper_site_short"
    )
    binding: list[BindingConstraint]
    ready_date: dt.date | None = Field(description="when the unit of its SKU it needs could first be ready")
    p_back_in_time: float | None = Field(description="chance the unit it needs, out today, is back and clean in time")
    rule: str = Field(description="business rules that blocked some of its shipments")
    text: str = Field(description="the explanation in a planner's words")


class WhatIfCreate(BaseModel):
    """Changes to re-solve tonight's plan with (at least one)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"cleaning_capacity": ["SITE1:+10%"], "site_down": ["SITE0@2026-10-05"]}]},
    )
    cleaning_capacity: list[str] = Field(
        default_factory=list, max_length=50, description="SITE:+10% (a share) or SITE:+50 (units a day)"
    )
    shipping_capacity: list[str] = Field(default_factory=list, max_length=50, description="as cleaning_capacity")
    site_down: list[str] = Field(
        default_factory=list, max_length=50, description="SITE@YYYY-MM-DD or SITE@YYYY-MM-DD..YYYY-MM-DD"
    )
    demand_surge: list[str] = Field(default_factory=list, max_length=50, description="CATEGORY:+30%")


class WhatIfFigures(BaseModel):
    reservations: int | None = None
    filled: float | None
    fill_rate: float | None
    value: float | None = Field(description="dollars: value filled - shipping - transfer costs")
    cost: float | None = Field(description="dollars: shipping + transfer costs")
    objective: float | None = Field(description="tonight's LP objective")


class WhatIfComparison(BaseModel):
    """A what-if plan against its base plan."""

    plan_id: str
    base_plan: str
    whatif: dict[str, list[str]]
    changes: list[str]
    before: WhatIfFigures
    after: WhatIfFigures
    delta: WhatIfFigures
    gained: list[str] = Field(description="reservations the what-if fills and the plan does not")
    lost: list[str] = Field(description="reservations the plan fills and the what-if does not")
