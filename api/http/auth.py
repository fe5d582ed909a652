"""Who is calling: ``Authorization: Bearer KEY`` checked against the stored hashes (``api.keys``).

Checks are cached for a few seconds per process (keyed by the key's hash, so no secret is kept in
memory longer than the request), which keeps the database off the hot read paths. A key revoked
through this process is dropped from its cache at once; other processes stop accepting it within
``KEY_TTL_S``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api.http.cache import TTLCache
from api.http.errors import ApiError
from api.keys import KeyInfo, Role, hash_key, verify_key

__all__ = ["KEY_TTL_S", "KeyChecker", "require_role"]

KEY_TTL_S: Final = 5.0
_CHALLENGE: Final = {"WWW-Authenticate": "Bearer"}


class KeyChecker:
    """Turns a bearer secret into the live key it belongs to, or a 401."""

    def __init__(self, sessions: sessionmaker[Session], *, ttl_s: float = KEY_TTL_S) -> None:
        self.sessions = sessions
        self._cache: TTLCache[KeyInfo | None] = TTLCache(maxsize=10_000, ttl_s=ttl_s)

    async def check(self, secret: str | None) -> KeyInfo:
        """Answered from the cache on the event loop; the database is asked on a worker thread."""
        if not secret:
            raise ApiError(401, "an API key is required: send 'Authorization: Bearer <key>'", headers=_CHALLENGE)
        digest = hash_key(secret)
        found, key = self._cache.get(digest)
        if not found:
            key = await run_in_threadpool(verify_key, self.sessions, secret)
            self._cache.put(digest, key)
        if key is None:
            raise ApiError(401, "the API key is unknown or revoked", headers=_CHALLENGE)
        return key

    def forget(self) -> None:
        """Drop every cached check (a key was revoked: it must stop working here now)."""
        self._cache.clear()


def require_role(key: KeyInfo, allowed: Collection[Role]) -> KeyInfo:
    """``key`` when its role is allowed (an operator always is), else a 403 naming the roles that are."""
    if key.role is Role.OPERATOR or key.role in allowed:
        return key
    names = ", ".join(sorted({r.value for r in allowed} | {Role.OPERATOR.value}))
    raise ApiError(403, f"a {key.role.value} key may not do this; it needs one of: {names}")
