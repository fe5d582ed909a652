"""``/allocation-jobs``: submit a job (idempotent with ``Idempotency-Key``), watch it, cancel it, list them."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response, status

from allocation.data.io import load_world
from allocation.jobs import queries, service
from allocation.jobs.options import JobOptions
from allocation.jobs.steps import previous_artifacts, seed_previous
from allocation.model.business_rules import BusinessRules
from allocation.statics import Statics
from api.http import jobs_dispatch
from api.http.deps import PlannerKey, RuntimeDep
from api.http.errors import error_responses
from api.http.schemas.common import Id
from api.http.schemas.jobs import JobCreate, JobList, JobPublic

__all__ = ["router"]

router = APIRouter(prefix="/allocation-jobs", tags=["allocation jobs"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="send the same request again with the same key and get the same job back (200)",
    ),
]
JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    responses={
        200: {"model": JobPublic, "description": "The Idempotency-Key was used before: the job it made"},
        **error_responses(401, 403, 404, 409, 413, 422, 503),
    },
    summary="Submit an allocation job",
)
def submit_job(
    runtime: RuntimeDep, key: PlannerKey, body: JobCreate, response: Response, idempotency_key: IdempotencyKey = None
) -> JobPublic:
    """Queue a job for a dataset and start it (in this process, or on the workers when a broker is
    set). Poll ``GET /allocation-jobs/{id}`` for its state, stage and progress."""
    options = body.options(runtime.settings)
    _check_rules(runtime, options)
    previous = (
        previous_artifacts(runtime.store, str(queries.plan_summary(runtime.sessions, body.previous_plan)["job_id"]))
        if body.previous_plan is not None
        else {}
    )
    job, created = service.create_job(runtime.sessions, options=options, actor=key.id, idempotency_key=idempotency_key)
    if created:
        seed_previous(runtime.store, job.id, previous)
        jobs_dispatch.submit(runtime, job)
    else:
        response.status_code = status.HTTP_200_OK
    return JobPublic.of(job)


def _check_rules(runtime: RuntimeDep, options: JobOptions) -> None:
    """Business rules name units, sites, zones and days of the dataset: check them now, so a typo
    is a 422 with the rule's words rather than a job that fails later."""
    if not options.rules:
        return
    world = load_world(runtime.store.dataset_dir(options.dataset_id))
    if options.horizon_days is not None and options.horizon_days < world.horizon_days:
        world = dataclasses.replace(world, horizon_days=options.horizon_days)
    BusinessRules.from_json(options.rules).check(Statics.from_world(world))


@router.get(
    "",
    response_model=JobList,
    responses=error_responses(401, 403, 422, 503),
    summary="List jobs, newest first",
)
def list_jobs(
    runtime: RuntimeDep,
    _key: PlannerKey,
    state: JobState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JobList:
    views, total = service.list_jobs(runtime.sessions, state=state, limit=limit, offset=offset)
    return JobList(items=[JobPublic.of(v) for v in views], total=total, limit=limit, offset=offset)


@router.get(
    "/{job_id}",
    response_model=JobPublic,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="A job's state, stage and progress",
)
def read_job(runtime: RuntimeDep, _key: PlannerKey, job_id: Id) -> JobPublic:
    return JobPublic.of(service.get_job(runtime.sessions, job_id))


@router.delete(
    "/{job_id}",
    response_model=JobPublic,
    responses=error_responses(401, 403, 404, 409, 422, 503),
    summary="Cancel a queued or running job",
)
def cancel_job(runtime: RuntimeDep, key: PlannerKey, job_id: Id) -> JobPublic:
    """No further step starts and a running step stops at its next progress report; 409 when the
    job has already finished."""
    job = service.cancel_job(runtime.sessions, job_id, actor=key.id)
    jobs_dispatch.revoke(runtime, job_id)
    return JobPublic.of(job)
