"""A plan: its KPIs, its lists (ships, cleaning order, transfers, unfilled with reasons) and its
holdout validation. Lists are pages: ``items`` plus the ``total`` of the filtered list."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CleaningPage",
    "PlanKpis",
    "PlanValidation",
    "ShipmentPage",
    "TransferPage",
    "UnfilledPage",
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
