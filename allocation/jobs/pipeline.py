"""The main job in one call: world -> checked data -> baseline forecasts -> tonight's plan -> holdout replay.

``run_job`` is what ``closetflow run`` calls. It runs the same steps as the service
(``allocation.jobs.steps``) in this process, against a ``FileRunStore`` under the output folder and
an in-memory ledger: no database, no broker. It reports progress through a callback (the CLI shows
it with Rich) and returns the report and the in-memory pieces; writing report files is the caller's
(``api``) business, except the data folder of a simulated world, which is written and re-read so
the run goes through the same validated loader as user data.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from allocation.data.io import write_world
from allocation.domain import ClosetflowError, World
from allocation.jobs.forecasts import Forecasts
from allocation.jobs.runner import MemoryLedger, run_steps
from allocation.jobs.steps import JobOptions, StepContext, seed_previous
from allocation.jobs.store import FileRunStore
from allocation.model.snapshot import PROTECT_WEIGHT, RiskPolicy
from allocation.plan import Plan
from allocation.replay.validation import ValidationResult
from allocation.simulate.world import simulate_world
from allocation.statics import Statics
from solvers.base import lp_backends

__all__ = ["Forecasts", "JobConfig", "JobResult", "run_job"]

Progress = Callable[[str, float], None]  # (step description, fraction of the step done)

LOCAL_JOB_ID = "run"  # a one-off run has one job; its store folder is <out>/store/jobs/run


@dataclass
class JobConfig:
    """Options of one run (defaults come from ``api.settings``)."""

    out: Path
    scale: str = "small"
    seed: int = 7
    data: Path | None = None
    solver: str = "auto"
    time_limit_s: float = 120.0
    risk: str = "expected"
    replan_every: int = 1
    protect_weight: float = PROTECT_WEIGHT
    demand_model: str = "linear"  # a model's name, or "serving": the registry's choice at models_dir
    models_dir: Path | None = None
    rules: dict[str, Any] | None = None  # business rules (BusinessRules.to_json)
    stability_penalty: float = 0.0  # dollars per communicated shipment the plan changes
    previous: dict[str, bytes] | None = None  # the previous plan's prices and ships (steps.previous_artifacts)


@dataclass
class JobResult:
    world: World
    statics: Statics
    forecasts: Forecasts
    plan: Plan
    validation: ValidationResult | None
    report: dict[str, Any]
    store: FileRunStore
    job_id: str


def run_job(cfg: JobConfig, progress: Progress | None = None) -> JobResult:
    """Simulate (or load), check, fit, plan and validate; return the report and the pieces."""
    say = progress or (lambda _msg, _frac: None)
    if cfg.solver not in lp_backends():
        raise ClosetflowError(f"unknown solver {cfg.solver!r}; choose one of {', '.join(lp_backends())}")
    RiskPolicy.parse(cfg.risk)  # refuse a bad policy before any work
    try:
        cfg.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ClosetflowError(f"cannot write the output folder {cfg.out}: {exc.strerror or exc}") from None

    t = time.perf_counter()
    if cfg.data is None:
        say(f"simulating a {cfg.scale} world (seed {cfg.seed})", 0.0)
        data_dir = cfg.out / "data"
        write_world(simulate_world(cfg.scale, cfg.seed), data_dir)
    else:
        data_dir = cfg.data
    simulate_s = time.perf_counter() - t

    store = FileRunStore(cfg.out / "store", datasets={"local": data_dir})
    # A fresh run every time: clear what an earlier run left under the same job id.
    job_dir = cfg.out / "store" / "jobs" / LOCAL_JOB_ID
    if job_dir.exists():
        shutil.rmtree(job_dir)
    options = JobOptions(
        dataset_id="local",
        solver=cfg.solver,
        time_limit_s=cfg.time_limit_s,
        risk=cfg.risk,
        replan_every=cfg.replan_every,
        protect_weight=cfg.protect_weight,
        scale=cfg.scale if cfg.data is None else "custom",
        seed=cfg.seed,
        demand_model=cfg.demand_model,
        models_dir=str(cfg.models_dir) if cfg.models_dir is not None else None,
        rules=cfg.rules,
        stability_penalty=cfg.stability_penalty,
    )
    if cfg.previous:
        seed_previous(store, LOCAL_JOB_ID, cfg.previous)
    store.put(LOCAL_JOB_ID, "timings/simulate.json", json.dumps({"seconds": simulate_s}).encode())
    ctx = StepContext(LOCAL_JOB_ID, options, store, say)
    run_steps(ctx, MemoryLedger())
    memo = ctx.memo
    return JobResult(
        world=memo["world"],
        statics=memo["statics"],
        forecasts=memo["forecasts"],
        plan=memo["plan"],
        validation=memo.get("validation"),
        report=memo["report"],
        store=store,
        job_id=LOCAL_JOB_ID,
    )
