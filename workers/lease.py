"""A job's lease: at most one worker runs a step of a job at any moment.

Two deliveries of one job can meet: Redis hands an unacknowledged task to another worker once its
visibility timeout passes — also when the first worker is merely slow, not dead — and
``workers.recovery`` re-sends the chain of a job that Redis forgot. The steps are idempotent (a
finished step is skipped, a job has one plan), so the lease is not about correctness of the
result but about never running one step twice at the same time (double work, double attempts).

The lease lives on the job's row, with no extra table: ``jobs.task_id`` holds
``run:<celery task id>:<nonce>`` while a task holds it, and ``jobs.updated_at`` is its heartbeat
(every ledger write refreshes it too). A holder that has not written for ``LEASE_S`` seconds is
taken for dead. Taking the lease is one conditional ``UPDATE``, so two workers can never both
succeed. Between tasks ``task_id`` holds the plain Celery id of the chain's last task (what
``workers.dispatch.revoke`` and Flower look up). Times are the workers' clocks (UTC), which must
agree to well within ``LEASE_S``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from allocation.domain import NotFoundError
from allocation.jobs.db import session_scope
from allocation.jobs.runner import FINAL_STATES, JobLedger, JobState
from allocation.jobs.tables import JobRow, utcnow

__all__ = [
    "HEARTBEAT_S",
    "LEASE_S",
    "Claim",
    "Held",
    "LeaseLost",
    "LeasedLedger",
    "claim",
    "hold",
    "holder_task_id",
    "lease_is_free",
    "new_token",
]

LEASE_S = 20.0  # a holder silent this long is dead (4 missed heartbeats)
HEARTBEAT_S = 5.0
_PREFIX = "run:"
_LIVE = (JobState.QUEUED, JobState.RUNNING)

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another worker took the lease (this one went silent for longer than ``LEASE_S``)."""


class Claim(StrEnum):
    CLAIMED = "claimed"
    FINAL = "final"  # the job is already succeeded, failed or cancelled: nothing to run
    BUSY = "busy"  # a live worker holds it: this delivery is a duplicate


def new_token(task_id: str) -> str:
    """A lease token for one execution of Celery task ``task_id`` (a redelivered message keeps its
    task id, so the nonce tells this execution from an earlier, possibly still running, one)."""
    return f"{_PREFIX}{task_id}:{uuid.uuid4().hex[:8]}"


def holder_task_id(task_id_column: str | None) -> str | None:
    """The Celery task id of the execution holding the lease, if ``jobs.task_id`` says one does."""
    if task_id_column is None or not task_id_column.startswith(_PREFIX):
        return None
    return task_id_column[len(_PREFIX) :].rsplit(":", 1)[0]


def lease_is_free(now: Any) -> ColumnElement[bool]:
    """SQL condition: nobody holds the job's lease, or its holder has been silent for ``LEASE_S``."""
    return or_(
        JobRow.task_id.is_(None),
        JobRow.task_id.not_like(f"{_PREFIX}%"),
        JobRow.updated_at < now - timedelta(seconds=LEASE_S),
    )


def _try_claim(sessions: sessionmaker[Session], job_id: str, token: str) -> bool:
    now = utcnow()
    with session_scope(sessions) as s:
        result = s.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.state.in_(_LIVE), lease_is_free(now))
            .values(task_id=token, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))


def claim(
    sessions: sessionmaker[Session], job_id: str, token: str, *, wait_s: float = LEASE_S + HEARTBEAT_S + 2
) -> Claim:
    """Take the job's lease for ``token``, waiting up to ``wait_s`` for a silent holder's lease to expire.

    A holder still writing after ``wait_s`` is alive: this delivery is a duplicate and ``BUSY`` is
    returned (the holder's chain carries the job on). Raises ``NotFoundError`` for an unknown job.
    """
    deadline = time.monotonic() + wait_s
    while True:
        if _try_claim(sessions, job_id, token):
            return Claim.CLAIMED
        with sessions() as s:
            state = s.scalar(select(JobRow.state).where(JobRow.id == job_id))
        if state is None:
            raise NotFoundError(f"no job {job_id!r}")
        if state in FINAL_STATES:
            return Claim.FINAL
        if time.monotonic() >= deadline:
            return Claim.BUSY
        time.sleep(1.0)


@dataclass
class Held:
    """A lease being held: ``lost`` is set when the heartbeat finds another token on the row."""

    job_id: str
    token: str
    lost: threading.Event = field(default_factory=threading.Event)


def _beat(sessions: sessionmaker[Session], held: Held, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        try:
            with session_scope(sessions) as s:
                result = s.execute(
                    update(JobRow)
                    .where(JobRow.id == held.job_id, JobRow.task_id == held.token)
                    .values(updated_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
            if not getattr(result, "rowcount", 0):
                held.lost.set()
                return
        except Exception:  # a database hiccup: the next beat tries again; the lease outlives 3 misses
            log.warning("lease heartbeat of job %s failed", held.job_id, exc_info=True)


@contextmanager
def hold(sessions: sessionmaker[Session], job_id: str, token: str, *, release_to: str | None) -> Iterator[Held]:
    """Keep a claimed lease alive while the body runs (a heartbeat thread); release it afterwards,
    leaving ``release_to`` (the task's plain id) in ``jobs.task_id``."""
    held = Held(job_id, token)
    stop = threading.Event()
    beat = threading.Thread(target=_beat, args=(sessions, held, stop), name=f"lease-{job_id[:8]}", daemon=True)
    beat.start()
    try:
        yield held
    finally:
        stop.set()
        beat.join()
        try:
            with session_scope(sessions) as s:
                s.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id, JobRow.task_id == token)
                    .values(task_id=release_to)
                    .execution_options(synchronize_session=False)
                )
        except Exception:  # the lease then simply expires after LEASE_S
            log.warning("could not release the lease of job %s", job_id, exc_info=True)


class LeasedLedger:
    """The job's ledger, refusing to record anything more once the lease was lost to another worker."""

    def __init__(self, inner: JobLedger, held: Held) -> None:
        self.inner = inner
        self.held = held

    def _check(self) -> None:
        if self.held.lost.is_set():
            raise LeaseLost(f"job {self.held.job_id}: another worker took over the lease")

    def begin_step(self, job_id: str, step: str) -> None:
        self._check()
        self.inner.begin_step(job_id, step)

    def step_progress(self, job_id: str, step: str, fraction: float) -> None:
        self._check()
        self.inner.step_progress(job_id, step, fraction)

    def end_step(self, job_id: str, step: str, seconds: float, stats: dict[str, Any]) -> None:
        self._check()
        self.inner.end_step(job_id, step, seconds, stats)

    def succeed(self, job_id: str, plan_id: str) -> None:
        self._check()
        self.inner.succeed(job_id, plan_id)

    def fail(self, job_id: str, error: str) -> None:
        self._check()
        self.inner.fail(job_id, error)
