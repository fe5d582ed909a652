"""API keys as plain functions over a session factory: create (the secret is returned once), verify,
revoke. The HTTP service and the CLI (`closetflow keys create`) both call these.

A key is ``cf_`` + 32 random bytes (urlsafe base64); only its sha256 is stored, with a short prefix
so an operator can tell keys apart in the audit log without seeing them. 32 random bytes cannot be
guessed, so a fast hash is enough: there is no password to stretch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from allocation.domain import ClosetflowError, NotFoundError
from allocation.jobs.db import session_scope
from allocation.jobs.service import audit
from allocation.jobs.tables import utcnow
from api.tables import ApiKeyRow

__all__ = ["KeyInfo", "Role", "create_key", "hash_key", "parse_role", "revoke_key", "verify_key"]

KEY_PREFIX = "cf_"


class Role(StrEnum):
    """What a key may do: planner (datasets, jobs, plans), buyer (forecasts, plan KPIs), operator (all)."""

    PLANNER = "planner"
    BUYER = "buyer"
    OPERATOR = "operator"


def parse_role(text: str) -> Role:
    """The role named ``text``; a ``ClosetflowError`` naming the allowed roles otherwise."""
    try:
        return Role(text)
    except ValueError:
        raise ClosetflowError(f"unknown role {text!r}; choose one of {', '.join(r.value for r in Role)}") from None


@dataclass(frozen=True)
class KeyInfo:
    """A key as the service shows it (never the secret)."""

    id: str
    role: Role
    name: str
    prefix: str
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None

    @classmethod
    def of(cls, row: ApiKeyRow) -> KeyInfo:
        return cls(
            id=row.id,
            role=Role(row.role),
            name=row.name,
            prefix=row.prefix,
            created_at=row.created_at,
            created_by=row.created_by,
            revoked_at=row.revoked_at,
        )


def hash_key(secret: str) -> str:
    """The stored form of a key: hex sha256 of its text."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(sessions: sessionmaker[Session], *, role: Role, name: str, actor: str) -> tuple[KeyInfo, str]:
    """Make a key; returns it and its secret (shown once, never stored)."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(
        id=uuid.uuid4().hex,
        key_hash=hash_key(secret),
        prefix=secret[: len(KEY_PREFIX) + 6],
        role=role.value,
        name=name[:200],
        created_at=utcnow(),
        created_by=actor[:64],
        revoked_at=None,
    )
    with session_scope(sessions) as s:
        s.add(row)
        audit(s, actor=actor, action="key.create", target=row.id, detail={"role": role.value, "name": row.name})
        s.flush()
        return KeyInfo.of(row), secret


def verify_key(sessions: sessionmaker[Session], secret: str) -> KeyInfo | None:
    """The live key whose secret is ``secret``; None for an unknown or revoked one."""
    with sessions() as s:
        row = s.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_key(secret)))
        if row is None or row.revoked_at is not None:
            return None
        return KeyInfo.of(row)


def revoke_key(sessions: sessionmaker[Session], key_id: str, *, actor: str) -> KeyInfo:
    """Revoke a key (harmless when it already is); ``NotFoundError`` for an unknown id."""
    with session_scope(sessions) as s:
        row = s.get(ApiKeyRow, key_id, with_for_update=True)
        if row is None:
            raise NotFoundError(f"no key {key_id!r}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit(s, actor=actor, action="key.revoke", target=key_id)
        s.flush()
        return KeyInfo.of(row)
