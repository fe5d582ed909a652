"""Liveness and readiness answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["Alive", "Ready"]


class Alive(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, str] = Field(description="each dependency and 'ok' (a failing one makes the answer a 503)")
