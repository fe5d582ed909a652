"""Every error in one JSON shape; readiness and submission when the database or the broker is down;
jobs handed to the workers when a broker is set; a bug answered as a 500 without a traceback."""

from __future__ import annotations

import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from allocation.jobs import queries
from api.keys import Role
from api.runtime import Runtime
from api.settings import Settings
from tests.service.test_api_support import (
    ApiKeys,
    assert_error_shape,
    make_client,
    make_keys,
    pg_settings,
    tiny_zip,
)

__all__ = ["tiny_zip"]  # a fixture, imported for pytest

CLOSED_DB = "postgresql+psycopg://postgres@127.0.0.1:1/x"
CLOSED_BROKER = "redis://127.0.0.1:1/0"


@pytest.fixture
def api(migrated_pg_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, ApiKeys, Runtime]]:
    runtime = Runtime(pg_settings(migrated_pg_url, tmp_path))
    keys = make_keys(runtime)
    with make_client(runtime, raise_server_exceptions=False) as client:
        yield client, keys, runtime
    runtime.dispose()


def test_every_kind_of_error_has_the_one_shape(
    api: tuple[TestClient, ApiKeys, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, keys, _ = api
    planner, buyer = keys.headers(Role.PLANNER), keys.headers(Role.BUYER)
    cases: list[tuple[int, str, Any]] = [
        (401, "unauthorized", client.get("/allocation-jobs")),
        (403, "forbidden", client.get("/allocation-jobs", headers=buyer)),
        (404, "not_found", client.get("/no/such/route", headers=planner)),
        (404, "not_found", client.get(f"/plans/{'a' * 32}/kpis", headers=planner)),
        (405, "method_not_allowed", client.put("/healthz")),
        (413, "too_large", client.post("/keys", content=b"{" + b" " * 70_000 + b"}", headers=planner)),
        (422, "invalid_request", client.get("/allocation-jobs", params={"limit": 0}, headers=planner)),
        (422, "invalid_request", client.get("/forecasts/demand", params={"start": "yesterday"}, headers=buyer)),
        (422, "invalid_request", client.post("/allocation-jobs", content=b"{not json", headers=planner)),
        (422, "invalid_request", client.get("/forecasts/demand", params={"sku_id": "a\x00b"}, headers=buyer)),
    ]
    for status, code, response in cases:
        err = assert_error_shape(response, status)
        assert err["code"] == code, (status, err)
    details = assert_error_shape(cases[6][2])["details"]
    assert details and details[0].startswith("query.limit: ")

    def broken(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("a bug with a secret in its message")

    monkeypatch.setattr(queries, "plan_summary", broken)
    err = assert_error_shape(client.get(f"/plans/{'a' * 32}/kpis", headers=planner), 500)
    assert err["code"] == "internal" and "secret" not in err["message"] and "reference" in err["message"]


def test_a_closed_database_answers_503_quickly(tmp_path: Path) -> None:
    runtime = Runtime(Settings(database_url=CLOSED_DB, artifacts_dir=tmp_path, broker_url=None))
    with make_client(runtime) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        t = time.perf_counter()
        ready = client.get("/readyz")
        assert time.perf_counter() - t < 1.0
        err = assert_error_shape(ready, 503)
        assert err["details"] == ["database: unreachable"]
        submitted = client.post(
            "/allocation-jobs", json={"dataset_id": "a" * 32}, headers={"Authorization": "Bearer cf_whatever"}
        )
        err = assert_error_shape(submitted, 503)
        assert "127.0.0.1" not in err["message"]  # the driver's words go to the log, not to the caller
        assert "closetflow_metrics_database_up 0.0" in client.get("/metrics").text
    assert not (tmp_path / "closetflow.db").exists()  # nothing written anywhere else either


@pytest.fixture
def fake_workers(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """``workers.dispatch`` replaced by a recorder (the real one needs a running worker)."""
    calls: dict[str, list[Any]] = {"enqueue": [], "revoke": []}
    module = types.ModuleType("workers.dispatch")

    def enqueue_job(job_id: str, options: dict[str, Any]) -> str:
        calls["enqueue"].append((job_id, options))
        return "chain-id"

    def revoke(job_id: str) -> None:
        calls["revoke"].append(job_id)
        raise ConnectionError("broker gone")  # a failed revoke must not stop the cancel

    module.enqueue_job = enqueue_job  # type: ignore[attr-defined]
    module.revoke = revoke  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "workers.dispatch", module)
    return calls


@pytest.mark.xdist_group("redis")  # with the Redis-restart fault test, never beside it
def test_with_a_broker_jobs_go_to_the_workers(
    migrated_pg_url: str, redis_url: str, tmp_path: Path, tiny_zip: bytes, fake_workers: dict[str, list[Any]]
) -> None:
    runtime = Runtime(pg_settings(migrated_pg_url, tmp_path).model_copy(update={"broker_url": redis_url}))
    keys = make_keys(runtime)
    planner = keys.headers(Role.PLANNER)
    with make_client(runtime) as client:
        assert client.get("/readyz").json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}
        ds = client.post("/datasets", files={"file": ("t.zip", tiny_zip, "application/zip")}, headers=planner).json()
        job = client.post("/allocation-jobs", json={"dataset_id": ds["id"]}, headers=planner).json()
        assert fake_workers["enqueue"] == [(job["id"], job["options"])]
        time.sleep(0.3)
        assert client.get(f"/allocation-jobs/{job['id']}", headers=planner).json()["state"] == "queued"
        cancelled = client.delete(f"/allocation-jobs/{job['id']}", headers=planner)
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        assert fake_workers["revoke"] == [job["id"]]
    runtime.dispose()


def test_a_broker_that_refuses_leaves_the_job_queued(
    migrated_pg_url: str, tmp_path: Path, tiny_zip: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = types.ModuleType("workers.dispatch")

    def enqueue_job(job_id: str, options: dict[str, Any]) -> str:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:1")

    module.enqueue_job = enqueue_job  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "workers.dispatch", module)
    runtime = Runtime(pg_settings(migrated_pg_url, tmp_path).model_copy(update={"broker_url": CLOSED_BROKER}))
    keys = make_keys(runtime)
    planner = keys.headers(Role.PLANNER)
    with make_client(runtime) as client:
        t = time.perf_counter()
        err = assert_error_shape(client.get("/readyz"), 503)
        assert time.perf_counter() - t < 1.0 and err["details"] == ["broker: unreachable"]
        ds = client.post("/datasets", files={"file": ("t.zip", tiny_zip, "application/zip")}, headers=planner).json()
        job = client.post("/allocation-jobs", json={"dataset_id": ds["id"]}, headers=planner)
        # Queued for the workers' recovery to send; a retry with an Idempotency-Key finds it.
        assert job.status_code == 202 and job.json()["state"] == "queued"
    runtime.dispose()
