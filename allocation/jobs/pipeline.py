"""The main job: world -> checked data -> baseline forecasts -> tonight's plan -> holdout replay.

``run_job`` is what ``closetflow run`` calls. It reports progress through a callback (the CLI shows
it with Rich) and returns the report as a dict; writing files is the caller's (``api``) business,
except the data folder of a simulated world, which is written and re-read so the run goes
through the same validated loader as user data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from allocation.data.io import load_world, write_world
from allocation.domain import ClosetflowError, World
from allocation.model.snapshot import Information, RiskPolicy
from allocation.plan import Plan, project_plan
from allocation.replay.policies import solve_plan
from allocation.replay.validation import ValidationResult, fill_by_event_day, validate_policies
from allocation.simulate.world import simulate_world
from allocation.state import initial_state
from allocation.statics import Statics
from forecasting.cleaning import CleaningFailureModel
from forecasting.demand import (
    DemandForecaster,
    SeasonalNaiveDemand,
    score_demand,
    unbooked_actuals,
)
from forecasting.late_returns import LateReturnModel, score_late_returns
from solvers.base import SolveOptions, available_backends

__all__ = ["Forecasts", "JobConfig", "JobResult", "run_job"]

Progress = Callable[[str, float], None]  # (step description, fraction of the step done)


@dataclass
class JobConfig:
    """Options of one run (defaults come from ``api.settings``)."""

    out: Path
    scale: str = "small"
    seed: int = 7
    data: Path | None = None
    solver: str = "highs"
    time_limit_s: float = 120.0
    risk: str = "expected"
    replan_every: int = 1
    protect_weight: float = 0.5


@dataclass
class Forecasts:
    """Fitted baseline models and their holdout scores."""

    demand: DemandForecaster
    naive: SeasonalNaiveDemand
    late: LateReturnModel
    cleaning: CleaningFailureModel
    lead_cdf: np.ndarray
    demand_total: np.ndarray  # (skus, sites, horizon)
    pmf: np.ndarray  # (units + reservations, K+1)
    cleaning_rates: np.ndarray  # (skus,) failure share by the SKU's category
    scores: dict[str, dict[str, object]] = field(default_factory=dict)
    daily: pd.DataFrame | None = None  # forecast against actual per event day


@dataclass
class JobResult:
    world: World
    statics: Statics
    forecasts: Forecasts
    plan: Plan
    validation: ValidationResult | None
    report: dict[str, object]


def fit_forecasts(world: World, statics: Statics) -> Forecasts:
    """Fit the baselines on history and score them on the holdout when there is one."""
    site_of_zone = {str(z): str(statics.site_ids[statics.nearest_site[i]]) for i, z in enumerate(statics.zone_ids)}
    demand = DemandForecaster().fit(world.bookings, world.skus, site_of_zone, world.plan_date)
    naive = SeasonalNaiveDemand().fit(world.bookings, world.skus, site_of_zone, world.plan_date)
    late = LateReturnModel().fit(world.rentals, world.customers, world.plan_date)
    cleaning = CleaningFailureModel().fit(world.rentals, world.skus)
    lead_cdf = demand.lead_cdf_  # the booking lead curve the forecaster fitted

    H = world.horizon_days
    pred = demand.predict(world.plan_date, H)
    total = np.zeros((statics.n_skus, statics.n_sites, H))
    k = statics.sku_ids.get_indexer(pd.Index(pred["sku_id"].astype(str)))
    s = statics.site_ids.get_indexer(pd.Index(pred["site_id"].astype(str)))
    d = pred["day"].to_numpy(dtype=np.int64)
    ok = (k >= 0) & (s >= 0) & (d >= 0) & (d < H)
    np.add.at(total, (k[ok], s[ok], d[ok]), pred["expected_total"].to_numpy()[ok])

    units = world.units
    rentals = world.rentals.set_index("rental_id")
    rid = units["rental_id"].astype("str")
    unit_frame = pd.DataFrame(
        {
            "customer_id": rentals["customer_id"].reindex(rid).to_numpy(),
            "zone": rentals["zone"].reindex(rid).to_numpy(),
            "rental_days": rentals["rental_days"].reindex(rid).fillna(4).to_numpy(),
        }
    )
    unit_frame = unit_frame.fillna({"customer_id": "", "zone": ""})
    res_frame = statics.reservations[["customer_id", "zone", "rental_days"]]
    pmf = np.vstack([late.predict_pmf(unit_frame), late.predict_pmf(res_frame)])
    rates = cleaning.predict(world.skus["category"].astype(str).tolist())

    fc = Forecasts(demand, naive, late, cleaning, lead_cdf, total, pmf, rates)
    if world.holdout is not None:
        actual = unbooked_actuals(world.holdout.bookings, site_of_zone, world.plan_date, H)
        model_score = score_demand(pred, actual)
        naive_score = score_demand(naive.predict(world.plan_date, H), actual)
        outstanding = world.rentals[world.rentals["returned_on"].isna()]
        late_score = score_late_returns(late, outstanding, world.holdout.returns, world.plan_date)
        fc.scores = {
            "demand": {
                "wape": model_score["wape"],
                "seasonal_naive_wape": naive_score["wape"],
                "level": model_score["level"],
                "by_level": model_score["by_level"],
                "seasonal_naive_by_level": naive_score["by_level"],
                "unbooked_actual": model_score["actual"],
                "unbooked_predicted": model_score["predicted"],
            },
            "late_returns": {k2: float(v) for k2, v in late_score.items()},
            "cleaning": {"mean_failure_rate": float(np.mean(rates))},
        }
        by_day = pred.groupby("day")["expected_unbooked"].sum()
        act_day = actual.groupby("day")["count"].sum()
        fc.daily = pd.DataFrame({"forecast": by_day, "actual": act_day}).fillna(0.0)
    return fc


def run_job(cfg: JobConfig, progress: Progress | None = None) -> JobResult:
    """Simulate (or load), check, fit, plan and validate; return the report and the pieces."""
    say = progress or (lambda _msg, _frac: None)
    if cfg.solver not in available_backends():
        raise ClosetflowError(f"unknown solver {cfg.solver!r}; choose one of {', '.join(available_backends())}")
    risk = RiskPolicy.parse(cfg.risk)
    timings: dict[str, float] = {}
    t_start = time.perf_counter()

    t = time.perf_counter()
    if cfg.data is None:
        say(f"simulating a {cfg.scale} world (seed {cfg.seed})", 0.0)
        data_dir = cfg.out / "data"
        write_world(simulate_world(cfg.scale, cfg.seed), data_dir)
    else:
        data_dir = cfg.data
    timings["simulate"] = time.perf_counter() - t

    t = time.perf_counter()
    say("checking the data folder", 0.0)
    world = load_world(data_dir)
    statics = Statics.from_world(world)
    timings["load"] = time.perf_counter() - t

    t = time.perf_counter()
    say("fitting baseline forecasts", 0.0)
    fc = fit_forecasts(world, statics)
    timings["fit"] = time.perf_counter() - t

    def info(day: int) -> Information:
        return Information(
            risk=risk,
            pmf=fc.pmf,
            schedule=None,
            demand_total=fc.demand_total,
            lead_cdf=fc.lead_cdf,
            protect_weight=cfg.protect_weight,
            sku_fail_rate=fc.cleaning_rates,
        )

    options = SolveOptions(backend=cfg.solver, time_limit_s=cfg.time_limit_s)
    t = time.perf_counter()
    say("solving tonight's allocation", 0.0)
    run = solve_plan(statics, initial_state(world, statics, None), 0, info(0), options)
    plan = project_plan(world, statics, run, info(0))
    timings["solve"] = time.perf_counter() - t

    validation = None
    t = time.perf_counter()
    if world.holdout is not None:
        H = world.horizon_days

        def on_day(name: str, day: int) -> None:
            say(f"replaying the holdout: {name}", (day + 1) / H)

        validation = validate_policies(world, statics, info, options, replan_every=cfg.replan_every, on_day=on_day)
    timings["validate"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_start
    report = build_report(cfg, world, statics, fc, plan, validation, timings)
    return JobResult(world, statics, fc, plan, validation, report)


def build_report(
    cfg: JobConfig,
    world: World,
    statics: Statics,
    fc: Forecasts,
    plan: Plan,
    validation: ValidationResult | None,
    timings: dict[str, float],
) -> dict[str, object]:
    """The report.json document (see docs/report.md)."""
    r = plan.run.result
    inp = plan.run.inp
    slack = plan.run.decisions.slack
    binding = {label: int((v < 0.5).sum()) for label, v in slack.items()}
    report: dict[str, object] = {
        "scale": str(world.meta.get("scale", cfg.scale if cfg.data is None else "custom")),
        "seed": int(world.meta.get("seed", cfg.seed)),  # type: ignore[call-overload]
        "plan_date": world.plan_date.isoformat(),
        "horizon_days": world.horizon_days,
        "risk_policy": cfg.risk,
        "solver": {
            "backend": r.backend,
            "status": str(r.status),
            "objective": r.objective,
            "bound": r.bound,
            "gap": r.gap,
            "seconds": r.seconds,
            "variables": r.variables,
            "constraints": r.constraints,
            "time_limit_s": cfg.time_limit_s,
        },
        "plan": {**plan.kpis, "binding_site_days": binding, "site_days": inp.n_sites * inp.T},
        "forecasts": fc.scores,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    if validation is not None:
        out = validation.outcomes
        report["validation"] = {
            "reservations": validation.reservations,
            "replan_every_days": cfg.replan_every,
            **{name: o.summary() for name, o in out.items()},
            "gap_captured": validation.gap_captured("value"),
            "gap_captured_fill_rate": validation.gap_captured("fill_rate"),
            "fill_by_event_day": {name: fill_by_event_day(o.replay, statics) for name, o in out.items()},
        }
    return report
