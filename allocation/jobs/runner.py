"""Running steps under a job's state machine: queued -> running(stage, progress) -> succeeded | failed | cancelled.

``run_step`` is the one way a step runs, whoever calls it (the CLI in-process, the service's
in-process executor, a Celery task): it skips a step whose marker is already in the store (resume,
redelivery), tells the ledger which stage is running and how far, records the step's seconds, and
turns a failure into the job's error. The ledger is where the state lives: ``MemoryLedger`` for a
one-off ``closetflow run``, ``allocation.jobs.ledger.SqlLedger`` for the service.
"""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from allocation.domain import ClosetflowError
from allocation.jobs.steps import STEPS, Step, StepContext

__all__ = [
    "FINAL_STATES",
    "STEP_NAMES",
    "JobCancelled",
    "JobLedger",
    "JobState",
    "MemoryLedger",
    "overall_progress",
    "run_step",
    "run_steps",
]

STEP_NAMES: tuple[str, ...] = tuple(s.name for s in STEPS)
_BY_NAME: dict[str, Step] = {s.name: s for s in STEPS}


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


class JobCancelled(ClosetflowError):
    """The job was cancelled; no further step runs."""


class JobLedger(Protocol):
    """Where a job's state is kept while its steps run."""

    def begin_step(self, job_id: str, step: str) -> None:
        """Mark ``step`` running (counting a new attempt when it had started before and not ended);
        raise ``JobCancelled`` if the job was cancelled, or is already in a final state."""
        ...

    def step_progress(self, job_id: str, step: str, fraction: float) -> None: ...

    def end_step(self, job_id: str, step: str, seconds: float, stats: dict[str, Any]) -> None: ...

    def succeed(self, job_id: str, plan_id: str) -> None: ...

    def fail(self, job_id: str, error: str) -> None: ...


@dataclass
class MemoryLedger:
    """A ledger in memory: the state machine without a database (``closetflow run``, tests)."""

    state: dict[str, str] = field(default_factory=dict)
    stage: dict[str, str] = field(default_factory=dict)
    progress: dict[str, float] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    plan: dict[str, str] = field(default_factory=dict)
    _open: set[tuple[str, str]] = field(default_factory=set)

    def cancel(self, job_id: str) -> None:
        self.state[job_id] = JobState.CANCELLED

    def begin_step(self, job_id: str, step: str) -> None:
        if self.state.get(job_id) in FINAL_STATES:
            raise JobCancelled(f"job {job_id} is {self.state[job_id]}; step {step} not run")
        retry = (job_id, step) in self._open
        if job_id not in self.attempts:
            self.attempts[job_id] = 1
        elif retry:
            self.attempts[job_id] += 1
        self._open.add((job_id, step))
        self.state[job_id] = JobState.RUNNING
        self.stage[job_id] = step
        self.progress[job_id] = overall_progress(step, 0.0)

    def step_progress(self, job_id: str, step: str, fraction: float) -> None:
        if self.state.get(job_id) == JobState.CANCELLED:
            raise JobCancelled(f"job {job_id} was cancelled during {step}")
        self.progress[job_id] = overall_progress(step, fraction)

    def end_step(self, job_id: str, step: str, seconds: float, stats: dict[str, Any]) -> None:
        self._open.discard((job_id, step))
        self.progress[job_id] = overall_progress(step, 1.0)

    def succeed(self, job_id: str, plan_id: str) -> None:
        self.state[job_id] = JobState.SUCCEEDED
        self.plan[job_id] = plan_id
        self.progress[job_id] = 1.0

    def fail(self, job_id: str, error: str) -> None:
        self.state[job_id] = JobState.FAILED
        self.errors[job_id] = error


def overall_progress(step: str, fraction: float) -> float:
    """The job's progress: finished steps count whole, the running one by its fraction."""
    i = STEP_NAMES.index(step)
    return (i + min(max(fraction, 0.0), 1.0)) / len(STEP_NAMES)


def run_step(ctx: StepContext, name: str, ledger: JobLedger) -> bool:
    """Run step ``name`` of job ``ctx.job_id`` unless its output is already stored.

    Returns True when the step ran, False when it was already done. A domain error (bad data, an
    impossible option) fails the job with the error's own words; any other exception fails it as an
    internal error with the exception's type, and is re-raised for the caller (retry or report).
    """
    step = _BY_NAME[name]
    if ctx.store.has(ctx.job_id, step.output):
        return False
    ledger.begin_step(ctx.job_id, name)
    outer = ctx.progress

    def progress(message: str, fraction: float) -> None:
        ledger.step_progress(ctx.job_id, name, fraction)
        outer(message, fraction)

    ctx.progress = progress
    t = time.perf_counter()
    try:
        stats = step.run(ctx)
    except JobCancelled:
        raise
    except ClosetflowError as exc:
        ledger.fail(ctx.job_id, str(exc))
        raise
    finally:
        ctx.progress = outer
    seconds = time.perf_counter() - t
    ctx.store.put(ctx.job_id, f"timings/{name}.json", json.dumps({"seconds": seconds}).encode())
    ledger.end_step(ctx.job_id, name, seconds, stats)
    return True


def run_steps(ctx: StepContext, ledger: JobLedger, names: tuple[str, ...] = STEP_NAMES) -> str:
    """Run the steps in order (skipping those already done) and mark the job succeeded; returns the plan id."""
    try:
        for name in names:
            run_step(ctx, name, ledger)
    except (ClosetflowError, KeyboardInterrupt):
        raise
    except Exception as exc:
        ledger.fail(ctx.job_id, internal_error(exc))
        raise
    plan_id = str(ctx.get_json("plan.json")["plan_id"])
    ledger.succeed(ctx.job_id, plan_id)
    return plan_id


def internal_error(exc: BaseException) -> str:
    """A job's error text for a bug: type, message and the innermost frame (the full trace goes to the log)."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {tb[-1].filename}:{tb[-1].lineno}" if tb else ""
    return f"internal error: {type(exc).__name__}: {exc}{where}"
