"""What the service does with datasets and jobs, without HTTP: keyword-only functions over a session
factory, raising the domain's errors (``NotFoundError``, ``ConflictError``, ``DataValidationError``)
that the API maps to 4xx with the same words. Routes, CLI commands and tasks call these.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from allocation.data.io import load_world
from allocation.domain import ClosetflowError, ConflictError, NotFoundError
from allocation.jobs.archive import safe_extract
from allocation.jobs.db import session_scope
from allocation.jobs.options import JobOptions
from allocation.jobs.runner import FINAL_STATES, JobState
from allocation.jobs.tables import AuditEntry, DatasetRow, JobRow, utcnow
from allocation.model.snapshot import RiskPolicy
from solvers.base import lp_backends

__all__ = [
    "JobView",
    "audit",
    "cancel_job",
    "create_job",
    "get_dataset",
    "get_job",
    "list_jobs",
    "register_dataset",
]


def audit(
    s: Session, *, actor: str, action: str, target: str | None = None, detail: dict[str, Any] | None = None
) -> None:
    """Record who did what (in the caller's transaction: the audit line and the change land together)."""
    s.add(AuditEntry(at=utcnow(), actor=actor, action=action, target=target, detail=detail or {}))


def register_dataset(
    sessions: sessionmaker[Session], *, archive: bytes, name: str, actor: str, max_unpacked_bytes: int
) -> dict[str, Any]:
    """Check a zipped data folder with the core's contracts and keep it; refused whole otherwise.

    Raises ``ArchiveError`` for an unsafe or unreadable zip and ``DataValidationError`` listing
    every ``file:row:column: message`` for data that breaks its contract. Nothing is stored then.
    """
    tmp = Path(tempfile.mkdtemp(prefix="closetflow-upload-"))
    try:
        safe_extract(archive, tmp, max_unpacked_bytes=max_unpacked_bytes)
        world = load_world(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {name_: len(world.table(name_)) for name_ in ("sites", "skus", "units", "reservations", "rentals")}
    summary["holdout"] = world.holdout is not None
    row = DatasetRow(
        id=uuid.uuid4().hex,
        name=name[:200],
        created_by=actor,
        created_at=utcnow(),
        plan_date=world.plan_date,
        horizon_days=world.horizon_days,
        sha256=hashlib.sha256(archive).hexdigest(),
        size_bytes=len(archive),
        summary=summary,
        archive=archive,
    )
    with session_scope(sessions) as s:
        s.add(row)
        audit(s, actor=actor, action="dataset.create", target=row.id, detail={"name": row.name, "bytes": len(archive)})
        return _dataset_view(row)


def _dataset_view(row: DatasetRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "created_at": row.created_at,
        "created_by": row.created_by,
        "plan_date": row.plan_date,
        "horizon_days": row.horizon_days,
        "sha256": row.sha256,
        "size_bytes": row.size_bytes,
        "summary": row.summary,
    }


def get_dataset(sessions: sessionmaker[Session], dataset_id: str) -> dict[str, Any]:
    with sessions() as s:
        row = s.get(DatasetRow, dataset_id)
        if row is None:
            raise NotFoundError(f"no dataset {dataset_id!r}")
        return _dataset_view(row)


def latest_dataset_id(sessions: sessionmaker[Session]) -> str:
    with sessions() as s:
        found = s.scalar(select(DatasetRow.id).order_by(DatasetRow.created_at.desc()).limit(1))
    if found is None:
        raise NotFoundError("no dataset has been uploaded yet")
    return str(found)


@dataclass(frozen=True)
class JobView:
    """A job as the API and CLI show it."""

    id: str
    kind: str
    dataset_id: str
    state: str
    stage: str | None
    progress: float
    attempts: int
    plan_id: str | None
    error: str | None
    options: dict[str, Any]
    timings: dict[str, Any]
    solver_stats: dict[str, Any]
    created_by: str
    created_at: Any
    started_at: Any
    finished_at: Any

    @classmethod
    def of(cls, row: JobRow) -> JobView:
        return cls(
            id=row.id,
            kind=row.kind,
            dataset_id=row.dataset_id,
            state=row.state,
            stage=row.stage,
            progress=round(float(row.progress or 0.0), 4),
            attempts=int(row.attempts or 0),
            plan_id=row.plan_id,
            error=row.error,
            options=dict(row.options or {}),
            timings=dict(row.timings or {}),
            solver_stats=dict(row.solver_stats or {}),
            created_by=row.created_by,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )


def check_options(options: JobOptions, *, dataset_horizon: int) -> None:
    """Refuse options the job could not run with, before a job is made (one message each)."""
    if options.solver not in lp_backends():
        raise ClosetflowError(f"unknown solver {options.solver!r}; choose one of {', '.join(lp_backends())}")
    RiskPolicy.parse(options.risk)
    if options.horizon_days is not None and not 1 <= options.horizon_days <= dataset_horizon:
        raise ClosetflowError(
            f"horizon_days {options.horizon_days} is outside the dataset's horizon (1..{dataset_horizon} days)"
        )


def create_job(
    sessions: sessionmaker[Session],
    *,
    options: JobOptions,
    actor: str,
    idempotency_key: str | None = None,
    kind: str = "allocation",
) -> tuple[JobView, bool]:
    """Queue a job; returns it and whether it is new.

    With an ``idempotency_key`` the same request sent again returns the job it made the first time
    (``created`` False); the key sent with a different request is a ``ConflictError``.
    """
    request_hash = hashlib.sha256(json.dumps(options.to_json(), sort_keys=True).encode()).hexdigest()
    if idempotency_key is not None:
        existing = _by_key(sessions, idempotency_key, request_hash)
        if existing is not None:
            return existing, False
    row = JobRow(
        id=uuid.uuid4().hex,
        kind=kind,
        dataset_id=options.dataset_id,
        state=JobState.QUEUED,
        stage=None,
        progress=0.0,
        attempts=0,
        options=options.to_json(),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        created_by=actor,
        created_at=utcnow(),
        updated_at=utcnow(),
        timings={},
        solver_stats={},
    )
    try:
        with session_scope(sessions) as s:
            dataset = s.get(DatasetRow, options.dataset_id)
            if dataset is None:
                raise NotFoundError(f"no dataset {options.dataset_id!r}")
            check_options(options, dataset_horizon=dataset.horizon_days)
            s.add(row)
            audit(s, actor=actor, action=f"{kind}_job.create", target=row.id, detail={"dataset_id": options.dataset_id})
            s.flush()
            view = JobView.of(row)
    except IntegrityError:
        # Two requests with one key raced: the other one made the job.
        assert idempotency_key is not None
        existing = _by_key(sessions, idempotency_key, request_hash)
        if existing is None:
            raise
        return existing, False
    return view, True


def _by_key(sessions: sessionmaker[Session], key: str, request_hash: str) -> JobView | None:
    with sessions() as s:
        row = s.scalar(select(JobRow).where(JobRow.idempotency_key == key))
        if row is None:
            return None
        if row.request_hash != request_hash:
            raise ConflictError(f"Idempotency-Key {key!r} was already used for a different request (job {row.id})")
        return JobView.of(row)


def get_job(sessions: sessionmaker[Session], job_id: str) -> JobView:
    with sessions() as s:
        row = s.get(JobRow, job_id)
        if row is None:
            raise NotFoundError(f"no job {job_id!r}")
        return JobView.of(row)


def list_jobs(
    sessions: sessionmaker[Session], *, state: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[JobView], int]:
    """Jobs, newest first, optionally in one state; returns the page and the total count."""
    with sessions() as s:
        q = select(JobRow)
        c = select(func.count()).select_from(JobRow)
        if state is not None:
            q = q.where(JobRow.state == state)
            c = c.where(JobRow.state == state)
        rows = s.scalars(q.order_by(JobRow.created_at.desc(), JobRow.id).limit(limit).offset(offset)).all()
        return [JobView.of(r) for r in rows], int(s.scalar(c) or 0)


def cancel_job(sessions: sessionmaker[Session], job_id: str, *, actor: str) -> JobView:
    """Cancel a queued or running job: no further step starts, and a running step stops at its next
    progress report. Cancelling a finished job is a ``ConflictError``; cancelling twice is harmless."""
    with session_scope(sessions) as s:
        row = s.get(JobRow, job_id, with_for_update=True)
        if row is None:
            raise NotFoundError(f"no job {job_id!r}")
        if row.state == JobState.CANCELLED:
            return JobView.of(row)
        if row.state in FINAL_STATES:
            raise ConflictError(f"job {job_id} already {row.state}; only a queued or running job can be cancelled")
        row.state = JobState.CANCELLED
        row.finished_at = utcnow()
        audit(s, actor=actor, action="job.cancel", target=job_id)
        s.flush()
        return JobView.of(row)
