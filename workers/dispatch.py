"""Sending a job to the workers, and stopping it: what the API calls when a broker is configured.

``enqueue_job`` sends the job's chain ``check -> forecast -> solve -> project -> validate -> publish
-> finish``, each link with soft and hard time limits scaled from the job's options. The job's row
is stamped (``jobs.task_id``, ``jobs.updated_at``) *before* the chain is sent, so that
``workers.recovery`` can tell a job whose chain was lost (Redis restarted empty) from one that was
just queued.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Final

from celery import chain, uuid
from celery.canvas import Signature
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from allocation.domain import NotFoundError
from allocation.jobs.db import session_scope
from allocation.jobs.options import JobOptions
from allocation.jobs.runner import STEP_NAMES
from allocation.jobs.tables import DatasetRow, JobRow, utcnow
from workers import tasks
from workers.celery_app import app
from workers.lease import holder_task_id, lease_is_free
from workers.runtime import runtime

__all__ = ["STEP_TASKS", "enqueue_job", "job_chain", "resend", "revoke", "step_limits"]

log = logging.getLogger(__name__)

STEP_TASKS: Final = {
    "check": tasks.check,
    "forecast": tasks.forecast,
    "solve": tasks.solve,
    "project": tasks.project,
    "validate": tasks.validate,
    "publish": tasks.publish,
}
assert tuple(STEP_TASKS) == STEP_NAMES, "one task per step, in the runner's order"

# Seconds a step without a solver may take, whatever its time limit: generous, since they grow with
# the dataset (forecast fitting and the plan's projection at RTR scale take minutes).
_FIXED_S: Final = {"check": 1800.0, "forecast": 3600.0, "project": 3600.0, "publish": 1800.0, "finish": 300.0}
_SOLVE_MARGIN_S: Final = 600.0  # building the model, reading the world and forecasts around a solve
_HARD_AFTER_SOFT_S: Final = 120.0  # the soft limit raises in the step; the hard one kills the process


def step_limits(options: JobOptions, *, horizon_days: int) -> dict[str, tuple[float, float]]:
    """(soft, hard) time limits in seconds per task of the chain.

    The solve step gets twice the solver's ``time_limit_s`` plus a margin; validation replays the
    horizon with a solve per day for closetflow and for hindsight (``2 * horizon`` solves), so its
    limits scale with that, again doubled for safety.
    """
    t = options.time_limit_s
    soft = {
        **_FIXED_S,
        "solve": 2 * t + _SOLVE_MARGIN_S,
        "validate": 2 * (2 * horizon_days * t) + 3 * _SOLVE_MARGIN_S,
    }
    return {name: (s, s + _HARD_AFTER_SOFT_S) for name, s in soft.items()}


def job_chain(job_id: str, options: JobOptions, *, horizon_days: int) -> tuple[Signature, str]:
    """The job's chain of signatures, with their task ids assigned; returns it and the last task's id."""
    limits = step_limits(options, horizon_days=horizon_days)
    links = [*STEP_TASKS.items(), ("finish", tasks.finish)]
    sigs = [
        task.si(job_id).set(task_id=uuid(), soft_time_limit=limits[name][0], time_limit=limits[name][1])
        for name, task in links
    ]
    return chain(*sigs), str(sigs[-1].options["task_id"])


def _horizon(sessions: sessionmaker[Session], options: JobOptions) -> int:
    if options.horizon_days is not None:
        return options.horizon_days
    with sessions() as s:
        horizon = s.scalar(select(DatasetRow.horizon_days).where(DatasetRow.id == options.dataset_id))
    if horizon is None:
        raise NotFoundError(f"no dataset {options.dataset_id!r}")
    return int(horizon)


def enqueue_job(job_id: str, options: dict[str, Any]) -> str:
    """Send job ``job_id`` (created with ``options``, its stored JSON) to the workers; returns the
    chain's id (the Celery id of its last task: ``AsyncResult(id)`` completes with the job).

    Safe to call again for the same job: a second chain finds the finished steps stored and the
    job's lease taken, so the job still runs once. Raises a broker error when Redis is unreachable;
    the job then stays queued in the database and ``workers.recovery`` sends it later.
    """
    return _send(job_id, options, expect=None)


def resend(job_id: str, options: dict[str, Any], *, seen_task_id: str | None, seen_at: datetime) -> str:
    """Send a job's chain again (``workers.recovery``) if its row still has the ``task_id`` and
    ``updated_at`` that were seen, so two recovering workers never both send it; returns the chain's
    id, or "" when the row changed in between."""
    return _send(job_id, options, expect=(seen_task_id, seen_at))


def _send(job_id: str, options: dict[str, Any], *, expect: tuple[str | None, datetime] | None) -> str:
    """Stamp the job's row, then send its chain (with ``expect``: only if the row is unchanged)."""
    rt = runtime()
    opts = JobOptions.from_json(options)
    sig, chain_id = job_chain(job_id, opts, horizon_days=_horizon(rt.sessions, opts))
    now = utcnow()
    stmt = update(JobRow).where(JobRow.id == job_id).values(task_id=chain_id, updated_at=now)
    if expect is None:
        stmt = stmt.where(lease_is_free(now))  # never take a running task's lease away from it
    else:
        seen_task, seen_at = expect
        same_task = JobRow.task_id.is_(None) if seen_task is None else JobRow.task_id == seen_task
        stmt = stmt.where(same_task, JobRow.updated_at == seen_at)
    with session_scope(rt.sessions) as s:
        stamped = bool(getattr(s.execute(stmt.execution_options(synchronize_session=False)), "rowcount", 0))
    if expect is not None and not stamped:
        return ""
    sig.apply_async()
    log.info("job %s sent to the workers (chain %s)", job_id, chain_id)
    return chain_id


def revoke(job_id: str) -> None:
    """Stop the job's running step now (the job must already be cancelled in the database, which
    keeps every later step from starting: ``allocation.jobs.service.cancel_job``).

    A step that reports progress stops at its next report anyway; a solve does not report, so its
    process is terminated. Nothing happens for a job no worker has taken up yet.
    """
    with runtime().sessions() as s:
        task_id = s.scalar(select(JobRow.task_id).where(JobRow.id == job_id))
    if task_id is None:
        return
    running = holder_task_id(task_id)
    if running is not None:
        app.control.revoke(running, terminate=True, signal="SIGTERM")
    else:
        # Between steps: the id of the chain (queued) or of its last finished task. Revoking it is
        # harmless either way; the job's cancelled state is what stops the next step.
        app.control.revoke(task_id)
