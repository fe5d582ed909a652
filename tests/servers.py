"""Real servers for the integration tests: a throwaway PostgreSQL database and a Redis db number per use.

PostgreSQL (127.0.0.1:5432, user postgres, trust auth) and Redis (127.0.0.1:6379) run on this machine
kind. Without them the tests that need them skip — except under ``CI=true``, where a missing server
fails the suite (CI must never pass by skipping the integration tests).
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest

__all__ = ["PG_ADMIN_URL", "REDIS_BASE", "in_ci", "postgres_database", "redis_database", "require"]

PG_HOST = os.environ.get("CLOSETFLOW_TEST_PG_HOST", "127.0.0.1")
PG_ADMIN_URL = f"postgresql+psycopg://postgres@{PG_HOST}:5432/postgres"
REDIS_BASE = os.environ.get("CLOSETFLOW_TEST_REDIS", "redis://127.0.0.1:6379")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def require(what: str, reason: str) -> None:
    """Skip (locally) or fail (CI=true) because ``what`` is not reachable."""
    message = f"{what} is not reachable: {reason}"
    if in_ci():
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; dropped afterwards (its URL is yielded)."""
    import psycopg

    name = f"closetflow_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(
            f"host={PG_HOST} port=5432 user=postgres dbname=postgres", autocommit=True, connect_timeout=3
        )
    except psycopg.OperationalError as exc:
        require("PostgreSQL on 127.0.0.1:5432", str(exc).strip().splitlines()[0])
        raise AssertionError("unreachable") from None
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:5432/{name}"
    finally:
        with psycopg.connect(f"host={PG_HOST} port=5432 user=postgres dbname=postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def redis_database() -> Iterator[str]:
    """A Redis db number of its own (1..15, claimed with a lock key in db 0 so parallel tests never
    share one; flushed before and after); its URL is yielded."""
    import redis

    admin = redis.Redis.from_url(f"{REDIS_BASE}/0", socket_connect_timeout=3)
    try:
        admin.ping()
    except redis.RedisError as exc:
        require("Redis on 127.0.0.1:6379", str(exc))
    token = uuid.uuid4().hex
    numbers = list(range(1, 16))
    random.SystemRandom().shuffle(numbers)
    number = next((n for n in numbers if admin.set(f"closetflow-test-db:{n}", token, nx=True, ex=900)), None)
    if number is None:
        pytest.fail("every Redis db number 1..15 is claimed by another test run")
    url = f"{REDIS_BASE}/{number}"
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    client.flushdb()
    try:
        yield url
    finally:
        with suppress(redis.RedisError):
            client.flushdb()
            if admin.get(f"closetflow-test-db:{number}") == token.encode():
                admin.delete(f"closetflow-test-db:{number}")
        client.close()
        admin.close()
