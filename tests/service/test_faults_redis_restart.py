"""Fault: Redis restarts while jobs are queued and no worker runs. It keeps nothing on disk, so their
messages are gone; the database still says they are queued, and the first worker to start sends
their chains again (``workers.recovery``). Each job then completes once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from allocation.jobs.options import JobOptions
from allocation.jobs.service import create_job
from tests.service.test_workers_support import (
    REDIS_GROUP,
    Service,
    plans_of,
    register_world,
    restart_redis,
    service_running,
)
from workers.dispatch import enqueue_job
from workers.recovery import GRACE_S, job_ids_in_broker

pytestmark = REDIS_GROUP


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch, migrated_pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[Service]:
    with service_running(monkeypatch, migrated_pg_url, redis_url, tmp_path) as svc:
        yield svc


def test_jobs_queued_when_redis_restarts_empty_still_complete_once(service: Service, redis_url: str) -> None:
    dataset_id = register_world(service.rt)
    jobs = [
        create_job(service.rt.sessions, options=JobOptions(dataset_id, validate=False), actor="test")[0]
        for _ in range(3)
    ]
    for job in jobs:
        enqueue_job(job.id, job.options)
    sent_at = time.monotonic()
    assert job_ids_in_broker() == {j.id for j in jobs}

    restart_redis(redis_url)
    assert job_ids_in_broker() == set(), "Redis kept the queue: the test proves nothing"
    # Recovery leaves alone a job touched in the last GRACE_S (its chain may be on its way to Redis).
    time.sleep(max(0.0, GRACE_S + 0.5 - (time.monotonic() - sent_at)))

    service.start_worker("after-restart")
    for job in jobs:
        done = service.wait_final(job.id, timeout=90)
        assert done.state == "succeeded", done.error
        assert done.attempts == 1
        assert plans_of(service.rt, job.id)[0] == 1
    assert "recovered 3 job(s)" in service.log("after-restart")
