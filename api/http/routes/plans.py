"""``/plans/{plan_id}/*``: a plan's KPIs, lists and holdout validation, read from the plan tables."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from allocation.jobs import queries
from api.http.deps import PlanKpiKey, PlannerKey, RuntimeDep
from api.http.errors import error_responses
from api.http.schemas.common import Id
from api.http.schemas.plans import (
    CleaningPage,
    PlanKpis,
    PlanValidation,
    ShipmentPage,
    TransferPage,
    UnfilledPage,
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
