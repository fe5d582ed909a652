"""``/forecasts/*``: precomputed demand and late-return forecasts, served from a cache.

The answers are pre-encoded JSON (``ForecastReader``): the response model documents them, and no
pydantic model is built on the hot path.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api.http.deps import BuyerKey, ServicesDep
from api.http.errors import ApiError, error_responses
from api.http.schemas.common import Id
from api.http.schemas.forecasts import DemandPage, LateReturnPage

__all__ = ["router"]

router = APIRouter(prefix="/forecasts", tags=["forecasts"])

MAX_RANGE_DAYS = 366
ERRORS = error_responses(401, 403, 404, 422, 503)


def _query(
    dataset_id: str | None,
    sku_id: str | None,
    site_id: str | None,
    start: dt.date | None,
    end: dt.date | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    if start is not None and end is not None and (end - start).days > MAX_RANGE_DAYS:
        raise ApiError(422, f"start..end spans more than {MAX_RANGE_DAYS} days")
    if start is not None and end is not None and end < start:
        raise ApiError(422, "end is before start")
    return {
        "dataset_id": dataset_id,
        "sku_id": sku_id,
        "site_id": site_id,
        "start": start,
        "end": end,
        "limit": limit,
        "offset": offset,
    }


DatasetParam = Annotated[Id | None, Query(description="default: the newest dataset that has forecasts")]
SkuParam = Annotated[Id | None, Query(description="only this SKU (the fast path: an index lookup)")]
SiteParam = Annotated[Id | None, Query(description="only this site")]
Limit = Annotated[int, Query(ge=1, le=5000)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


@router.get("/demand", response_model=DemandPage, responses=ERRORS, summary="Demand forecast per SKU, site and day")
async def demand(
    services: ServicesDep,
    _key: BuyerKey,
    sku_id: SkuParam = None,
    site_id: SiteParam = None,
    start: Annotated[dt.date | None, Query(description="first day, inclusive")] = None,
    end: Annotated[dt.date | None, Query(description="last day, inclusive")] = None,
    dataset_id: DatasetParam = None,
    limit: Limit = 500,
    offset: Offset = 0,
) -> Response:
    """Expected reservations per day (total and not yet booked, with Poisson quantiles), from the
    newest job that forecast the dataset; each row names the model that made it."""
    q = _query(dataset_id, sku_id, site_id, start, end, limit, offset)
    return Response(await services.forecasts.demand(q), media_type="application/json")


@router.get(
    "/late-returns", response_model=LateReturnPage, responses=ERRORS, summary="Late-return risk per unit still out"
)
async def late_returns(
    services: ServicesDep,
    _key: BuyerKey,
    sku_id: SkuParam = None,
    site_id: SiteParam = None,
    start: Annotated[dt.date | None, Query(description="first due-back day, inclusive")] = None,
    end: Annotated[dt.date | None, Query(description="last due-back day, inclusive")] = None,
    dataset_id: DatasetParam = None,
    limit: Limit = 500,
    offset: Offset = 0,
) -> Response:
    """Per unit with a customer: the chance it comes back late, its expected and 90% delay."""
    q = _query(dataset_id, sku_id, site_id, start, end, limit, offset)
    return Response(await services.forecasts.late_returns(q), media_type="application/json")
