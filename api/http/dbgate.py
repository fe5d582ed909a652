"""Fail fast while the database is away: 503 within a second instead of a request that hangs.

A request that needs the database would otherwise wait for the driver's connect timeout (libpq's
shortest is 2 s) or, against a host that drops packets, far longer — and a client retrying into
that piles up threads. The gate keeps the database's state from a probe (``SELECT 1`` on a worker
thread, given ``PROBE_TIMEOUT_S`` to answer): while the last probe, at most ``FRESH_S`` old, said
up, requests pass with no extra work (one probe a second at most, whatever the request rate);
while it says down, or a probe does not answer in time, every request but the probes and metrics
gets the one error shape with 503, before it touches the database — and asks again, so the service
takes work as soon as the database is back. Nothing is half-written: a
refused request has not started its transaction. The embedded SQLite file has no gate.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from api.http.errors import error_json
from api.runtime import Runtime

__all__ = ["DatabaseGate", "DatabaseGateMiddleware"]

FRESH_S: Final = 1.0
PROBE_TIMEOUT_S: Final = 0.6  # well under the 1 s a caller waits at most; a healthy SELECT 1 takes ms
UNGATED: Final = frozenset({"/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json"})


class DatabaseGate:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.up = True
        self.checked_at = -1e9
        self._probe: asyncio.Task[bool] | None = None

    async def is_up(self) -> bool:
        # "Up" is trusted for FRESH_S; "down" never is: while down every request asks again (sharing
        # the one probe in flight), so the first request after the database is back goes through.
        if self.up and time.monotonic() - self.checked_at < FRESH_S:
            return True
        if self._probe is None or self._probe.done():
            # One probe at a time; everyone arriving meanwhile waits on the same one.
            self._probe = asyncio.create_task(asyncio.to_thread(self.runtime.database_ok))
        try:
            up = await asyncio.wait_for(asyncio.shield(self._probe), PROBE_TIMEOUT_S)
        except TimeoutError:
            up = False  # the probe's thread is left to give up on its own connect timeout
        self.up, self.checked_at = up, time.monotonic()
        return up


class DatabaseGateMiddleware:
    """Pure ASGI: refuses with 503 while the app's gate (``app.state.services.database_gate``) says
    the database is down."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate: DatabaseGate | None = None
        if scope["type"] == "http" and scope.get("path") not in UNGATED:
            gate = scope["app"].state.services.database_gate
        if gate is not None and not await gate.is_up():
            response = error_json(503, "the database cannot be reached; try again later", details=["database"])
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
