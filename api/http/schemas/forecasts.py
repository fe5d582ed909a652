"""Forecasts as served from the precomputed tables; each row names the model that made it."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DemandPage", "LateReturnPage"]


class _Page(BaseModel):
    dataset_id: str = Field(description="the dataset forecast")
    job_id: str = Field(description="the job whose forecast step made these rows (the newest one)")
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null on the last one")


class DemandRow(BaseModel):
    sku_id: str
    site_id: str
    day: dt.date
    expected_total: float = Field(description="expected reservations for that day, booked or not")
    expected_unbooked: float = Field(description="the part not booked yet on the plan date")
    p10: float | None = Field(description="Poisson quantiles of the unbooked part; null without a distribution")
    p50: float | None
    p90: float | None
    model: str


class DemandPage(_Page):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dataset_id": "b06ce6bfdff5410c891dcd88dd8a7ced",
                    "job_id": "5e166ca666f04cd6b8d7c6c82d6334ee",
                    "limit": 500,
                    "offset": 0,
                    "next_offset": None,
                    "rows": [
                        {
                            "sku_id": "K000000",
                            "site_id": "SITE0",
                            "day": "2026-10-06",
                            "expected_total": 0.42,
                            "expected_unbooked": 0.17,
                            "p10": 0.0,
                            "p50": 0.0,
                            "p90": 1.0,
                            "model": "linear (baseline)",
                        }
                    ],
                }
            ]
        }
    )
    rows: list[DemandRow]


class LateReturnRow(BaseModel):
    unit_id: str
    sku_id: str
    site_id: str
    due_back: dt.date
    p_late: float = Field(ge=0, le=1, description="chance the unit comes back after its due date")
    expected_delay_days: float
    p90_delay_days: int
    model: str


class LateReturnPage(_Page):
    rows: list[LateReturnRow]
