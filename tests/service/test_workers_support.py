"""Shared pieces of the worker and fault tests (no tests here): real ``closetflow worker`` processes
on real Redis and PostgreSQL, zipped simulated worlds, polling, killing process groups, restarting Redis.

Every test that talks to Redis is in the xdist group "redis" (run pytest with ``--dist loadgroup``):
one of them restarts Redis, which would pull the floor from under any other Redis test running then.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import pytest
import redis
from sqlalchemy import func, select

from allocation.data.io import write_world
from allocation.jobs.archive import pack_folder
from allocation.jobs.service import JobView, get_job, register_dataset
from allocation.jobs.tables import PlanRow, PlanShipmentRow
from allocation.simulate.world import simulate_world
from api.runtime import Runtime
from tests.servers import REDIS_BASE
from workers import runtime as worker_runtime
from workers.celery_app import app, configure

__all__ = [
    "REDIS_GROUP",
    "Service",
    "kill_group",
    "plans_of",
    "register_world",
    "restart_redis",
    "service_running",
    "wait_until",
    "world_zip",
]

REDIS_GROUP = pytest.mark.xdist_group("redis")
ROOT = Path(__file__).resolve().parents[2]
CLOSETFLOW = Path(sys.executable).parent / "closetflow"
# The restart the brief of this machine gives; Redis keeps nothing on disk, so it comes back empty.
REDIS_RESTART = (
    "redis-cli shutdown nosave; redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 "
    '--save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log'
)

T = TypeVar("T")


def wait_until(probe: Callable[[], T | None], *, timeout: float, every: float = 0.2, what: str = "") -> T:
    """Call ``probe`` until it returns something other than None/False; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got is not None and got is not False:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:.0f} s waiting for {what or probe}")
        time.sleep(every)


@lru_cache
def world_zip(scale: str, seed: int) -> bytes:
    """A simulated world with its holdout, zipped as a user would upload it (made once per process)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "world"
        write_world(simulate_world(scale, seed), folder)
        return pack_folder(folder)


def register_world(rt: Runtime, scale: str = "tiny", seed: int = 1) -> str:
    view = register_dataset(
        rt.sessions, archive=world_zip(scale, seed), name=f"{scale}-{seed}", actor="test", max_unpacked_bytes=2**30
    )
    return str(view["id"])


def plans_of(rt: Runtime, job_id: str) -> tuple[int, int]:
    """(plan rows of the job, shipment rows of those plans)."""
    with rt.sessions() as s:
        plans = s.scalar(select(func.count()).select_from(PlanRow).where(PlanRow.job_id == job_id)) or 0
        ships = (
            s.scalar(
                select(func.count())
                .select_from(PlanShipmentRow)
                .join(PlanRow, PlanRow.id == PlanShipmentRow.plan_id)
                .where(PlanRow.job_id == job_id)
            )
            or 0
        )
    return int(plans), int(ships)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group of ``proc`` (the worker and its pool processes) and reap it."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _ping(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _db_number(url: str) -> int:
    return int(url.rsplit("/", 1)[-1])


def restart_redis(my_url: str, *, alone_within_s: float = 120.0) -> None:
    """Restart the machine's Redis (it comes back empty), once no other test holds a Redis db.

    ``tests.servers.redis_database`` claims a db number with a key in db 0; waiting until ours is the
    only claim keeps this from pulling Redis away from a test in another xdist worker (the "redis"
    group already keeps ours apart). The restart loses our claim too, so it is put back as it was.
    """
    admin = redis.Redis.from_url(f"{REDIS_BASE}/0", socket_connect_timeout=3)
    mine = f"closetflow-test-db:{_db_number(my_url)}"

    def alone() -> bool:
        return {k.decode() for k in admin.scan_iter("closetflow-test-db:*")} <= {mine}

    wait_until(alone, timeout=alone_within_s, every=0.5, what="the other Redis tests to finish")
    token, ttl = admin.get(mine), admin.ttl(mine)
    subprocess.run(["bash", "-c", REDIS_RESTART], check=False, capture_output=True, timeout=30)
    wait_until(lambda: _ping(f"{REDIS_BASE}/0"), timeout=20, what="Redis to answer after its restart")
    if token is not None:  # the same claim, so the fixture's teardown releases it as usual
        admin.set(mine, token, ex=max(int(ttl), 60))
    admin.close()


def _point_app_at_current_settings() -> None:
    """Make this process's Celery app (and runtime) follow the ``CLOSETFLOW_*`` just set."""
    worker_runtime.forget(close=True)
    configure(app, worker_runtime.runtime().settings)
    app.close()  # broker connections made for the previous test's Redis db ...
    app.amqp._producer_pool = None  # ... and the producers over them (what Celery resets after a fork)
    app._backend_cache = None  # the result backend likewise (Celery keeps it per thread)
    app._local = threading.local()


@dataclass
class Service:
    """One service setup: the workers' environment, this process's runtime over the same database,
    and the worker processes started (killed, whole process groups, when the test ends)."""

    env: dict[str, str]
    logs: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def rt(self) -> Runtime:
        return worker_runtime.runtime()

    def start_worker(self, name: str, *, concurrency: int = 1) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [str(CLOSETFLOW), "worker", "--concurrency", str(concurrency), "--loglevel", "info"],
            env={**os.environ, **self.env},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill_group takes the pool processes too
        )
        log.close()
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_ready(self, name: str, timeout: float = 60.0) -> None:
        wait_until(lambda: re.search(r" ready\.", self.log(name)), timeout=timeout, what=f"worker {name} ready")

    def job(self, job_id: str) -> JobView:
        return get_job(self.rt.sessions, job_id)

    def wait_final(self, job_id: str, timeout: float) -> JobView:
        def done() -> JobView | None:
            job = self.job(job_id)
            return job if job.state in {"succeeded", "failed", "cancelled"} else None

        try:
            return wait_until(done, timeout=timeout, every=0.25, what=f"job {job_id} to finish")
        except pytest.fail.Exception:
            tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.logs.glob("*.log"))
            pytest.fail(f"job {job_id} did not finish in {timeout:.0f} s: {self.job(job_id)}\n{tails}")

    def stop(self) -> None:
        for proc in self.procs:
            kill_group(proc)


@contextmanager
def service_running(
    monkeypatch: pytest.MonkeyPatch, pg_url: str, redis_url: str, tmp: Path, **settings: str
) -> Iterator[Service]:
    """``CLOSETFLOW_*`` for a service on ``pg_url`` and ``redis_url`` (plus ``settings``, e.g.
    ``broker_visibility_timeout_s="10"``), in this process and in the workers it starts."""
    env = {
        "CLOSETFLOW_DATABASE_URL": pg_url,
        "CLOSETFLOW_BROKER_URL": redis_url,
        "CLOSETFLOW_ARTIFACTS_DIR": str(tmp / "artifacts"),
        **{f"CLOSETFLOW_{k.upper()}": v for k, v in settings.items()},
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _point_app_at_current_settings()
    logs = tmp / "logs"
    logs.mkdir()
    svc = Service(env, logs)
    try:
        yield svc
    finally:
        svc.stop()
        for key in env:
            monkeypatch.delenv(key, raising=False)
        _point_app_at_current_settings()
