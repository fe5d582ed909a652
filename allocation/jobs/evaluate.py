"""Decision quality over seeds: replay every policy on several worlds and report the spread.

One seed's replay is an anecdote; a policy is judged by the mean, min and max of its realized
fill rate and value over several seeds (issue 10, item 3). ``evaluate_world`` takes one world down
the job's own path (the data folder written and re-read through the validated loader, forecasts
fitted by the forecast step, tonight's ``Information`` from ``StepContext.information``) and then
replays greedy, rules, closetflow and hindsight with ``validate_policies``. ``evaluate`` does that
per seed, optionally in separate processes, and ``aggregate`` folds the per-seed figures into the
JSON shape the benchmark and ``closetflow evaluate --json`` write.

Seed discipline: constants chosen by looking at results are tuned on seeds kept apart from the
reported ones (``TUNING_SEEDS`` vs ``REPORTING_SEEDS``; ``scripts/tune_policy.py``).

No printing here: the CLI (``api.evaluate_cli``) and the benchmark show the figures.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from allocation.data.io import write_world
from allocation.domain import ClosetflowError, World
from allocation.jobs.options import JobOptions
from allocation.jobs.steps import StepContext, fit_forecasts_step
from allocation.jobs.store import FileRunStore
from allocation.model.snapshot import FILL_BONUS, PROTECT_WEIGHT, SHIP_EARLY_DAYS, Information, RiskPolicy
from allocation.replay.validation import ValidationResult, validate_policies
from allocation.simulate.real_demand import real_demand_world
from allocation.simulate.world import simulate_world

__all__ = [
    "MAX_SEEDS",
    "POLICIES",
    "REPORTING_SEEDS",
    "SEEDS_ALLOWED",
    "TUNING_SEEDS",
    "WORLD_KINDS",
    "EvaluateOptions",
    "Evaluation",
    "SeedResult",
    "aggregate",
    "evaluate",
    "evaluate_world",
    "make_world",
    "parse_seeds",
    "spread",
]

Progress = Callable[[str, float], None]  # (what is happening, fraction of the whole evaluation done)

POLICIES: Final = ("greedy", "rules", "closetflow", "hindsight")  # the order validate_policies replays them
WORLD_KINDS: Final = ("simulated", "real")
# Reported figures come from REPORTING_SEEDS only; constants are tuned on TUNING_SEEDS, which never
# overlap them, so a reported gain is not one the tuning saw.
REPORTING_SEEDS: Final = (1, 2, 3, 4, 5)
TUNING_SEEDS: Final = (101, 102, 103)
_JOB_ID: Final = "evaluate"
_DATASET_ID: Final = "evaluate"
MAX_SEEDS: Final = 1000  # a typo like 1-10000 would otherwise queue days of replays
SEEDS_ALLOWED: Final = "N, A-B with 0 <= A <= B, or a comma list of them (e.g. 1-5 or 1,3,7)"


@dataclass(frozen=True)
class EvaluateOptions:
    """How each seed is planned and replayed; the same for every seed of an evaluation."""

    solver: str = "highs"
    time_limit_s: float = 120.0
    risk: str = "expected"
    replan_every: int = 1
    protect_weight: float = PROTECT_WEIGHT
    fill_bonus: float = FILL_BONUS
    ship_early_days: int = SHIP_EARLY_DAYS
    lp_bound: bool = True  # also solve the perfect-information LP bound (hindsight / bound)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SeedResult:
    """Realized figures of one seed's replay.

    Gaps are shares of the baseline-to-hindsight value gap that closetflow captures (nan when
    hindsight does no better than the baseline); ``hindsight_vs_lp_bound`` is hindsight's value over
    the LP bound's (nan when no bound was solved).
    """

    seed: int
    reservations: int
    policies: dict[str, dict[str, float]]  # policy -> {"fill_rate", "value", "solves", "solve_seconds", ...}
    gap_captured_vs_rules: float
    gap_captured_vs_floor: float
    hindsight_vs_lp_bound: float
    lp_bound: dict[str, Any] | None  # {"value": dollars, "seconds", "status"} or None
    seconds: dict[str, float]  # "fit", "replay", "total"

    def to_json(self) -> dict[str, Any]:
        return _finite_or_none(dataclasses.asdict(self))


@dataclass
class Evaluation:
    """Every seed's figures and their aggregate (``summary``)."""

    world_kind: str
    scale: str
    seeds: list[int]
    options: EvaluateOptions
    per_seed: list[SeedResult]
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)


def parse_seeds(text: str) -> list[int]:
    """Seeds from ``"1-5"``, ``"1,3,7"`` or a mix (``"1-3,7"``); in the order given, no repeats.

    Raises:
        ClosetflowError: The text is not such a list; the message names the bad part and says
            what is allowed (``SEEDS_ALLOWED``).
    """
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        lo_text, dash, hi_text = part.partition("-")
        try:
            lo = int(lo_text)
            hi = int(hi_text) if dash else lo
        except ValueError:
            raise ClosetflowError(f"{part!r} is not a seed or a range of seeds; allowed: {SEEDS_ALLOWED}") from None
        if lo < 0 or hi < lo:
            raise ClosetflowError(f"{part!r} does not run low to high from 0 up; allowed: {SEEDS_ALLOWED}")
        if hi - lo >= MAX_SEEDS or len(seeds) + hi - lo >= MAX_SEEDS:
            raise ClosetflowError(f"more than {MAX_SEEDS} seeds; allowed: {SEEDS_ALLOWED}")
        seeds.extend(s for s in range(lo, hi + 1) if s not in seeds)
    return seeds


def make_world(world_kind: str, scale: str, seed: int, *, data_dir: Path | None = None) -> World:
    """The world of one seed: simulated, or with bookings drawn from real rentals (``real``)."""
    if world_kind == "simulated":
        return simulate_world(scale, seed)
    if world_kind == "real":
        return real_demand_world(scale, seed, data_dir=data_dir)
    raise ClosetflowError(f"unknown world {world_kind!r}; choose one of {', '.join(WORLD_KINDS)}")


def evaluate_world(
    world: World,
    options: EvaluateOptions,
    *,
    seed: int = 0,
    progress: Callable[[str, float], None] | None = None,
) -> SeedResult:
    """Fit the forecasts as the job does and replay every policy on ``world``'s holdout.

    Args:
        world: a world with a holdout.
        options: planning and replay options.
        seed: the world's seed, recorded with the figures.
        progress: called with (what, fraction of this seed done).
    """
    if world.holdout is None:
        raise ClosetflowError("the world has no holdout: nothing to replay the policies on")
    say = progress or (lambda _msg, _frac: None)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="closetflow-evaluate-") as tmp:
        # Written and re-read, as `closetflow run` does with a simulated world, so the figures are
        # those of the job on the same seed, after the same validated loader.
        data_dir = Path(tmp) / "data"
        write_world(world, data_dir)
        job = JobOptions(
            dataset_id=_DATASET_ID,
            solver=options.solver,
            time_limit_s=options.time_limit_s,
            risk=options.risk,
            replan_every=options.replan_every,
            protect_weight=options.protect_weight,
            seed=seed,
        )
        store = FileRunStore(Path(tmp) / "store", datasets={_DATASET_ID: data_dir})
        ctx = StepContext(_JOB_ID, job, store, lambda msg, _frac: say(msg, 0.0))
        fit_forecasts_step(ctx)
        # The job's Information, with the tuned constants the job's options do not carry.
        info = dataclasses.replace(
            ctx.information(), fill_bonus=options.fill_bonus, ship_early_days=options.ship_early_days
        )
        fit_s = time.perf_counter() - t0
        result = _replay(ctx, info, options, say)
    replay_s = time.perf_counter() - t0 - fit_s
    return _seed_result(seed, result, {"fit": fit_s, "replay": replay_s, "total": fit_s + replay_s})


def _replay(ctx: StepContext, info: Information, options: EvaluateOptions, say: Progress) -> ValidationResult:
    world, statics = ctx.world(), ctx.statics()
    H = world.horizon_days

    def closetflow_info(_day: int) -> Information:
        return dataclasses.replace(info)  # validation sets today's capacity on it: a fresh copy per day

    def on_day(name: str, day: int) -> None:
        i = POLICIES.index(name) if name in POLICIES else len(POLICIES) - 1
        say(f"replaying {name}", (i + (day + 1) / H) / len(POLICIES))

    return validate_policies(
        world,
        statics,
        closetflow_info,
        ctx.options.solve_options(),
        replan_every=options.replan_every,
        on_day=on_day,
        lp_bound=options.lp_bound,
    )


def _seed_result(seed: int, v: ValidationResult, seconds: dict[str, float]) -> SeedResult:
    bound = v.lp_bound
    lp = (
        None
        if bound is None
        else {"value": float(bound.value), "seconds": float(bound.seconds), "status": str(bound.status)}
    )
    return SeedResult(
        seed=seed,
        reservations=v.reservations,
        policies={
            name: {
                "fill_rate": float(o.fill_rate),
                "value": float(o.value),
                # How the model policies got there: solves, solver seconds and days a solve gave no plan.
                "solves": o.solves,
                "solve_seconds": round(o.solve_seconds, 3),
                "fallback_days": o.fallback_days,
            }
            for name, o in v.outcomes.items()
        },
        gap_captured_vs_rules=v.gap_captured("value", baseline="rules"),
        gap_captured_vs_floor=v.gap_captured("value", baseline="greedy"),
        hindsight_vs_lp_bound=v.hindsight_vs_lp_bound,
        lp_bound=lp,
        seconds=seconds,
    )


def _one_seed(world_kind: str, scale: str, seed: int, options: EvaluateOptions, data_dir: Path | None) -> SeedResult:
    """One seed from scratch: what a worker process runs (top level, so it pickles)."""
    return evaluate_world(make_world(world_kind, scale, seed, data_dir=data_dir), options, seed=seed)


def evaluate(
    scale: str,
    seeds: Sequence[int],
    *,
    world_kind: str = "simulated",
    options: EvaluateOptions | None = None,
    progress: Progress | None = None,
    jobs: int = 1,
    data_dir: Path | None = None,
) -> Evaluation:
    """Replay every policy on each seed's world and aggregate the figures.

    Args:
        scale: world size (``allocation.simulate.scales.SCALES``).
        seeds: the seeds, in the order to report them.
        world_kind: ``simulated`` or ``real`` (bookings from real rentals).
        options: planning and replay options (defaults: the job's).
        progress: called with (what, fraction of the whole evaluation done).
        jobs: seeds replayed at once, each in its own process (1: in this process, with progress
            per day; more: progress per finished seed).
        data_dir: the real data folder for ``real`` worlds (None: the shared default).
    """
    opts = options or EvaluateOptions()
    if world_kind not in WORLD_KINDS:
        raise ClosetflowError(f"unknown world {world_kind!r}; choose one of {', '.join(WORLD_KINDS)}")
    if not seeds:
        raise ClosetflowError("no seeds to evaluate")
    if jobs < 1:
        raise ClosetflowError(f"jobs must be at least 1, got {jobs}")
    RiskPolicy.parse(opts.risk)  # refuse a bad policy before any seed is simulated
    say = progress or (lambda _msg, _frac: None)
    n = len(seeds)
    t0 = time.perf_counter()
    results: dict[int, SeedResult] = {}
    if jobs == 1 or n == 1:
        for i, seed in enumerate(seeds):
            say(f"seed {seed}: making the {world_kind} {scale} world", i / n)
            world = make_world(world_kind, scale, seed, data_dir=data_dir)

            def seed_progress(msg: str, frac: float, i: int = i, seed: int = seed) -> None:
                say(f"seed {seed}: {msg}", (i + frac) / n)

            results[seed] = evaluate_world(world, opts, seed=seed, progress=seed_progress)
    else:
        # spawn, not fork: the parent may hold solver and progress-bar threads that a forked child
        # would inherit mid-lock.
        context = multiprocessing.get_context("spawn")
        say(f"replaying {n} seeds, {min(jobs, n)} at a time", 0.0)
        with ProcessPoolExecutor(max_workers=min(jobs, n), mp_context=context) as pool:
            futures = {pool.submit(_one_seed, world_kind, scale, s, opts, data_dir): s for s in seeds}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                say(f"seed {futures[future]} done", len(results) / n)
    per_seed = [results[s] for s in seeds]
    ev = Evaluation(world_kind, scale, list(seeds), opts, per_seed, time.perf_counter() - t0)
    ev.summary = {
        "world": world_kind,
        "scale": scale,
        "options": opts.to_json(),
        **aggregate(per_seed),
        "seconds": round(ev.seconds, 1),
    }
    return ev


def spread(values: Sequence[float]) -> dict[str, float | None]:
    """``{"mean", "min", "max"}`` of the finite values (None for all three when there is none)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"mean": None, "min": None, "max": None}
    return {"mean": sum(finite) / len(finite), "min": min(finite), "max": max(finite)}


def aggregate(per_seed: Sequence[SeedResult]) -> dict[str, Any]:
    """The issue's JSON shape over ``per_seed``.

    ``{"policies": {name: {"fill_rate": spread, "value": spread}}, "gap_captured_vs_rules": spread,
    "gap_captured_vs_floor": spread, "hindsight_vs_lp_bound": spread, "closetflow_below_rules":
    {"value": seeds, "fill_rate": seeds}, "seeds": [...], "per_seed": [...]}``. A gap that is
    undefined on a seed (nan) is left out of its spread and is null in ``per_seed``.
    """
    names = [p for p in POLICIES if any(p in r.policies for r in per_seed)]
    names += sorted({p for r in per_seed for p in r.policies} - set(names))
    policies = {
        name: {
            metric: spread([r.policies[name][metric] for r in per_seed if name in r.policies])
            for metric in ("fill_rate", "value")
        }
        for name in names
    }

    def below_rules(metric: str) -> int:
        return sum(
            1
            for r in per_seed
            if "rules" in r.policies
            and "closetflow" in r.policies
            and r.policies["closetflow"][metric] < r.policies["rules"][metric] - 1e-9
        )

    return {
        "policies": policies,
        "gap_captured_vs_rules": spread([r.gap_captured_vs_rules for r in per_seed]),
        "gap_captured_vs_floor": spread([r.gap_captured_vs_floor for r in per_seed]),
        "hindsight_vs_lp_bound": spread([r.hindsight_vs_lp_bound for r in per_seed]),
        "closetflow_below_rules": {"value": below_rules("value"), "fill_rate": below_rules("fill_rate")},
        "seeds": [r.seed for r in per_seed],
        "per_seed": [r.to_json() for r in per_seed],
    }


def _finite_or_none(obj: Any) -> Any:
    """``obj`` with nan and infinities as None: JSON has no NaN."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_none(v) for v in obj]
    return obj
