"""API keys: created by an operator, shown once, revoked by id."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from api.http.schemas.common import Text
from api.keys import Role

__all__ = ["KeyCreate", "KeyCreated", "KeyPublic"]


class KeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"role": "buyer", "name": "buying team"}]}
    )
    role: Role = Field(description="planner (datasets, jobs, plans), buyer (forecasts, plan KPIs), operator (all)")
    name: Text = Field("", description="who or what holds the key")


class KeyPublic(BaseModel):
    id: str
    role: Role
    name: str
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="the key itself: shown this once, never stored (only its sha256 is)")
