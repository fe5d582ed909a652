"""A delivered step in-process on PostgreSQL (no broker): the job's lease, duplicate deliveries, and a
redelivered step that never makes a second plan."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, update

from allocation.jobs.options import JobOptions
from allocation.jobs.service import create_job
from allocation.jobs.tables import JobArtifact, JobRow, utcnow
from api.runtime import Runtime
from tests.service.test_workers_support import plans_of, register_world
from workers import lease
from workers import runtime as worker_runtime
from workers.execution import MAX_ATTEMPTS, Outcome, execute_step, finish_job


@pytest.fixture
def rt(monkeypatch: pytest.MonkeyPatch, migrated_pg_url: str, tmp_path: object) -> Iterator[Runtime]:
    monkeypatch.setenv("CLOSETFLOW_DATABASE_URL", migrated_pg_url)
    monkeypatch.setenv("CLOSETFLOW_ARTIFACTS_DIR", str(tmp_path))
    monkeypatch.delenv("CLOSETFLOW_BROKER_URL", raising=False)
    worker_runtime.forget(close=True)
    yield worker_runtime.runtime()
    worker_runtime.forget(close=True)


def _job(rt: Runtime) -> str:
    dataset_id = register_world(rt)
    job, _ = create_job(rt.sessions, options=JobOptions(dataset_id, validate=False), actor="test")
    return job.id


def test_a_redelivered_step_never_makes_a_second_plan(rt: Runtime) -> None:
    job_id = _job(rt)
    for step in ("check", "forecast", "solve", "project"):
        assert execute_step(rt, job_id, step, task_id=f"t-{step}") is Outcome.RAN
    first_plan = rt.store.get(job_id, "plan.json")

    # The same message again (Redis redelivered it after the ack was lost): dropped whole.
    assert execute_step(rt, job_id, "project", task_id="t-project") is Outcome.STOPPED
    # Another chain's project task for the same job (recovery re-sent the chain): output is stored.
    assert execute_step(rt, job_id, "project", task_id="t-project-again") is Outcome.SKIPPED
    # A worker that died after saving the plan but before writing the step's marker: the step runs
    # again, and the plan table's unique job_id hands back the plan it had already made.
    with rt.sessions.begin() as s:
        s.execute(delete(JobArtifact).where(JobArtifact.job_id == job_id, JobArtifact.name == "plan.json"))
    assert execute_step(rt, job_id, "project", task_id="t-project-third") is Outcome.RAN
    assert rt.store.get(job_id, "plan.json") == first_plan
    assert plans_of(rt, job_id)[0] == 1

    for step in ("validate", "publish"):
        assert execute_step(rt, job_id, step, task_id=f"t-{step}") is Outcome.RAN
    plan_id = finish_job(rt, job_id)
    assert plan_id is not None and finish_job(rt, job_id) is None  # a second finish changes nothing
    assert plans_of(rt, job_id)[0] == 1
    # A finished job: any late delivery stops at once.
    assert execute_step(rt, job_id, "solve", task_id="late") is Outcome.STOPPED


def test_the_lease_admits_one_holder_and_passes_on_when_it_goes_silent(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = _job(rt)
    a, b = lease.new_token("task-a"), lease.new_token("task-b")
    assert lease.holder_task_id(a) == "task-a" and lease.holder_task_id("plain-id") is None

    assert lease.claim(rt.sessions, job_id, a, wait_s=0) is lease.Claim.CLAIMED
    assert lease.claim(rt.sessions, job_id, b, wait_s=0) is lease.Claim.BUSY

    monkeypatch.setattr(lease, "HEARTBEAT_S", 0.05)
    with lease.hold(rt.sessions, job_id, a, release_to="task-a") as held_a:
        # Silent for longer than LEASE_S (as if its worker died): B takes over...
        with rt.sessions.begin() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.id == job_id)
                .values(updated_at=utcnow() - timedelta(seconds=lease.LEASE_S + 1))
            )
        assert lease.claim(rt.sessions, job_id, b, wait_s=0) is lease.Claim.CLAIMED
        # ... and A, should it wake up, finds out at its next heartbeat and records nothing more.
        deadline = time.monotonic() + 5
        while not held_a.lost.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert held_a.lost.is_set()
        with pytest.raises(lease.LeaseLost):
            lease.LeasedLedger(rt.ledger, held_a).begin_step(job_id, "check")
    assert lease.claim(rt.sessions, job_id, a, wait_s=0) is lease.Claim.BUSY  # A's release left B's lease


def test_a_step_that_keeps_dying_fails_the_job_instead_of_running_for_ever(rt: Runtime) -> None:
    job_id = _job(rt)
    assert execute_step(rt, job_id, "check", task_id=None) is Outcome.RAN
    with rt.sessions.begin() as s:  # as left by MAX_ATTEMPTS workers killed in the forecast step
        s.execute(update(JobRow).where(JobRow.id == job_id).values(stage="forecast", attempts=MAX_ATTEMPTS))
    assert execute_step(rt, job_id, "forecast", task_id=None) is Outcome.STOPPED
    assert rt.ledger.state_of(job_id) == "failed"
