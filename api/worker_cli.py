"""`closetflow worker` and `closetflow beat`: the Celery worker and scheduler of service mode.

Both need a broker (``CLOSETFLOW_BROKER_URL``); without one they refuse with one line and exit 2,
since the embedded default runs jobs in-process and has nothing for a worker to do. Each command
runs Celery in this very process (the worker is exec'd in its place, beat runs in it), so a
supervisor — or a test — that signals the ``closetflow`` process signals the worker itself.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from typing import Annotated

import typer

from api.jobs_cli import EXIT_BAD_USAGE
from api.settings import Settings, env_var, resolve

__all__ = ["register"]

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class Pool(StrEnum):
    PREFORK = "prefork"  # one process per concurrent task: a solve cannot stall the others
    SOLO = "solo"
    THREADS = "threads"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


def _service_settings() -> Settings:
    settings = resolve({})
    if settings.broker_url is None:
        typer.echo(
            f"error: {env_var('broker_url')} is not set; the worker and beat need a broker, "
            f"e.g. {env_var('broker_url')}=redis://127.0.0.1:6379/0",
            err=True,
        )
        raise typer.Exit(EXIT_BAD_USAGE)
    return settings


def worker(
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="tasks run at once (default: the number of CPUs)")
    ] = None,
    pool: Annotated[Pool, typer.Option(help="prefork: a process per task; solo: one at a time, in this process")] = (
        Pool.PREFORK
    ),
    loglevel: Annotated[LogLevel, typer.Option(help="what the worker logs")] = LogLevel.INFO,
) -> None:
    """Run a Celery worker: takes the steps of queued jobs from Redis and runs them."""
    _service_settings()
    argv = ["worker", f"--pool={pool.value}", f"--loglevel={loglevel.value}", f"--hostname=closetflow-{os.getpid()}@%h"]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    # Each task process would otherwise start a BLAS/OpenMP pool as wide as the machine: N processes
    # x N threads on N cores thrash (measured: 17 -> 32 tiny jobs a minute, 2 workers on 2 cores).
    # The libraries read these once, when loaded, and this process has loaded them already: so the
    # worker is exec'd afresh (same process id and group: a signal to `closetflow worker` reaches it).
    threads = max(1, (os.cpu_count() or 1) // (concurrency if concurrency is not None else os.cpu_count() or 1))
    env = dict(os.environ)
    for var in _THREAD_VARS:
        env.setdefault(var, str(threads))
    os.execve(sys.executable, [sys.executable, "-m", "celery", "-A", "workers.celery_app", *argv], env)


def beat(
    loglevel: Annotated[LogLevel, typer.Option(help="what beat logs")] = LogLevel.INFO,
) -> None:
    """Run Celery beat: sends the nightly job at CLOSETFLOW_NIGHTLY_AT (UTC). Run exactly one."""
    settings = _service_settings()
    from workers.celery_app import app

    settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
    # The schedule's state (when each entry last ran) beside the other artifacts, not in the cwd.
    app.Beat(schedule=str(settings.artifacts_dir / "celerybeat-schedule"), loglevel=loglevel.value.upper()).run()


def register(app: typer.Typer) -> None:
    """Add the service commands to the CLI."""
    app.command()(worker)
    app.command()(beat)
