"""``/nightly``: an operator queues the nightly job now (the scheduler does the same on its own)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, status

from allocation.jobs import service
from api.http import jobs_dispatch
from api.http.deps import OperatorKey, RuntimeDep
from api.http.errors import error_responses
from api.http.schemas.jobs import JobCreate, JobPublic, NightlyCreate

__all__ = ["router"]

router = APIRouter(prefix="/nightly", tags=["nightly"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    responses=error_responses(401, 403, 404, 413, 422, 503),
    summary="Queue the nightly job",
)
def queue_nightly(
    runtime: RuntimeDep, key: OperatorKey, body: Annotated[NightlyCreate | None, Body()] = None
) -> JobPublic:
    """Plan ``dataset_id``, else ``CLOSETFLOW_NIGHTLY_DATASET_ID``, else the newest dataset, with the
    server's default options."""
    dataset_id = body.dataset_id if body is not None else None
    if dataset_id is None:
        dataset_id = runtime.settings.nightly_dataset_id
    if dataset_id is None:
        dataset_id = service.latest_dataset_id(runtime.sessions)
    options = JobCreate(dataset_id=dataset_id).options(runtime.settings)
    job, _ = service.create_job(runtime.sessions, options=options, actor=key.id, kind="nightly")
    jobs_dispatch.submit(runtime, job)
    return JobPublic.of(job)
