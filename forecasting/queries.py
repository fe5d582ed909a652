"""Read-only queries over the precomputed forecast rows (``forecasting.tables``).

Each query filters on the leading columns of its composite index — dataset, SKU, site, then the
date range — so a lookup for one SKU reads a few dozen index entries however large the table is;
the job id is checked on those rows (a dataset forecast by several jobs keeps each job's rows).
Pages are fetched one row long (``limit + 1``) to say whether more follow without a count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from forecasting.tables import DemandForecastRow, LateReturnForecastRow

__all__ = ["ForecastQuery", "demand_forecasts", "late_return_forecasts"]


@dataclass(frozen=True)
class ForecastQuery:
    """A lookup: whose rows (dataset and job), which SKU and site, which dates (inclusive), which page."""

    dataset_id: str
    job_id: str
    sku_id: str | None = None
    site_id: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    limit: int = 500
    offset: int = 0


def demand_forecasts(sessions: sessionmaker[Session], q: ForecastQuery) -> tuple[list[dict[str, Any]], bool]:
    """Expected demand per SKU, site and day; returns the page and whether more rows follow."""
    t = DemandForecastRow
    stmt = select(
        t.sku_id, t.site_id, t.day, t.expected_total, t.expected_unbooked, t.p10, t.p50, t.p90, t.model
    ).where(t.dataset_id == q.dataset_id)
    if q.sku_id is not None:
        stmt = stmt.where(t.sku_id == q.sku_id)
    if q.site_id is not None:
        stmt = stmt.where(t.site_id == q.site_id)
    if q.start is not None:
        stmt = stmt.where(t.day >= q.start)
    if q.end is not None:
        stmt = stmt.where(t.day <= q.end)
    stmt = stmt.where(t.job_id == q.job_id).order_by(t.sku_id, t.site_id, t.day)
    return _fetch(sessions, stmt, q)


def late_return_forecasts(sessions: sessionmaker[Session], q: ForecastQuery) -> tuple[list[dict[str, Any]], bool]:
    """Per unit still out: the chance it is late and its expected and 90% delay; ``start``/``end``
    bound the due-back date. Returns the page and whether more rows follow."""
    t = LateReturnForecastRow
    stmt = select(
        t.unit_id, t.sku_id, t.site_id, t.due_back, t.p_late, t.expected_delay_days, t.p90_delay_days, t.model
    ).where(t.dataset_id == q.dataset_id)
    if q.sku_id is not None:
        stmt = stmt.where(t.sku_id == q.sku_id)
    if q.site_id is not None:
        stmt = stmt.where(t.site_id == q.site_id)
    if q.start is not None:
        stmt = stmt.where(t.due_back >= q.start)
    if q.end is not None:
        stmt = stmt.where(t.due_back <= q.end)
    stmt = stmt.where(t.job_id == q.job_id).order_by(t.sku_id, t.site_id, t.due_back, t.unit_id)
    return _fetch(sessions, stmt, q)


def _fetch(sessions: sessionmaker[Session], stmt: Any, q: ForecastQuery) -> tuple[list[dict[str, Any]], bool]:
    with sessions() as s:
        rows = [dict(r) for r in s.execute(stmt.limit(q.limit + 1).offset(q.offset)).mappings()]
    for row in rows:  # a NaN quantile (PostgreSQL keeps them) is "no value", and JSON has no NaN
        for name, value in row.items():
            if isinstance(value, float) and value != value:
                row[name] = None
    more = len(rows) > q.limit
    return rows[: q.limit], more
