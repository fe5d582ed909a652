"""Allocation jobs: what a planner submits, and the job as it runs."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from allocation.domain import ClosetflowError
from allocation.jobs.options import JobOptions
from allocation.jobs.service import JobView
from allocation.model.business_rules import BusinessRules
from allocation.model.snapshot import RiskPolicy
from api.http.schemas.common import Id
from api.settings import Settings, lp_backends

__all__ = ["JobCreate", "JobList", "JobPublic", "NightlyCreate"]

_SOLVERS = lp_backends()


class JobCreate(BaseModel):
    """Options of one job. A field left out (or null) takes the server's default (``CLOSETFLOW_*``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "dataset_id": "3f2a9c0e5b7d4e1f8a6b2c3d4e5f6a7b",
                    "horizon_days": 14,
                    "solver": "highs",
                    "time_limit_s": 60,
                    "risk_policy": "quantile:0.8",
                    "replan_every": 1,
                }
            ]
        },
    )
    dataset_id: Id = Field(description="a dataset from POST /datasets")
    horizon_days: int | None = Field(
        None, ge=1, le=365, description="days to plan (default: the dataset's horizon; at most that)"
    )
    solver: str | None = Field(
        None, description="LP backend (default: CLOSETFLOW_SOLVER)", json_schema_extra={"enum": [*_SOLVERS, None]}
    )
    time_limit_s: float | None = Field(
        None, gt=0, le=86_400, allow_inf_nan=False, description="seconds per solve (default: CLOSETFLOW_TIME_LIMIT_S)"
    )
    risk_policy: str | None = Field(
        None,
        max_length=32,
        description="'expected', or 'quantile:<a>' with 0 < a < 1 (default: CLOSETFLOW_RISK_POLICY)",
        examples=["expected", "quantile:0.8"],
    )
    replan_every: int | None = Field(
        None, ge=1, le=365, description="days between closetflow's re-plans in validation (default: 1)"
    )
    rules: list[Annotated[str, Field(max_length=10_000)]] | None = Field(
        None,
        max_length=1_000,
        description="business rules, one text each: hold:UNIT[,UNIT...][@DATES], block-site:SITE@DATES, "
        "block-lane:FROM->TO@DATES (TO a site or a zone), vip-first, max-transfers:N, cleaning-buffer:P%; "
        "DATES is YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD (ids and days are checked against the dataset)",
        examples=[["block-site:SITE1@2026-10-06..2026-10-07", "vip-first", "max-transfers:5"]],
    )
    previous_plan: Id | None = Field(
        None,
        description="the plan before this one: its capacity prices warm-start the solve and its shipments count as"
        " communicated to customers (404 if there is no such plan)",
    )
    stability_penalty: float | None = Field(
        None,
        ge=0,
        le=1e6,
        allow_inf_nan=False,
        description="dollars a changed communicated shipment costs in the objective"
        " (default: CLOSETFLOW_STABILITY_PENALTY)",
    )

    @field_validator("solver")
    @classmethod
    def _known_solver(cls, value: str | None) -> str | None:
        if value is not None and value not in _SOLVERS:
            raise ValueError(f"unknown solver; choose one of {', '.join(_SOLVERS)}")
        return value

    @field_validator("risk_policy")
    @classmethod
    def _policy_parses(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                RiskPolicy.parse(value)
            except ClosetflowError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("rules")
    @classmethod
    def _rules_parse(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            try:
                BusinessRules.parse(value)
            except ClosetflowError as exc:
                raise ValueError(str(exc)) from None
        return value

    def business_rules(self) -> BusinessRules | None:
        """The request's business rules (None when it gives none)."""
        rules = BusinessRules.parse(self.rules or [])
        return rules if rules else None

    def options(self, settings: Settings, *, dataset_id: str | None = None) -> JobOptions:
        """The job's options: each field given, else the server's setting (merged with ``is None``)."""
        return JobOptions(
            dataset_id=dataset_id if dataset_id is not None else self.dataset_id,
            solver=self.solver if self.solver is not None else settings.solver,
            time_limit_s=self.time_limit_s if self.time_limit_s is not None else settings.time_limit_s,
            risk=self.risk_policy if self.risk_policy is not None else settings.risk_policy,
            replan_every=self.replan_every if self.replan_every is not None else settings.replan_every,
            protect_weight=settings.protect_weight,
            horizon_days=self.horizon_days,
            demand_model=settings.demand_model,
            models_dir=str(settings.artifacts_dir / "models"),
            rules=rules.to_json() if (rules := self.business_rules()) is not None else None,
            stability_penalty=(
                self.stability_penalty if self.stability_penalty is not None else settings.stability_penalty
            ),
        )


class NightlyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}, {"dataset_id": "3f2a9c0e"}]})
    dataset_id: Id | None = Field(
        None, description="dataset to plan (default: CLOSETFLOW_NIGHTLY_DATASET_ID, else the newest)"
    )


class JobPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "5e166ca666f04cd6b8d7c6c82d6334ee",
                    "kind": "allocation",
                    "dataset_id": "b06ce6bfdff5410c891dcd88dd8a7ced",
                    "state": "running",
                    "stage": "solve",
                    "progress": 0.41,
                    "attempts": 1,
                    "plan_id": None,
                    "error": None,
                    "options": {"solver": "highs", "time_limit_s": 120.0, "risk": "expected"},
                    "timings": {"check": 0.18, "forecast": 1.41},
                    "solver_stats": {},
                    "created_by": "9b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e",
                    "created_at": "2026-10-05T21:04:00Z",
                    "started_at": "2026-10-05T21:04:01Z",
                    "finished_at": None,
                }
            ]
        }
    )
    id: str
    kind: str = Field(description="allocation, or nightly")
    dataset_id: str
    state: str = Field(description="queued, running, succeeded, failed or cancelled")
    stage: str | None = Field(description="the step running or last run: check, forecast, solve, project, ...")
    progress: float = Field(ge=0, le=1)
    attempts: int = Field(description="times the job was taken up (a retried step counts again)")
    plan_id: str | None
    error: str | None
    options: dict[str, Any]
    timings: dict[str, float] = Field(description="seconds per finished step")
    solver_stats: dict[str, Any]
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @classmethod
    def of(cls, view: JobView) -> JobPublic:
        return cls.model_validate(view, from_attributes=True)


class JobList(BaseModel):
    items: list[JobPublic]
    total: int
    limit: int
    offset: int
