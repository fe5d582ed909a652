"""Uploads: a good zip is kept; data that breaks a contract, an escaping path, a zip bomb, an
oversized upload (declared or streamed) and an oversized JSON body are refused — and nothing is stored."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from allocation.jobs.tables import AuditEntry, DatasetRow
from api.keys import Role
from api.runtime import Runtime
from tests.service.test_api_support import (
    ApiKeys,
    assert_error_shape,
    bad_data_zip,
    escaping_zip,
    make_client,
    make_keys,
    pg_settings,
    tiny_zip,
    zip_bomb,
)

__all__ = ["bad_data_zip", "tiny_zip"]  # fixtures, imported for pytest

UPLOAD_MB = 2
UNPACKED_MB = 5


@pytest.fixture
def api(migrated_pg_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, ApiKeys, Runtime]]:
    settings = pg_settings(migrated_pg_url, tmp_path, max_upload_mb=UPLOAD_MB, max_unpacked_mb=UNPACKED_MB)
    runtime = Runtime(settings)
    keys = make_keys(runtime)
    with make_client(runtime) as client:
        yield client, keys, runtime
    runtime.dispose()


def _datasets(runtime: Runtime) -> int:
    with runtime.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(DatasetRow)) or 0)


def _post_zip(client: TestClient, keys: ApiKeys, data: bytes, name: str = "world.zip") -> object:
    return client.post("/datasets", files={"file": (name, data, "application/zip")}, headers=keys.headers(Role.PLANNER))


def test_a_good_zip_is_kept_and_audited(api: tuple[TestClient, ApiKeys, Runtime], tiny_zip: bytes) -> None:
    client, keys, runtime = api
    r = client.post(
        "/datasets",
        files={"file": ("tiny.zip", tiny_zip, "application/zip")},
        data={"name": "october snapshot"},
        headers=keys.headers(Role.PLANNER),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "october snapshot" and body["size_bytes"] == len(tiny_zip)
    assert body["created_by"] == keys.key_ids[Role.PLANNER] and body["summary"]["skus"] == 20
    assert client.get(f"/datasets/{body['id']}", headers=keys.headers(Role.PLANNER)).json() == body
    with runtime.sessions() as s:
        actors = s.execute(select(AuditEntry.actor, AuditEntry.action).where(AuditEntry.target == body["id"])).all()
    assert actors == [(keys.key_ids[Role.PLANNER], "dataset.create")]


def test_data_that_breaks_a_contract_is_refused_whole(
    api: tuple[TestClient, ApiKeys, Runtime], bad_data_zip: bytes
) -> None:
    client, keys, runtime = api
    err = assert_error_shape(_post_zip(client, keys, bad_data_zip), 422)  # type: ignore[arg-type]
    assert err["code"] == "invalid_data"
    assert any(d.startswith("units.csv:3:state: ") for d in err["details"]), err["details"]
    assert any(d.startswith("skus.csv:2:rental_value: ") for d in err["details"]), err["details"]
    assert _datasets(runtime) == 0


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (escaping_zip, "escapes the data folder"),
        (lambda _good: zip_bomb(), "unpack"),
        (lambda _good: b"PK\x03\x04 this is not a zip", "not a readable zip"),
    ],
    ids=["dot-dot path", "1 GB zip bomb", "not a zip"],
)
def test_hostile_zips_are_refused_and_nothing_is_stored(
    api: tuple[TestClient, ApiKeys, Runtime], tiny_zip: bytes, make: object, words: str
) -> None:
    client, keys, runtime = api
    data = make(tiny_zip)  # type: ignore[operator]
    err = assert_error_shape(_post_zip(client, keys, data))  # type: ignore[arg-type]
    assert err["code"] == "bad_archive" and words in err["message"], err
    assert _datasets(runtime) == 0
    assert not (Path("/etc") / "closetflow-was-here").exists()


def test_an_oversized_upload_is_refused(api: tuple[TestClient, ApiKeys, Runtime]) -> None:
    client, keys, runtime = api
    big = bytes(UPLOAD_MB * 2**20 + 1)
    err = assert_error_shape(_post_zip(client, keys, big), 413)  # type: ignore[arg-type]
    assert f"{UPLOAD_MB} MB" in err["message"]
    assert _datasets(runtime) == 0


def test_a_streamed_upload_stops_at_the_limit(api: tuple[TestClient, ApiKeys, Runtime]) -> None:
    """No Content-Length (chunked): the body is counted as it arrives, and the app stops pulling it
    at the first chunk past the limit. Driven at the ASGI level, since the test client reads the
    whole body before the app sees it."""
    client, keys, runtime = api
    boundary = "closetflow-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    chunks = [head, *(bytes(2**20) for _ in range(64))]  # 64 MB offered, far past the 2 MB limit
    pulled: list[int] = []
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        if len(pulled) < len(chunks):
            pulled.append(len(chunks[len(pulled)]))
            return {"type": "http.request", "body": chunks[len(pulled) - 1], "more_body": True}
        return {"type": "http.request", "body": f"\r\n--{boundary}--\r\n".encode(), "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    headers = [
        (b"authorization", keys.headers(Role.PLANNER)["Authorization"].encode()),
        (b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
        (b"transfer-encoding", b"chunked"),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/datasets",
        "raw_path": b"/datasets",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "server": ("testserver", 80),
        "client": ("testclient", 1),
        "state": {},
    }
    asyncio.run(client.app(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 413
    body = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))  # type: ignore[misc]
    assert body["error"]["code"] == "too_large"
    assert sum(pulled) <= (UPLOAD_MB + 1) * 2**20 + len(head)  # stopped right past the limit
    assert _datasets(runtime) == 0


def test_an_oversized_json_body_is_refused(api: tuple[TestClient, ApiKeys, Runtime]) -> None:
    client, keys, runtime = api
    padding = "x" * (runtime.settings.max_body_kb * 1024)
    for path, role in (("/allocation-jobs", Role.PLANNER), ("/keys", Role.OPERATOR), ("/nightly", Role.OPERATOR)):
        r = client.post(path, json={"dataset_id": "a", "padding": padding}, headers=keys.headers(role))
        assert "KB" in assert_error_shape(r, 413)["message"]
