"""Read-only queries over plans and jobs, without HTTP: what ``GET /plans/*``, ``/metrics`` and the
forecast endpoints read. Keyword-only filters, plain dicts out, ``NotFoundError`` for an unknown plan.

Every list is ordered by the columns of its composite index (``allocation.jobs.tables``), so a page
filtered by site and day is an index range scan, not a sort of the whole plan.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from allocation.domain import NotFoundError
from allocation.jobs.tables import (
    JobArtifact,
    JobRow,
    PlanCleaningRow,
    PlanRow,
    PlanShipmentRow,
    PlanTransferRow,
    PlanUnfilledRow,
)

__all__ = [
    "ForecastSource",
    "Page",
    "cleaning",
    "job_state_counts",
    "latest_forecast_source",
    "plan_summary",
    "plan_validation",
    "recent_solve_seconds",
    "shipments",
    "transfers",
    "unfilled",
]

# The forecast step writes its rows, then its marker: a job with the marker has all of its rows.
FORECAST_MARKER = "forecasts.npz"


@dataclass(frozen=True)
class Page:
    """One page of a list and the number of rows the whole (filtered) list has."""

    items: list[dict[str, Any]]
    total: int


def _plan(s: Session, plan_id: str) -> PlanRow:
    row = s.get(PlanRow, plan_id)
    if row is None:
        raise NotFoundError(f"no plan {plan_id!r}")
    return row


def plan_summary(sessions: sessionmaker[Session], plan_id: str) -> dict[str, Any]:
    """The plan's ids, dates and KPIs (fill rate, value, costs, binding site-days)."""
    with sessions() as s:
        row = _plan(s, plan_id)
        return {
            "plan_id": row.id,
            "job_id": row.job_id,
            "dataset_id": row.dataset_id,
            "created_at": row.created_at,
            "published_at": row.published_at,
            "kpis": dict(row.kpis or {}),
        }


def latest_published_job(sessions: sessionmaker[Session]) -> str | None:
    """The job of the most recently published plan (the nightly run inherits from it), or None."""
    with sessions() as s:
        row = s.execute(
            select(PlanRow.job_id)
            .where(PlanRow.published_at.is_not(None))
            .order_by(PlanRow.published_at.desc())
            .limit(1)
        ).first()
        return None if row is None else str(row[0])


def plan_validation(sessions: sessionmaker[Session], plan_id: str) -> dict[str, Any]:
    """The holdout replay of greedy, rules, closetflow and hindsight, as the validate step stored it.

    A plan whose dataset has no holdout (or whose job has not published yet) has none:
    ``NotFoundError`` saying which.
    """
    with sessions() as s:
        row = _plan(s, plan_id)
        if row.validation is None:
            why = "its dataset has no holdout" if row.published_at is not None else "its job has not published it yet"
            raise NotFoundError(f"plan {plan_id} has no validation: {why}")
        return {"plan_id": row.id, **row.validation}


def _page(s: Session, query: Select[*tuple[Any, ...]], *, limit: int, offset: int) -> Page:
    total = int(s.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)
    rows = s.execute(query.limit(limit).offset(offset)).mappings().all()
    return Page([dict(r) for r in rows], total)


def _plan_page(
    sessions: sessionmaker[Session], plan_id: str, query: Select[*tuple[Any, ...]], *, limit: int, offset: int
) -> Page:
    """One page of a plan's rows; ``NotFoundError`` when the plan does not exist (an empty page would
    not say whether the plan has no rows or there is no such plan)."""
    with sessions() as s:
        _plan(s, plan_id)
        return _page(s, query, limit=limit, offset=offset)


def shipments(
    sessions: sessionmaker[Session],
    plan_id: str,
    *,
    site_id: str | None = None,
    day: dt.date | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page:
    """Tonight's ship list: which unit fills which reservation from which site on which day."""
    t = PlanShipmentRow
    q = select(t.unit_id, t.reservation_id, t.site_id, t.ship_date).where(t.plan_id == plan_id)
    if site_id is not None:
        q = q.where(t.site_id == site_id)
    if day is not None:
        q = q.where(t.ship_date == day)
    q = q.order_by(t.site_id, t.ship_date, t.id)
    return _plan_page(sessions, plan_id, q, limit=limit, offset=offset)


def cleaning(
    sessions: sessionmaker[Session],
    plan_id: str,
    *,
    site_id: str | None = None,
    day: dt.date | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page:
    """The cleaning order per site and day (rank 1 is cleaned first)."""
    t = PlanCleaningRow
    q = select(t.site_id, t.date, t.unit_id, t.sku_id, t.rank).where(t.plan_id == plan_id)
    if site_id is not None:
        q = q.where(t.site_id == site_id)
    if day is not None:
        q = q.where(t.date == day)
    q = q.order_by(t.site_id, t.date, t.rank, t.id)
    return _plan_page(sessions, plan_id, q, limit=limit, offset=offset)


def transfers(
    sessions: sessionmaker[Session],
    plan_id: str,
    *,
    site_id: str | None = None,
    day: dt.date | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page:
    """Units moving between sites; ``site_id`` matches either end, ``day`` the ship date."""
    t = PlanTransferRow
    q = select(t.unit_id, t.sku_id, t.from_site, t.to_site, t.ship_date, t.arrive_date).where(t.plan_id == plan_id)
    if site_id is not None:
        q = q.where((t.from_site == site_id) | (t.to_site == site_id))
    if day is not None:
        q = q.where(t.ship_date == day)
    q = q.order_by(t.ship_date, t.from_site, t.id)
    return _plan_page(sessions, plan_id, q, limit=limit, offset=offset)


def unfilled(
    sessions: sessionmaker[Session],
    plan_id: str,
    *,
    reason: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[Page, dict[str, int]]:
    """Reservations tonight's plan leaves unfilled, each with its reason; and the count per reason."""
    t = PlanUnfilledRow
    q = select(t.reservation_id, t.sku_id, t.reason).where(t.plan_id == plan_id)
    if reason is not None:
        q = q.where(t.reason == reason)
    q = q.order_by(t.reason, t.id)
    with sessions() as s:
        _plan(s, plan_id)
        counts = s.execute(select(t.reason, func.count()).where(t.plan_id == plan_id).group_by(t.reason)).all()
        return _page(s, q, limit=limit, offset=offset), {str(r): int(n) for r, n in counts}


@dataclass(frozen=True)
class ForecastSource:
    """Whose forecast rows to serve: a dataset and the newest job that forecast it."""

    dataset_id: str
    job_id: str


def latest_forecast_source(sessions: sessionmaker[Session], dataset_id: str | None = None) -> ForecastSource:
    """The newest job (of ``dataset_id``, or of any dataset) whose forecast step has finished.

    Raises ``NotFoundError`` when no job has forecast rows yet.
    """
    done = exists().where(JobArtifact.job_id == JobRow.id, JobArtifact.name == FORECAST_MARKER)
    q = select(JobRow.dataset_id, JobRow.id).where(done)
    if dataset_id is not None:
        q = q.where(JobRow.dataset_id == dataset_id)
    q = q.order_by(JobRow.created_at.desc(), JobRow.id.desc()).limit(1)
    with sessions() as s:
        found = s.execute(q).first()
    if found is None:
        where = f"dataset {dataset_id!r}" if dataset_id is not None else "any dataset"
        raise NotFoundError(f"no forecasts for {where} yet: an allocation job makes them in its forecast step")
    return ForecastSource(dataset_id=str(found[0]), job_id=str(found[1]))


def job_state_counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    """How many jobs are in each state."""
    with sessions() as s:
        rows = s.execute(select(JobRow.state, func.count()).group_by(JobRow.state)).all()
    return {str(state): int(n) for state, n in rows}


def recent_solve_seconds(sessions: sessionmaker[Session], *, limit: int = 500) -> list[float]:
    """Solver seconds of the newest ``limit`` jobs that solved (from their ``solver_stats``)."""
    q = (
        select(JobRow.solver_stats)
        .where(JobRow.finished_at.is_not(None))
        .order_by(JobRow.finished_at.desc())
        .limit(limit)
    )
    with sessions() as s:
        stats = s.scalars(q).all()
    out: list[float] = []
    for st in stats:
        seconds = (st or {}).get("seconds")
        if isinstance(seconds, int | float) and seconds >= 0:
            out.append(float(seconds))
    return out
