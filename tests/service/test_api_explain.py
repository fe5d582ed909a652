"""Explanations and what-ifs through the API on PostgreSQL with the in-process runner: a plan's
reservation explained (200) or not found (404, the same words as the CLI), a what-if job from the
plan that compares with it, and 404/422 for what is not there or not allowed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.keys import Role
from api.runtime import Runtime
from tests.service.test_api_support import ApiKeys, assert_error_shape, make_client, make_keys, pg_settings, tiny_zip

__all__ = ["tiny_zip"]  # a fixture, imported for pytest

POLL_TIMEOUT_S = 180.0


@pytest.fixture(scope="module")
def module_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, ApiKeys, Runtime]]:
    from allocation.jobs.migrate import upgrade
    from tests.servers import postgres_database

    with postgres_database() as url:
        upgrade(url)
        runtime = Runtime(pg_settings(url, tmp_path_factory.mktemp("artifacts")))
        keys = make_keys(runtime)
        with make_client(runtime) as client:
            yield client, keys, runtime
        runtime.dispose()


def _poll(client: TestClient, keys: ApiKeys, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while time.monotonic() < deadline:
        job = client.get(f"/allocation-jobs/{job_id}", headers=keys.headers(Role.PLANNER)).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return dict(job)
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} did not finish within {POLL_TIMEOUT_S} s")


@pytest.fixture(scope="module")
def base_plan(module_api: tuple[TestClient, ApiKeys, Runtime], tiny_zip: bytes) -> str:
    client, keys, _ = module_api
    planner = keys.headers(Role.PLANNER)
    r = client.post("/datasets", files={"file": ("tiny.zip", tiny_zip, "application/zip")}, headers=planner)
    assert r.status_code == 201, r.text
    submitted = client.post(
        "/allocation-jobs", json={"dataset_id": r.json()["id"], "horizon_days": 14}, headers=planner
    )
    assert submitted.status_code == 202, submitted.text
    job = _poll(client, keys, submitted.json()["id"])
    assert job["state"] == "succeeded", job["error"]
    return str(job["plan_id"])


def test_a_reservation_of_the_plan_is_explained(
    module_api: tuple[TestClient, ApiKeys, Runtime], base_plan: str
) -> None:
    client, keys, _ = module_api
    planner = keys.headers(Role.PLANNER)
    ships = client.get(f"/plans/{base_plan}/shipments", params={"limit": 1}, headers=planner).json()["items"]
    rid = ships[0]["reservation_id"]
    r = client.get(f"/plans/{base_plan}/reservations/{rid}/explanation", headers=planner)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["reservation_id"] == rid and body["filled"] is True
    assert body["site_id"] == ships[0]["site_id"] and body["ship_date"] == ships[0]["ship_date"]
    assert body["text"].startswith(f"Ships from {ships[0]['site_id']}")


def test_an_unknown_reservation_or_plan_is_404_in_the_same_words(
    module_api: tuple[TestClient, ApiKeys, Runtime], base_plan: str
) -> None:
    client, keys, _ = module_api
    planner = keys.headers(Role.PLANNER)
    r = client.get(f"/plans/{base_plan}/reservations/NO_SUCH/explanation", headers=planner)
    body = assert_error_shape(r, 404)
    assert body["message"] == f"no reservation 'NO_SUCH' in plan {base_plan}: it was not open on the plan date"
    r = client.get("/plans/no-such-plan/reservations/V1/explanation", headers=planner)
    assert assert_error_shape(r, 404)["message"] == "no plan 'no-such-plan'"
    assert (
        client.get(f"/plans/{base_plan}/reservations/V1/explanation", headers=keys.headers(Role.BUYER)).status_code
        == 403
    )


def test_a_whatif_job_compares_its_plan_with_the_base_plan(
    module_api: tuple[TestClient, ApiKeys, Runtime], base_plan: str
) -> None:
    client, keys, _ = module_api
    planner = keys.headers(Role.PLANNER)
    r = client.post(f"/plans/{base_plan}/whatif", json={"shipping_capacity": ["SITE1:+50%"]}, headers=planner)
    assert r.status_code == 202, r.text
    assert r.json()["kind"] == "whatif"
    job = _poll(client, keys, r.json()["id"])
    assert job["state"] == "succeeded", job["error"]
    assert "forecast" not in job["timings"]  # the base plan's forecasts: nothing refitted
    c = client.get(f"/plans/{job['plan_id']}/comparison", headers=planner)
    assert c.status_code == 200, c.text
    body = c.json()
    assert body["base_plan"] == base_plan and body["changes"] == ["shipping capacity at SITE1 +50%"]
    base_kpis = client.get(f"/plans/{base_plan}/kpis", headers=planner).json()["kpis"]
    assert body["before"]["fill_rate"] == pytest.approx(base_kpis["projected_fill_rate"])
    assert body["after"]["objective"] >= body["before"]["objective"] - 1e-6
    none = client.get(f"/plans/{base_plan}/comparison", headers=planner)
    assert "is not a what-if plan" in assert_error_shape(none, 404)["message"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"cleaning_capacity": ["SITE0+10%"]}, "is not SITE:+10%"),
        ({"site_down": ["NOWHERE@2026-10-06"]}, "no site 'NOWHERE'"),
        ({}, "at least one change"),
    ],
)
def test_a_bad_whatif_is_422_in_its_words(
    module_api: tuple[TestClient, ApiKeys, Runtime], base_plan: str, body: dict[str, list[str]], words: str
) -> None:
    client, keys, _ = module_api
    r = client.post(f"/plans/{base_plan}/whatif", json=body, headers=keys.headers(Role.PLANNER))
    assert words in assert_error_shape(r, 422)["message"]


def test_a_whatif_of_an_unknown_plan_is_404(module_api: tuple[TestClient, ApiKeys, Runtime]) -> None:
    client, keys, _ = module_api
    r = client.post(
        "/plans/no-such-plan/whatif", json={"demand_surge": ["dress:+10%"]}, headers=keys.headers(Role.PLANNER)
    )
    assert_error_shape(r, 404)
