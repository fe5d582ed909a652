"""The nightly run: beat sends ``closetflow.nightly`` at ``CLOSETFLOW_NIGHTLY_AT`` (UTC; see
``workers.celery_app``); it makes tonight's job for the dataset and sends its chain, which checks,
forecasts, solves, validates and publishes like any other job.

The job's idempotency key is the date and the dataset, so a beat that fires twice, or this task
retried after a lost worker, never makes a second nightly job for the same night.
"""

from __future__ import annotations

from celery import Task

from allocation.jobs.options import JobOptions
from allocation.jobs.queries import latest_published_job
from allocation.jobs.service import create_job, latest_dataset_id
from allocation.jobs.steps import previous_artifacts, seed_previous
from allocation.jobs.tables import utcnow
from workers.celery_app import app
from workers.dispatch import enqueue_job
from workers.runtime import runtime
from workers.tasks import TRANSIENT_ERRORS

__all__ = ["nightly"]


@app.task(
    bind=True,
    name="closetflow.nightly",
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    max_retries=3,
    retry_backoff=30,
)
def nightly(self: Task, dataset_id: str | None = None) -> str:
    """Create tonight's job (kind "nightly") and send its chain; returns the job id.

    ``dataset_id`` defaults to ``CLOSETFLOW_NIGHTLY_DATASET_ID``, else the newest dataset. A job that
    already exists for tonight is returned as it is (recovery re-sends it if its chain was lost).
    """
    rt = runtime()
    s = rt.settings
    if dataset_id is None:
        dataset_id = s.nightly_dataset_id if s.nightly_dataset_id is not None else latest_dataset_id(rt.sessions)
    options = JobOptions(
        dataset_id=dataset_id,
        solver=s.solver,
        time_limit_s=s.time_limit_s,
        risk=s.risk_policy,
        replan_every=s.replan_every,
        protect_weight=s.protect_weight,
        stability_penalty=s.stability_penalty,
    )
    # Tonight starts from the last published plan: its prices warm-start the solve, its shipments
    # are what customers were told.
    previous = latest_published_job(rt.sessions)
    job, created = create_job(
        rt.sessions,
        options=options,
        actor="nightly",
        idempotency_key=f"nightly:{utcnow().date().isoformat()}:{dataset_id}",
        kind="nightly",
    )
    if created:
        if previous is not None:
            seed_previous(rt.store, job.id, previous_artifacts(rt.store, previous))
        enqueue_job(job.id, job.options)
    return job.id
