"""`closetflow forecast backtest`: a rolling-origin backtest of the forecasters on any demand table.

A thin command over `forecasting.backtest`: it reads the file, checks the options, runs the
backtest with a progress bar, prints a table and writes the JSON. Every user mistake (no such
file, an unknown column or model, a bad --freq, a horizon the data cannot hold) is one line on
stderr naming the option, with exit 2, before anything is written; the JSON is written whole or
not at all.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from api.jobs_cli import EXIT_BAD_USAGE, progress_bar
from forecasting.artifacts import write_json_atomic
from forecasting.backtest import (
    LEVEL,
    BacktestInputError,
    BacktestOptions,
    backtest,
    demand_series,
    model_names,
)
from forecasting.base import FORECASTERS
from forecasting.series import FREQS

__all__ = ["read_table", "register"]

console = Console(stderr=True)  # progress and notes; the table goes to stdout
forecast_app = typer.Typer(help="Forecast models: backtests.", no_args_is_help=True)

_READERS: dict[str, Callable[[Path], pd.DataFrame]] = {".csv": pd.read_csv, ".parquet": pd.read_parquet}


def _bad(flag: str, message: str) -> typer.Exit:
    typer.echo(f"error: {flag} {message}", err=True)
    return typer.Exit(code=EXIT_BAD_USAGE)


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def read_table(path: Path) -> pd.DataFrame:
    """The demand table at ``path`` (.csv or .parquet); a bad file is one line on stderr, exit 2."""
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise _bad("--input", f"got {str(path)!r}; allowed: a .csv or .parquet file")
    if not path.is_file():
        raise _bad("--input", f"got {str(path)!r}: no such file")
    try:
        frame = reader(path)
    except Exception as exc:  # any reader failure means the file cannot be used as given
        raise _bad("--input", f"got {str(path)!r}: cannot be read ({' '.join(str(exc).split())})") from None
    return frame


def _check_writable(path: Path) -> None:
    if path.is_dir():
        raise _bad("--json", f"got {str(path)!r}: a folder is in the way")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _bad("--json", f"got {str(path)!r}: its folder cannot be made ({exc.strerror or exc})") from None


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    try:
        write_json_atomic(path, doc)  # a reader never sees half a file, a failure leaves none
    except OSError as exc:
        raise _bad("--json", f"got {str(path)!r}: cannot be written ({exc.strerror or exc})") from None


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else f"{value:{fmt}}"


def _table(doc: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    columns = ("rmse", "wape", "wape_total", "mase", "bias", f"coverage_{LEVEL}", "fit_seconds")
    table.add_column("model")
    for col in columns:
        table.add_column(col, justify="right", min_width=len(col))  # names as in the JSON, whole
    for name, m in doc["models"].items():
        fmts = (".3f", ".3f", ".3f", ".3f", "+.1%", ".3f", ".1f")
        table.add_row(name, *(_cell(m[c], f) for c, f in zip(columns, fmts, strict=True)))
    return table


@forecast_app.command("backtest")
def backtest_command(
    input_file: Annotated[Path, typer.Option("--input", metavar="FILE", help="demand table: .csv or .parquet")],
    id_col: Annotated[str, typer.Option(metavar="COLUMN", help="the series id column")],
    time_col: Annotated[str, typer.Option(metavar="COLUMN", help="the period column (dates)")],
    target_col: Annotated[str, typer.Option(metavar="COLUMN", help="the count to forecast (>= 0)")],
    horizon: Annotated[int, typer.Option(metavar="H", help="periods forecast from each origin")],
    windows: Annotated[int, typer.Option(metavar="K", help="forecast origins, H periods apart")],
    json_out: Annotated[Path, typer.Option("--json", metavar="OUT", help="write the figures as JSON")],
    freq: Annotated[str, typer.Option(metavar="D|W", help="daily or weekly periods")] = "W",
    models: Annotated[
        str, typer.Option(metavar="NAMES", help=f"comma-separated, from: {', '.join(FORECASTERS)}")
    ] = ",".join(FORECASTERS),
) -> None:
    """Rolling-origin backtest: rmse, wape, wape_total, mase, bias, coverage_80, fit_seconds per model."""
    if freq not in FREQS:
        raise _bad("--freq", f"got {freq!r}; allowed: {', '.join(FREQS)}")
    try:
        opts = BacktestOptions(horizon=horizon, windows=windows, freq=freq, models=model_names(models))
    except BacktestInputError as err:
        raise _bad(_flag(err.option), str(err)) from None
    _check_writable(json_out)
    table = read_table(input_file)
    try:
        grid = demand_series(table, id_col=id_col, time_col=time_col, target_col=target_col, freq=freq)
        with progress_bar(console) as bar:
            task = bar.add_task("backtest", total=1.0)

            def progress(what: str, frac: float) -> None:
                bar.update(task, description=what, completed=frac)

            doc = backtest(grid, opts, progress)
    except BacktestInputError as err:
        raise _bad(_flag(err.option), str(err)) from None
    _write_json(json_out, doc)
    meta = doc["meta"]
    title = (
        f"{meta['series']} series, {meta['windows']} origins x {meta['horizon']} periods ({freq}), "
        f"{meta['cells_scored']:,} forecasts scored"
    )
    # Piped output gets Rich's 80 columns, which would crop the last columns: give it room.
    Console(width=None if sys.stdout.isatty() else 120).print(_table(doc, title))
    console.print(f"figures: {json_out}")


def register(app: typer.Typer) -> None:
    """Add `closetflow forecast ...` to the CLI."""
    app.add_typer(forecast_app, name="forecast")
