"""Shared pieces of the HTTP API tests (no tests here): apps over a real PostgreSQL database, keys of
every role, zips of tiny worlds (good, broken, hostile), and the one error shape."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from allocation.data.io import write_world
from allocation.jobs.archive import pack_folder
from allocation.jobs.migrate import upgrade
from allocation.simulate.world import simulate_world
from api.http.main import create_app
from api.keys import Role, create_key, revoke_key
from api.runtime import Runtime
from api.settings import Settings
from tests.servers import postgres_database

__all__ = [
    "ApiKeys",
    "assert_error_shape",
    "bad_data_zip",
    "make_client",
    "make_keys",
    "module_pg_url",
    "tiny_zip",
]


def assert_error_shape(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """The response is an error in the one shape (and of ``status`` when given); returns its body."""
    if status is not None:
        assert response.status_code == status, response.text
    assert response.status_code >= 400, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"code", "message", "details"}, err
    assert isinstance(err["code"], str) and err["code"]
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["details"], list) and all(isinstance(d, str) for d in err["details"])
    assert "Traceback" not in response.text
    return dict(err)


@dataclass
class ApiKeys:
    """A live key of each role, plus a revoked one and one that was never issued."""

    by_role: dict[Role, str]
    key_ids: dict[Role, str]
    revoked: str
    unknown: str = "cf_this-key-was-never-issued"

    def headers(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.by_role[role]}"}


def make_keys(runtime: Runtime) -> ApiKeys:
    secrets: dict[Role, str] = {}
    ids: dict[Role, str] = {}
    for role in Role:
        info, secret = create_key(runtime.sessions, role=role, name=f"test {role.value}", actor="test")
        secrets[role], ids[role] = secret, info.id
    info, revoked = create_key(runtime.sessions, role=Role.OPERATOR, name="revoked", actor="test")
    revoke_key(runtime.sessions, info.id, actor="test")
    return ApiKeys(secrets, ids, revoked)


def make_client(runtime: Runtime, **kwargs: Any) -> TestClient:
    return TestClient(create_app(runtime), **kwargs)


def pg_settings(url: str, artifacts: Path, **overrides: Any) -> Settings:
    return Settings(database_url=url, artifacts_dir=artifacts, broker_url=None, **overrides)


@pytest.fixture(scope="module")
def module_pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database shared by one test module (read-mostly tests)."""
    with postgres_database() as url:
        upgrade(url)
        yield url


def _world_dir(tmp: Path, fmt: str = "parquet") -> Path:
    folder = tmp / f"world-{fmt}"
    if not folder.exists():
        write_world(simulate_world("tiny", 1), folder, fmt=fmt)
    return folder


@pytest.fixture(scope="session")
def tiny_zip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A tiny simulated world with its holdout, zipped."""
    return pack_folder(_world_dir(tmp_path_factory.mktemp("tiny")))


@pytest.fixture(scope="session")
def bad_data_zip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The tiny world as CSV with two cells that break their contracts (a unit state, a SKU value)."""
    folder = _world_dir(tmp_path_factory.mktemp("bad"), fmt="csv")
    units = folder / "units.csv"
    lines = units.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[3].split(",")
    row[header.index("state")] = "lost_in_space"
    lines[3] = ",".join(row)
    units.write_text("\n".join(lines) + "\n")
    skus = folder / "skus.csv"
    lines = skus.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[2].split(",")
    row[header.index("rental_value")] = "-5"
    lines[2] = ",".join(row)
    skus.write_text("\n".join(lines) + "\n")
    return pack_folder(folder)


def escaping_zip(good: bytes) -> bytes:
    """The good zip plus an entry whose path climbs out of the data folder."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info.filename, src.read(info))
        out.writestr("../../etc/closetflow-was-here", b"owned")
    return buf.getvalue()


def zip_bomb(unpacked_bytes: int = 2**30) -> bytes:
    """One entry of ``unpacked_bytes`` zeros, deflated (a 1 GB bomb is about 1 MB)."""
    buf = io.BytesIO()
    block = bytes(4 * 2**20)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("units.csv", "w", force_zip64=True) as f:
        for _ in range(unpacked_bytes // len(block)):
            f.write(block)
    return buf.getvalue()
