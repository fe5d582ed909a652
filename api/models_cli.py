"""`closetflow models list|register|promote|rollback`: the model registry from the command line.

Thin commands over `forecasting.registry.ModelRegistry`, rooted at `api.settings.models_dir`
(``<artifacts_dir>/models``). `register` reads a demand table with the backtest's own reader and
checks (`api.forecast_cli.read_table`, `forecasting.backtest.demand_series`), scores the model on
a hold-out of the last ``--holdout`` periods (a one-window backtest), fits it on the whole table
and stores it; it prints only the version id on stdout, so scripts can capture it. A user mistake
(an unknown version, nothing to roll back to, a bad option) is one line on stderr, exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final

import typer

from api.forecast_cli import read_table
from api.jobs_cli import EXIT_BAD_USAGE
from api.settings import models_dir
from forecasting.artifacts import data_hash
from forecasting.backtest import BacktestInputError, BacktestOptions, backtest, demand_series
from forecasting.base import FORECASTERS, make_forecaster
from forecasting.registry import ModelRegistry, RegistryError
from forecasting.series import FREQS

__all__ = ["register"]

models_app = typer.Typer(help="The model registry: versions, champion and previous.", no_args_is_help=True)

# The backtest names its options as its own arguments; here they are these flags.
_FLAGS: Final = {
    "input": "--input",
    "id_col": "--id-col",
    "time_col": "--time-col",
    "target_col": "--target-col",
    "freq": "--freq",
    "models": "--model",
    "horizon": "--holdout",
    "windows": "--holdout",
}
# The figures `models list` shows, when a version has them, in this order.
_SUMMARY: Final = ("rmse", "wape", "wape_total", "bias", "coverage_80")


def _bad(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=EXIT_BAD_USAGE)


def _registry() -> ModelRegistry:
    return ModelRegistry(models_dir())


def _summary(metrics: dict[str, Any]) -> str:
    keys = [k for k in _SUMMARY if k in metrics] or list(metrics)[:4]
    parts = [f"{k}={metrics[k]:.3f}" if isinstance(metrics[k], float) else f"{k}={metrics[k]}" for k in keys]
    return " ".join(parts) or "-"


@models_app.command("list")
def list_command() -> None:
    """Every version: model, created_at, metrics and the alias pointing at it."""
    registry = _registry()
    try:
        aliases = registry.aliases()
    except RegistryError as err:
        raise _bad(str(err)) from None
    pointing: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        if version is not None:
            pointing.setdefault(version, []).append(alias)
    rows = [("version", "model", "created_at", "alias", "metrics")]
    for version in registry.versions():
        alias = ",".join(pointing.get(version, [])) or "-"
        try:
            info = registry.info(version)
        except RegistryError as err:  # listed, not hidden: the operator should see a broken version
            rows.append((version, "?", "?", alias, f"unreadable: {err}"))
            continue
        rows.append((version, info.model, info.created_at, alias, _summary(info.metrics)))
    if len(rows) == 1:
        typer.echo(f"no versions in {registry.root}", err=True)
        return
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
    known = set(registry.versions())
    for alias, version in aliases.items():
        if version is not None and version not in known:
            typer.echo(f"warning: {alias} points at {version}, which is not in the registry", err=True)


@models_app.command("promote")
def promote_command(version: Annotated[str, typer.Argument(metavar="VERSION", help="e.g. v3")]) -> None:
    """Make VERSION the champion; the old champion becomes the previous."""
    try:
        aliases = _registry().promote(version)
    except RegistryError as err:
        raise _bad(str(err)) from None
    typer.echo(f"champion {aliases['champion']}, previous {aliases['previous'] or '-'}")


@models_app.command("rollback")
def rollback_command() -> None:
    """Make the previous version the champion again."""
    try:
        aliases = _registry().rollback()
    except RegistryError as err:
        raise _bad(str(err)) from None
    typer.echo(f"champion {aliases['champion']}, previous -")


@models_app.command("register")
def register_command(
    input_file: Annotated[Path, typer.Option("--input", metavar="FILE", help="demand table: .csv or .parquet")],
    id_col: Annotated[str, typer.Option(metavar="COLUMN", help="the series id column")],
    time_col: Annotated[str, typer.Option(metavar="COLUMN", help="the period column (dates)")],
    target_col: Annotated[str, typer.Option(metavar="COLUMN", help="the count to forecast (>= 0)")],
    model: Annotated[str, typer.Option(metavar="NAME", help=f"one of: {', '.join(FORECASTERS)}")] = "linear",
    freq: Annotated[str, typer.Option(metavar="D|W", help="daily or weekly periods")] = "W",
    holdout: Annotated[int, typer.Option(metavar="H", help="last periods held out for the metrics; 0: none")] = 4,
) -> None:
    """Fit a model on a demand table, store it as a new version (not promoted) and print its id."""
    if freq not in FREQS:
        raise _bad(f"--freq got {freq!r}; allowed: {', '.join(FREQS)}")
    if model not in FORECASTERS:
        raise _bad(f"--model got {model!r}; known: {', '.join(FORECASTERS)}")
    if holdout < 0:
        raise _bad(f"--holdout got {holdout}; allowed: a number of periods >= 0")
    table = read_table(input_file)
    try:
        grid = demand_series(table, id_col=id_col, time_col=time_col, target_col=target_col, freq=freq)
        metrics: dict[str, Any] = {}
        if holdout > 0:
            scored = backtest(grid, BacktestOptions(horizon=holdout, windows=1, freq=freq, models=(model,)))
            metrics = {**scored["models"][model], "holdout_periods": holdout}
    except BacktestInputError as err:
        raise _bad(f"{_FLAGS.get(err.option, err.option)} {err}") from None
    fitted = make_forecaster(model, freq).fit(grid)
    version = _registry().register(fitted, data_hash=data_hash(grid), metrics=metrics)
    typer.echo(version)


def register(app: typer.Typer) -> None:
    """Add `closetflow models ...` to the CLI."""
    app.add_typer(models_app, name="models")
