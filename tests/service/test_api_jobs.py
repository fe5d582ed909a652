"""Jobs through the API on PostgreSQL: one embedded run end to end (upload, submit, poll, read the
plan and the forecasts), idempotency keys, cancelling, and the forecast lookup using its index."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, text

from allocation.jobs.tables import AuditEntry, JobRow
from api.http import jobs_dispatch
from api.keys import Role
from api.runtime import Runtime
from tests.service.test_api_support import (
    ApiKeys,
    assert_error_shape,
    make_client,
    make_keys,
    pg_settings,
    tiny_zip,
)

__all__ = ["tiny_zip"]  # a fixture, imported for pytest

POLL_TIMEOUT_S = 120.0


@pytest.fixture
def api(migrated_pg_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, ApiKeys, Runtime]]:
    runtime = Runtime(pg_settings(migrated_pg_url, tmp_path))
    keys = make_keys(runtime)
    with make_client(runtime) as client:
        yield client, keys, runtime
    runtime.dispose()


@pytest.fixture
def no_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Jobs are recorded as submitted but never run (they stay queued)."""
    submitted: list[str] = []
    monkeypatch.setattr(jobs_dispatch, "submit", lambda _rt, job: submitted.append(job.id))
    return submitted


def _upload(client: TestClient, keys: ApiKeys, data: bytes) -> str:
    r = client.post(
        "/datasets", files={"file": ("tiny.zip", data, "application/zip")}, headers=keys.headers(Role.PLANNER)
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _poll(client: TestClient, keys: ApiKeys, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while time.monotonic() < deadline:
        job = client.get(f"/allocation-jobs/{job_id}", headers=keys.headers(Role.PLANNER)).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return dict(job)
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} did not finish within {POLL_TIMEOUT_S} s")


def test_an_embedded_job_end_to_end(api: tuple[TestClient, ApiKeys, Runtime], tiny_zip: bytes) -> None:
    client, keys, runtime = api
    planner, buyer = keys.headers(Role.PLANNER), keys.headers(Role.BUYER)
    dataset_id = _upload(client, keys, tiny_zip)
    assert client.get(f"/datasets/{dataset_id}", headers=planner).json()["summary"]["holdout"] is True

    submitted = client.post("/allocation-jobs", json={"dataset_id": dataset_id, "horizon_days": 14}, headers=planner)
    assert submitted.status_code == 202, submitted.text
    assert submitted.json()["state"] == "queued"
    job = _poll(client, keys, submitted.json()["id"])
    assert job["state"] == "succeeded", job["error"]
    assert job["attempts"] == 1 and job["progress"] == 1.0 and job["stage"] == "publish"
    assert set(job["timings"]) == {"check", "forecast", "solve", "project", "validate", "publish"}
    assert job["solver_stats"]["status"] == "optimal" and job["options"]["horizon_days"] == 14
    plan = f"/plans/{job['plan_id']}"

    kpis = client.get(f"{plan}/kpis", headers=buyer).json()
    assert kpis["job_id"] == job["id"] and kpis["published_at"] is not None
    assert 0 <= kpis["kpis"]["projected_fill_rate"] <= 1

    everything = client.get(f"{plan}/shipments", params={"limit": 1000}, headers=planner).json()
    assert everything["total"] == len(everything["items"]) > 2
    first = client.get(f"{plan}/shipments", params={"limit": 2, "offset": 0}, headers=planner).json()
    second = client.get(f"{plan}/shipments", params={"limit": 2, "offset": 2}, headers=planner).json()
    assert first["total"] == everything["total"] and len(first["items"]) == 2
    assert first["items"] + second["items"] == everything["items"][:4]
    one = everything["items"][0]
    filtered = client.get(
        f"{plan}/shipments", params={"site_id": one["site_id"], "day": one["ship_date"]}, headers=planner
    ).json()
    expected = [s for s in everything["items"] if (s["site_id"], s["ship_date"]) == (one["site_id"], one["ship_date"])]
    assert filtered["total"] == len(expected) and filtered["items"] == expected

    cleaning = client.get(f"{plan}/cleaning", headers=planner).json()
    assert cleaning["total"] >= len(cleaning["items"]) and all(c["rank"] >= 1 for c in cleaning["items"])
    assert client.get(f"{plan}/transfers", headers=planner).json()["total"] >= 0
    unfilled = client.get(f"{plan}/unfilled", headers=planner).json()
    assert sum(unfilled["reasons"].values()) == unfilled["total"]
    validation = client.get(f"{plan}/validation", headers=planner).json()
    assert {"greedy", "rules", "closetflow", "hindsight", "gap_captured_vs_rules"} <= set(validation)
    assert validation["closetflow"]["fill_rate"] <= validation["hindsight"]["fill_rate"] + 1e-9
    bound = validation["lp_bound"]["value"]
    assert validation["hindsight"]["value"] <= bound + 1e-6 * abs(bound)
    assert validation["hindsight_vs_lp_bound"] is not None

    demand = client.get("/forecasts/demand", params={"sku_id": "K000000", "site_id": "SITE0"}, headers=buyer).json()
    assert demand["dataset_id"] == dataset_id and demand["job_id"] == job["id"]
    assert len(demand["rows"]) == 14 and all(r["model"] for r in demand["rows"])
    days = [r["day"] for r in demand["rows"]]
    window = client.get(
        "/forecasts/demand",
        params={"sku_id": "K000000", "site_id": "SITE0", "start": days[2], "end": days[4], "dataset_id": dataset_id},
        headers=buyer,
    ).json()
    assert [r["day"] for r in window["rows"]] == days[2:5]
    late = client.get("/forecasts/late-returns", params={"limit": 5}, headers=buyer).json()
    assert len(late["rows"]) == 5 and late["next_offset"] == 5 and all(0 <= r["p_late"] <= 1 for r in late["rows"])

    finished = client.delete(f"/allocation-jobs/{job['id']}", headers=planner)
    assert_error_shape(finished, 409)
    listed = client.get("/allocation-jobs", params={"state": "succeeded"}, headers=planner).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]] and listed["total"] == 1

    metrics = client.get("/metrics").text
    assert 'closetflow_jobs{state="succeeded"} 1.0' in metrics
    assert "closetflow_solve_seconds_count 1.0" in metrics
    assert 'route="/plans/{plan_id}/shipments"' in metrics
    _demand_lookup_uses_its_index(runtime)


def _demand_lookup_uses_its_index(runtime: Runtime) -> None:
    """The statement the demand endpoint runs can be answered from ix_forecast_demand_lookup."""
    from allocation.jobs.queries import latest_forecast_source
    from forecasting.queries import ForecastQuery, demand_forecasts

    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    src = latest_forecast_source(runtime.sessions)
    event.listen(runtime.engine, "before_cursor_execute", capture)
    try:
        demand_forecasts(runtime.engine, ForecastQuery(src.dataset_id, src.job_id, "K000000", "SITE0"))
    finally:
        event.remove(runtime.engine, "before_cursor_execute", capture)
    statement, parameters = next((s, p) for s, p in seen if "forecast_demand" in s)
    with runtime.engine.connect() as conn:
        # Real statistics, and no sequential scan: on a table this small one would win on cost alone.
        conn.exec_driver_sql("ANALYZE forecast_demand")
        conn.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
    assert "ix_forecast_demand_lookup" in plan, plan


def test_idempotency_keys(api: tuple[TestClient, ApiKeys, Runtime], tiny_zip: bytes, no_runs: list[str]) -> None:
    client, keys, runtime = api
    dataset_id = _upload(client, keys, tiny_zip)
    headers = {**keys.headers(Role.PLANNER), "Idempotency-Key": "nightly-2026-10-05"}
    body = {"dataset_id": dataset_id, "solver": "highs", "time_limit_s": 30}
    first = client.post("/allocation-jobs", json=body, headers=headers)
    again = client.post("/allocation-jobs", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["id"] == again.json()["id"]
    assert no_runs == [first.json()["id"]]  # a replay never starts the job twice
    other = client.post("/allocation-jobs", json={**body, "time_limit_s": 31}, headers=headers)
    err = assert_error_shape(other, 409)
    assert "Idempotency-Key" in err["message"]
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(JobRow)) == 1


def test_cancel_a_queued_job(api: tuple[TestClient, ApiKeys, Runtime], tiny_zip: bytes, no_runs: list[str]) -> None:
    client, keys, runtime = api
    dataset_id = _upload(client, keys, tiny_zip)
    job = client.post("/allocation-jobs", json={"dataset_id": dataset_id}, headers=keys.headers(Role.PLANNER)).json()
    cancelled = client.delete(f"/allocation-jobs/{job['id']}", headers=keys.headers(Role.PLANNER))
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["finished_at"] is not None
    twice = client.delete(f"/allocation-jobs/{job['id']}", headers=keys.headers(Role.OPERATOR))
    assert twice.status_code == 200 and twice.json()["state"] == "cancelled"
    assert_error_shape(client.delete(f"/allocation-jobs/{'f' * 32}", headers=keys.headers(Role.PLANNER)), 404)
    with runtime.sessions() as s:
        audit = s.execute(select(AuditEntry.actor, AuditEntry.action).where(AuditEntry.target == job["id"])).all()
    assert set(audit) == {
        (keys.key_ids[Role.PLANNER], "allocation_job.create"),
        (keys.key_ids[Role.PLANNER], "job.cancel"),
    }


def test_nightly_queues_a_job_for_the_newest_dataset(
    api: tuple[TestClient, ApiKeys, Runtime], tiny_zip: bytes, no_runs: list[str]
) -> None:
    client, keys, _ = api
    assert_error_shape(client.post("/nightly", headers=keys.headers(Role.OPERATOR)), 404)  # no dataset yet
    _upload(client, keys, tiny_zip)
    newest = _upload(client, keys, tiny_zip)
    r = client.post("/nightly", headers=keys.headers(Role.OPERATOR))
    assert r.status_code == 202, r.text
    assert r.json()["kind"] == "nightly" and r.json()["dataset_id"] == newest and no_runs == [r.json()["id"]]


def test_job_options_are_checked(api: tuple[TestClient, ApiKeys, Runtime], tiny_zip: bytes, no_runs: list[str]) -> None:
    client, keys, runtime = api
    dataset_id = _upload(client, keys, tiny_zip)
    planner = keys.headers(Role.PLANNER)
    bad = [
        {"dataset_id": dataset_id, "solver": "cp-sat"},
        {"dataset_id": dataset_id, "risk_policy": "quantile:1.5"},
        {"dataset_id": dataset_id, "time_limit_s": 0},
        {"dataset_id": dataset_id, "replan_every": 0},
        {"dataset_id": dataset_id, "surprise": 1},
    ]
    for body in bad:
        err = assert_error_shape(client.post("/allocation-jobs", json=body, headers=planner), 422)
        assert err["details"], body
    too_long = client.post("/allocation-jobs", json={"dataset_id": dataset_id, "horizon_days": 99}, headers=planner)
    assert "horizon" in assert_error_shape(too_long, 422)["message"]
    with runtime.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 0
    assert no_runs == []
