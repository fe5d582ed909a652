"""The embedded service keeps working when its process dies: jobs the database says are queued or
running are resumed when the service starts again, from their last finished step."""

from __future__ import annotations

import time
from pathlib import Path

from allocation.jobs.options import JobOptions
from allocation.jobs.runner import run_step
from allocation.jobs.service import create_job, get_job, register_dataset
from allocation.jobs.steps import StepContext
from api.runtime import Runtime
from tests.service.test_api_support import make_client, pg_settings, tiny_zip

__all__ = ["tiny_zip"]


def test_a_restarted_embedded_service_resumes_unfinished_jobs(
    migrated_pg_url: str, tmp_path: Path, tiny_zip: bytes
) -> None:
    runtime = Runtime(pg_settings(migrated_pg_url, tmp_path))
    ds = register_dataset(runtime.sessions, archive=tiny_zip, name="tiny", actor="test", max_unpacked_bytes=2**30)
    opts = JobOptions(dataset_id=ds["id"], validate=False)
    # One job queued and never started; one that a dead process left running after two steps.
    queued, _ = create_job(runtime.sessions, options=opts, actor="test")
    halfway, _ = create_job(runtime.sessions, options=opts, actor="test")
    ctx = StepContext(halfway.id, opts, runtime.store)
    for name in ("check", "forecast"):
        run_step(ctx, name, runtime.ledger)
    runtime.ledger.begin_step(halfway.id, "solve")  # ... and died inside the solve
    forecast_written = runtime.store.has(halfway.id, "forecasts.npz")
    assert forecast_written and get_job(runtime.sessions, halfway.id).state == "running"

    with make_client(runtime):  # starting the app resumes both
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            states = {get_job(runtime.sessions, j.id).state for j in (queued, halfway)}
            if states <= {"succeeded", "failed", "cancelled"}:
                break
            time.sleep(0.25)
    done_queued, done_halfway = get_job(runtime.sessions, queued.id), get_job(runtime.sessions, halfway.id)
    assert done_queued.state == "succeeded" and done_queued.attempts == 1 and done_queued.plan_id
    assert done_halfway.state == "succeeded" and done_halfway.plan_id
    assert done_halfway.attempts == 2  # the solve it died in ran again: a second attempt
    runtime.dispose()
