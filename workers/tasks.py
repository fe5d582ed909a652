"""One Celery task per step of the main job, plus ``finish``; ``workers.dispatch`` chains them.

Each task takes a job id, runs its step (``workers.execution.execute_step``: the job's lease, then
``allocation.jobs.runner.run_step``) and returns the job id. Retries with exponential backoff are
for transient trouble only — the database or Redis unreachable, a network error; a domain error
(bad data, a cancelled job) is final: the ledger has already marked the job, and the chain stops.
"""

from __future__ import annotations

import socket
from typing import Any, Final

from celery import Task
from celery.exceptions import Ignore
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

from allocation.jobs.runner import JobCancelled
from workers.celery_app import app
from workers.execution import Outcome, execute_step, finish_job, record_failure
from workers.lease import LeaseLost
from workers.runtime import runtime

__all__ = ["TRANSIENT_ERRORS", "check", "finish", "forecast", "project", "publish", "solve", "validate"]

TRANSIENT_ERRORS: Final = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,  # the builtin OSErrors of a network: refused, reset, aborted
    TimeoutError,
    socket.gaierror,
)


class StepTask(Task):
    """A step of a job: late acknowledgement, backoff retries for transient errors, failures recorded."""

    acks_late = True
    reject_on_worker_lost = True
    autoretry_for = TRANSIENT_ERRORS
    max_retries = 3
    retry_backoff = 5  # seconds before the first retry; doubles each time
    retry_backoff_max = 300
    retry_jitter = True

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Called once the task has failed for good (not on a retry): a domain error is already in the
        # ledger; a bug, a soft time limit or transient trouble past its retries is recorded here.
        timelimit = self.request.timelimit or (None, None)
        record_failure(runtime(), str(args[0]), exc, step=self.name.rsplit(".", 1)[-1], soft_limit_s=timelimit[1])


def _run(task: Task, job_id: str, step: str) -> str:
    try:
        outcome = execute_step(runtime(), job_id, step, task_id=task.request.id)
    except (JobCancelled, LeaseLost):
        raise Ignore() from None  # the job was cancelled, or another worker carries it on: stop this chain
    if outcome is Outcome.STOPPED:
        raise Ignore()
    return job_id


@app.task(base=StepTask, bind=True, name="closetflow.check")
def check(self: Task, job_id: str) -> str:
    return _run(self, job_id, "check")


@app.task(base=StepTask, bind=True, name="closetflow.forecast")
def forecast(self: Task, job_id: str) -> str:
    return _run(self, job_id, "forecast")


@app.task(base=StepTask, bind=True, name="closetflow.solve")
def solve(self: Task, job_id: str) -> str:
    return _run(self, job_id, "solve")


@app.task(base=StepTask, bind=True, name="closetflow.project")
def project(self: Task, job_id: str) -> str:
    return _run(self, job_id, "project")


@app.task(base=StepTask, bind=True, name="closetflow.validate")
def validate(self: Task, job_id: str) -> str:
    return _run(self, job_id, "validate")


@app.task(base=StepTask, bind=True, name="closetflow.publish")
def publish(self: Task, job_id: str) -> str:
    return _run(self, job_id, "publish")


@app.task(base=StepTask, bind=True, name="closetflow.finish")
def finish(self: Task, job_id: str) -> str:
    """The chain's last link: the job succeeded with its plan (what ``run_steps`` does at its end)."""
    finish_job(runtime(), job_id)
    return job_id
