"""Service throughput: tiny-scale jobs per minute through real ``closetflow worker`` processes.

Usage: python benchmarks/jobs_throughput.py [--workers 2] [--jobs 10] [--scale tiny] [--json OUT]
                                            [--pg-admin-url URL] [--redis URL]

Makes a throwaway PostgreSQL database (dropped at the end) and takes a free Redis db number (1..15,
claimed with the same ``closetflow-test-db:<n>`` key in db 0 as the tests, so neither steals the
other's; flushed before and after). It uploads one simulated world, starts ``--workers`` worker
processes (``closetflow worker --concurrency 1`` each, with BLAS/OpenMP threads set to their share of
the cores) and waits until they are ready, then sends
``--jobs`` full jobs (check, forecast, solve, project, validate on the holdout, publish) at once and
times them until the last one has finished. Worker start-up is not in the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import redis

ROOT = Path(__file__).resolve().parents[1]
CLOSETFLOW = Path(sys.executable).parent / "closetflow"


def claim_redis_db(base: str) -> tuple[int, str]:
    admin = redis.Redis.from_url(f"{base}/0", socket_connect_timeout=3)
    token = uuid.uuid4().hex
    for n in range(15, 0, -1):
        if admin.set(f"closetflow-test-db:{n}", token, nx=True, ex=1800):
            redis.Redis.from_url(f"{base}/{n}").flushdb()
            return n, token
    raise SystemExit("every Redis db number 1..15 is claimed; try again later")


def release_redis_db(base: str, n: int, token: str) -> None:
    redis.Redis.from_url(f"{base}/{n}").flushdb()
    admin = redis.Redis.from_url(f"{base}/0")
    if admin.get(f"closetflow-test-db:{n}") == token.encode():
        admin.delete(f"closetflow-test-db:{n}")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def run(workers: int, jobs: int, scale: str, pg_host: str, redis_base: str) -> dict[str, Any]:
    db = f"closetflow_bench_{uuid.uuid4().hex[:10]}"
    n, token = claim_redis_db(redis_base)
    admin = f"host={pg_host} port=5432 user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    tmp = Path(tempfile.mkdtemp(prefix="closetflow-bench-"))
    env = {
        "CLOSETFLOW_DATABASE_URL": f"postgresql+psycopg://postgres@{pg_host}:5432/{db}",
        "CLOSETFLOW_BROKER_URL": f"{redis_base}/{n}",
        "CLOSETFLOW_ARTIFACTS_DIR": str(tmp / "artifacts"),
    }
    os.environ.update(env)  # before the service modules read their settings
    # All the workers share this machine: give each the share of the cores `closetflow worker` would
    # give each of its own pool processes (it only knows about itself).
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    worker_env = {**env, **{v: threads for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        from allocation.data.io import write_world
        from allocation.jobs.archive import pack_folder
        from allocation.jobs.migrate import upgrade
        from allocation.jobs.options import JobOptions
        from allocation.jobs.service import create_job, get_job, register_dataset
        from allocation.simulate.world import simulate_world
        from workers.dispatch import enqueue_job
        from workers.runtime import runtime

        upgrade(env["CLOSETFLOW_DATABASE_URL"])
        rt = runtime()
        write_world(simulate_world(scale, 7), tmp / "world")
        dataset = register_dataset(
            rt.sessions, archive=pack_folder(tmp / "world"), name=scale, actor="bench", max_unpacked_bytes=2**30
        )
        logs = [tmp / f"worker{i}.log" for i in range(workers)]
        for log in logs:
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [str(CLOSETFLOW), "worker", "--concurrency", "1", "--loglevel", "warning"],
                        env={**os.environ, **worker_env},
                        cwd=ROOT,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        # Ready when each has taken and finished a trivial job of its own: imports, pool and
        # broker connection are warm, as they are in a service that has been running.
        warm = [create_job(rt.sessions, options=JobOptions(dataset["id"]), actor="bench")[0] for _ in range(workers)]
        for job in warm:
            enqueue_job(job.id, job.options)
        _wait([j.id for j in warm], rt, timeout=300)

        made = [create_job(rt.sessions, options=JobOptions(dataset["id"]), actor="bench")[0] for _ in range(jobs)]
        t0 = time.perf_counter()
        for job in made:
            enqueue_job(job.id, job.options)
        _wait([j.id for j in made], rt, timeout=1800)
        seconds = time.perf_counter() - t0
        views = [get_job(rt.sessions, j.id) for j in made]
        rt.dispose()
        return {
            "workers": workers,
            "jobs": jobs,
            "scale": scale,
            "seconds": round(seconds, 2),
            "jobs_per_minute": round(jobs / seconds * 60, 1),
            "succeeded": sum(v.state == "succeeded" for v in views),
            "attempts": sorted({v.attempts for v in views}),
            "mean_job_step_seconds": round(sum(sum(v.timings.values()) for v in views) / len(views), 2),
            "mean_step_seconds": {
                step: round(sum(float(v.timings.get(step, 0.0)) for v in views) / len(views), 3)
                for step in ("check", "forecast", "solve", "project", "validate", "publish")
            },
        }
    finally:
        _stop(procs)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        release_redis_db(redis_base, n, token)


def _wait(job_ids: list[str], rt: Any, *, timeout: float) -> None:
    from allocation.jobs.service import get_job

    deadline = time.monotonic() + timeout
    pending = set(job_ids)
    while pending:
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(pending)} job(s) unfinished after {timeout:.0f} s")
        pending = {j for j in pending if get_job(rt.sessions, j).state in {"queued", "running"}}
        time.sleep(0.1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2, help="worker processes (concurrency 1 each)")
    ap.add_argument("--jobs", type=int, default=10)
    ap.add_argument("--scale", default="tiny")
    ap.add_argument("--json", type=Path, help="write the figures here as JSON too")
    ap.add_argument("--pg-host", default="127.0.0.1")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379", help="Redis base URL (no db number)")
    args = ap.parse_args()
    result = run(args.workers, args.jobs, args.scale, args.pg_host, args.redis)
    print(
        f"{result['jobs']} {result['scale']} jobs on {result['workers']} workers: {result['seconds']:.1f} s, "
        f"{result['jobs_per_minute']:.1f} jobs/minute ({result['succeeded']} succeeded, attempts {result['attempts']}, "
        f"{result['mean_job_step_seconds']:.2f} s of steps per job)"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
