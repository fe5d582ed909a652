"""Load test of the forecast read path: ``GET /forecasts/demand`` at a fixed rate, open loop.

Builds a world (medium: 3,000 SKUs x 3 sites x 21 days = 189k demand rows), registers it, runs the
job's check and forecast steps so the forecast rows exist, starts ``closetflow serve`` on loopback,
then drives requests for random SKUs, sites and 7-day windows from a *separate process*. Open loop:
request i is due at ``t0 + i / rps`` whatever happened to the others, and its latency is measured
from that due time (so a slow server shows up as queueing, not as a lower request rate).

    python benchmarks/api_load.py --rps 200 --seconds 30 --json var/bench/api_load.json [--scale medium]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/closetflow_bench] [--server-workers 1]

Writes and prints {"rps", "seconds", "requests", "errors", "p50_ms", "p95_ms", "p99_ms"}.
The embedded SQLite database is used unless ``--database-url`` is given. Then, unless ``--no-jobs``,
it measures tiny-scale jobs per minute with two ``closetflow worker`` processes on this machine's
Redis and PostgreSQL (``benchmarks/jobs_throughput.py``) and adds ``jobs_per_minute`` to the JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from allocation.data.io import write_world
from allocation.jobs import service
from allocation.jobs.archive import pack_folder
from allocation.jobs.migrate import upgrade
from allocation.jobs.options import JobOptions
from allocation.jobs.runner import run_step
from allocation.jobs.steps import StepContext
from allocation.simulate.world import simulate_world
from api.keys import Role, create_key
from api.runtime import Runtime
from api.settings import Settings

WINDOW_DAYS = 7
CLIENTS = 32


@dataclass(frozen=True)
class Target:
    base_url: str
    key: str
    skus: list[str]
    sites: list[str]
    first_day: str
    horizon_days: int


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare(workdir: Path, scale: str, seed: int, database_url: str | None) -> tuple[Runtime, Target]:
    """A dataset of ``scale`` with its forecast rows in the database; a buyer key."""
    runtime = Runtime(Settings(artifacts_dir=workdir, database_url=database_url, broker_url=None))
    upgrade(runtime.database_url)
    t = time.perf_counter()
    world = simulate_world(scale, seed)
    write_world(world, workdir / "data")
    archive = pack_folder(workdir / "data")
    dataset = service.register_dataset(
        runtime.sessions, archive=archive, name=f"{scale}-{seed}", actor="bench", max_unpacked_bytes=2**34
    )
    job, _ = service.create_job(runtime.sessions, options=JobOptions(dataset_id=dataset["id"]), actor="bench")
    ctx = StepContext(job.id, JobOptions.from_json(job.options), runtime.store)
    for step in ("check", "forecast"):
        run_step(ctx, step, runtime.ledger)
    # Only its forecast rows are wanted: cancelled, the job is not resumed by the server at start
    # (which would run the medium solve and replay in the server process during the measurement).
    service.cancel_job(runtime.sessions, job.id, actor="bench")
    _say(f"{scale} world ready in {time.perf_counter() - t:.1f} s: forecast rows of job {job.id}")
    _, key = create_key(runtime.sessions, role=Role.BUYER, name="bench", actor="bench")
    target = Target(
        base_url="",
        key=key,
        skus=world.skus["sku_id"].astype(str).tolist(),
        sites=world.sites["site_id"].astype(str).tolist(),
        first_day=world.plan_date.isoformat(),
        horizon_days=world.horizon_days,
    )
    return runtime, target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(workdir: Path, database_url: str | None, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    """``closetflow serve`` on a free loopback port; returns the process and its URL once ready."""
    port = _free_port()
    env = {**os.environ, "CLOSETFLOW_ARTIFACTS_DIR": str(workdir)}
    if database_url is not None:
        env["CLOSETFLOW_DATABASE_URL"] = database_url
    cli = Path(sys.executable).parent / "closetflow"
    cmd = [str(cli)] if cli.exists() else [sys.executable, "-c", "from api.cli import app; app()"]
    cmd += ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"closetflow serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("closetflow serve did not become ready within 60 s")


def _queries(target: Target, n: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    first = np.datetime64(target.first_day)
    out = []
    for _ in range(n):
        start = first + np.timedelta64(rng.randrange(max(1, target.horizon_days - WINDOW_DAYS + 1)), "D")
        out.append(
            {
                "sku_id": rng.choice(target.skus),
                "site_id": rng.choice(target.sites),
                "start": str(start),
                "end": str(start + np.timedelta64(WINDOW_DAYS - 1, "D")),
            }
        )
    return out


def drive(target: Target, rps: float, seconds: float, seed: int, out: Any) -> None:
    """The load generator (its own process): open-loop requests; sends back latencies and errors.

    ``CLIENTS`` threads, each with its own keep-alive connection, take the next request in order
    and send it at its due time. (httpx's async client fell behind at 200 rps on this machine kind,
    queueing requests on the client side.) The interpreter's thread switch interval is shortened so
    a thread whose request is due does not wait 5 ms for the GIL.
    """
    sys.setswitchinterval(0.0005)
    n = int(rps * seconds)
    queries = _queries(target, n, seed)
    latencies = [float("nan")] * n
    errors = [0]
    next_i = [0]
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {target.key}"}
    # Clients are made before the clock starts: making one (an SSL context) takes tens of ms.
    clients = [httpx.Client(base_url=target.base_url, headers=headers, timeout=10) for _ in range(CLIENTS)]
    for client in clients:  # and their connections opened: a keep-alive pool, as a real caller keeps
        client.get("/healthz")
    t0 = time.perf_counter() + 0.2

    def worker(client: httpx.Client) -> None:
        while True:
            with lock:
                i = next_i[0]
                next_i[0] += 1
            if i >= n:
                return
            due = t0 + i / rps
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            try:
                ok = client.get("/forecasts/demand", params=queries[i]).status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies[i] = time.perf_counter() - due
            if not ok:
                with lock:
                    errors[0] += 1

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in clients]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for c in clients:
        c.close()
    out.put({"latencies": latencies, "errors": errors[0]})


def measure(target: Target, rps: float, seconds: float, seed: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=drive, args=(target, rps, seconds, seed, queue))
    proc.start()
    got = queue.get()
    proc.join()
    lat = np.asarray(got["latencies"]) * 1000.0
    return {
        "rps": rps,
        "seconds": seconds,
        "requests": len(lat),
        "errors": int(got["errors"]),
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p95_ms": round(float(np.percentile(lat, 95)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
    }


def server_side_p99_ms(base_url: str) -> float | None:
    """The server's own view, from its latency histogram: the bucket bound under which 99% of the
    forecast requests finished (tells server time apart from queueing for a CPU on a busy machine)."""
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    buckets: list[tuple[float, float]] = []
    wanted = ("closetflow_http_request_seconds_bucket{", 'route="/forecasts/demand"', 'status="200"')
    for line in text.splitlines():
        if line.startswith(wanted[0]) and all(w in line for w in wanted[1:]):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(le), float(line.rsplit(" ", 1)[1])))
    if not buckets:
        return None
    total = max(count for _, count in buckets)
    return next(le * 1000.0 for le, count in sorted(buckets) if count >= 0.99 * total)


def jobs_per_minute(workers: int, jobs: int) -> dict[str, Any]:
    """Tiny-scale jobs per minute through ``workers`` real ``closetflow worker`` processes on Redis and
    a throwaway PostgreSQL database (``benchmarks/jobs_throughput.py``, run in this process)."""
    from jobs_throughput import run  # a sibling script: benchmarks/ is on sys.path when run as a file

    result: dict[str, Any] = run(workers, jobs, "tiny", "127.0.0.1", "redis://127.0.0.1:6379")
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rps", type=float, default=200.0)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--json", type=Path, required=True, help="where to write the figures")
    p.add_argument("--scale", default="medium")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--database-url", default=None, help="default: the embedded SQLite file")
    p.add_argument("--server-workers", type=int, default=1, help="uvicorn worker processes")
    p.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder, removed after")
    p.add_argument(
        "--no-jobs", action="store_true", help="skip the tiny-jobs-per-minute figure (it needs PostgreSQL and Redis)"
    )
    p.add_argument("--job-workers", type=int, default=2, help="worker processes for the jobs-per-minute figure")
    args = p.parse_args()
    if args.rps <= 0 or args.seconds <= 0 or args.server_workers < 1:
        p.error("--rps and --seconds must be > 0, --server-workers >= 1")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="closetflow-api-load-"))
    runtime, target = prepare(workdir, args.scale, args.seed, args.database_url)
    runtime.dispose()
    proc, url = start_server(workdir, args.database_url, args.server_workers)
    try:
        target = Target(url, target.key, target.skus, target.sites, target.first_day, target.horizon_days)
        measure(target, min(args.rps, 50.0), 2.0, args.seed + 1)  # warm-up: connections, caches of the source
        figures = measure(target, args.rps, args.seconds, args.seed)
        _say(f"server side: 99% of forecast requests took <= {server_side_p99_ms(url)} ms (histogram bucket)")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if not args.no_jobs:
        jobs = jobs_per_minute(args.job_workers, 10)
        figures["jobs_per_minute"] = jobs["jobs_per_minute"]
        figures["jobs"] = {k: jobs[k] for k in ("workers", "jobs", "scale", "seconds", "succeeded", "attempts")}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
