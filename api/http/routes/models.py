"""``/models``: the model registry for operators — what `closetflow models ...` does, over HTTP.

Thin routes over `forecasting.registry.ModelRegistry` (rooted at ``<artifacts_dir>/models``, the
folder the command line uses), `forecasting.promotion` and the checks. The registry's own words
reach the caller: an unknown version is a 404, a request the registry refuses (nothing to roll back
to, an unreadable version) a 409, a check that cannot run as asked a 422.

The service holds no demand table, so the checks over one (hold-out, self-drift, forecast drift)
are run where the table is, by `closetflow models checks`, and stored; here a gated promote
requires their stored verdicts (`forecasting.drift.RecordedCheck`) and runs what the service can
check itself: a job's predicted fill rate against its holdout's realized one (`FillRateDriftCheck`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query

from allocation.jobs.service import get_job
from allocation.jobs.store import MissingArtifact, read_json
from api.http.deps import OperatorKey, RuntimeDep
from api.http.errors import ApiError, error_responses
from api.http.schemas.common import Id
from api.http.schemas.models import (
    AliasesPublic,
    CheckResultPublic,
    ChecksPublic,
    FillRateCheckCreate,
    ModelsPublic,
    ModelVersionPublic,
    PromoteCreate,
    PromotionPublic,
    ServingEntry,
    ServingLogPublic,
)
from api.runtime import Runtime
from forecasting.checks import Check, CheckError, CheckResult, stored_results
from forecasting.drift import FillRateDriftCheck, RecordedCheck
from forecasting.promotion import gated_promote, run_checks
from forecasting.registry import ModelRegistry, RegistryError

__all__ = ["router"]

router = APIRouter(prefix="/models", tags=["models"])

READ_ERRORS = error_responses(401, 403, 404, 409, 422, 503)
WRITE_ERRORS = error_responses(401, 403, 404, 409, 413, 422, 503)
VersionPath = Annotated[Id, Path(description="a registered version, e.g. v3")]


def _registry(runtime: Runtime) -> ModelRegistry:
    """The registry the command line uses too (`api.settings.models_dir`), from this app's settings."""
    return ModelRegistry(runtime.settings.artifacts_dir / "models")


def _refused(err: RegistryError, registry: ModelRegistry, version: str | None = None) -> ApiError:
    """The registry's refusal in its own words: 404 for an unknown version, else 409."""
    unknown = version is not None and version not in registry.versions()
    return ApiError(404 if unknown else 409, str(err))


def _known(registry: ModelRegistry, version: str) -> None:
    """Refuse an unknown or unreadable version before anything is run or changed."""
    try:
        registry.info(version)
    except RegistryError as err:
        raise _refused(err, registry, version) from None


def _public(result: CheckResult) -> CheckResultPublic:
    return CheckResultPublic.model_validate(result.to_json())


def _fill_check(runtime: Runtime, job_id: str, tolerance: float, predicted: str) -> FillRateDriftCheck:
    """The fill-rate check on job ``job_id``'s report.json: 404 no such job, 409 no report yet."""
    get_job(runtime.sessions, job_id)  # NotFoundError: 404 in the job service's words
    try:
        report = read_json(runtime.store.get(job_id, "report.json"))
    except MissingArtifact as err:
        raise ApiError(409, f"{err} (the job has not finished)") from None
    if not isinstance(report, dict):
        raise ApiError(409, f"job {job_id}'s report.json is not a report")
    return FillRateDriftCheck.from_report(report, tolerance, predicted)  # CheckError: 422, its words


@router.get("", response_model=ModelsPublic, responses=READ_ERRORS, summary="Versions, metadata and aliases")
def list_models(runtime: RuntimeDep, _key: OperatorKey) -> ModelsPublic:
    """Every version, oldest first, with its metadata and the aliases pointing at it; an unreadable
    version is listed with the reason rather than hidden."""
    registry = _registry(runtime)
    try:
        aliases = registry.aliases()
    except RegistryError as err:
        raise _refused(err, registry) from None
    versions: list[ModelVersionPublic] = []
    for version in registry.versions():
        pointing = [a for a, v in aliases.items() if v == version]
        try:
            info = registry.info(version)
        except RegistryError as err:
            versions.append(ModelVersionPublic(id=version, aliases=pointing, readable=False, problem=str(err)))
            continue
        fields: dict[str, Any] = {k: getattr(info, k) for k in ("model", "created_at", "data_hash", "code_version")}
        versions.append(ModelVersionPublic(id=version, aliases=pointing, readable=True, metrics=info.metrics, **fields))
    known = {v.id for v in versions}
    warnings = [f"{a} points at {v}, which is not in the registry" for a, v in aliases.items() if v and v not in known]
    return ModelsPublic(**aliases, versions=versions, warnings=warnings)


@router.get("/serving-log", response_model=ServingLogPublic, responses=READ_ERRORS, summary="Which model served")
def serving_log(
    runtime: RuntimeDep,
    _key: OperatorKey,
    limit: Annotated[int, Query(ge=1, le=1000, description="the latest N loads")] = 100,
) -> ServingLogPublic:
    """Each load of a serving model: the version and alias (or the fallback) and why."""
    registry = _registry(runtime)
    try:
        entries = registry.serving_log()
        latest = [ServingEntry.model_validate(e) for e in entries[-limit:]]
    except (OSError, ValueError) as exc:  # a damaged line: say which file, rather than a bare 500
        why = " ".join(str(exc).split())[:200]
        raise ApiError(409, f"the serving log {registry.log_path.name} cannot be read ({why})") from None
    return ServingLogPublic(entries=latest, total=len(entries))


@router.post("/rollback", response_model=AliasesPublic, responses=WRITE_ERRORS, summary="Roll back the champion")
def rollback(runtime: RuntimeDep, _key: OperatorKey) -> AliasesPublic:
    """Make the previous version the champion again (409 when there is none)."""
    registry = _registry(runtime)
    try:
        return AliasesPublic(**registry.rollback())
    except RegistryError as err:
        raise _refused(err, registry) from None


@router.post("/{version}/promote", response_model=PromotionPublic, responses=WRITE_ERRORS, summary="Promote a version")
def promote(
    runtime: RuntimeDep, _key: OperatorKey, version: VersionPath, body: Annotated[PromoteCreate | None, Body()] = None
) -> PromotionPublic:
    """Make ``version`` the champion and the old champion the previous. With ``gated``, only if the
    checks pass: otherwise 409 with every failed check's reason, and the champion stays."""
    asked = body if body is not None else PromoteCreate()
    registry = _registry(runtime)
    _known(registry, version)
    if not asked.gated:
        given = sorted(asked.model_fields_set - {"gated"})
        if given:
            raise ApiError(422, f"{', '.join(given)} only apply with gated: true")
        try:
            aliases = registry.promote(version)
        except RegistryError as err:
            raise _refused(err, registry, version) from None
        return PromotionPublic(**aliases, version=version, promoted=True, reason=f"promoted {version}", checks=[])
    checks: list[Check] = [RecordedCheck(asked.recorded)]
    if asked.job_id is not None:
        checks.append(_fill_check(runtime, asked.job_id, asked.tolerance, asked.predicted))
    decision = gated_promote(registry, version, checks, None)
    if not decision.promoted:
        details = [f"{r.name}: {'passed' if r.passed else 'failed'}: {r.reason}" for r in decision.results]
        raise ApiError(409, decision.reason, code="check_failed", details=details)
    return PromotionPublic(
        champion=decision.champion,
        previous=decision.previous,
        version=version,
        promoted=True,
        reason=decision.reason,
        checks=[_public(r) for r in decision.results],
    )


@router.get("/{version}/checks", response_model=ChecksPublic, responses=READ_ERRORS, summary="Stored check results")
def read_checks(runtime: RuntimeDep, _key: OperatorKey, version: VersionPath) -> ChecksPublic:
    """The latest stored result of each check run on ``version`` (by the CLI or by this service)."""
    registry = _registry(runtime)
    _known(registry, version)
    results = stored_results(registry, version)
    return ChecksPublic(
        version=version, passed=bool(results) and all(r.passed for r in results), checks=[_public(r) for r in results]
    )


@router.post("/{version}/checks", response_model=ChecksPublic, responses=WRITE_ERRORS, summary="Run a check")
def run_fill_check(
    runtime: RuntimeDep, _key: OperatorKey, version: VersionPath, body: FillRateCheckCreate
) -> ChecksPublic:
    """Run the fill-rate drift check of ``version`` on a job's report and store the result. A check
    that fails is still a 200: the result is the answer (``passed`` false); nothing is promoted."""
    registry = _registry(runtime)
    _known(registry, version)
    check = _fill_check(runtime, body.job_id, body.tolerance, body.predicted)
    try:
        results = run_checks(registry, version, [check], None)
    except CheckError as err:
        raise ApiError(422, str(err)) from None
    return ChecksPublic(version=version, passed=all(r.passed for r in results), checks=[_public(r) for r in results])
