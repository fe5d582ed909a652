"""Read-only queries over the precomputed forecast rows (``forecasting.tables``).

Each query filters on the leading columns of its composite index — dataset, SKU, site, then the
date range — so a lookup for one SKU reads a few dozen index entries however large the table is;
the job id is checked on those rows (a dataset forecast by several jobs keeps each job's rows).
Pages are fetched one row long (``limit + 1``) to say whether more follow without a count.

This is a hot path (buyers' dashboards): the statements are built once per combination of filters,
with bound parameters, and run on a plain connection (no ORM session to set up per call).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, Integer, bindparam, select
from sqlalchemy.sql import Select

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

    def filters(self) -> tuple[bool, bool, bool, bool]:
        return (self.sku_id is not None, self.site_id is not None, self.start is not None, self.end is not None)

    def params(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "job_id": self.job_id,
            "sku_id": self.sku_id,
            "site_id": self.site_id,
            "start": self.start,
            "end": self.end,
            "limit": self.limit + 1,
            "offset": self.offset,
        }


def _statement(table: Any, columns: tuple[str, ...], date_col: str, filters: tuple[bool, bool, bool, bool]) -> Any:
    sku, site, start, end = filters
    day = getattr(table, date_col)
    stmt: Select[Any] = select(*(getattr(table, c) for c in columns)).where(table.dataset_id == bindparam("dataset_id"))
    if sku:
        stmt = stmt.where(table.sku_id == bindparam("sku_id"))
    if site:
        stmt = stmt.where(table.site_id == bindparam("site_id"))
    if start:
        stmt = stmt.where(day >= bindparam("start"))
    if end:
        stmt = stmt.where(day <= bindparam("end"))
    order = [table.sku_id, table.site_id, day] + ([table.unit_id] if hasattr(table, "unit_id") else [])
    return (
        stmt.where(table.job_id == bindparam("job_id"))
        .order_by(*order)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )


DEMAND_COLUMNS = ("sku_id", "site_id", "day", "expected_total", "expected_unbooked", "p10", "p50", "p90", "model")
LATE_COLUMNS = ("unit_id", "sku_id", "site_id", "due_back", "p_late", "expected_delay_days", "p90_delay_days", "model")


@lru_cache(maxsize=32)
def _demand_statement(filters: tuple[bool, bool, bool, bool]) -> Any:
    return _statement(DemandForecastRow, DEMAND_COLUMNS, "day", filters)


@lru_cache(maxsize=32)
def _late_statement(filters: tuple[bool, bool, bool, bool]) -> Any:
    return _statement(LateReturnForecastRow, LATE_COLUMNS, "due_back", filters)


def demand_forecasts(engine: Engine, q: ForecastQuery) -> tuple[list[dict[str, Any]], bool]:
    """Expected demand per SKU, site and day; returns the page and whether more rows follow."""
    return _fetch(engine, _demand_statement(q.filters()), q)


def late_return_forecasts(engine: Engine, q: ForecastQuery) -> tuple[list[dict[str, Any]], bool]:
    """Per unit still out: the chance it is late and its expected and 90% delay; ``start``/``end``
    bound the due-back date. Returns the page and whether more rows follow."""
    return _fetch(engine, _late_statement(q.filters()), q)


def _fetch(engine: Engine, stmt: Any, q: ForecastQuery) -> tuple[list[dict[str, Any]], bool]:
    params = {k: v for k, v in q.params().items() if v is not None}
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(stmt, params).mappings()]
    for row in rows:  # a NaN quantile (PostgreSQL keeps them) is "no value", and JSON has no NaN
        for name, value in row.items():
            if isinstance(value, float) and value != value:
                row[name] = None
    more = len(rows) > q.limit
    return rows[: q.limit], more
