"""The main job as steps: check dataset -> fit forecasts -> solve tonight -> project -> validate -> publish.

Each step takes the job's id and options, reads its inputs from the run store and writes its result
there, so it can be retried or resumed alone, in this process or on another worker. The CLI, the HTTP
service and the Celery tasks all call these same functions (through ``allocation.jobs.runner``).

A step ends by writing its *marker* artifact (``STEPS[i].output``); the runner skips a step whose
marker is in the store, which is what makes a redelivered task harmless. ``StepContext.memo`` keeps
the objects of earlier steps when they ran in the same process — a cache, never the source of truth.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from allocation.analysis.explain import explain_plan
from allocation.analysis.whatif import BASE_ARTIFACT, COMPARISON_ARTIFACT, WhatIf, compare
from allocation.domain import World
from allocation.jobs.context import StepContext
from allocation.jobs.forecasts import demand_rows, fit_forecasts, late_return_rows
from allocation.jobs.options import JobOptions
from allocation.jobs.report import ReportExtras, build_report, render_html
from allocation.jobs.store import npz_bytes, parquet_bytes, read_npz, read_parquet
from allocation.jobs.substitutes import DIM, suggest_substitutes
from allocation.jobs.tonight import (
    COMMUNICATED,
    PREVIOUS_PRICES,
    PREVIOUS_SHIPS,
    PRICES,
    plan_run,
    previous_artifacts,
    seed_previous,
    solve_tonight,
)
from allocation.model.snapshot import Information
from allocation.plan import Plan, project_plan
from allocation.replay.validation import ValidationResult, fill_by_event_day, validate_policies
from allocation.statics import Statics

__all__ = [
    "COMMUNICATED",
    "PREVIOUS_PRICES",
    "PREVIOUS_SHIPS",
    "PRICES",
    "STEPS",
    "JobOptions",
    "Step",
    "StepContext",
    "previous_artifacts",
    "seed_previous",
]


def check_dataset(ctx: StepContext) -> dict[str, Any]:
    """Load the dataset through its contracts (every problem at once, nothing half-loaded)."""
    ctx.progress("checking the data folder", 0.0)
    world = ctx.world()
    summary = {
        "plan_date": world.plan_date.isoformat(),
        "horizon_days": world.horizon_days,
        "rows": {name: len(world.table(name)) for name in ("units", "reservations", "skus", "rentals", "bookings")},
        "holdout": world.holdout is not None,
    }
    ctx.put_json("check.json", summary)
    return summary


def fit_forecasts_step(ctx: StepContext) -> dict[str, Any]:
    """Fit the baselines, score them on the holdout, publish forecast rows, keep the plan's arrays."""
    ctx.progress("fitting baseline forecasts", 0.0)
    world, statics = ctx.world(), ctx.statics()
    opts = ctx.options
    models = Path(opts.models_dir) if opts.models_dir is not None else None
    fc = fit_forecasts(world, statics, opts.demand_model, models)
    ctx.progress(f"demand model: {fc.served.demand.model_name} ({fc.served.reason})", 0.5)
    ctx.memo["forecasts"] = fc
    ctx.store.save_forecasts(
        ctx.job_id, ctx.options.dataset_id, demand_rows(fc, world), late_return_rows(fc, world, statics)
    )
    if fc.daily is not None:
        ctx.store.put(ctx.job_id, "forecast_daily.parquet", parquet_bytes(fc.daily.reset_index(names="day")))
    ctx.put_json("forecast_scores.json", fc.scores)
    ctx.store.put(
        ctx.job_id,
        "forecasts.npz",
        npz_bytes(
            pmf=fc.pmf,
            demand_total=fc.demand_total,
            lead_cdf=fc.lead_cdf,
            cleaning_rates=fc.cleaning_rates,
            item_vectors=fc.item_vectors,
        ),
    )
    return {}


def project_step(ctx: StepContext) -> dict[str, Any]:
    """Turn the solution into unit-level lists (ships, cleaning order, transfers, held back, unfilled
    with reasons), explanations and KPIs, and store them as the job's one plan. A what-if job's plan
    runs under its own capacities and carries its comparison with the base plan."""
    ctx.progress("projecting the plan", 0.0)
    world, statics = ctx.world(), ctx.statics()
    run = plan_run(ctx)
    info = ctx.information()
    caps = (run.inp.clean_cap, run.inp.ship_cap, run.inp.pick_cap) if ctx.options.whatif else None
    plan: Plan = project_plan(world, statics, run, info, caps)
    ctx.memo["plan"] = plan
    slack = run.decisions.slack
    kpis = {
        **plan.kpis,
        "binding_site_days": {label: int((v < 0.5).sum()) for label, v in slack.items()},
        "site_days": run.inp.n_sites * run.inp.T,
    }
    frames = {
        "ships": plan.ships,
        "cleaning": plan.cleaning,
        "transfers": plan.transfers,
        "held_back": plan.held_back,
        "unfilled": plan.unfilled,
    }
    if ctx.options.whatif:
        kpis["whatif"] = _whatif_comparison(ctx, world, statics, plan)
        ctx.put_json(COMPARISON_ARTIFACT, kpis["whatif"])
    plan_id = ctx.store.save_plan(ctx.job_id, ctx.options.dataset_id, frames, kpis)
    # The shipments customers are told about, for the next plan's stability (any store keeps it).
    ctx.store.put(ctx.job_id, COMMUNICATED, parquet_bytes(plan.ships[["reservation_id", "site_id"]]))
    explanations = explain_plan(statics, run, plan, info)
    ctx.memo["explanations"] = explanations
    ctx.store.put(ctx.job_id, "plan/explanations.parquet", parquet_bytes(explanations))
    # What `closetflow explain|whatif` need to find this plan's data and options again.
    source = {"options": ctx.options.to_json(), "dataset_dir": str(ctx.store.dataset_dir(ctx.options.dataset_id))}
    ctx.put_json("plan/source.json", source)
    _store_substitutes(ctx, world, plan)
    ctx.put_json("plan_kpis.json", kpis)
    ctx.put_json("plan.json", {"plan_id": plan_id})
    return {"plan_id": plan_id}


def _whatif_comparison(ctx: StepContext, world: World, statics: Statics, plan: Plan) -> dict[str, Any]:
    """The what-if's figures against its base plan's, the base projected again from its stored
    solution by the same code (``allocation.whatif.compare``)."""
    assert ctx.options.whatif is not None
    base = ctx.get_json(BASE_ARTIFACT)
    base_options = dataclasses.replace(ctx.options, whatif=None, base_plan=None)
    base_ctx = StepContext(base["job_id"], base_options, ctx.store, memo={"world": world, "statics": statics})
    base_plan = project_plan(world, statics, plan_run(base_ctx), base_ctx.information())
    return compare(statics, base_plan, plan, WhatIf.from_json(ctx.options.whatif), base["plan_id"])


def _store_substitutes(ctx: StepContext, world: World, plan: Plan) -> None:
    """Substitutes for the unfilled reservations (`allocation.jobs.substitutes`), ranked on the
    forecast step's item embeddings, as ``plan/substitutes.parquet``."""
    arrays = read_npz(ctx.store.get(ctx.job_id, "forecasts.npz"))
    # A job resumed from forecasts stored before embeddings were learned has none: no suggestions.
    vectors = arrays.get("item_vectors", np.zeros((len(world.skus), DIM), dtype=np.float32))
    subs = suggest_substitutes(world, plan.unfilled, plan.ships["unit_id"], vectors)
    ctx.memo["substitutes"] = subs
    ctx.store.put(ctx.job_id, "plan/substitutes.parquet", parquet_bytes(subs))


def validate_step(ctx: StepContext) -> dict[str, Any]:
    """Replay greedy, rules, closetflow and hindsight on the holdout (skipped when there is none)."""
    world, statics = ctx.world(), ctx.statics()
    if world.holdout is None or not ctx.options.validate:
        ctx.put_json("validation.json", None)
        return {}
    H = world.horizon_days
    info = ctx.information()

    def closetflow_info(_day: int) -> Information:
        return dataclasses.replace(info)  # validation sets today's capacity on it: a fresh copy per day

    def on_day(name: str, day: int) -> None:
        ctx.progress(f"replaying the holdout: {name}", (day + 1) / H)

    v: ValidationResult = validate_policies(
        world,
        statics,
        closetflow_info,
        ctx.options.solve_options(),
        replan_every=ctx.options.replan_every,
        on_day=on_day,
    )
    ctx.memo["validation"] = v
    summary: dict[str, Any] = {
        "reservations": v.reservations,
        "replan_every_days": ctx.options.replan_every,
        **{name: o.summary() for name, o in v.outcomes.items()},
        "gap_captured": v.gap_captured("value"),
        "gap_captured_fill_rate": v.gap_captured("fill_rate"),
        "gap_captured_vs_rules": v.gap_captured("value", baseline="rules"),
        "gap_captured_vs_rules_fill_rate": v.gap_captured("fill_rate", baseline="rules"),
        "lp_bound": v.lp_bound.summary() if v.lp_bound is not None else None,
        "hindsight_vs_lp_bound": v.hindsight_vs_lp_bound,
        "fill_by_event_day": {name: fill_by_event_day(o.replay, statics) for name, o in v.outcomes.items()},
    }
    cf = v.outcomes["closetflow"].replay
    ctx.store.put(
        ctx.job_id,
        "validation_capacity.npz",
        npz_bytes(
            clean_used=cf.clean_used,
            ship_used=cf.ship_used,
            pick_used=cf.pick_used,
            clean_cap=v.schedule.clean_cap,
            ship_cap=v.schedule.ship_cap,
            pick_cap=v.schedule.pick_cap,
        ),
    )
    ctx.put_json("validation.json", summary)
    return {}


def publish_step(ctx: StepContext) -> dict[str, Any]:
    """Assemble report.json from the steps' stored outputs and publish the plan with it."""
    ctx.progress("publishing the report", 0.0)
    world = ctx.world()
    timings: dict[str, float] = {"simulate": 0.0}  # a caller that simulated the world stores its own
    for key in ("simulate", *(s.name for s in STEPS if s.name != "publish")):
        name = f"timings/{key}.json"
        if ctx.store.has(ctx.job_id, name):
            timings[STEP_KEYS.get(key, key)] = ctx.get_json(name)["seconds"]
    timings["total"] = sum(timings.values())
    validation = ctx.get_json("validation.json")
    report = build_report(
        options=ctx.options,
        world=world,
        solver=ctx.get_json("solve.json"),
        plan_kpis=ctx.get_json("plan_kpis.json"),
        forecast_scores=ctx.get_json("forecast_scores.json"),
        validation=validation,
        timings=timings,
    )
    plan_id = ctx.get_json("plan.json")["plan_id"]
    ctx.memo["report"] = report
    cap = "validation_capacity.npz"
    daily = "forecast_daily.parquet"
    extras = ReportExtras(
        site_ids=[str(s) for s in ctx.statics().site_ids],
        capacity=read_npz(ctx.store.get(ctx.job_id, cap)) if ctx.store.has(ctx.job_id, cap) else None,
        daily=read_parquet(ctx.store.get(ctx.job_id, daily)) if ctx.store.has(ctx.job_id, daily) else None,
    )
    ctx.store.put(ctx.job_id, "report.html", render_html(report, extras).encode())
    ctx.store.publish(ctx.job_id, plan_id, report, validation)
    ctx.store.put(ctx.job_id, "report.json", json.dumps(report, indent=2).encode())
    return {"plan_id": plan_id}


@dataclass(frozen=True)
class Step:
    """One step: its name (the job's ``stage``), its marker artifact, the function, and the key its
    seconds have in the report's ``timings``."""

    name: str
    output: str
    run: Callable[[StepContext], dict[str, Any]]
    key: str


STEPS: tuple[Step, ...] = (
    Step("check", "check.json", check_dataset, "load"),
    Step("forecast", "forecasts.npz", fit_forecasts_step, "fit"),
    Step("solve", "solve.json", solve_tonight, "solve"),
    Step("project", "plan.json", project_step, "project"),
    Step("validate", "validation.json", validate_step, "validate"),
    Step("publish", "report.json", publish_step, "publish"),
)
STEP_KEYS = {s.name: s.key for s in STEPS}
