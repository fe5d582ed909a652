"""`closetflow models list|register|promote|rollback|checks`: the model registry from the command line.

Thin commands over `forecasting.registry.ModelRegistry`, rooted at `api.settings.models_dir`
(``<artifacts_dir>/models``). `register` reads a demand table with the backtest's own reader and
checks (`api.forecast_cli.read_table`, `forecasting.backtest.demand_series`), scores the model on
a hold-out of the last ``--holdout`` periods (a one-window backtest), fits it on the whole table
and stores it; it prints only the version id on stdout, so scripts can capture it. A user mistake
(an unknown version, nothing to roll back to, a bad option) is one line on stderr, exit 2.

`checks` runs the promotion gates of `forecasting.checks` on a version (with ``--input``: hold-out
against the statistical baselines and self-drift of its hold-out metric; drift against realized
bookings when ``--realized`` is given) and of `forecasting.drift` (with ``--report``: a job's
predicted fill rate against the one its holdout replay realized), prints one line per check and
stores the results; `promote --gated` runs the same checks and promotes only if all pass. A gated
promote without ``--input`` requires the table checks' stored verdicts to have passed instead. A
check that fails exits 1 (not 2: nothing was asked wrongly, the version is just not good enough),
so a script can tell the two apart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Final

import pandas as pd
import typer

from api.forecast_cli import read_table
from api.jobs_cli import EXIT_BAD_USAGE
from api.settings import models_dir
from forecasting.artifacts import data_hash
from forecasting.backtest import BacktestInputError, BacktestOptions, backtest, demand_series
from forecasting.base import FORECASTERS, make_forecaster
from forecasting.checks import (
    LOWER_IS_BETTER,
    Check,
    CheckError,
    CheckResult,
    HoldOutCheck,
    MetricDriftCheck,
    SelfDriftCheck,
)
from forecasting.drift import DEFAULT_FILL_TOLERANCE, FillRateDriftCheck, RecordedCheck
from forecasting.promotion import gated_promote, run_checks
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
EXIT_CHECK_FAILED: Final = 1
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


# The check options by parameter name, their flags and defaults: `promote` without --gated refuses
# them rather than ignoring them silently.
_OPTION_FLAGS: Final = {
    "input_file": "--input",
    "id_col": "--id-col",
    "time_col": "--time-col",
    "target_col": "--target-col",
    "freq": "--freq",
    "holdout": "--holdout",
    "metric": "--metric",
    "drift_window": "--drift-window",
    "tolerance": "--tolerance",
    "realized": "--realized",
    "max_wape": "--max-wape",
    "max_bias": "--max-bias",
    "report": "--report",
    "fill_tolerance": "--fill-tolerance",
}
_DEFAULTS: Final[dict[str, Any]] = {
    "input_file": None,
    "id_col": None,
    "time_col": None,
    "target_col": None,
    "freq": "W",
    "holdout": 4,
    "metric": "rmse",
    "drift_window": 7,
    "tolerance": 0.2,
    "realized": None,
    "max_wape": 1.0,
    "max_bias": 0.3,
    "report": None,
    "fill_tolerance": DEFAULT_FILL_TOLERANCE,
}


# The table options `checks` and `promote --gated` share (`register` has the same, required).
InputOpt = Annotated[
    Path | None, typer.Option("--input", metavar="FILE", help="demand table for the checks: .csv or .parquet")
]
IdColOpt = Annotated[str | None, typer.Option("--id-col", metavar="COLUMN", help="the series id column")]
TimeColOpt = Annotated[str | None, typer.Option("--time-col", metavar="COLUMN", help="the period column (dates)")]
TargetColOpt = Annotated[str | None, typer.Option("--target-col", metavar="COLUMN", help="the count column (>= 0)")]
FreqOpt = Annotated[str, typer.Option(metavar="D|W", help="daily or weekly periods")]
HoldoutOpt = Annotated[
    int, typer.Option(metavar="K", help="last periods held out; the candidate must beat the baselines")
]
MetricOpt = Annotated[str, typer.Option(metavar="NAME", help=f"hold-out metric: {', '.join(LOWER_IS_BETTER)}")]
WindowOpt = Annotated[int, typer.Option(metavar="N", help="self-drift: points in the moving average")]
ToleranceOpt = Annotated[float, typer.Option(metavar="FRACTION", help="self-drift: allowed relative gap")]
RealizedOpt = Annotated[
    Path | None, typer.Option(metavar="FILE", help="realized bookings (same columns) for forecast drift")
]
MaxWapeOpt = Annotated[float, typer.Option(metavar="X", help="forecast drift: highest WAPE allowed")]
MaxBiasOpt = Annotated[float, typer.Option(metavar="FRACTION", help="forecast drift: highest |bias| allowed")]
ReportOpt = Annotated[
    Path | None, typer.Option(metavar="FILE", help="a job's report.json: its predicted vs realized fill rate")
]
FillToleranceOpt = Annotated[
    float, typer.Option(metavar="FRACTION", help="fill-rate drift: highest |predicted - realized| allowed")
]


def _grid(path: Path, flag: str, id_col: str, time_col: str, target_col: str, freq: str) -> pd.DataFrame:
    if flag != "--input" and not path.is_file():  # read_table would blame --input
        raise _bad(f"{flag} got {str(path)!r}: no such file")
    table = read_table(path)
    try:
        return demand_series(table, id_col=id_col, time_col=time_col, target_col=target_col, freq=freq)
    except BacktestInputError as err:
        where = "" if flag == "--input" else f"{flag} {path}: "
        raise _bad(f"{where}{_FLAGS.get(err.option, err.option)} {err}") from None


def _checks(
    *,
    input_file: Path | None,
    id_col: str | None,
    time_col: str | None,
    target_col: str | None,
    freq: str,
    holdout: int,
    metric: str,
    drift_window: int,
    tolerance: float,
    realized: Path | None,
    max_wape: float,
    max_bias: float,
    report: Path | None,
    fill_tolerance: float,
    gating: bool = False,
) -> tuple[pd.DataFrame | None, list[Check]]:
    """The grid (None without --input) and the checks asked for; a bad option is one line, exit 2.

    ``gating`` without --input puts the table checks' stored verdicts (`RecordedCheck`) in their place.
    """
    named = {"--input": input_file, "--id-col": id_col, "--time-col": time_col, "--target-col": target_col}
    missing = [flag for flag, value in named.items() if value is None]
    table = f"{', '.join(missing)} (the demand table to hold out)"
    if input_file is None and report is None:
        raise _bad(f"the checks need {table} or --report (a job's report.json)")
    if not fill_tolerance >= 0:
        raise _bad(f"--fill-tolerance got {fill_tolerance}; allowed: a number >= 0")
    fill: list[Check] = [] if report is None else [_fill_check(report, fill_tolerance)]
    if input_file is None:
        if realized is not None:
            raise _bad("--realized needs --input and its columns (the same table layout)")
        return None, ([RecordedCheck(), *fill] if gating else fill)
    if missing:
        raise _bad(f"the checks need {table}")
    assert input_file is not None and id_col is not None and time_col is not None and target_col is not None
    if freq not in FREQS:
        raise _bad(f"--freq got {freq!r}; allowed: {', '.join(FREQS)}")
    if holdout < 1:
        raise _bad(f"--holdout got {holdout}; allowed: a number of periods >= 1")
    if metric not in LOWER_IS_BETTER:
        raise _bad(f"--metric got {metric!r}; allowed: {', '.join(LOWER_IS_BETTER)}")
    if drift_window < 1:
        raise _bad(f"--drift-window got {drift_window}; allowed: a number of points >= 1")
    for flag, value in (("--tolerance", tolerance), ("--max-wape", max_wape), ("--max-bias", max_bias)):
        if not value >= 0:
            raise _bad(f"{flag} got {value}; allowed: a number >= 0")
    grid = _grid(input_file, "--input", id_col, time_col, target_col, freq)
    checks: list[Check] = [
        HoldOutCheck(k=holdout, metric=metric),
        SelfDriftCheck(metric=metric, window=drift_window, tolerance=tolerance),
    ]
    if realized is not None:
        real = _grid(realized, "--realized", id_col, time_col, target_col, freq)
        checks.append(MetricDriftCheck(real, max_wape=max_wape, max_abs_bias=max_bias))
    return grid, [*checks, *fill]


def _fill_check(path: Path, tolerance: float) -> FillRateDriftCheck:
    """The fill-rate check over the report.json at ``path``; an unreadable report is exit 2."""
    if not path.is_file():
        raise _bad(f"--report got {str(path)!r}: no such file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise _bad(f"--report {path}: not a readable JSON file ({' '.join(str(err).split())})") from None
    if not isinstance(doc, dict):
        raise _bad(f"--report {path}: not a report (a JSON object is expected)")
    try:
        return FillRateDriftCheck.from_report(doc, tolerance)
    except CheckError as err:
        raise _bad(f"--report {path}: {err}") from None


def _echo_results(results: list[CheckResult]) -> None:
    for r in results:
        typer.echo(f"{'PASS' if r.passed else 'FAIL'}  {r.name:<15}  {r.reason}")


@models_app.command("checks")
def checks_command(
    version: Annotated[str, typer.Argument(metavar="VERSION", help="e.g. v3")],
    input_file: InputOpt = None,
    id_col: IdColOpt = None,
    time_col: TimeColOpt = None,
    target_col: TargetColOpt = None,
    freq: FreqOpt = _DEFAULTS["freq"],
    holdout: HoldoutOpt = _DEFAULTS["holdout"],
    metric: MetricOpt = _DEFAULTS["metric"],
    drift_window: WindowOpt = _DEFAULTS["drift_window"],
    tolerance: ToleranceOpt = _DEFAULTS["tolerance"],
    realized: RealizedOpt = None,
    max_wape: MaxWapeOpt = _DEFAULTS["max_wape"],
    max_bias: MaxBiasOpt = _DEFAULTS["max_bias"],
    report: ReportOpt = None,
    fill_tolerance: FillToleranceOpt = _DEFAULTS["fill_tolerance"],
) -> None:
    """Run the promotion checks on VERSION, print and store each result; exit 1 if any fails."""
    grid, checks = _checks(**_options(locals()))
    try:
        results = run_checks(_registry(), version, checks, grid, freq=freq)
    except (RegistryError, CheckError) as err:
        raise _bad(str(err)) from None
    except BacktestInputError as err:
        raise _bad(f"{_FLAGS.get(err.option, err.option)} {err}") from None
    _echo_results(results)
    if not all(r.passed for r in results):
        raise typer.Exit(code=EXIT_CHECK_FAILED)


@models_app.command("promote")
def promote_command(
    version: Annotated[str, typer.Argument(metavar="VERSION", help="e.g. v3")],
    gated: Annotated[bool, typer.Option("--gated", help="promote only if the checks pass (needs --input ...)")] = False,
    input_file: InputOpt = None,
    id_col: IdColOpt = None,
    time_col: TimeColOpt = None,
    target_col: TargetColOpt = None,
    freq: FreqOpt = _DEFAULTS["freq"],
    holdout: HoldoutOpt = _DEFAULTS["holdout"],
    metric: MetricOpt = _DEFAULTS["metric"],
    drift_window: WindowOpt = _DEFAULTS["drift_window"],
    tolerance: ToleranceOpt = _DEFAULTS["tolerance"],
    realized: RealizedOpt = None,
    max_wape: MaxWapeOpt = _DEFAULTS["max_wape"],
    max_bias: MaxBiasOpt = _DEFAULTS["max_bias"],
    report: ReportOpt = None,
    fill_tolerance: FillToleranceOpt = _DEFAULTS["fill_tolerance"],
) -> None:
    """Make VERSION the champion; the old champion becomes the previous. With --gated, only if the
    checks pass (else the champion stays, exit 1, and promotions.jsonl records why)."""
    options = _options(locals())
    if not gated:
        given = [_OPTION_FLAGS[k] for k, v in options.items() if v != _DEFAULTS[k]]
        if given:
            raise _bad(f"{', '.join(given)} only apply with --gated")
        try:
            aliases = _registry().promote(version)
        except RegistryError as err:
            raise _bad(str(err)) from None
        typer.echo(f"champion {aliases['champion']}, previous {aliases['previous'] or '-'}")
        return
    grid, checks = _checks(**options, gating=True)
    try:
        decision = gated_promote(_registry(), version, checks, grid, freq=freq)
    except (RegistryError, CheckError) as err:
        raise _bad(str(err)) from None
    except BacktestInputError as err:
        raise _bad(f"{_FLAGS.get(err.option, err.option)} {err}") from None
    _echo_results(list(decision.results))
    typer.echo(decision.reason)
    if not decision.promoted:
        raise typer.Exit(code=EXIT_CHECK_FAILED)


def _options(params: dict[str, Any]) -> dict[str, Any]:
    """The check options out of a command's parameters."""
    return {k: params[k] for k in _OPTION_FLAGS}


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
