"""Where a submitted job runs — the one place that chooses.

Embedded (no broker URL): on a small thread pool in this process, through the same state machine
and steps a worker uses (``allocation.jobs.runner.run_steps`` over the SQL store and ledger), so
the job's state, progress and failure land in the database either way. With a broker URL: handed
to Celery through ``workers.dispatch`` (imported lazily: the embedded service never needs Celery).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final

from allocation.jobs.options import JobOptions
from allocation.jobs.runner import JobCancelled, JobState, run_steps
from allocation.jobs.service import JobView, list_jobs
from allocation.jobs.steps import StepContext
from api.runtime import Runtime

__all__ = ["resume_unfinished", "revoke", "shutdown", "submit"]

log = logging.getLogger("closetflow.jobs")

EMBEDDED_WORKERS: Final = 2  # solves are CPU-bound; two at once keep the API responsive on a laptop

_executors: dict[int, ThreadPoolExecutor] = {}
_futures: dict[int, dict[str, Future[None]]] = {}  # per runtime: job id -> its run, until it ends
_lock = threading.Lock()


def _executor(runtime: Runtime) -> ThreadPoolExecutor:
    with _lock:
        pool = _executors.get(id(runtime))
        if pool is None:
            pool = ThreadPoolExecutor(max_workers=EMBEDDED_WORKERS, thread_name_prefix="closetflow-job")
            _executors[id(runtime)] = pool
        return pool


def _run_embedded(runtime: Runtime, job_id: str, options: dict[str, object]) -> None:
    """Run every step; the ledger records failure, so here an exception is only logged."""
    ctx = StepContext(job_id, JobOptions.from_json(dict(options)), runtime.store)
    try:
        run_steps(ctx, runtime.ledger)
    except JobCancelled:
        log.info("job %s was cancelled", job_id)
    except Exception:
        log.exception("job %s failed", job_id)


def submit(runtime: Runtime, job: JobView) -> None:
    """Start ``job`` (just created, state queued) where this service runs jobs.

    With a broker, a send that fails (Redis down) is logged and the job left queued: the workers'
    recovery (``workers.recovery``) sends queued jobs whose chain never left, so the caller still
    gets its 202 and a retry with the same ``Idempotency-Key`` finds the same job.
    """
    if runtime.embedded:
        future = _executor(runtime).submit(_run_embedded, runtime, job.id, job.options)
        with _lock:
            _futures.setdefault(id(runtime), {})[job.id] = future
        future.add_done_callback(lambda _f: _forget(runtime, job.id))
        return
    try:
        from workers.dispatch import enqueue_job

        enqueue_job(job.id, dict(job.options))
    except Exception as exc:
        log.warning("job %s left queued, not sent to the workers: %s: %s", job.id, type(exc).__name__, exc)


def _forget(runtime: Runtime, job_id: str) -> None:
    with _lock:
        _futures.get(id(runtime), {}).pop(job_id, None)


def revoke(runtime: Runtime, job_id: str) -> None:
    """Tell the workers to drop a cancelled job (best effort: the database state is what counts —
    a worker that picks it up anyway stops at its first step)."""
    if runtime.embedded:
        return  # the running thread stops at its next progress report
    try:
        from workers.dispatch import revoke as revoke_task

        revoke_task(job_id)
    except Exception as exc:
        log.warning("job %s: revoke not delivered: %s: %s", job_id, type(exc).__name__, exc)


def resume_unfinished(runtime: Runtime) -> list[str]:
    """Embedded mode, at start: run again every job the database says is queued or running — a
    previous process stopped (or died) before finishing them. Their finished steps are skipped
    (their outputs are stored), so each resumes where it stopped. The embedded service is one
    process: with several, each would resume the same jobs."""
    if not runtime.embedded:
        return []  # the workers' recovery does this for the service
    resumed: list[str] = []
    for state in (JobState.RUNNING, JobState.QUEUED):
        offset = 0
        while True:
            page, _total = list_jobs(runtime.sessions, state=state, limit=200, offset=offset)
            for job in page:
                submit(runtime, job)
                resumed.append(job.id)
            if len(page) < 200:
                break
            offset += 200
    if resumed:
        log.info("resumed %d unfinished job(s): %s", len(resumed), ", ".join(resumed))
    return resumed


def shutdown(runtime: Runtime, *, wait: bool = False) -> None:
    """Stop taking embedded jobs. A job still waiting for a thread stays queued in the database and
    the next start resumes it (``resume_unfinished``); a running one runs to its end, since Python
    waits for its thread at exit (killed instead, it is resumed from its last finished step)."""
    with _lock:
        pool = _executors.pop(id(runtime), None)
        _futures.pop(id(runtime), {})
    if pool is None:
        return
    pool.shutdown(wait=False, cancel_futures=True)
    if wait:
        pool.shutdown(wait=True)
