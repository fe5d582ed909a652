"""What a worker does with one delivered step of a job: take the job's lease, run the step through the
same ``allocation.jobs.runner.run_step`` as every other caller, note the delivery done, give the lease back.

Kept apart from ``workers.tasks`` so the tasks stay thin (an id in, a call, an id out) and so this
can be tested without a broker. The decisions made here, and why:

- A step whose job is already finished, or held by a live worker, is not run; the task then ends
  its chain quietly (a duplicate delivery must not start a second run of the rest of the job).
- A delivery of a task that already completed is dropped with its chain. Redis hands a message out
  again when its visibility timeout passes before the ack — also when the first worker is merely
  slow — and that copy would otherwise carry a second copy of the whole rest of the chain along.
  Each completed delivery leaves a ``tasks/<celery task id>.done`` artifact; an interrupted one
  (its worker killed) leaves none, and is resumed.
- A step that was started ``MAX_ATTEMPTS`` times and never finished fails the job: a job that kills
  its worker (memory) or runs past the hard time limit would otherwise be redelivered for ever.
"""

from __future__ import annotations

import json
from enum import StrEnum

from celery.exceptions import SoftTimeLimitExceeded

from allocation.domain import ClosetflowError
from allocation.jobs.options import JobOptions
from allocation.jobs.runner import FINAL_STATES, JobState, internal_error, run_step
from allocation.jobs.service import get_job
from allocation.jobs.steps import STEPS, StepContext
from api.runtime import Runtime
from workers.dw import runner_factory
from workers.lease import Claim, LeasedLedger, claim, hold, new_token

__all__ = ["MAX_ATTEMPTS", "Outcome", "execute_step", "failure_text", "finish_job", "record_failure"]

MAX_ATTEMPTS = 5
_OUTPUTS = {s.name: s.output for s in STEPS}


class Outcome(StrEnum):
    RAN = "ran"
    SKIPPED = "skipped"  # its output was already stored (the step finished in an earlier delivery)
    STOPPED = "stopped"  # nothing more for this delivery: the job is over, another worker has it, or
    # this very task already completed (a duplicate delivery)


def _delivery_marker(task_id: str) -> str:
    return f"tasks/{task_id}.done"


def execute_step(rt: Runtime, job_id: str, name: str, *, task_id: str | None) -> Outcome:
    """Run step ``name`` of job ``job_id`` under the job's lease (see the module doc).

    ``task_id`` is the Celery id of the delivered task (None for a direct call: no duplicate check).
    Domain errors (``ClosetflowError``, ``JobCancelled``) and anything unexpected propagate after the
    ledger recorded what it could; ``workers.lease.LeaseLost`` means another worker took over.
    """
    if name not in _OUTPUTS:
        raise ValueError(f"unknown step {name!r}")
    token = new_token(task_id or "direct")
    if claim(rt.sessions, job_id, token) is not Claim.CLAIMED:
        return Outcome.STOPPED
    with hold(rt.sessions, job_id, token, release_to=task_id) as held:
        if task_id is not None and rt.store.has(job_id, _delivery_marker(task_id)):
            return Outcome.STOPPED
        job = get_job(rt.sessions, job_id)
        ctx = StepContext(
            job_id, JobOptions.from_json(job.options), rt.store, runner_factory=runner_factory(rt.settings)
        )
        restarted = job.state == JobState.RUNNING and job.stage == name and not rt.store.has(job_id, _OUTPUTS[name])
        if restarted and job.attempts >= MAX_ATTEMPTS:
            rt.ledger.fail(
                job_id,
                f"step {name} was started {job.attempts} times and never finished (its worker died or it ran "
                "past its hard time limit each time); giving up",
            )
            return Outcome.STOPPED
        outcome = Outcome.RAN if run_step(ctx, name, LeasedLedger(rt.ledger, held)) else Outcome.SKIPPED
        if task_id is not None:
            rt.store.put(job_id, _delivery_marker(task_id), json.dumps({"step": name, "outcome": outcome}).encode())
    return outcome


def finish_job(rt: Runtime, job_id: str) -> str | None:
    """Mark the job succeeded with its plan (every step is done when the chain gets here); returns the
    plan id, or None when the job had already ended (a duplicate chain, a cancel)."""
    job = get_job(rt.sessions, job_id)
    if job.state in FINAL_STATES:
        return None
    ctx = StepContext(job_id, JobOptions.from_json(job.options), rt.store)
    plan_id = str(ctx.get_json("plan.json")["plan_id"])
    rt.ledger.succeed(job_id, plan_id)
    return plan_id


def failure_text(exc: BaseException, *, step: str, soft_limit_s: float | None) -> str | None:
    """The job's error for a task that failed for good, or None when the ledger already has it."""
    if isinstance(exc, ClosetflowError):
        return None  # run_step recorded the domain's own words (or the job was cancelled)
    if isinstance(exc, SoftTimeLimitExceeded):
        limit = f" of {soft_limit_s:.0f} s" if soft_limit_s else ""
        return f"step {step} ran past its time limit{limit}; raise time_limit_s or use a smaller dataset"
    return internal_error(exc)


def record_failure(rt: Runtime, job_id: str, exc: BaseException, *, step: str, soft_limit_s: float | None) -> None:
    """Fail the job with ``exc`` unless the ledger has already recorded the reason."""
    text = failure_text(exc, step=step, soft_limit_s=soft_limit_s)
    if text is not None:
        rt.ledger.fail(job_id, text)
