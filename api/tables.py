"""API keys, stored hashed: the key itself is shown once, at creation, and never kept."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from allocation.jobs.db import Base
from allocation.jobs.tables import utcnow

__all__ = ["ApiKeyRow"]


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # sha256 of the whole key: keys are 32 random bytes, so a fast hash is enough (no password to stretch).
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64), default="cli")
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
