"""A job that starts from an earlier plan (PostgreSQL, embedded runs): prices and communicated
shipments carry over, and an unknown plan is a 404 before any job is made."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.keys import Role
from api.runtime import Runtime
from tests.service.test_api_jobs import _poll, _upload, api
from tests.service.test_api_support import ApiKeys, assert_error_shape, tiny_zip

__all__ = ["api", "tiny_zip"]  # fixtures, imported for pytest


def test_a_job_inherits_its_previous_plan(api: tuple[TestClient, ApiKeys, Runtime], tiny_zip: bytes) -> None:
    client, keys, runtime = api
    planner = keys.headers(Role.PLANNER)
    dataset_id = _upload(client, keys, tiny_zip)
    first = client.post("/allocation-jobs", json={"dataset_id": dataset_id}, headers=planner)
    job1 = _poll(client, keys, first.json()["id"])
    assert job1["state"] == "succeeded", job1["error"]

    body = {"dataset_id": dataset_id, "previous_plan": job1["plan_id"], "stability_penalty": 15, "solver": "dw"}
    second = client.post("/allocation-jobs", json=body, headers=planner)
    assert second.status_code == 202, second.text
    job2 = _poll(client, keys, second.json()["id"])
    assert job2["state"] == "succeeded", job2["error"]
    assert job2["options"]["stability_penalty"] == 15
    assert runtime.store.has(job2["id"], "previous/capacity_prices.json")
    assert runtime.store.has(job2["id"], "previous/ships.parquet")
    stats = job2["solver_stats"]
    assert stats["warm_start"] is True
    assert stats["communicated_shipments"] > 0
    assert 0 <= stats["changed_shipments"] <= stats["communicated_shipments"]


def test_an_unknown_previous_plan_is_a_404_and_makes_no_job(
    api: tuple[TestClient, ApiKeys, Runtime], tiny_zip: bytes
) -> None:
    client, keys, runtime = api
    dataset_id = _upload(client, keys, tiny_zip)
    body = {"dataset_id": dataset_id, "previous_plan": "0123456789abcdef0123456789abcdef"}
    err = assert_error_shape(client.post("/allocation-jobs", json=body, headers=keys.headers(Role.PLANNER)), 404)
    assert "0123456789abcdef0123456789abcdef" in err["message"]
    with runtime.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 0
