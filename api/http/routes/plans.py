"""``/plans/{plan_id}/*``: a plan's KPIs, lists and holdout validation, read from the plan tables; a
reservation's explanation, a what-if job started from the plan, and a what-if plan's comparison."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, status

from allocation.analysis.explain import load_explanations, reservation_explanation
from allocation.analysis.whatif import COMPARISON_ARTIFACT, WhatIf, WhatIfError, seed_whatif_job
from allocation.data.io import load_world
from allocation.domain import NotFoundError
from allocation.jobs import queries, service
from allocation.jobs.options import JobOptions
from allocation.jobs.store import MissingArtifact, read_json
from api.http import jobs_dispatch
from api.http.deps import PlanKpiKey, PlannerKey, RuntimeDep
from api.http.errors import error_responses
from api.http.schemas.common import Id
from api.http.schemas.jobs import JobPublic
from api.http.schemas.plans import (
    CleaningPage,
    PlanKpis,
    PlanValidation,
    ReservationExplanation,
    ShipmentPage,
    TransferPage,
    UnfilledPage,
    WhatIfComparison,
    WhatIfCreate,
)

__all__ = ["router"]

router = APIRouter(prefix="/plans/{plan_id}", tags=["plans"])

SiteFilter = Annotated[Id | None, Query(description="only this site")]
DayFilter = Annotated[dt.date | None, Query(description="only this day (YYYY-MM-DD)")]
Limit = Annotated[int, Query(ge=1, le=1000, description="rows per page")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="rows to skip")]
READ_ERRORS = error_responses(401, 403, 404, 422, 503)


@router.get("/kpis", response_model=PlanKpis, responses=READ_ERRORS, summary="A plan's KPIs")
def plan_kpis(runtime: RuntimeDep, _key: PlanKpiKey, plan_id: Id) -> PlanKpis:
    return PlanKpis.model_validate(queries.plan_summary(runtime.sessions, plan_id))


@router.get("/shipments", response_model=ShipmentPage, responses=READ_ERRORS, summary="The ship list")
def plan_shipments(
    runtime: RuntimeDep,
    _key: PlannerKey,
    plan_id: Id,
    site_id: SiteFilter = None,
    day: DayFilter = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> ShipmentPage:
    """Which unit ships to which reservation, from which site, on which day."""
    page = queries.shipments(runtime.sessions, plan_id, site_id=site_id, day=day, limit=limit, offset=offset)
    return ShipmentPage.model_validate({**page.__dict__, "limit": limit, "offset": offset})


@router.get("/cleaning", response_model=CleaningPage, responses=READ_ERRORS, summary="The cleaning order")
def plan_cleaning(
    runtime: RuntimeDep,
    _key: PlannerKey,
    plan_id: Id,
    site_id: SiteFilter = None,
    day: DayFilter = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> CleaningPage:
    """Which returned units each site cleans first, per day."""
    page = queries.cleaning(runtime.sessions, plan_id, site_id=site_id, day=day, limit=limit, offset=offset)
    return CleaningPage.model_validate({**page.__dict__, "limit": limit, "offset": offset})


@router.get("/transfers", response_model=TransferPage, responses=READ_ERRORS, summary="Transfers between sites")
def plan_transfers(
    runtime: RuntimeDep,
    _key: PlannerKey,
    plan_id: Id,
    site_id: Annotated[Id | None, Query(description="only transfers from or to this site")] = None,
    day: Annotated[dt.date | None, Query(description="only transfers shipped this day")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> TransferPage:
    page = queries.transfers(runtime.sessions, plan_id, site_id=site_id, day=day, limit=limit, offset=offset)
    return TransferPage.model_validate({**page.__dict__, "limit": limit, "offset": offset})


@router.get(
    "/unfilled", response_model=UnfilledPage, responses=READ_ERRORS, summary="Unfilled reservations, with reasons"
)
def plan_unfilled(
    runtime: RuntimeDep,
    _key: PlannerKey,
    plan_id: Id,
    reason: Annotated[Id | None, Query(description="only this reason")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> UnfilledPage:
    page, reasons = queries.unfilled(runtime.sessions, plan_id, reason=reason, limit=limit, offset=offset)
    return UnfilledPage.model_validate({**page.__dict__, "limit": limit, "offset": offset, "reasons": reasons})


@router.get(
    "/validation",
    response_model=PlanValidation,
    responses=READ_ERRORS,
    summary="greedy, rules, closetflow and hindsight replayed on the holdout",
)
def plan_validation(runtime: RuntimeDep, _key: PlannerKey, plan_id: Id) -> PlanValidation:
    """404 when the plan's dataset had no holdout, or the job has not published the plan yet."""
    return PlanValidation.model_validate(queries.plan_validation(runtime.sessions, plan_id))


@router.get(
    "/reservations/{reservation_id}/explanation",
    response_model=ReservationExplanation,
    responses=READ_ERRORS,
    summary="Why a reservation is filled the way it is, or not at all",
)
def plan_reservation_explanation(
    runtime: RuntimeDep, _key: PlannerKey, plan_id: Id, reservation_id: Id
) -> ReservationExplanation:
    """The reason, the binding capacities with their prices, and the same in a planner's words;
    404 for a plan or a reservation it does not hold (one not open on the plan date)."""
    job_id = str(queries.plan_summary(runtime.sessions, plan_id)["job_id"])
    frame = load_explanations(runtime.store, job_id, plan_id)
    return ReservationExplanation.model_validate(reservation_explanation(frame, plan_id, reservation_id))


@router.post(
    "/whatif",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="Re-solve a plan with changes (a job)",
)
def plan_whatif(runtime: RuntimeDep, key: PlannerKey, plan_id: Id, body: WhatIfCreate) -> JobPublic:
    """Queue a what-if job: tonight's model of the plan's dataset and options, with the changes,
    from the plan's stored forecasts. When it succeeds its plan's ``GET /plans/{id}/comparison``
    compares it with this plan. 422 for a change that names no site or category of the data."""
    change = WhatIf.from_json(body.model_dump())
    base_job = str(queries.plan_summary(runtime.sessions, plan_id)["job_id"])
    if not runtime.store.has(base_job, "plan.json"):
        raise WhatIfError(f"plan {plan_id} is not finished yet: a what-if starts from a projected plan")
    base = JobOptions.from_json(service.get_job(runtime.sessions, base_job).options)
    change.check(load_world(runtime.store.dataset_dir(base.dataset_id)))
    options = dataclasses.replace(base, whatif=change.to_json(), base_plan=plan_id, validate=False)
    job, _ = service.create_job(runtime.sessions, options=options, actor=key.id, kind="whatif")
    seed_whatif_job(runtime.store, base_job, plan_id, job.id)
    jobs_dispatch.submit(runtime, job)
    return JobPublic.of(job)


@router.get(
    "/comparison",
    response_model=WhatIfComparison,
    responses=READ_ERRORS,
    summary="A what-if plan against its base plan",
)
def plan_comparison(runtime: RuntimeDep, _key: PlanKpiKey, plan_id: Id) -> WhatIfComparison:
    """Fill rate, value, cost and LP objective before and after, and the reservations gained and
    lost; 404 for a plan that is not a what-if's."""
    job_id = str(queries.plan_summary(runtime.sessions, plan_id)["job_id"])
    try:
        comparison = read_json(runtime.store.get(job_id, COMPARISON_ARTIFACT))
    except MissingArtifact:
        raise NotFoundError(f"plan {plan_id} is not a what-if plan: it has no comparison") from None
    return WhatIfComparison.model_validate({"plan_id": plan_id, **comparison})
