"""`closetflow simulate` and `closetflow run`: thin commands over the domain, with Rich progress."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from allocation.data.io import write_world
from allocation.domain import ClosetflowError, DataValidationError
from allocation.jobs.pipeline import JobConfig, run_job
from allocation.simulate.scales import SCALES
from allocation.simulate.world import simulate_world
from api.report import write_outputs
from api.settings import get_settings

__all__ = ["register"]

console = Console(stderr=True)


def _fail(err: ClosetflowError) -> typer.Exit:
    if isinstance(err, DataValidationError):
        for p in err.problems:
            typer.echo(str(p))
        console.print(f"[red]{len(err.problems)} problem(s); nothing was run[/red]")
    else:
        console.print(f"[red]error:[/red] {err}")
    return typer.Exit(code=1)


def _check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise typer.BadParameter(f"{scale!r} is not one of {', '.join(SCALES)}")
    return scale


def simulate(
    out: Annotated[Path, typer.Option("--out", help="folder to write the world into (created)")],
    scale: Annotated[str, typer.Option(help=f"one of {', '.join(SCALES)}", callback=_check_scale)] = "small",
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same world")] = 7,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
) -> None:
    """Generate a calibrated rental world with its holdout schedule."""
    try:
        with console.status(f"simulating a {scale} world (seed {seed})"):
            world = simulate_world(scale, seed)
            write_world(world, out, fmt=fmt)
    except ClosetflowError as err:
        raise _fail(err) from err
    console.print(
        f"wrote {scale} world to {out}: {len(world.units):,} units, "
        f"{len(world.reservations):,} open reservations, plan date {world.plan_date}"
    )


def run(
    scale: Annotated[str, typer.Option(help="world size when no --data is given", callback=_check_scale)] = "small",
    seed: Annotated[int, typer.Option(help="random seed of the simulated world")] = 7,
    data: Annotated[Path | None, typer.Option(help="an existing data folder instead of a simulated world")] = None,
    out: Annotated[Path | None, typer.Option(help="output folder (default: <artifacts_dir>/run)")] = None,
    solver: Annotated[str | None, typer.Option(help="solver backend: highs, glop, pdlp, scip, cbc")] = None,
    time_limit: Annotated[float | None, typer.Option(help="seconds per solve")] = None,
    risk: Annotated[str | None, typer.Option(help="'expected' or 'quantile:<a>'")] = None,
    replan_every: Annotated[int | None, typer.Option(help="days between closetflow's re-plans in validation")] = None,
) -> None:
    """Simulate (or load), check, forecast, plan, and validate against the holdout; write the report."""
    s = get_settings()
    cfg = JobConfig(
        out=out or s.artifacts_dir / "run",
        scale=scale,
        seed=seed,
        data=data,
        solver=solver or s.solver,
        time_limit_s=time_limit or s.time_limit_s,
        risk=risk or s.risk_policy,
        replan_every=replan_every or s.replan_every,
        protect_weight=s.protect_weight,
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=not sys.stderr.isatty()) as bar:
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
    console.print(f"report: {paths['report.json']}  {paths['report.html']}  plan: {cfg.out / 'plan'}")


def _summary(rep: dict[str, object]) -> None:
    table = Table(title=f"closetflow — {rep['scale']} world, plan date {rep['plan_date']}")
    for col in ("policy", "fill rate", "value $", "cost $", "transfers"):
        table.add_column(col, justify="right")
    val = rep.get("validation")
    if isinstance(val, dict):
        for name in ("greedy", "closetflow", "hindsight"):
            o = val[name]
            table.add_row(name, f"{o['fill_rate']:.3f}", f"{o['value']:,.0f}", f"{o['cost']:,.0f}", str(o["transfers"]))
    if isinstance(val, dict):
        console.print(table)
    else:
        console.print("no holdout/ in the data folder: the plan was not replayed (validation skipped)")
    solver = rep["solver"]
    plan = rep["plan"]
    assert isinstance(solver, dict) and isinstance(plan, dict)
    gap = val.get("gap_captured") if isinstance(val, dict) else None
    console.print(
        f"tonight's plan: {plan['filled']}/{plan['reservations']} reservations filled, "
        f"{plan['transfers']} transfers; solver {solver['backend']} {solver['status']} in {solver['seconds']:.1f}s "
        f"({solver['variables']:,} variables); gap captured: {gap if gap is None else f'{gap:.3f}'}"
    )


def register(app: typer.Typer) -> None:
    """Add the job commands to the CLI."""
    app.command()(simulate)
    app.command()(run)
