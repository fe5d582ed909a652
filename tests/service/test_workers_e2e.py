"""End to end through the real pieces: the HTTP API takes a job, a ``closetflow worker`` process on
real Redis runs its chain, and the plan lands in PostgreSQL. Also the nightly task, and recovery's
view of the broker, against real Redis."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from api.http.main import create_app
from api.keys import Role, create_key
from tests.service.test_workers_support import (
    REDIS_GROUP,
    Service,
    plans_of,
    register_world,
    service_running,
    wait_until,
    world_zip,
)
from workers.nightly import nightly
from workers.recovery import GRACE_S, job_ids_in_broker, recover

pytestmark = REDIS_GROUP


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch, migrated_pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[Service]:
    with service_running(monkeypatch, migrated_pg_url, redis_url, tmp_path) as svc:
        yield svc


def test_a_worker_process_runs_a_job_submitted_through_the_api_into_postgres(service: Service) -> None:
    _, secret = create_key(service.rt.sessions, role=Role.PLANNER, name="e2e", actor="test")
    auth = {"Authorization": f"Bearer {secret}"}
    service.start_worker("w1")
    with TestClient(create_app(service.rt)) as client:
        up = client.post(
            "/datasets", files={"file": ("tiny.zip", world_zip("tiny", 1), "application/zip")}, headers=auth
        )
        assert up.status_code == 201, up.text
        dataset_id = up.json()["id"]
        submitted = client.post("/allocation-jobs", json={"dataset_id": dataset_id}, headers=auth)
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]

        job = service.wait_final(job_id, timeout=90)
        assert job.state == "succeeded", job.error
        assert job.attempts == 1
        assert job.stage == "publish" and job.progress == 1.0
        assert set(job.timings) == {"check", "forecast", "solve", "project", "validate", "publish"}

        plans, ships = plans_of(service.rt, job_id)
        assert plans == 1 and ships > 0
        shipments = client.get(f"/plans/{job.plan_id}/shipments", headers=auth)
        assert shipments.status_code == 200, shipments.text
    log = service.log("w1")
    for step in ("check", "forecast", "solve", "project", "validate", "publish", "finish"):
        assert f"closetflow.{step}[" in log, f"{step} did not run on the worker"


def test_a_job_cancelled_while_queued_never_runs(service: Service) -> None:
    from allocation.jobs.options import JobOptions
    from allocation.jobs.service import cancel_job, create_job
    from workers.dispatch import enqueue_job, revoke

    dataset_id = register_world(service.rt)
    kept, _ = create_job(service.rt.sessions, options=JobOptions(dataset_id, validate=False), actor="test")
    dropped, _ = create_job(service.rt.sessions, options=JobOptions(dataset_id, validate=False), actor="test")
    enqueue_job(kept.id, kept.options)
    enqueue_job(dropped.id, dropped.options)
    cancel_job(service.rt.sessions, dropped.id, actor="test")
    revoke(dropped.id)

    service.start_worker("w1")
    assert service.wait_final(kept.id, timeout=90).state == "succeeded"
    job = service.job(dropped.id)
    assert (job.state, job.attempts, job.stage) == ("cancelled", 0, None)
    assert plans_of(service.rt, dropped.id) == (0, 0)


def test_nightly_makes_one_job_a_night_and_recovery_resends_it_when_redis_lost_it(
    service: Service, redis_url: str
) -> None:
    register_world(service.rt)
    newest = register_world(service.rt, seed=2)
    job_id = nightly(None)
    assert nightly(None) == job_id  # beat firing twice, or a retry: still one job tonight
    job = service.job(job_id)
    assert (job.kind, job.state, job.options["dataset_id"]) == ("nightly", "queued", newest)

    assert job_ids_in_broker() == {job_id}
    assert recover() == []  # its chain is in Redis: nothing to re-send

    redis.Redis.from_url(redis_url).flushdb()  # what a restart of a Redis without persistence does
    assert job_ids_in_broker() == set()
    time.sleep(GRACE_S + 0.5)
    assert recover() == [job_id]
    assert job_ids_in_broker() == {job_id}
    assert recover() == []  # sent once, not again while it waits in the queue


def test_cancelling_a_running_solve_terminates_it_on_the_worker(service: Service) -> None:
    from allocation.jobs.options import JobOptions
    from allocation.jobs.service import cancel_job, create_job
    from workers.dispatch import enqueue_job, revoke

    # A small world: its solve runs for a second or two, long enough to be caught running.
    dataset_id = register_world(service.rt, scale="small", seed=7)
    job, _ = create_job(service.rt.sessions, options=JobOptions(dataset_id, validate=False), actor="test")
    enqueue_job(job.id, job.options)
    worker = service.start_worker("w1")

    def solving() -> bool:
        row = service.job(job.id)
        return row.state == "running" and row.stage == "solve"

    wait_until(solving, timeout=120, every=0.02, what="the solve step to start")
    # The solve checks for a cancel once, as it starts; past that (it then runs for a second or two
    # without reporting) only terminating its process stops it.
    time.sleep(0.5)
    cancel_job(service.rt.sessions, job.id, actor="test")
    revoke(job.id)

    def stopped() -> bool:
        log = service.log("w1")
        return "Terminating" in log or re.search(r"closetflow\.solve\[[^\]]+\] ignored", log) is not None

    wait_until(stopped, timeout=15, what="the worker to stop the solve")
    time.sleep(3)  # room for a wrongly re-queued solve to run and store its output
    log = service.log("w1")[-4000:]
    assert service.job(job.id).state == "cancelled", log
    assert not service.rt.store.has(job.id, "solve.json"), log
    assert plans_of(service.rt, job.id) == (0, 0)
    assert worker.poll() is None, log  # the worker itself lives on
