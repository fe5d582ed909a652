"""Starting and stopping the service's pieces: the embedded database is migrated on start (a bare
machine needs no setup step); a server database is migrated by ``closetflow db upgrade``."""

from __future__ import annotations

import logging

from allocation.jobs.migrate import upgrade
from api.runtime import Runtime

__all__ = ["prepare"]

log = logging.getLogger("closetflow.api")


def prepare(runtime: Runtime) -> None:
    """Bring the embedded SQLite database to the newest schema (a no-op when it already is)."""
    if runtime.settings.database_url is None:
        upgrade(runtime.database_url)
        log.info("embedded database ready at %s", runtime.database_url)
