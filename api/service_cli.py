"""Service-mode commands: ``closetflow db upgrade|downgrade``, ``closetflow keys create|revoke``,
``closetflow datasets add DIR`` and ``closetflow serve``. Thin: parse, call one function, report.

Whatever a script wants to capture is the *last line of stdout* (a new key, a dataset id); every
other word goes to stderr. Settings come from ``CLOSETFLOW_*`` (the database URL above all) through
the one ``Settings`` model; a bad value or option is one line and exit 2 (see ``api.cli``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from sqlalchemy.exc import OperationalError

from allocation.domain import ClosetflowError, DataValidationError
from allocation.jobs import migrate
from allocation.jobs.archive import pack_folder
from allocation.jobs.service import register_dataset
from api.http.lifecycle import prepare
from api.jobs_cli import EXIT_BAD_DATA, EXIT_BAD_USAGE
from api.keys import create_key, parse_role, revoke_key
from api.runtime import Runtime
from api.settings import resolve

__all__ = ["register"]

CLI_ACTOR = "cli"

db_app = typer.Typer(help="Migrate the service database (CLOSETFLOW_DATABASE_URL, else the embedded SQLite file).")
keys_app = typer.Typer(help="Create and revoke API keys.")
datasets_app = typer.Typer(help="Register data folders with the service.")


def _runtime() -> Runtime:
    return Runtime(resolve({}))


def _fail(message: str, code: int = EXIT_BAD_USAGE) -> NoReturn:
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(code)


def _database_down(runtime: Runtime) -> NoReturn:
    _fail(f"the database cannot be reached ({runtime.database_url.split('@')[-1]}); is it running and migrated?")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="revision to migrate up to")] = "head",
) -> None:
    """Migrate the database up (creating every table on an empty one)."""
    runtime = _runtime()
    try:
        migrate.upgrade(runtime.database_url, revision)
    except OperationalError:
        _database_down(runtime)
    except Exception as exc:  # alembic: an unknown revision
        if type(exc).__module__.startswith("alembic"):
            _fail(str(exc))
        raise
    typer.echo(f"database at revision {revision}", err=True)


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Option(help="revision to migrate down to ('base' drops every table)")],
) -> None:
    """Migrate the database down."""
    runtime = _runtime()
    try:
        migrate.downgrade(runtime.database_url, revision)
    except OperationalError:
        _database_down(runtime)
    except Exception as exc:
        if type(exc).__module__.startswith("alembic"):
            _fail(str(exc))
        raise
    typer.echo(f"database at revision {revision}", err=True)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="planner, buyer or operator")],
    name: Annotated[str, typer.Option(help="who or what holds the key")] = "",
) -> None:
    """Make an API key; the key is the last line of stdout (shown once, only its hash is kept)."""
    try:
        parsed = parse_role(role)
    except ClosetflowError as exc:
        _fail(str(exc))
    runtime = _runtime()
    try:
        prepare(runtime)
        info, secret = create_key(runtime.sessions, role=parsed, name=name, actor=CLI_ACTOR)
    except OperationalError:
        _database_down(runtime)
    typer.echo(f"created {info.role.value} key {info.id} ({info.prefix}...); it is shown once:", err=True)
    typer.echo(secret)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="the key's id (not the key)")]) -> None:
    """Revoke an API key by its id."""
    runtime = _runtime()
    try:
        info = revoke_key(runtime.sessions, key_id, actor=CLI_ACTOR)
    except ClosetflowError as exc:
        _fail(str(exc))
    except OperationalError:
        _database_down(runtime)
    typer.echo(f"revoked key {info.id} at {info.revoked_at}", err=True)


@datasets_app.command("add")
def datasets_add(
    folder: Annotated[Path, typer.Argument(help="a data folder (docs/data.md)")],
    name: Annotated[str | None, typer.Option(help="a name for it (default: the folder's name)")] = None,
) -> None:
    """Zip a data folder, check it and register it; its id is the last line of stdout."""
    if not folder.is_dir():
        _fail(f"{folder} is not a folder")
    runtime = _runtime()
    try:
        prepare(runtime)
        view = register_dataset(
            runtime.sessions,
            archive=pack_folder(folder),
            name=name if name is not None else folder.resolve().name,
            actor=CLI_ACTOR,
            max_unpacked_bytes=runtime.settings.max_unpacked_mb * 2**20,
        )
    except DataValidationError as exc:
        for problem in exc.problems:
            typer.echo(str(problem))
        typer.echo(f"{len(exc.problems)} problem(s) in {folder}; nothing was stored", err=True)
        raise typer.Exit(EXIT_BAD_DATA) from None
    except ClosetflowError as exc:
        _fail(str(exc))
    except OperationalError:
        _database_down(runtime)
    typer.echo(f"registered {folder} ({view['size_bytes']:,} bytes, plan date {view['plan_date']})", err=True)
    typer.echo(view["id"])


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="uvicorn worker processes")] = 1,
    access_log: Annotated[bool, typer.Option(help="log every request (costs time on busy read paths)")] = False,
) -> None:
    """Run the HTTP API (uvicorn over api.http.main:create_app)."""
    import uvicorn

    runtime = _runtime()
    try:
        prepare(runtime)  # once here, before the workers start, so they never race to migrate
    except OperationalError:
        _database_down(runtime)
    uvicorn.run("api.http.main:create_app", factory=True, host=host, port=port, workers=workers, access_log=access_log)


def register(app: typer.Typer) -> None:
    """Add the service commands to the CLI."""
    app.add_typer(db_app, name="db")
    app.add_typer(keys_app, name="keys")
    app.add_typer(datasets_app, name="datasets")
    app.command()(serve)
