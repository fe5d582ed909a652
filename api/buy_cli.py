"""`closetflow buy`: units to add per size of a style to reach a target fill rate over the season.

A thin command over `allocation.buying.recommend_buy`: it reads the world (a data folder through
`load_world`, as every command reads one, or a simulated world as `closetflow run` makes it),
calls the domain, prints a Rich table per size with the totals, and writes the same numbers as
JSON with ``--json``. Every user mistake (an unknown style, a target outside (0, 1), a bad
option or folder) is one line on stderr and exit 2; a data folder that breaks its contract lists
its problems and exits 1.

The Monte Carlo seed is ``--sim-seed``: ``--seed`` already names the simulated world's seed, as in
`closetflow run`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.console import Console
from rich.table import Table

from allocation.buying import BuyInputError, BuyPlan, UnknownStyleError, recommend_buy
from allocation.data.io import load_world
from allocation.domain import ClosetflowError, DataValidationError, World
from allocation.jobs.evaluate import make_world
from api.jobs_cli import EXIT_BAD_DATA, EXIT_BAD_USAGE
from api.settings import SettingsError, help_for, resolve
from forecasting.artifacts import write_json_atomic

__all__ = ["plan_table", "register"]

console = Console(stderr=True)  # notes and progress; the table goes to stdout

# The command-line option of each setting or domain option, for messages that name what was typed.
FLAGS: Final[dict[str, str]] = {
    "scale": "--scale",
    "seed": "--seed",
    "target_fill": "--target-fill",
    "season_days": "--season-days",
    "paths": "--paths",
    "max_units": "--max-units",
}


def _bad(message: str) -> typer.Exit:
    typer.echo(f"error: {' '.join(message.split())}", err=True)  # one line, whatever it holds
    return typer.Exit(code=EXIT_BAD_USAGE)


def _world(data: Path | None, scale: str | None, seed: str | None) -> World:
    """The data folder's world, or the simulated world of ``--scale``/``--seed``."""
    if data is not None:
        if scale is not None or seed is not None:
            raise _bad("--data reads a folder; --scale and --seed make a simulated world: give one or the other")
        try:
            return load_world(data, with_holdout=False)  # the buyer sees history only
        except DataValidationError as err:
            for p in err.problems:
                typer.echo(str(p))
            typer.echo(f"{len(err.problems)} problem(s) in {data}; nothing was simulated", err=True)
            raise typer.Exit(code=EXIT_BAD_DATA) from None
        except ClosetflowError as err:
            raise _bad(f"--data got {str(data)!r}: {err}") from None
    try:
        s = resolve({"scale": scale, "seed": seed}, FLAGS)
    except SettingsError as err:
        raise _bad(str(err)) from None
    return make_world("simulated", s.scale, s.seed)


def _check_writable(path: Path) -> None:
    """Refuse an unusable --json before any simulation runs."""
    if path.is_dir():
        raise _bad(f"--json got {str(path)!r}: a folder is in the way")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _bad(f"--json got {str(path)!r}: its folder cannot be made ({exc.strerror or exc})") from None


def plan_table(plan: BuyPlan) -> Table:
    """The plan as a table: one row per size, then the style's totals."""
    a = plan.assumptions
    table = Table(
        title=f"buy {plan.style_id}: target fill {plan.target_fill:.3f} over {a.season_days} days from {a.plan_date}"
    )
    for col in ("size", "sku", "units now", "add", "unit cost $", "requests", "fill now", "fill after", "cost $"):
        table.add_column(col, justify="left" if col in ("size", "sku") else "right")
    for s in plan.sizes:
        table.add_row(
            s.size,
            s.sku_id,
            str(s.current_units),
            str(s.units_to_add),
            f"{s.unit_cost:,.0f}",
            f"{s.expected_requests:.1f}",
            f"{s.current_fill:.3f}",
            f"{s.recommended_fill:.3f}",
            f"{s.units_to_add * s.unit_cost:,.0f}",
        )
    table.add_row(
        "total",
        "",
        str(sum(s.current_units for s in plan.sizes)),
        str(plan.units_added),
        "",
        f"{sum(s.expected_requests for s in plan.sizes):.1f}",
        f"{plan.current_fill:.3f}",
        f"{plan.recommended_fill:.3f}",
        f"{plan.cost:,.0f}",
        end_section=True,
    )
    return table


def _assumptions_line(plan: BuyPlan) -> str:
    a = plan.assumptions
    demand = a.demand_model if a.dispersion == 0 else f"{a.demand_model} (alpha {a.dispersion:.3f})"
    return (
        f"demand: forecaster means, {demand} draws; turn time median {a.turn_median_days} d, p90 "
        f"{a.turn_p90_days} d ({a.turn_style_rentals} rentals of the style, pooled with {a.turn_pooled_from}); "
        f"{a.paths} paths, seed {a.seed} (fill after +/- {plan.recommended_fill_se:.4f}, one s.e.); "
        f"unit cost = {a.unit_cost}; {a.pooling}"
    )


def buy(
    style: Annotated[str, typer.Option(metavar="STYLE", help="the style_id to buy for")],
    target_fill: Annotated[float, typer.Option(metavar="RATE", help="season fill rate to reach, in (0, 1)")],
    data: Annotated[Path | None, typer.Option(metavar="DIR", help="a data folder instead of a simulated world")] = None,
    scale: Annotated[str | None, typer.Option(metavar="NAME", help=help_for("scale"))] = None,
    seed: Annotated[str | None, typer.Option(metavar="N", help=help_for("seed"))] = None,
    season_days: Annotated[int, typer.Option(metavar="DAYS", help="season length from the plan date")] = 91,
    paths: Annotated[int, typer.Option(metavar="N", help="Monte Carlo paths")] = 1000,
    sim_seed: Annotated[int, typer.Option(metavar="N", help="seed of the Monte Carlo draws")] = 0,
    max_units: Annotated[int, typer.Option(metavar="N", help="most units to add in all")] = 200,
    json_out: Annotated[Path | None, typer.Option("--json", metavar="OUT", help="write the figures as JSON")] = None,
) -> None:
    """Units to add per size of a style to reach a target fill rate over the season (simulated)."""
    if json_out is not None:
        _check_writable(json_out)
    world = _world(data, scale, seed)
    try:
        with console.status(f"simulating {paths} seasons of {style}"):
            plan = recommend_buy(
                world, style, target_fill, season_days=season_days, paths=paths, seed=sim_seed, max_units=max_units
            )
    except BuyInputError as err:
        raise _bad(f"{FLAGS.get(err.option, err.option)} {err}") from None
    except UnknownStyleError as err:
        raise _bad(f"--style {err}") from None
    except ClosetflowError as err:
        raise _bad(str(err)) from None
    doc: dict[str, Any] = plan.to_dict()
    if json_out is not None:
        try:
            write_json_atomic(json_out, doc)  # whole or not at all
        except OSError as exc:
            raise _bad(f"--json got {str(json_out)!r}: cannot be written ({exc.strerror or exc})") from None
    # Piped output gets Rich's 80 columns, which would crop the table: give it room.
    Console(width=None if sys.stdout.isatty() else 120).print(plan_table(plan))
    # Plain lines, not Rich: a note must neither wrap at 80 columns nor read its brackets as markup.
    typer.echo(plan.note, err=True)
    typer.echo(_assumptions_line(plan), err=True)
    if json_out is not None:
        typer.echo(f"figures: {json_out}", err=True)


def register(app: typer.Typer) -> None:
    """Add `closetflow buy` to the CLI."""
    app.command()(buy)
