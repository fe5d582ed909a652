"""Fixtures for the service tests: a migrated throwaway PostgreSQL database, a Redis db number."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from allocation.jobs.migrate import upgrade
from tests.servers import postgres_database, redis_database


@pytest.fixture
def pg_url() -> Iterator[str]:
    """An empty PostgreSQL database of its own (not migrated)."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def migrated_pg_url(pg_url: str) -> str:
    upgrade(pg_url)
    return pg_url


@pytest.fixture
def redis_url() -> Iterator[str]:
    with redis_database() as url:
        yield url
