"""The composition root of the service: settings -> engine -> sessions -> run store -> ledger.

The HTTP app, the Celery worker and the CLI's service commands all build their pieces here, from
the one ``Settings`` object, so there is one engine per process and one place that says which
database, broker and cache folder are in use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from allocation.jobs.db import default_url, make_engine
from allocation.jobs.ledger import SqlLedger
from allocation.jobs.sql_store import SqlRunStore
from api.settings import Settings

__all__ = ["Runtime"]


@dataclass
class Runtime:
    settings: Settings

    @property
    def database_url(self) -> str:
        return self.settings.database_url or default_url(self.settings.artifacts_dir)

    @property
    def embedded(self) -> bool:
        """No broker: jobs run in this process."""
        return self.settings.broker_url is None

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return sessionmaker(self.engine, expire_on_commit=False)

    @property
    def cache_dir(self) -> Path:
        return self.settings.artifacts_dir / "cache"

    @cached_property
    def store(self) -> SqlRunStore:
        return SqlRunStore(self.sessions, self.cache_dir)

    @cached_property
    def ledger(self) -> SqlLedger:
        return SqlLedger(self.sessions)

    def database_ok(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
