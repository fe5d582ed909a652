"""The ``closetflow`` command line. Commands are thin: parse arguments, call one function, report.

Exit codes: 0 success, 1 the data breaks its contract, 2 the command could not run as asked (a
bad option or ``CLOSETFLOW_*`` value, a usage error, no such folder), 3 an internal error. Every
failure prints one line on stderr and never a traceback: an internal error's traceback goes to a
log file under ``<artifacts_dir>/logs/`` (see `_SafeGroup`).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from tempfile import gettempdir
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from allocation.data.io import load_world
from allocation.domain import HOLDOUT_TABLES, TABLES, ClosetflowError, DataValidationError, World
from api.buy_cli import register as register_buy_command
from api.evaluate_cli import register as register_evaluate_command
from api.explain_cli import register as register_explain_commands
from api.forecast_cli import register as register_forecast_commands
from api.jobs_cli import EXIT_BAD_DATA, EXIT_BAD_USAGE, EXIT_INTERNAL
from api.jobs_cli import register as register_job_commands
from api.models_cli import register as register_model_commands
from api.service_cli import register as register_service_commands
from api.settings import SettingsError, log_dir
from api.worker_cli import register as register_worker_commands

__all__ = ["app"]


class _SafeGroup(TyperGroup):
    """The one way out of every command: one line on stderr and an exit code, never a traceback.

    Installed in `main` because both ways in pass through it: the console script (``app()``) and
    ``typer.testing.CliRunner``, which calls the click command's ``main`` directly.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:  # the caller handles errors itself
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        except SettingsError as exc:
            typer.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_BAD_USAGE)
        except Exception as exc:
            if _is_usage_error(exc):
                sys.exit(_show_usage_error(exc))
            path = _log_internal_error(exc, sys.argv[1:] if args is None else list(args))
            message = " ".join(str(exc).split())  # one line, whatever the exception holds
            typer.echo(f"internal error: {type(exc).__name__}: {message}; details in {path}", err=True)
            sys.exit(EXIT_INTERNAL)
        # Without standalone mode click returns the code of a `typer.Exit`, or the command's result.
        sys.exit(code if isinstance(code, int) else 0)


def _is_usage_error(exc: Exception) -> bool:
    # Recognised by shape: Typer >= 0.2x raises its vendored click's exceptions, older Typer the
    # click package's, and neither exports the common base class.
    return isinstance(getattr(exc, "exit_code", None), int) and callable(getattr(exc, "format_message", None))


def _show_usage_error(exc: Any) -> int:
    """Print a click usage error (unknown option, missing argument) in one line; its exit code."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # `closetflow` alone: the help is the message
        exc.show()
        return int(exc.exit_code)
    line = f"error: {' '.join(str(exc.format_message()).split())}"
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        line += f" (see '{ctx.command_path} --help')"
    typer.echo(line, err=True)
    return int(exc.exit_code)


def _log_internal_error(exc: BaseException, args: list[str]) -> Path:
    """Write the traceback of ``exc`` to a new log file and return its path.

    Under ``<artifacts_dir>/logs/``; in the system's temporary folder when that cannot be written,
    since losing the traceback of a bug is worse than a log in an odd place.
    """
    now = datetime.now()
    text = f"closetflow {' '.join(args)}\n{now.isoformat()}\n\n" + "".join(traceback.format_exception(exc))
    name = f"closetflow-{now:%Y%m%d-%H%M%S-%f}.log"  # microseconds: two errors never share a file
    for folder in (log_dir(), Path(gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(text, encoding="utf-8")
        except OSError:
            continue
        return path
    raise exc  # pragma: no cover - neither folder is writable; the traceback is all that is left


app = typer.Typer(
    cls=_SafeGroup,
    help="closetflow: allocation planning for a fashion-rental business.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """Plan which unit fills which reservation, and check the data it plans from."""
    # A callback keeps `closetflow validate DIR` a subcommand even while it is the only command.


def _row_counts(world: World) -> Table:
    table = Table(title=f"plan date {world.plan_date}, horizon {world.horizon_days} days")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name in TABLES:
        table.add_row(name, f"{len(world.table(name)):,}")
    if world.holdout is not None:
        for name in HOLDOUT_TABLES:
            table.add_row(f"holdout/{name}", f"{len(getattr(world.holdout, name)):,}")
    return table


@app.command()
def validate(
    folder: Annotated[Path, typer.Argument(help="Data folder to check (docs/data.md).")],
) -> None:
    """Check a data folder against its contracts; list every problem as file:row:column: message."""
    try:
        world = load_world(folder)
    except DataValidationError as exc:
        # Plain echo, not Rich: messages hold brackets and quotes that must print verbatim.
        for problem in exc.problems:
            typer.echo(str(problem))
        typer.echo(f"{len(exc.problems)} problem(s) in {folder}")
        raise typer.Exit(EXIT_BAD_DATA) from None
    except ClosetflowError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_USAGE) from None
    console = Console()
    console.print(_row_counts(world))
    console.print(f"[green]OK[/green]: {escape(str(folder))} meets every contract", highlight=False)


register_job_commands(app)
register_evaluate_command(app)
register_forecast_commands(app)
register_model_commands(app)
register_buy_command(app)
register_explain_commands(app)
register_worker_commands(app)
register_service_commands(app)
