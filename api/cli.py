"""The ``closetflow`` command line. Commands are thin: parse arguments, call one function, report.

Exit codes: 0 success, 1 the data breaks its contract, 2 the command could not run (no such folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from allocation.data.io import load_world
from allocation.domain import HOLDOUT_TABLES, TABLES, ClosetflowError, DataValidationError, World
from api.jobs_cli import register as register_job_commands

__all__ = ["app"]

app = typer.Typer(
    help="closetflow: allocation planning for a fashion-rental business.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

EXIT_BAD_DATA = 1
EXIT_CANNOT_RUN = 2


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
        raise typer.Exit(EXIT_CANNOT_RUN) from None
    console = Console()
    console.print(_row_counts(world))
    console.print(f"[green]OK[/green]: {escape(str(folder))} meets every contract", highlight=False)


register_job_commands(app)
