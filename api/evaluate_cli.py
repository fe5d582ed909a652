"""`closetflow evaluate`: every policy replayed over several seeds; mean [min, max] per policy.

A thin command over `allocation.jobs.evaluate.evaluate`. Options that are settings (scale, solver,
risk, ...) are checked by `api.settings.resolve`, like `closetflow run`'s; the options that are not
settings (seeds, world, fill bonus, JSON path) are checked here, and every bad value is one line on
stderr naming the option, with exit 2.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from allocation.domain import ClosetflowError
from allocation.jobs.evaluate import (
    POLICIES,
    REPORTING_SEEDS,
    WORLD_KINDS,
    EvaluateOptions,
    Evaluation,
    evaluate,
    parse_seeds,
)
from allocation.model.snapshot import FILL_BONUS
from api.jobs_cli import EXIT_BAD_USAGE, FLAGS, progress_bar
from api.settings import help_for, real_data_dir, resolve

__all__ = ["register", "summary_table"]

_FLAGS: Final = {**FLAGS, "protect_weight": "--protect-weight"}
_DEFAULT_SEEDS: Final = f"{REPORTING_SEEDS[0]}-{REPORTING_SEEDS[-1]}"

console = Console(stderr=True)  # progress and notes; the table goes to stdout


def _bad(flag: str, value: str, allowed: str, reason: str = "") -> typer.Exit:
    said = f" ({reason})" if reason else ""
    typer.echo(f"error: {flag} got {value!r}{said}; allowed: {allowed}", err=True)
    return typer.Exit(code=EXIT_BAD_USAGE)


def _fill_bonus(text: str | None) -> float:
    if text is None:
        return FILL_BONUS
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise _bad("--fill-bonus", text, "a number >= 0 (dollars per filled reservation in the objective)")
    return value


def evaluate_command(
    scale: Annotated[str | None, typer.Option(metavar="NAME", help=help_for("scale"))] = None,
    seeds: Annotated[
        str, typer.Option(metavar="SEEDS", help="seeds to replay: 1-5, 1,3,7 or a mix (reporting seeds are 1-5)")
    ] = _DEFAULT_SEEDS,
    world: Annotated[
        str, typer.Option(metavar="KIND", help="simulated, or real (bookings drawn from real rentals)")
    ] = "simulated",
    solver: Annotated[str | None, typer.Option(metavar="NAME", help=help_for("solver"))] = None,
    time_limit: Annotated[str | None, typer.Option(metavar="SECONDS", help=help_for("time_limit_s"))] = None,
    risk: Annotated[str | None, typer.Option(metavar="POLICY", help=help_for("risk_policy"))] = None,
    replan_every: Annotated[str | None, typer.Option(metavar="DAYS", help=help_for("replan_every"))] = None,
    protect_weight: Annotated[str | None, typer.Option(metavar="W", help=help_for("protect_weight"))] = None,
    fill_bonus: Annotated[
        str | None,
        typer.Option(metavar="DOLLARS", help=f"objective bonus per filled reservation (default {FILL_BONUS:g})"),
    ] = None,
    jobs: Annotated[int, typer.Option(min=1, metavar="N", help="seeds replayed at once, one process each")] = 1,
    json_out: Annotated[Path | None, typer.Option("--json", metavar="FILE", help="write the figures as JSON")] = None,
) -> None:
    """Replay greedy, rules, closetflow and hindsight on each seed; mean, min and max per policy."""
    s = resolve(
        {
            "scale": scale,
            "solver": solver,
            "time_limit_s": time_limit,
            "risk_policy": risk,
            "replan_every": replan_every,
            "protect_weight": protect_weight,
        },
        _FLAGS,
    )
    try:
        seed_list = parse_seeds(seeds)
    except ClosetflowError as err:
        raise _bad_seeds(seeds, err) from None
    if world not in WORLD_KINDS:
        raise _bad("--world", world, ", ".join(WORLD_KINDS))
    options = EvaluateOptions(
        solver=s.solver,
        time_limit_s=s.time_limit_s,
        risk=s.risk_policy,
        replan_every=s.replan_every,
        protect_weight=s.protect_weight,
        fill_bonus=_fill_bonus(fill_bonus),
    )
    if json_out is not None:
        _check_writable(json_out)  # before the replays, not after minutes of them
    try:
        with progress_bar(console) as bar:
            task = bar.add_task(f"{world} {s.scale}, seeds {seeds}", total=1.0)

            def progress(what: str, frac: float) -> None:
                bar.update(task, description=what, completed=frac)

            ev = evaluate(
                s.scale,
                seed_list,
                world_kind=world,
                options=options,
                progress=progress,
                jobs=jobs,
                data_dir=real_data_dir() if world == "real" else None,
            )
        if json_out is not None:
            _write_json(json_out, ev.summary)
    except ClosetflowError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=EXIT_BAD_USAGE) from None
    Console().print(summary_table(ev.summary, title=_title(ev)))
    if json_out is not None:
        console.print(f"figures: {json_out}")


def _bad_seeds(text: str, err: ClosetflowError) -> typer.Exit:
    typer.echo(f"error: --seeds got {text!r}: {err}", err=True)
    return typer.Exit(code=EXIT_BAD_USAGE)


def _title(ev: Evaluation) -> str:
    return f"{ev.world_kind} {ev.scale} world, {len(ev.seeds)} seeds, {ev.seconds:.0f} s"


def _check_writable(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _bad("--json", str(path), "a file path whose folder can be made", exc.strerror or str(exc)) from None
    if path.is_dir():
        raise _bad("--json", str(path), "a file path whose folder can be made", "a folder is in the way")


def _write_json(path: Path, summary: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # allow_nan=False: the summary holds None for an undefined figure, never NaN (not JSON).
        path.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ClosetflowError(f"cannot write {path}: {exc.strerror or exc}") from None


def _cell(s: dict[str, Any], fmt: str) -> str:
    if s.get("mean") is None:
        return "-"
    return escape(f"{s['mean']:{fmt}} [{s['min']:{fmt}}, {s['max']:{fmt}}]")


def summary_table(summary: dict[str, Any], *, title: str = "") -> Table:
    """Policy x fill rate and value as mean [min, max]; then the gap rows (shared by the benchmark)."""
    # Escaped: Rich would read "[min, max]" as a style tag and drop it.
    table = Table(title=title or None, caption=escape("mean [min, max] over the seeds"))
    table.add_column("policy")
    table.add_column("fill rate", justify="right")
    table.add_column("value $", justify="right")
    policies = summary["policies"]
    for name in [p for p in POLICIES if p in policies] + [p for p in policies if p not in POLICIES]:
        table.add_row(name, _cell(policies[name]["fill_rate"], ".3f"), _cell(policies[name]["value"], ",.0f"))
    table.add_section()
    for key, label in (
        ("gap_captured_vs_rules", "gap captured vs rules"),
        ("gap_captured_vs_floor", "gap captured vs greedy"),
        ("hindsight_vs_lp_bound", "hindsight / LP bound"),
    ):
        table.add_row(label, "", _cell(summary[key], ".3f"))
    below = summary["closetflow_below_rules"]
    n = len(summary["seeds"])
    table.add_row("seeds closetflow < rules", f"{below['fill_rate']} of {n}", f"{below['value']} of {n}")
    return table


def register(app: typer.Typer) -> None:
    """Add `closetflow evaluate` to the CLI."""
    app.command("evaluate")(evaluate_command)
