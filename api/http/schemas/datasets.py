"""Datasets: a checked data folder, kept as the zip it was uploaded in."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DatasetPublic"]


class DatasetPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "3f2a9c0e5b7d4e1f8a6b2c3d4e5f6a7b",
                    "name": "snapshot-2026-10-05.zip",
                    "created_at": "2026-10-05T21:04:00Z",
                    "created_by": "9b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e",
                    "plan_date": "2026-10-05",
                    "horizon_days": 21,
                    "sha256": "a" * 64,
                    "size_bytes": 65854,
                    "summary": {"sites": 2, "skus": 20, "units": 199, "reservations": 45, "rentals": 1374},
                }
            ]
        }
    )
    id: str
    name: str
    created_at: dt.datetime
    created_by: str = Field(description="id of the API key (or 'cli') that uploaded it")
    plan_date: dt.date
    horizon_days: int
    sha256: str = Field(description="sha256 of the zip as uploaded")
    size_bytes: int
    summary: dict[str, int | bool] = Field(description="rows per table, and whether a holdout came with it")
