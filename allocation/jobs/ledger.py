"""The job state machine in the database (service mode): the ledger the runner reports to.

queued -> running(stage, progress) -> succeeded | failed | cancelled. ``attempts`` counts how many
times the job was taken up: 1 for the first run, +1 each time a step that had started (and not
ended: its worker died, or it raised and was retried) starts again. Every write is its own short
transaction, so the API always reads a consistent row.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from allocation.domain import NotFoundError
from allocation.jobs.db import session_scope
from allocation.jobs.runner import FINAL_STATES, JobCancelled, JobState, overall_progress
from allocation.jobs.tables import JobRow, utcnow

__all__ = ["SqlLedger"]

_PROGRESS_EVERY_S = 0.5  # progress writes are throttled: a replay reports every simulated day


class SqlLedger:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._last_write: dict[str, float] = {}

    def _job(self, s: Session, job_id: str) -> JobRow:
        job = s.get(JobRow, job_id, with_for_update=True)
        if job is None:
            raise NotFoundError(f"no job {job_id!r}")
        return job

    def begin_step(self, job_id: str, step: str) -> None:
        with session_scope(self.sessions) as s:
            job = self._job(s, job_id)
            if job.state in FINAL_STATES:
                raise JobCancelled(f"job {job_id} is {job.state}; step {step} not run")
            if job.state == JobState.QUEUED or job.attempts == 0:
                job.attempts = max(job.attempts, 1)
                job.started_at = job.started_at or utcnow()
            elif job.stage == step:
                # This step had started before and never ended: a redelivery after a lost worker or a retry.
                job.attempts += 1
            job.state = JobState.RUNNING
            job.stage = step
            job.progress = overall_progress(step, 0.0)

    def step_progress(self, job_id: str, step: str, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last_write.get(job_id, 0.0) < _PROGRESS_EVERY_S and fraction < 1.0:
            return
        self._last_write[job_id] = now
        with session_scope(self.sessions) as s:
            job = self._job(s, job_id)
            if job.state == JobState.CANCELLED:
                raise JobCancelled(f"job {job_id} was cancelled during {step}")
            job.progress = overall_progress(step, fraction)

    def end_step(self, job_id: str, step: str, seconds: float, stats: dict[str, Any]) -> None:
        with session_scope(self.sessions) as s:
            job = self._job(s, job_id)
            job.timings = {**(job.timings or {}), step: round(seconds, 3)}
            if step == "solve":
                job.solver_stats = {k: v for k, v in stats.items() if isinstance(v, str | int | float) and v == v}
            if "plan_id" in stats:
                job.plan_id = str(stats["plan_id"])
            # The stage stays set to this step: begin_step of the *next* step is then not a retry.
            job.progress = overall_progress(step, 1.0)

    def succeed(self, job_id: str, plan_id: str) -> None:
        with session_scope(self.sessions) as s:
            job = self._job(s, job_id)
            if job.state == JobState.CANCELLED:
                return
            job.state = JobState.SUCCEEDED
            job.plan_id = plan_id
            job.progress = 1.0
            job.error = None
            job.finished_at = utcnow()

    def fail(self, job_id: str, error: str) -> None:
        with session_scope(self.sessions) as s:
            job = self._job(s, job_id)
            if job.state in FINAL_STATES:
                return
            job.state = JobState.FAILED
            job.error = error[:4000]
            job.finished_at = utcnow()

    def state_of(self, job_id: str) -> str:
        with self.sessions() as s:
            state = s.scalar(select(JobRow.state).where(JobRow.id == job_id))
        if state is None:
            raise NotFoundError(f"no job {job_id!r}")
        return str(state)
