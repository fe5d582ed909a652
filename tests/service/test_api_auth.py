"""The role matrix of every route, generated from one table: 401 without a key, with an unknown, a
revoked or a malformed one; 403 for each role that may not; neither for each role that may.

A test checks the table against the app's own routes, so a new route cannot skip the matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.keys import Role
from api.runtime import Runtime
from tests.service.test_api_support import (
    ApiKeys,
    assert_error_shape,
    bad_data_zip,
    make_client,
    make_keys,
    module_pg_url,
    pg_settings,
)

__all__ = ["bad_data_zip", "module_pg_url"]  # fixtures, imported for pytest

P, B, OP = Role.PLANNER, Role.BUYER, Role.OPERATOR
NO_SUCH = "0" * 32


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    roles: frozenset[Role]  # who may (an operator always may); empty: no key needed
    json: dict[str, Any] | None = None
    upload: bool = False
    query: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


ROUTES: tuple[Route, ...] = (
    Route("POST", "/datasets", frozenset({P}), upload=True),
    Route("GET", "/datasets/{dataset_id}", frozenset({P})),
    Route("POST", "/allocation-jobs", frozenset({P}), json={"dataset_id": NO_SUCH}),
    Route("GET", "/allocation-jobs", frozenset({P})),
    Route("GET", "/allocation-jobs/{job_id}", frozenset({P})),
    Route("DELETE", "/allocation-jobs/{job_id}", frozenset({P})),
    Route("GET", "/plans/{plan_id}/kpis", frozenset({P, B})),
    Route("GET", "/plans/{plan_id}/shipments", frozenset({P}), query={"site_id": "SITE0", "day": "2026-10-05"}),
    Route("GET", "/plans/{plan_id}/cleaning", frozenset({P})),
    Route("GET", "/plans/{plan_id}/transfers", frozenset({P})),
    Route("GET", "/plans/{plan_id}/unfilled", frozenset({P})),
    Route("GET", "/plans/{plan_id}/validation", frozenset({P})),
    Route("GET", "/plans/{plan_id}/reservations/{reservation_id}/explanation", frozenset({P})),
    Route("POST", "/plans/{plan_id}/whatif", frozenset({P}), json={"demand_surge": ["dress:+10%"]}),
    Route("GET", "/plans/{plan_id}/comparison", frozenset({P, B})),
    Route("GET", "/forecasts/demand", frozenset({B}), query={"sku_id": "K000000", "site_id": "SITE0"}),
    Route("GET", "/forecasts/late-returns", frozenset({B})),
    Route("POST", "/keys", frozenset({OP}), json={"role": "buyer", "name": "matrix"}),
    Route("DELETE", "/keys/{key_id}", frozenset({OP})),
    Route("POST", "/nightly", frozenset({OP}), json={}),
    Route("GET", "/healthz", frozenset()),
    Route("GET", "/readyz", frozenset()),
    Route("GET", "/metrics", frozenset()),
    Route("GET", "/models", frozenset({OP})),
    Route("GET", "/models/serving-log", frozenset({OP})),
    Route("POST", "/models/rollback", frozenset({OP})),
    Route("POST", "/models/{version}/promote", frozenset({OP}), json={}),
    Route("GET", "/models/{version}/checks", frozenset({OP})),
    Route("POST", "/models/{version}/checks", frozenset({OP}), json={"job_id": NO_SUCH}),
)

# Every way to be refused before the role is even looked at.
UNAUTHENTICATED: dict[str, Callable[[ApiKeys], dict[str, str]]] = {
    "no key": lambda _k: {},
    "unknown key": lambda k: {"Authorization": f"Bearer {k.unknown}"},
    "revoked key": lambda k: {"Authorization": f"Bearer {k.revoked}"},
    "not bearer": lambda k: {"Authorization": f"Basic {k.by_role[Role.OPERATOR]}"},
}


def _cases() -> Iterator[Any]:
    for route in ROUTES:
        if not route.roles:
            yield pytest.param(route, "no key", 200, id=f"{route.id} [public]")
            continue
        for how in UNAUTHENTICATED:
            yield pytest.param(route, how, 401, id=f"{route.id} [{how}]")
        for role in Role:
            allowed = role is Role.OPERATOR or role in route.roles
            yield pytest.param(route, role, None if allowed else 403, id=f"{route.id} [{role.value}]")


@pytest.fixture(scope="module")
def world(module_pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, ApiKeys]]:
    runtime = Runtime(pg_settings(module_pg_url, tmp_path_factory.mktemp("auth")))
    keys = make_keys(runtime)
    with make_client(runtime) as client:
        yield client, keys
    runtime.dispose()


def _send(client: TestClient, route: Route, headers: dict[str, str], upload: bytes) -> Any:
    path = route.path.format(
        dataset_id=NO_SUCH, job_id=NO_SUCH, plan_id=NO_SUCH, key_id=NO_SUCH, version="v1", reservation_id="V1"
    )
    files = {"file": ("bad.zip", upload, "application/zip")} if route.upload else None
    return client.request(route.method, path, headers=headers, json=route.json, files=files, params=route.query)


@pytest.mark.parametrize(("route", "who", "expected"), list(_cases()))
def test_role_matrix(
    world: tuple[TestClient, ApiKeys], bad_data_zip: bytes, route: Route, who: str | Role, expected: int | None
) -> None:
    client, keys = world
    headers = keys.headers(who) if isinstance(who, Role) else UNAUTHENTICATED[who](keys)
    response = _send(client, route, headers, bad_data_zip)
    if expected is None:  # allowed: any answer but a refusal or a server error
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500, response.text
    else:
        assert response.status_code == expected, response.text
    if response.status_code >= 400:
        err = assert_error_shape(response)
        if response.status_code == 401:
            assert response.headers["www-authenticate"] == "Bearer"
        if response.status_code == 403:
            assert isinstance(who, Role) and who.value in err["message"]


def test_the_table_covers_every_route(world: tuple[TestClient, ApiKeys]) -> None:
    client, _ = world
    spec = client.get("/openapi.json").json()
    served = {f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops}
    assert served == {r.id for r in ROUTES}


def test_a_key_revoked_through_the_api_stops_at_once(world: tuple[TestClient, ApiKeys]) -> None:
    client, keys = world
    made = client.post("/keys", json={"role": "buyer", "name": "short-lived"}, headers=keys.headers(OP))
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["key"].startswith(body["prefix"]) and body["role"] == "buyer"
    mine = {"Authorization": f"Bearer {body['key']}"}
    assert client.get("/forecasts/late-returns", headers=mine).status_code in (200, 404)
    revoked = client.delete(f"/keys/{body['id']}", headers=keys.headers(OP))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert_error_shape(client.get("/forecasts/late-returns", headers=mine), 401)


def test_keys_are_stored_hashed(world: tuple[TestClient, ApiKeys], module_pg_url: str, tmp_path: Path) -> None:
    from sqlalchemy import select

    from api.keys import hash_key
    from api.tables import ApiKeyRow

    _, keys = world
    runtime = Runtime(pg_settings(module_pg_url, tmp_path))
    with runtime.sessions() as s:
        stored = set(s.scalars(select(ApiKeyRow.key_hash)).all())
    runtime.dispose()
    secret = keys.by_role[Role.PLANNER]
    assert hash_key(secret) in stored and secret not in stored
