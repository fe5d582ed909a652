"""Is the service ready to take work: the database answers and, with a broker, the broker does too.

Each check runs in its own thread and the answer comes within ``READY_TIMEOUT_S`` whatever the
network does: a check still hanging by then counts as failed (its thread is left to time out on its
own connect timeout).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Final
from urllib.parse import urlsplit

from api.runtime import Runtime

__all__ = ["READY_TIMEOUT_S", "broker_ok", "readiness"]

READY_TIMEOUT_S: Final = 0.8


def broker_ok(url: str, timeout_s: float = 0.5) -> bool:
    """Redis answers PING (a ``redis://`` URL), or the broker's port accepts a connection (others)."""
    try:
        if url.startswith(("redis://", "rediss://", "unix://")):
            import redis

            client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
            try:
                return bool(client.ping())
            finally:
                client.close()
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=timeout_s):
            return True
    except Exception:
        return False


async def readiness(runtime: Runtime) -> dict[str, str]:
    """Each dependency and 'ok', 'unreachable' or 'no answer within the timeout'."""
    checks = {"database": asyncio.create_task(asyncio.to_thread(runtime.database_ok))}
    if runtime.settings.broker_url is not None:
        checks["broker"] = asyncio.create_task(asyncio.to_thread(broker_ok, runtime.settings.broker_url))
    await asyncio.wait(checks.values(), timeout=READY_TIMEOUT_S)
    out: dict[str, str] = {}
    for name, task in checks.items():
        if not task.done():
            task.cancel()
            out[name] = f"no answer within {READY_TIMEOUT_S} s"
        else:
            out[name] = "ok" if task.result() else "unreachable"
    return out
