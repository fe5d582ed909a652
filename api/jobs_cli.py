"""`closetflow simulate` and `closetflow run`: thin commands over the domain, with Rich progress.

Options that are settings (scale, seed, solver, ...) arrive as text or None and are checked by
`api.settings.resolve`, the same model that reads ``CLOSETFLOW_*``; a bad value leaves as a
`SettingsError` that the app's entry point (`api.cli`) turns into one line and exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from allocation.data.io import write_world
from allocation.domain import ClosetflowError, DataValidationError
from allocation.jobs.evaluate import WORLD_KINDS, make_world
from allocation.jobs.pipeline import LOCAL_JOB_ID, JobConfig, run_job
from allocation.jobs.steps import previous_artifacts
from allocation.jobs.store import FileRunStore
from allocation.model.business_rules import BusinessRules, describe
from api.report import write_outputs
from api.settings import Settings, help_for, real_data_dir, resolve

__all__ = ["EXIT_BAD_DATA", "EXIT_BAD_USAGE", "EXIT_INTERNAL", "register"]

EXIT_BAD_DATA: Final = 1  # the data breaks its contract
EXIT_BAD_USAGE: Final = 2  # the command cannot run as asked: a bad option, no such folder
EXIT_INTERNAL: Final = 3  # a bug: an exception nobody expected (see api.cli)

# The command-line option of each setting, for messages that name what the user typed.
FLAGS: Final[dict[str, str]] = {
    "scale": "--scale",
    "seed": "--seed",
    "format": "--format",
    "solver": "--solver",
    "time_limit_s": "--time-limit",
    "risk_policy": "--risk",
    "replan_every": "--replan-every",
    "demand_model": "--demand-model",
    "stability_penalty": "--stability-penalty",
}

console = Console(stderr=True)


def progress_bar(out: Console) -> Progress:
    """The commands' progress bar: description, bar, percent, elapsed time.

    Bars only on a terminal: elsewhere Rich would still end with a blank line on stderr, and an
    error must stay the only line there.
    """
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    return Progress(*columns, console=out, disable=not out.is_terminal)


def _settings(**given: str | None) -> Settings:
    """Command-line values over ``CLOSETFLOW_*`` over defaults, all through `Settings`."""
    return resolve(given, FLAGS)


def _fail(err: ClosetflowError) -> typer.Exit:
    # Plain echo, not Rich: messages hold brackets and quotes that must print verbatim.
    if isinstance(err, DataValidationError):
        for p in err.problems:
            typer.echo(str(p))
        typer.echo(f"{len(err.problems)} problem(s); nothing was run", err=True)
        return typer.Exit(code=EXIT_BAD_DATA)
    typer.echo(f"error: {err}", err=True)
    return typer.Exit(code=EXIT_BAD_USAGE)


# Setting options are typed `str` on purpose: the text goes to `Settings` unparsed, so a flag and
# its variable are parsed, bounded and reported by the same code.
Scale = Annotated[str | None, typer.Option(metavar="NAME", help=help_for("scale"))]
Seed = Annotated[str | None, typer.Option(metavar="N", help=help_for("seed"))]


def simulate(
    out: Annotated[Path, typer.Option("--out", help="folder to write the world into (created)")],
    scale: Scale = None,
    seed: Seed = None,
    fmt: Annotated[str | None, typer.Option("--format", metavar="FORMAT", help=help_for("format"))] = None,
    world_kind: Annotated[
        str,
        typer.Option(
            "--world",
            metavar="KIND",
            help="simulated (the calibrated generator) or real (bookings are Rent the Runway rentals from "
            "CLOSETFLOW_REAL_DATA; see docs/real_demand.md)",
        ),
    ] = "simulated",
) -> None:
    """Generate a calibrated rental world with its holdout schedule."""
    s = _settings(scale=scale, seed=seed, format=fmt)
    if world_kind not in WORLD_KINDS:
        typer.echo(f"error: --world got {world_kind!r}; allowed: {', '.join(WORLD_KINDS)}", err=True)
        raise typer.Exit(code=EXIT_BAD_USAGE)
    try:
        with console.status(f"generating a {world_kind} {s.scale} world (seed {s.seed})"):
            data_dir = real_data_dir() if world_kind == "real" else None
            world = make_world(world_kind, s.scale, s.seed, data_dir=data_dir)
            write_world(world, out, fmt=s.format)
    except ClosetflowError as err:
        raise _fail(err) from err
    kind = "" if world_kind == "simulated" else f"{world_kind}-demand "
    console.print(
        f"wrote {kind}{s.scale} world to {out}: {len(world.units):,} units, "
        f"{len(world.reservations):,} open reservations, plan date {world.plan_date}"
    )


def run(
    scale: Scale = None,
    seed: Seed = None,
    data: Annotated[Path | None, typer.Option(help="an existing data folder instead of a simulated world")] = None,
    out: Annotated[Path | None, typer.Option(help="output folder (default: <artifacts_dir>/run)")] = None,
    solver: Annotated[str | None, typer.Option(metavar="NAME", help=help_for("solver"))] = None,
    time_limit: Annotated[str | None, typer.Option(metavar="SECONDS", help=help_for("time_limit_s"))] = None,
    risk: Annotated[str | None, typer.Option(metavar="POLICY", help=help_for("risk_policy"))] = None,
    replan_every: Annotated[str | None, typer.Option(metavar="DAYS", help=help_for("replan_every"))] = None,
    demand_model: Annotated[str | None, typer.Option(metavar="NAME", help=help_for("demand_model"))] = None,
    previous_plan: Annotated[
        str | None,
        typer.Option(
            metavar="PLAN",
            help="the run before this one (its output folder): its capacity prices warm-start the solve and its"
            " shipments count as communicated to customers",
        ),
    ] = None,
    stability_penalty: Annotated[
        str | None, typer.Option(metavar="DOLLARS", help=help_for("stability_penalty"))
    ] = None,
    rule: Annotated[
        list[str] | None,
        typer.Option(
            "--rule",
            metavar="RULE",
            help="a business rule, repeatable: hold:UNIT[,UNIT...][@DATES], block-site:SITE@DATES, "
            "block-lane:FROM->TO@DATES (TO a site or a zone), vip-first, max-transfers:N, cleaning-buffer:P%; "
            "DATES is YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD",
        ),
    ] = None,
) -> None:
    """Simulate (or load), check, forecast, plan, and validate against the holdout; write the report."""
    try:
        rules = BusinessRules.parse(rule or [])
        previous = _previous(previous_plan) if previous_plan is not None else None
    except ClosetflowError as err:
        raise _fail(err) from err
    s = _settings(
        stability_penalty=stability_penalty,
        scale=scale,
        seed=seed,
        solver=solver,
        time_limit_s=time_limit,
        risk_policy=risk,
        replan_every=replan_every,
        demand_model=demand_model,
    )
    cfg = JobConfig(
        out=out if out is not None else s.artifacts_dir / "run",
        scale=s.scale,
        seed=s.seed,
        data=data,
        solver=s.solver,
        time_limit_s=s.time_limit_s,
        risk=s.risk_policy,
        replan_every=s.replan_every,
        protect_weight=s.protect_weight,
        demand_model=s.demand_model,
        models_dir=s.artifacts_dir / "models",
        rules=rules.to_json() if rules else None,
        stability_penalty=s.stability_penalty,
        previous=previous,
    )
    try:
        with progress_bar(console) as bar:
            tasks: dict[str, int] = {}
            last: list[str] = []

            def progress(step: str, frac: float) -> None:
                if step not in tasks:
                    if last:
                        bar.update(tasks[last[-1]], completed=1.0)  # type: ignore[arg-type]
                    tasks[step] = int(bar.add_task(step, total=1.0))
                    last.append(step)
                bar.update(tasks[step], completed=frac)  # type: ignore[arg-type]

            job = run_job(cfg, progress)
            if last:
                bar.update(tasks[last[-1]], completed=1.0)  # type: ignore[arg-type]
        paths = write_outputs(job, cfg.out)
    except ClosetflowError as err:
        raise _fail(err) from err
    _summary(job.report)
    offered = pd.read_parquet(paths["substitutes"])["reservation_id"].nunique()
    console.print(f"substitutes suggested for {offered} of {len(job.plan.unfilled)} unfilled reservations")
    for text, line in zip(rules.texts(), describe(rules), strict=True):
        console.print(f"business rule {text}: {line}")
    console.print(f"report: {paths['report.json']}  {paths['report.html']}  plan: {cfg.out / 'plan'}")


def _previous(plan: str) -> dict[str, bytes]:
    """The previous run's prices and ships, read before this run clears its own folder."""
    root = Path(plan) / "store"
    if not (root / "jobs" / LOCAL_JOB_ID).is_dir():
        raise ClosetflowError(
            f"--previous-plan {plan}: not a closetflow run output folder (no store/jobs/{LOCAL_JOB_ID})"
        )
    found = previous_artifacts(FileRunStore(root), LOCAL_JOB_ID)
    if not found:
        raise ClosetflowError(f"--previous-plan {plan}: that run has no solved prices or shipments to start from")
    return found


def _summary(rep: dict[str, object]) -> None:
    table = Table(title=f"closetflow — {rep['scale']} world, plan date {rep['plan_date']}")
    for col in ("policy", "fill rate", "value $", "cost $", "transfers"):
        table.add_column(col, justify="right")
    val = rep.get("validation")
    if isinstance(val, dict):
        for name in ("greedy", "rules", "closetflow", "hindsight"):
            if name not in val:  # a report stored before the rules planner was added
                continue
            o = val[name]
            table.add_row(name, f"{o['fill_rate']:.3f}", f"{o['value']:,.0f}", f"{o['cost']:,.0f}", str(o["transfers"]))
    if isinstance(val, dict):
        console.print(table)
    else:
        console.print("no holdout/ in the data folder: the plan was not replayed (validation skipped)")
    forecasts = rep.get("forecasts")
    served = forecasts.get("demand_model") if isinstance(forecasts, dict) else None
    if isinstance(served, dict):
        console.print(f"demand model: {served['model']} — {served['reason']}")
    solver = rep["solver"]
    plan = rep["plan"]
    assert isinstance(solver, dict) and isinstance(plan, dict)
    gap = val.get("gap_captured") if isinstance(val, dict) else None
    gap_rules = val.get("gap_captured_vs_rules") if isinstance(val, dict) else None
    console.print(
        f"tonight's plan: {plan['filled']}/{plan['reservations']} reservations filled, "
        f"{plan['transfers']} transfers; solver {solver['backend']} {solver['status']} in {solver['seconds']:.1f}s "
        f"({solver['variables']:,} variables); gap captured vs rules: "
        f"{gap_rules if gap_rules is None else f'{gap_rules:.3f}'}, vs greedy: {gap if gap is None else f'{gap:.3f}'}"
    )


def register(app: typer.Typer) -> None:
    """Add the job commands to the CLI."""
    app.command()(simulate)
    app.command()(run)
