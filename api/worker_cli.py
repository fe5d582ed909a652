"""`closetflow worker` and `closetflow beat`: the Celery worker and scheduler of service mode.

Both need a broker (``CLOSETFLOW_BROKER_URL``); without one they refuse with one line and exit 2,
since the embedded default runs jobs in-process and has nothing for a worker to do. Each command
runs Celery in this very process (``worker_main`` / ``Beat``), so a supervisor — or a test — that
signals the ``closetflow`` process signals the worker itself.
"""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Annotated

import typer

from api.jobs_cli import EXIT_BAD_USAGE
from api.settings import Settings, env_var, resolve

__all__ = ["register"]


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
    from workers.celery_app import app  # Celery loads only for the service commands

    argv = ["worker", f"--pool={pool.value}", f"--loglevel={loglevel.value}", f"--hostname=closetflow-{os.getpid()}@%h"]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    app.worker_main(argv)


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
