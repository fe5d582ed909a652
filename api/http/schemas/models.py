"""The model registry over HTTP: versions and aliases, the serving log, check results, promotions.

Each mirrors what `closetflow models list|promote|rollback|checks` prints (api/models_cli.py); the
figures come straight from `forecasting.registry` and `forecasting.checks` records.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.http.schemas.common import Id
from forecasting.drift import DEFAULT_FILL_TOLERANCE

__all__ = [
    "AliasesPublic",
    "CheckResultPublic",
    "ChecksPublic",
    "FillRateCheckCreate",
    "ModelVersionPublic",
    "ModelsPublic",
    "PromoteCreate",
    "PromotionPublic",
    "ServingEntry",
    "ServingLogPublic",
]

PredictedFill = Literal["projected_fill_rate", "expected_fill_rate"]
RecordedName = Literal["holdout", "self_drift", "metric_drift", "fill_rate_drift"]
_JOB_ID = "a finished job whose report.json holds its plan's predicted and its holdout's realized fill rate"
_TOLERANCE = "highest |predicted - realized| fill rate allowed (0.05 = five points)"
_PREDICTED = "the plan's figure held to the realized one: its projection (whole units) or the LP's expectation"


class AliasesPublic(BaseModel):
    champion: str | None = Field(description="the version served; null before the first promote")
    previous: str | None = Field(description="the version a rollback returns to; null after a rollback")


class ModelVersionPublic(BaseModel):
    id: str = Field(description="v1, v2, ... in the order registered")
    aliases: list[str] = Field(description="champion and/or previous when they point at this version")
    readable: bool = Field(description="false when its metadata.json cannot be read (then only the id is known)")
    problem: str | None = Field(None, description="why it cannot be read")
    model: str | None = Field(None, description="the forecaster's registered name, e.g. linear")
    created_at: str | None = Field(None, description="when it was registered (ISO 8601, UTC)")
    data_hash: str | None = Field(None, description="hash of the demand table it was fitted on")
    code_version: str | None = Field(None, description="git:<sha> of the code that fitted it")
    metrics: dict[str, Any] = Field(default_factory=dict, description="hold-out figures stored when registered")


class ModelsPublic(AliasesPublic):
    versions: list[ModelVersionPublic] = Field(description="oldest first")
    warnings: list[str] = Field(description="e.g. an alias pointing at a version that is not in the registry")


class ServingEntry(BaseModel):
    version: str | None = Field(description="the version served; null for a baseline or category average")
    alias: str = Field(description="champion, previous, baseline or category_average")
    at: str = Field(description="when the model was loaded (ISO 8601, UTC)")
    why: str = Field(description="which steps of the chain failed before it, if any")


class ServingLogPublic(BaseModel):
    entries: list[ServingEntry] = Field(description="the latest loads, oldest first")
    total: int = Field(description="loads logged in all")


class CheckResultPublic(BaseModel):
    name: str = Field(description="holdout, self_drift, metric_drift, fill_rate_drift or recorded")
    version: str
    passed: bool
    values: dict[str, float | None] = Field(description="the figures compared (null: could not be computed)")
    threshold: dict[str, float | None] = Field(description="the limit each was held to")
    reason: str = Field(description="one sentence a planner can read")
    at: str = Field(description="when it ran (ISO 8601, UTC)")


class ChecksPublic(BaseModel):
    version: str
    passed: bool = Field(description="every listed check passed (false when none is listed)")
    checks: list[CheckResultPublic]


class FillRateCheckCreate(BaseModel):
    """Run the fill-rate drift check of a version on a job's report."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"job_id": "j_0123", "tolerance": 0.05}]})
    job_id: Id = Field(description=_JOB_ID)
    tolerance: float = Field(DEFAULT_FILL_TOLERANCE, ge=0, le=1, description=_TOLERANCE)
    predicted: PredictedFill = Field("projected_fill_rate", description=_PREDICTED)


class PromoteCreate(BaseModel):
    """Promote a version; with ``gated``, only if the checks pass (the champion stays otherwise)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{}, {"gated": True, "job_id": "j_0123", "tolerance": 0.05}]}
    )
    gated: bool = Field(
        False,
        description="require the stored results of `recorded` to have passed, and the fill-rate check on "
        "job_id when one is given; a failure answers 409 and keeps the champion",
    )
    recorded: tuple[RecordedName, ...] = Field(
        ("holdout", "self_drift"),
        min_length=1,
        max_length=4,
        description="gated: checks whose stored results (from `closetflow models checks`) must have passed",
    )
    job_id: Id | None = Field(None, description="gated: " + _JOB_ID)
    tolerance: float = Field(DEFAULT_FILL_TOLERANCE, ge=0, le=1, description="gated, with job_id: " + _TOLERANCE)
    predicted: PredictedFill = Field("projected_fill_rate", description="gated, with job_id: " + _PREDICTED)


class PromotionPublic(AliasesPublic):
    version: str
    promoted: bool
    reason: str = Field(description="what was decided and why (also appended to promotions.jsonl when gated)")
    checks: list[CheckResultPublic] = Field(description="every check run (empty without gated)")
