"""`closetflow explain` and `closetflow whatif`: why a reservation is (not) filled, and what a change
would do to tonight's plan. Thin: find the plan, call ``allocation.analysis``, print.

``--plan`` is a run output folder (``closetflow run --out DIR``: its store is ``DIR/store``) or a
plan id of the service database (``CLOSETFLOW_DATABASE_URL``). A what-if runs as a job of its own
through the ordinary steps, starting from the base job's stored forecasts: in the folder's store
as job ``whatif`` (replaced on every run), or in the database as a job of kind ``whatif`` whose
plan id is printed.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import OperationalError

from allocation.analysis.explain import load_explanations, money, reservation_explanation
from allocation.analysis.whatif import COMPARISON_ARTIFACT, WhatIf, seed_whatif_job
from allocation.domain import ClosetflowError
from allocation.jobs import queries, service
from allocation.jobs.options import JobOptions
from allocation.jobs.pipeline import LOCAL_JOB_ID
from allocation.jobs.runner import JobLedger, MemoryLedger, run_steps
from allocation.jobs.steps import StepContext
from allocation.jobs.store import FileRunStore, RunStore, read_json
from api.jobs_cli import EXIT_BAD_USAGE
from api.runtime import Runtime
from api.settings import resolve

__all__ = ["register"]

WHATIF_JOB_ID = "whatif"  # the what-if job of a run folder's store
CLI_ACTOR = "cli"

console = Console()
err_console = Console(stderr=True)

PlanOption = Annotated[
    str, typer.Option("--plan", metavar="PLAN", help="a run output folder (closetflow run --out) or a plan id")
]


@dataclass
class PlanSource:
    """Where a plan's artifacts are: the store, its job and how to name it."""

    store: RunStore
    job_id: str
    plan_id: str
    runtime: Runtime | None  # the service database's, for a plan id


def _fail(message: str) -> typer.Exit:
    # Plain echo, not Rich: messages hold brackets and quotes that must print verbatim.
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    return typer.Exit(EXIT_BAD_USAGE)


def open_plan(plan: str) -> PlanSource:
    """A run output folder, or a plan id looked up in the service database."""
    path = Path(plan)
    if path.is_dir():
        root = path / "store"
        job_dir = root / "jobs" / LOCAL_JOB_ID
        if not job_dir.is_dir():
            raise ClosetflowError(f"{path} is not a closetflow run output folder (no store/jobs/{LOCAL_JOB_ID} in it)")
        data = path / "data"
        source = job_dir / "plan" / "source.json"
        if source.is_file():
            data = Path(json.loads(source.read_text())["dataset_dir"])
        return PlanSource(FileRunStore(root, datasets={"local": data}), LOCAL_JOB_ID, str(path), None)
    if "/" in plan or "\\" in plan:
        raise ClosetflowError(f"no folder {plan}: --plan is a run output folder or a plan id")
    runtime = Runtime(resolve({}))
    try:
        summary = queries.plan_summary(runtime.sessions, plan)
    except OperationalError:
        raise ClosetflowError(
            f"no folder {plan!r}, and the service database cannot be reached to look it up as a plan id "
            f"({runtime.database_url.split('@')[-1]})"
        ) from None
    return PlanSource(runtime.store, str(summary["job_id"]), plan, runtime)


def explain(
    plan: PlanOption,
    reservation: Annotated[str, typer.Option("--reservation", metavar="ID", help="the reservation's id")],
) -> None:
    """Why a reservation is filled from its site and day, or not filled: in words, with the binding
    capacities behind it and their prices."""
    try:
        src = open_plan(plan)
        found = reservation_explanation(load_explanations(src.store, src.job_id, src.plan_id), src.plan_id, reservation)
    except ClosetflowError as err:
        raise _fail(str(err)) from None
    console.print(escape(found["text"]), highlight=False)
    if found["binding"]:
        console.print(_binding_table(found["binding"]))


def _binding_table(binding: list[dict[str, Any]]) -> Table:
    table = Table(title="binding capacities")
    for col in ("constraint", "site", "date", "capacity/day", "used", "price of one more unit"):
        table.add_column(col, justify="right" if col in {"capacity/day", "used", "price of one more unit"} else "left")
    for b in binding:
        site = b["site_id"] if not b.get("to_site") else f"{b['site_id']} -> {b['to_site']}"
        price = "at capacity" if b["price"] is None else money(float(b["price"]))
        table.add_row(
            escape(b["constraint"]),
            escape(str(site)),
            str(b["date"] or ""),
            f"{b['capacity']:,.0f}",
            f"{b['used']:,.1f}",
            price,
        )
    return table


def _base_options(src: PlanSource) -> JobOptions:
    try:
        source = read_json(src.store.get(src.job_id, "plan/source.json"))
    except ClosetflowError:
        raise ClosetflowError(f"plan {src.plan_id} was made before what-ifs were supported: run it again") from None
    return JobOptions.from_json(source["options"])


def whatif(
    plan: PlanOption,
    cleaning_capacity: Annotated[
        list[str] | None, typer.Option(metavar="SITE:+10%", help="a site's cleaning capacity, +-share% or +-units/day")
    ] = None,
    shipping_capacity: Annotated[
        list[str] | None, typer.Option(metavar="SITE:-20%", help="a site's shipping capacity, +-share% or +-units/day")
    ] = None,
    site_down: Annotated[
        list[str] | None, typer.Option(metavar="SITE@FROM..TO", help="a site that cleans, picks and ships nothing")
    ] = None,
    demand_surge: Annotated[
        list[str] | None, typer.Option(metavar="CATEGORY:+30%", help="expected demand of a SKU category")
    ] = None,
) -> None:
    """Re-solve tonight's plan with capacity changes, sites down or a demand surge; print the
    difference in fill rate, value and cost against the plan."""
    try:
        change = WhatIf.parse(
            cleaning=cleaning_capacity or [],
            shipping=shipping_capacity or [],
            site_down=site_down or [],
            surge=demand_surge or [],
        )
        src = open_plan(plan)
        options = dataclasses.replace(
            _base_options(src), whatif=change.to_json(), base_plan=src.plan_id, validate=False
        )
        ledger: JobLedger
        if src.runtime is None:
            job_id = WHATIF_JOB_ID
            assert isinstance(src.store, FileRunStore)
            shutil.rmtree(src.store.root / "jobs" / job_id, ignore_errors=True)
            ledger = MemoryLedger()
        else:
            job, _ = service.create_job(src.runtime.sessions, options=options, actor=CLI_ACTOR, kind="whatif")
            job_id, ledger = job.id, src.runtime.ledger
        seed_whatif_job(src.store, src.job_id, src.plan_id, job_id)
        ctx = StepContext(job_id, options, src.store)
        with err_console.status("re-solving tonight's plan with the change"):
            new_plan = run_steps(ctx, ledger)
        comparison = ctx.get_json(COMPARISON_ARTIFACT)
    except ClosetflowError as err:
        raise _fail(str(err)) from None
    console.print(_comparison_table(comparison))
    gained, lost = comparison["gained"], comparison["lost"]
    console.print(
        f"reservations gained: {len(gained)} {_some(gained)}; lost: {len(lost)} {_some(lost)}", highlight=False
    )
    if src.runtime is not None:
        console.print(f"what-if plan: {new_plan}", highlight=False)


def _some(ids: list[str], n: int = 5) -> str:
    if not ids:
        return ""
    more = f", ... ({len(ids) - n} more)" if len(ids) > n else ""
    return "(" + ", ".join(ids[:n]) + more + ")"


def _comparison_table(c: dict[str, Any]) -> Table:
    table = Table(title="what-if: " + escape("; ".join(c["changes"])))
    for col in ("", "plan", "what-if", "change"):
        table.add_column(col, justify="left" if col == "" else "right")
    rows = (
        ("fill rate", "fill_rate", lambda v: f"{v:.1%}", lambda d: f"{d * 100:+.1f} pts"),
        ("filled", "filled", lambda v: f"{v:,}", lambda d: f"{d:+,}"),
        ("value", "value", lambda v: money(v), lambda d: ("+" if d >= 0 else "-") + money(abs(d))),
        ("shipping + transfer cost", "cost", lambda v: money(v), lambda d: ("+" if d >= 0 else "-") + money(abs(d))),
        ("LP objective", "objective", lambda v: f"{v:,.0f}", lambda d: f"{d:+,.0f}"),
    )
    for label, key, fmt, fmt_d in rows:
        b, a, d = c["before"][key], c["after"][key], c["delta"][key]
        table.add_row(
            label,
            "-" if b is None else fmt(b),
            "-" if a is None else fmt(a),
            "-" if d is None else fmt_d(d),
        )
    return table


def register(app: typer.Typer) -> None:
    """Add the explanation and what-if commands to the CLI."""
    app.command()(explain)
    app.command()(whatif)
