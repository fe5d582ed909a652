"""The decomposition's rounds in-process and as a Celery chord over 1 and 2 worker processes.

Usage: python benchmarks/dw_workers.py [--scale medium] [--rounds 4] [--groups-per-task 1]
                                       [--group-nnz 400000] [--redis URL] [--json OUT]

Builds tonight's model of a simulated world (seed 7: ``simulate_world``, ``fit_forecasts``,
``planning_input``, ``build_problem``, columns labelled by SKU with ``column_blocks``) and solves it
by Dantzig-Wolfe with a fixed number of pricing rounds (``DWSettings(max_rounds=--rounds,
tolerance=0)``: every arm does the same rounds) three ways, in this one run:

- ``local``: ``LocalRunner``, the groups one after another in this process;
- ``celery_1``: ``workers.dw.CeleryGroupRunner`` with one ``closetflow worker --concurrency 1``;
- ``celery_2``: the same with ``closetflow worker --concurrency 2`` (two pool processes).

The workers run on a Redis db number of their own (1..15, claimed with the tests'
``closetflow-test-db:<n>`` key in db 0, flushed before and after) with a throwaway artifacts folder;
each is started and ready before its arm's clock starts, and stopped after it. Printed per arm: the
loop's seconds (the frugal first proposals and every round: group solves, chord and master), seconds
per round, the part spent waiting for the groups, the group files the workers loaded (the rest were
warm re-solves), and the objective and bound after the last round; then the speed-up of 2 workers
over 1 and over in-process, and whether the three objectives agree.

Wall seconds need free cores: on a shared 2-core machine whose load is above 2 they mostly measure
the neighbours. So each arm also gets a *CPU critical path*: this process's CPU seconds (setup,
master, coordination; everything in-process for ``local``) plus, per round, the CPU seconds of the
busiest worker process (``CeleryGroupRunner.critical_cpu_s``) — the time with one free core per
process, the figure the wall time approaches on an idle machine.

What "agree" means: one worker process solves the groups in the in-process order from the same
HiGHS state, so ``celery_1`` must equal ``local`` (relative 1e-9: the chord adds no arithmetic).
With two processes a group is re-solved by whichever process takes its task, from the state that
process last had; the group LPs are degenerate, so an equally optimal but different vertex comes
back (the same priced objective, another point: measured, even with the basis handed over), the
master mixes other proposals, and after a fixed number of rounds the best objective and the
prices differ (medium, 4 rounds, gap ~12%: 0.7%). So ``celery_2`` is checked for consistency only:
every arm's objective is at most every arm's bound (in the problem's sense). Run to the tolerance,
every runner reaches the same optimum (tests/service/test_dw_chord.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from allocation.jobs.forecasts import fit_forecasts
from allocation.model.blocks import column_blocks
from allocation.model.network import build_problem
from allocation.model.snapshot import Information, RiskPolicy, planning_input
from allocation.simulate.world import simulate_world
from allocation.state import initial_state
from allocation.statics import Statics
from api.settings import resolve
from solvers.base import LinearProblem, SolveOptions
from solvers.decompose import BlockStructure, DWSettings, DWTrace, GroupRunner, solve_block_angular
from workers.celery_app import app, configure
from workers.dw import CeleryGroupRunner

ROOT = Path(__file__).resolve().parents[1]
CLOSETFLOW = Path(sys.executable).parent / "closetflow"
EXACT_REL = 1e-9  # celery_1 against local: the same solves in the same order


def claim_redis_db(base: str) -> tuple[int, str]:
    admin = redis.Redis.from_url(f"{base}/0", socket_connect_timeout=3)
    token = uuid.uuid4().hex
    for n in range(15, 0, -1):
        if admin.set(f"closetflow-test-db:{n}", token, nx=True, ex=3600):
            redis.Redis.from_url(f"{base}/{n}").flushdb()
            return n, token
    raise SystemExit("every Redis db number 1..15 is claimed; try again later")


def release_redis_db(base: str, n: int, token: str) -> None:
    redis.Redis.from_url(f"{base}/{n}").flushdb()
    admin = redis.Redis.from_url(f"{base}/0")
    if admin.get(f"closetflow-test-db:{n}") == token.encode():
        admin.delete(f"closetflow-test-db:{n}")


def build_model(scale: str) -> LinearProblem:
    """Tonight's model of the seed-7 world of ``scale``, columns labelled by SKU block."""
    world = simulate_world(scale, 7)
    statics = Statics.from_world(world)
    fc = fit_forecasts(world, statics)
    info = Information(
        risk=RiskPolicy.parse("expected"),
        pmf=fc.pmf,
        schedule=None,
        demand_total=fc.demand_total,
        lead_cdf=fc.lead_cdf,
        protect_weight=0.5,
        sku_fail_rate=fc.cleaning_rates,
    )
    inp = planning_input(statics, initial_state(world, statics, None), 0, info)
    problem, layout = build_problem(inp)
    problem.col_block = column_blocks(inp, layout)
    return problem


def start_worker(env: dict[str, str], concurrency: int, log: Path) -> subprocess.Popen[bytes]:
    """``closetflow worker --concurrency N`` in its own process group; returns once it is ready."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(CLOSETFLOW), "worker", "--concurrency", str(concurrency), "--loglevel", "info"],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while " ready." not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_worker(proc)
            raise SystemExit(f"the worker did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.3)
    return proc


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def run_arm(
    problem: LinearProblem, settings: DWSettings, factory: Callable[[BlockStructure, bool], GroupRunner] | None
) -> tuple[DWTrace, float, float, float]:
    """One decomposition: its trace, the loop's seconds (after setup), the final objective and this
    process's CPU seconds (all of it in-process; the master and the coordination over Celery)."""
    cpu = time.process_time()
    result, trace = solve_block_angular(
        problem, SolveOptions(time_limit_s=3600), settings=settings, runner_factory=factory
    )
    loop = trace.seconds[-1] - trace.setup_seconds if trace.seconds else math.nan
    return trace, loop, result.objective, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="medium", help="world scale (small for a quick run)")
    ap.add_argument("--rounds", type=int, default=4, help="pricing rounds, the same in every arm")
    ap.add_argument("--groups-per-task", type=int, default=1, help="groups one chord task solves")
    ap.add_argument("--group-nnz", type=int, default=DWSettings().group_nnz, help="non-zeros per group LP")
    ap.add_argument("--redis", default=os.environ.get("CLOSETFLOW_TEST_REDIS", "redis://127.0.0.1:6379"))
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args()
    if args.rounds < 1 or args.groups_per_task < 1 or args.group_nnz < 1:
        raise SystemExit("--rounds, --groups-per-task and --group-nnz must be at least 1")

    t = time.perf_counter()
    problem = build_model(args.scale)
    print(
        f"{args.scale}: {problem.n_vars:,} columns, {problem.n_rows:,} rows, {problem.A.nnz:,} non-zeros "
        f"(built in {time.perf_counter() - t:.1f} s); {args.rounds} rounds, {args.groups_per_task} group(s) per task",
        flush=True,
    )
    settings = DWSettings(max_rounds=args.rounds, tolerance=0.0, group_nnz=args.group_nnz)
    arms: dict[str, dict[str, Any]] = {}

    def record(name: str, trace: DWTrace, loop: float, objective: float, cpu: float, runner: Any) -> None:
        loads = runner.loads if runner is not None else None
        critical = cpu + (runner.critical_cpu_s if runner is not None else 0.0)
        arms[name] = {
            "loop_s": loop,
            "seconds_per_round": loop / trace.rounds,
            "group_wait_s": trace.group_seconds,
            "master_s": trace.master_seconds,
            "setup_s": trace.setup_seconds,
            "rounds": trace.rounds,
            "objective": objective,
            "bound": trace.bounds[-1] if trace.bounds else math.nan,
            "group_files_loaded": loads,
            "groups": trace.groups,
            "coordinator_cpu_s": cpu,
            "worker_cpu_s": runner.cpu_s if runner is not None else None,
            "critical_path_cpu_s": critical,
        }
        a = arms[name]
        print(
            f"{name:9} loop {loop:7.1f} s  {a['seconds_per_round']:6.2f} s/round  groups {trace.group_seconds:6.1f} s  "
            f"master {trace.master_seconds:5.1f} s  setup {trace.setup_seconds:5.1f} s  objective {objective:,.2f}  "
            f"bound {a['bound']:,.2f}  critical-path CPU {critical:6.1f} s"
            + (f"  loaded {loads}" if loads is not None else ""),
            flush=True,
        )

    trace, loop, objective, cpu = run_arm(problem, settings, None)
    print(f"{trace.groups} groups of {trace.blocks} blocks, {trace.link_rows} linking rows", flush=True)
    record("local", trace, loop, objective, cpu, None)

    n, token = claim_redis_db(args.redis)
    url = f"{args.redis}/{n}"
    with tempfile.TemporaryDirectory(prefix="dw-workers-") as tmp:
        env = {"CLOSETFLOW_BROKER_URL": url, "CLOSETFLOW_ARTIFACTS_DIR": str(Path(tmp) / "artifacts")}
        configure(app, resolve({"broker_url": url}))
        scratch = Path(tmp) / "dw"
        try:
            for workers in (1, 2):
                proc = start_worker(env, workers, Path(tmp) / f"worker-{workers}.log")
                made: list[CeleryGroupRunner] = []

                def factory(s: BlockStructure, maximize: bool, made: list[CeleryGroupRunner] = made) -> GroupRunner:
                    runner = CeleryGroupRunner(
                        s.groups, maximize, scratch_dir=scratch, groups_per_task=args.groups_per_task
                    )
                    made.append(runner)
                    return runner

                try:
                    trace, loop, objective, cpu = run_arm(problem, settings, factory)
                finally:
                    stop_worker(proc)
                record(f"celery_{workers}", trace, loop, objective, cpu, made[0] if made else None)
                for runner in made:
                    runner.close()
        finally:
            release_redis_db(args.redis, n, token)

    one, two, local = arms["celery_1"]["loop_s"], arms["celery_2"]["loop_s"], arms["local"]["loop_s"]
    cpu_one, cpu_two = arms["celery_1"]["critical_path_cpu_s"], arms["celery_2"]["critical_path_cpu_s"]
    cpu_local = arms["local"]["critical_path_cpu_s"]
    objectives = [a["objective"] for a in arms.values()]
    bounds = [a["bound"] for a in arms.values()]
    size = max(1.0, max(abs(o) for o in objectives))
    spread = (max(objectives) - min(objectives)) / size
    bound_spread = (max(bounds) - min(bounds)) / max(1.0, max(abs(b) for b in bounds))
    same = abs(arms["celery_1"]["objective"] - arms["local"]["objective"]) <= EXACT_REL * size
    sense = 1.0 if problem.maximize else -1.0
    consistent = sense * max(sense * o for o in objectives) <= sense * min(sense * b for b in bounds) + 1e-9 * size
    agree = all(map(math.isfinite, objectives + bounds)) and same and consistent
    summary = {
        "scale": args.scale,
        "columns": problem.n_vars,
        "rows": problem.n_rows,
        "nnz": int(problem.A.nnz),
        "rounds": args.rounds,
        "groups_per_task": args.groups_per_task,
        "group_nnz": args.group_nnz,
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "arms": arms,
        "speedup_2_over_1": one / two,
        "speedup_2_over_local": local / two,
        "cpu_path_speedup_2_over_1": cpu_one / cpu_two,
        "cpu_path_speedup_2_over_local": cpu_local / cpu_two,
        "celery_1_equals_local": same,
        "objectives_within_bounds": consistent,
        "objective_spread_rel": spread,
        "bound_spread_rel": bound_spread,
        "objectives_agree": agree,
    }
    print(
        f"speed-up of 2 workers: {one / two:.2f}x over 1 worker, {local / two:.2f}x over in-process (wall); "
        f"{cpu_one / cpu_two:.2f}x and {cpu_local / cpu_two:.2f}x on the CPU critical path; "
        f"objectives {'agree' if agree else 'DIFFER'} (celery_1 {'=' if same else '!='} local; "
        f"every objective within every bound: {consistent}; relative spread {spread:.2g}, bounds {bound_spread:.2g})",
        flush=True,
    )
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2))
    if not agree:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
