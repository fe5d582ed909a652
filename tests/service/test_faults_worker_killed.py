"""Fault: the worker is SIGKILLed (its whole process group) in the middle of the solve step.

Redis hands the unacknowledged solve task to the next worker once the visibility timeout has
passed; that worker waits out the dead holder's lease, runs the solve again and the rest of the
chain. The job completes exactly once: one plan, ``attempts == 2``, and the steps finished before
the kill are not run again (their stored outputs are reused).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from allocation.jobs.options import JobOptions
from allocation.jobs.service import create_job
from allocation.jobs.tables import JobArtifact
from tests.service.test_workers_support import (
    REDIS_GROUP,
    Service,
    kill_group,
    plans_of,
    register_world,
    service_running,
    wait_until,
)
from workers.dispatch import enqueue_job

pytestmark = REDIS_GROUP

VISIBILITY_S = 10  # Redis re-delivers a dead worker's task after this (production: an hour)


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch, migrated_pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[Service]:
    with service_running(
        monkeypatch, migrated_pg_url, redis_url, tmp_path, broker_visibility_timeout_s=str(VISIBILITY_S)
    ) as svc:
        yield svc


def _artifact_times(svc: Service, job_id: str) -> dict[str, object]:
    with svc.rt.sessions() as s:
        rows = s.execute(select(JobArtifact.name, JobArtifact.created_at).where(JobArtifact.job_id == job_id)).all()
    return {name: at for name, at in rows}


def test_a_worker_killed_during_the_solve_is_replaced_and_the_job_completes_once(service: Service) -> None:
    # A small world: its solve step (read the world, build and solve the LP) takes a second or two,
    # ample for a 20 ms poll of the job's row to catch it running. Validation is off: it is not
    # what this test is about and would add half a minute.
    dataset_id = register_world(service.rt, scale="small", seed=7)
    job, _ = create_job(service.rt.sessions, options=JobOptions(dataset_id, validate=False), actor="test")
    enqueue_job(job.id, job.options)
    first = service.start_worker("first")

    def solving() -> bool:
        row = service.job(job.id)
        assert row.state in {"queued", "running"}, row
        return row.state == "running" and row.stage == "solve"

    wait_until(solving, timeout=120, every=0.02, what="the solve step to start")
    kill_group(first)
    killed_at = time.monotonic()
    assert first.poll() is not None, "the worker survived SIGKILL"

    before = _artifact_times(service, job.id)
    assert "solve.json" not in before, "the solve had finished before the kill: the test proves nothing"
    assert {"check.json", "forecasts.npz"} <= set(before)
    timings_before = service.job(job.id).timings
    assert service.job(job.id).attempts == 1

    service.start_worker("second")
    done = service.wait_final(job.id, timeout=120)
    recovered_s = time.monotonic() - killed_at

    assert done.state == "succeeded", done.error
    assert done.attempts == 2  # taken up twice: the killed solve counted once more
    assert plans_of(service.rt, job.id)[0] == 1
    assert plans_of(service.rt, job.id)[1] > 0

    # The second worker resumed at the solve: the earlier steps' outputs are the ones made before
    # the kill (same write times), their recorded seconds unchanged, and it never ran their tasks.
    after = _artifact_times(service, job.id)
    for name in ("check.json", "forecasts.npz", "timings/check.json", "timings/forecast.json"):
        assert after[name] == before[name], f"{name} was written again"
    assert {k: done.timings[k] for k in ("check", "forecast")} == {k: timings_before[k] for k in ("check", "forecast")}
    second_log = service.log("second")
    assert "closetflow.check[" not in second_log and "closetflow.forecast[" not in second_log
    assert "closetflow.solve[" in second_log
    # One chain went on from the solve: a copy of a delivery that had completed (Redis hands a task
    # out again when it outlasts the visibility timeout, as the solve did waiting out the lease) was
    # dropped rather than dragging a second copy of the chain along.
    for step in ("project", "validate", "publish", "finish"):
        assert len(re.findall(rf"closetflow\.{step}\[[^\]]+\] received", second_log)) == 1, step
    # Redelivery needs the visibility timeout; then the dead holder's lease runs out (LEASE_S).
    assert recovered_s >= VISIBILITY_S
