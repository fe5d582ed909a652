"""The worker process's one ``Runtime`` (engine, run store, ledger), built on first use from the settings.

A prefork worker forks its pool processes from the main process; a database connection must never be
shared across a fork, so each child drops what it inherited (``forget``, wired to Celery's
``worker_process_init`` in ``workers.celery_app``) and builds its own on first use.
"""

from __future__ import annotations

import os
import threading

from api.runtime import Runtime
from api.settings import get_settings

__all__ = ["forget", "runtime"]

_lock = threading.Lock()
_current: list[Runtime] = []  # zero or one: the process's runtime


def _new_lock_in_child() -> None:
    # A fork copies the lock in whatever state another thread (the worker's recovery loop) left it:
    # a child must start with a free one, or its first `forget` could wait for ever.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)


def runtime() -> Runtime:
    """This process's runtime (settings read once, engine made on first use)."""
    with _lock:
        if not _current:
            _current.append(Runtime(get_settings()))
        return _current[0]


def forget(*, close: bool = False) -> None:
    """Drop the runtime so the next ``runtime()`` builds a fresh one (and reads the settings again).

    ``close=False`` in a forked child: the inherited pooled connections belong to the parent, so they
    are discarded without being closed (closing would end the parent's sessions too).
    """
    with _lock:
        if _current:
            rt = _current.pop()
            if "engine" in rt.__dict__:
                rt.engine.dispose(close=close)
        get_settings.cache_clear()
