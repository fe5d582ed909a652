"""Fault: PostgreSQL goes away under a running ``closetflow serve`` process.

The server reaches PostgreSQL through a TCP proxy this test controls. After a job has run, the proxy
cuts every connection and then either refuses new ones (the database is down) or accepts them and
never answers (a host that drops packets: the case a connect timeout of 2+ seconds would hang on).
Either way ``/readyz`` and ``POST /allocation-jobs`` answer 503 in the one error shape within a
second, nothing is written (the job and audit tables, read directly, are unchanged), and when the
proxy forwards again the same process is ready and takes jobs without a restart.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from allocation.jobs.db import make_engine
from allocation.jobs.tables import AuditEntry, JobRow
from api.keys import Role, create_key
from api.runtime import Runtime
from api.settings import Settings
from tests.service.test_workers_support import kill_group, register_world, wait_until

ROOT = Path(__file__).resolve().parents[2]
CLOSETFLOW = ROOT / ".venv" / "bin" / "closetflow"
log_ = logging.getLogger(__name__)


class PgProxy:
    """A TCP forwarder to 127.0.0.1:5432 with a switch: forward, refuse, or hang."""

    def __init__(self) -> None:
        self.mode = "forward"
        self.port = _free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._open_listener()

    def _open_listener(self) -> None:
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", self.port))
        lst.listen(64)
        self._listener = lst
        threading.Thread(target=self._accept, args=(lst,), daemon=True).start()

    def _accept(self, lst: socket.socket) -> None:
        while True:
            try:
                client, _ = lst.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(client)
            if self.mode == "hang":
                continue  # accepted, never answered
            try:
                upstream = socket.create_connection(("127.0.0.1", 5432), timeout=3)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def _cut_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

    def set(self, mode: str) -> None:
        self.mode = mode
        self._cut_all()
        if mode == "refuse" and self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave it listening.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        elif mode != "refuse" and self._listener is None:
            self._open_listener()

    def close(self) -> None:
        self.set("refuse")


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def proxy() -> Iterator[PgProxy]:
    p = PgProxy()
    yield p
    p.close()


def _writes(direct_url: str) -> tuple[int, int]:
    engine = make_engine(direct_url)
    try:
        with sessionmaker(engine)() as s:
            return int(s.scalar(select(func.count()).select_from(JobRow)) or 0), int(
                s.scalar(select(func.count()).select_from(AuditEntry)) or 0
            )
    finally:
        engine.dispose()


def _timed(fn: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    t = time.perf_counter()
    response = fn()
    return response, time.perf_counter() - t


@pytest.mark.parametrize("outage", ["refuse", "hang"])
def test_postgres_unreachable_answers_503_within_a_second_and_writes_nothing(
    migrated_pg_url: str, tmp_path: Path, proxy: PgProxy, outage: str
) -> None:
    direct = Runtime(Settings(database_url=migrated_pg_url, artifacts_dir=tmp_path, broker_url=None))
    _, key = create_key(direct.sessions, role=Role.PLANNER, name="fault", actor="test")
    dataset_id = register_world(direct)
    via_proxy = migrated_pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    port = _free_port()
    env = {**os.environ, "CLOSETFLOW_DATABASE_URL": via_proxy, "CLOSETFLOW_ARTIFACTS_DIR": str(tmp_path / "serve")}
    env.pop("CLOSETFLOW_BROKER_URL", None)
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(CLOSETFLOW), "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    body = {"dataset_id": dataset_id, "replan_every": 7}
    try:
        with httpx.Client(base_url=base, timeout=10) as http:

            def ready() -> bool | None:
                with contextlib.suppress(httpx.HTTPError):
                    return http.get("/readyz").status_code == 200 or None
                return None

            wait_until(ready, timeout=60, what="the server to be ready")
            job = http.post("/allocation-jobs", json=body, headers=headers)
            assert job.status_code == 202, job.text
            wait_until(
                lambda: (
                    http.get(f"/allocation-jobs/{job.json()['id']}", headers=headers).json()["state"] == "succeeded"
                    or None
                ),
                timeout=120,
                what="the first job to finish",
            )
            before = _writes(migrated_pg_url)

            proxy.set(outage)
            time.sleep(1.2)  # what the service knew a moment ago is now stale: the next request asks again
            readyz, t_ready = _timed(lambda: http.get("/readyz"))
            submit, t_submit = _timed(lambda: http.post("/allocation-jobs", json=body, headers=headers))
            listing, t_list = _timed(lambda: http.get("/allocation-jobs", headers=headers))
            for response, seconds in ((readyz, t_ready), (submit, t_submit), (listing, t_list)):
                assert response.status_code == 503, response.text
                assert seconds < 1.0, (response.request.url, seconds)
                err = response.json()["error"]
                assert err["code"] and "database" in " ".join([err["message"], *err["details"]])
            assert _writes(migrated_pg_url) == before  # nothing half-written
            log_.info("outage %s: readyz %.3f s, submit %.3f s, list %.3f s", outage, t_ready, t_submit, t_list)

            proxy.set("forward")
            wait_until(ready, timeout=30, what="the same server to be ready again")
            again = http.post("/allocation-jobs", json=body, headers=headers)
            assert again.status_code == 202, again.text
            assert _writes(migrated_pg_url)[0] == before[0] + 1
    finally:
        kill_group(server)
        log.close()
        direct.dispose()
