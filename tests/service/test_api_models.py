"""``/models``: the registry's operator routes over a real PostgreSQL database — list, promote,
rollback, stored and run checks; a gated promote that fails answers 409 with the reason and keeps
the champion; an unknown version is a 404 in the registry's words; only operators get in. One job
runs for real on a tiny world, so the fill-rate check reads a report.json the job itself wrote."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from allocation.jobs import service
from allocation.jobs.options import JobOptions
from allocation.jobs.runner import run_steps
from allocation.jobs.steps import StepContext
from api.keys import Role
from api.runtime import Runtime
from forecasting.base import make_forecaster
from forecasting.checks import CheckResult, load_result, store_result
from forecasting.promotion import decisions
from forecasting.registry import ModelRegistry
from forecasting.series import ID, TARGET, TIME
from tests.service.test_api_support import (
    ApiKeys,
    assert_error_shape,
    make_client,
    make_keys,
    module_pg_url,
    pg_settings,
    tiny_zip,
)

__all__ = ["module_pg_url", "tiny_zip"]  # fixtures, imported for pytest


@pytest.fixture(scope="module")
def world(module_pg_url: str, tiny_zip: bytes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One database for the module: a tiny dataset, a job run to the end (its real report.json),
    a job whose report says the plan promised far more than the replay delivered, and one that never
    finished."""
    runtime = Runtime(pg_settings(module_pg_url, tmp_path_factory.mktemp("jobs")))
    dataset = service.register_dataset(
        runtime.sessions, archive=tiny_zip, name="tiny", actor="test", max_unpacked_bytes=2**30
    )
    done, _ = service.create_job(runtime.sessions, options=JobOptions(dataset_id=dataset["id"]), actor="test")
    run_steps(StepContext(done.id, JobOptions.from_json(done.options), runtime.store), runtime.ledger)
    drifted, _ = service.create_job(runtime.sessions, options=JobOptions(dataset_id=dataset["id"]), actor="t")
    report = {"plan": {"projected_fill_rate": 0.95}, "validation": {"closetflow": {"fill_rate": 0.70}}}
    runtime.store.put(drifted.id, "report.json", json.dumps(report).encode())
    unfinished, _ = service.create_job(runtime.sessions, options=JobOptions(dataset_id=dataset["id"]), actor="t")
    for job in (drifted, unfinished):  # cancelled: an app starting up resumes queued jobs, and must not run these
        service.cancel_job(runtime.sessions, job.id, actor="t")
    yield {"done": done.id, "drifted": drifted.id, "unfinished": unfinished.id}
    runtime.dispose()


@pytest.fixture
def api(module_pg_url: str, tmp_path: Path, world: dict[str, str]) -> Iterator[tuple[TestClient, ApiKeys, Runtime]]:
    """An app over the module's database and an artifacts folder of its own, whose registry holds
    v1 (champion) and v2, two historic averages."""
    runtime = Runtime(pg_settings(module_pg_url, tmp_path))
    frame = pd.DataFrame({ID: "a", TIME: pd.date_range("2024-01-01", periods=8, freq="7D"), TARGET: np.arange(8.0)})
    registry = ModelRegistry(tmp_path / "models")
    model = make_forecaster("historic_average", "W").fit(frame)
    for _ in range(2):
        registry.register(model, data_hash="h", metrics={"rmse": 1.5, "holdout_periods": 4})
    registry.promote("v1")
    keys = make_keys(runtime)
    with make_client(runtime) as client:
        yield client, keys, runtime
    runtime.dispose()


def _registry(runtime: Runtime) -> ModelRegistry:
    return ModelRegistry(runtime.settings.artifacts_dir / "models")


def _post(client: TestClient, keys: ApiKeys, path: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(path, json=body, headers=keys.headers(Role.OPERATOR))


def test_list_shows_versions_metadata_and_aliases(api: tuple[TestClient, ApiKeys, Runtime]) -> None:
    client, keys, _ = api
    r = client.get("/models", headers=keys.headers(Role.OPERATOR))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["champion"], body["previous"], body["warnings"]) == ("v1", None, [])
    assert [(v["id"], v["aliases"], v["model"], v["readable"]) for v in body["versions"]] == [
        ("v1", ["champion"], "historic_average", True),
        ("v2", [], "historic_average", True),
    ]
    assert body["versions"][1]["metrics"] == {"rmse": 1.5, "holdout_periods": 4}
    assert body["versions"][0]["code_version"] and body["versions"][0]["data_hash"] == "h"


def test_promote_and_rollback_move_the_aliases(api: tuple[TestClient, ApiKeys, Runtime]) -> None:
    client, keys, runtime = api
    r = _post(client, keys, "/models/v2/promote")
    assert r.status_code == 200, r.text
    assert r.json() | {"reason": None} == {
        "version": "v2",
        "promoted": True,
        "champion": "v2",
        "previous": "v1",
        "reason": None,
        "checks": [],
    }
    assert _post(client, keys, "/models/rollback").json() == {"champion": "v1", "previous": None}
    err = assert_error_shape(_post(client, keys, "/models/rollback"), 409)
    assert err["message"] == "there is no previous version to roll back to"  # the CLI's words
    assert _registry(runtime).aliases() == {"champion": "v1", "previous": None}


def test_an_unknown_version_is_a_404_in_the_registrys_words(api: tuple[TestClient, ApiKeys, Runtime]) -> None:
    client, keys, runtime = api
    words = "no version 'v9' (versions: v1, v2)"
    assert assert_error_shape(_post(client, keys, "/models/v9/promote"), 404)["message"] == words
    assert assert_error_shape(client.get("/models/v9/checks", headers=keys.headers(Role.OPERATOR)), 404)["message"] == (
        words
    )
    ran = _post(client, keys, "/models/v9/checks", {"job_id": "whatever"})
    assert assert_error_shape(ran, 404)["message"] == words
    assert _registry(runtime).aliases()["champion"] == "v1"


def test_a_failed_gated_promote_is_409_with_the_reason_and_keeps_the_champion(
    api: tuple[TestClient, ApiKeys, Runtime], world: dict[str, str]
) -> None:
    client, keys, runtime = api
    err = assert_error_shape(_post(client, keys, "/models/v2/promote", {"gated": True}), 409)
    assert err["code"] == "check_failed"
    assert err["message"].startswith("kept champion v1: recorded: holdout never run on v2")
    registry = _registry(runtime)
    _stored(registry, "holdout")
    _stored(registry, "self_drift")
    r = _post(client, keys, "/models/v2/promote", {"gated": True, "job_id": world["drifted"]})
    err = assert_error_shape(r, 409)
    assert "fill_rate_drift: projected fill rate 0.950 vs realized 0.700: +0.250, outside" in err["message"]
    assert err["details"][0].startswith("recorded: passed: ") and err["details"][1].startswith(
        "fill_rate_drift: failed"
    )
    assert registry.aliases() == {"champion": "v1", "previous": None}
    assert [d["promoted"] for d in decisions(registry)] == [False, False]


def test_a_gated_promote_on_a_real_job_report_promotes(
    api: tuple[TestClient, ApiKeys, Runtime], world: dict[str, str]
) -> None:
    client, keys, runtime = api
    registry = _registry(runtime)
    _stored(registry, "holdout")
    _stored(registry, "self_drift")
    r = _post(client, keys, "/models/v2/promote", {"gated": True, "job_id": world["done"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["champion"], body["previous"], body["promoted"]) == ("v2", "v1", True)
    assert [(c["name"], c["passed"]) for c in body["checks"]] == [("recorded", True), ("fill_rate_drift", True)]
    fill = body["checks"][1]["values"]
    assert 0 <= fill["predicted_fill_rate"] <= 1 and 0 <= fill["realized_fill_rate"] <= 1
    assert registry.aliases() == {"champion": "v2", "previous": "v1"}


def test_checks_run_on_a_job_are_stored_and_read_back(
    api: tuple[TestClient, ApiKeys, Runtime], world: dict[str, str]
) -> None:
    client, keys, runtime = api
    headers = keys.headers(Role.OPERATOR)
    assert client.get("/models/v2/checks", headers=headers).json() == {"version": "v2", "passed": False, "checks": []}
    r = _post(client, keys, "/models/v2/checks", {"job_id": world["drifted"], "tolerance": 0.3})
    assert r.status_code == 200, r.text
    [result] = r.json()["checks"]
    assert result["passed"] and result["threshold"] == {"tolerance": 0.3}
    r = _post(client, keys, "/models/v2/checks", {"job_id": world["drifted"]})
    assert r.status_code == 200 and r.json()["passed"] is False  # a failed check is an answer, not an error
    stored = load_result(_registry(runtime), "v2", "fill_rate_drift")
    assert stored is not None and not stored.passed
    assert client.get("/models/v2/checks", headers=headers).json()["checks"] == [r.json()["checks"][0]]
    assert _registry(runtime).aliases()["champion"] == "v1"  # checks alone promote nothing


@pytest.mark.parametrize(
    ("job", "status", "words"),
    [("missing", 404, "no job 'missing'"), ("unfinished", 409, "has not finished")],
)
def test_a_job_without_a_report_is_refused(
    api: tuple[TestClient, ApiKeys, Runtime], world: dict[str, str], job: str, status: int, words: str
) -> None:
    client, keys, _ = api
    err = assert_error_shape(_post(client, keys, "/models/v2/checks", {"job_id": world.get(job, job)}), status)
    assert words in err["message"]


def test_check_options_only_apply_when_gated(api: tuple[TestClient, ApiKeys, Runtime]) -> None:
    client, keys, runtime = api
    err = assert_error_shape(_post(client, keys, "/models/v2/promote", {"job_id": "j", "tolerance": 0.1}), 422)
    assert err["message"] == "job_id, tolerance only apply with gated: true"
    assert _registry(runtime).aliases()["champion"] == "v1"


def test_only_operators_get_in(api: tuple[TestClient, ApiKeys, Runtime]) -> None:
    client, keys, runtime = api
    for role in (Role.PLANNER, Role.BUYER):
        for method, path in (("GET", "/models"), ("POST", "/models/v2/promote"), ("POST", "/models/rollback")):
            err = assert_error_shape(client.request(method, path, headers=keys.headers(role)), 403)
            assert "operator" in err["message"]
    assert_error_shape(client.get("/models/serving-log"), 401)
    assert _registry(runtime).aliases()["champion"] == "v1"


def test_the_serving_log_lists_the_latest_loads(api: tuple[TestClient, ApiKeys, Runtime]) -> None:
    client, keys, runtime = api
    registry = _registry(runtime)
    for _ in range(3):
        served = registry.load_serving(lambda: registry.load("v2"), lambda: registry.load("v2"))
        assert served.version == "v1"
    r = client.get("/models/serving-log", params={"limit": 2}, headers=keys.headers(Role.OPERATOR))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 3 and [(e["version"], e["alias"]) for e in body["entries"]] == [("v1", "champion")] * 2
    with registry.log_path.open("a") as log:
        log.write("{half a line\n")
    err = assert_error_shape(client.get("/models/serving-log", headers=keys.headers(Role.OPERATOR)), 409)
    assert err["message"].startswith("the serving log serving.jsonl cannot be read")


def _stored(registry: ModelRegistry, name: str) -> None:
    """A passing result of check ``name`` for v2, as `closetflow models checks` would have stored it."""
    store_result(registry, CheckResult(name, "v2", True, {"rmse": 1.0}, {}, f"{name} passed", "2026-11-29T00:00Z"))
