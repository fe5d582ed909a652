"""Allocation model: array build vs one-PuLP-object-per-variable build, and solve time per backend.

Usage: python benchmarks/bench_solve.py [--scales tiny small medium] [--backends highs glop cbc]
                                        [--baseline-max-vars 200000]

For each scale it generates the world (seed 7), builds tonight's model with the vectorised builder
(allocation/model/network.py) and, as the baseline in the same process, the same rows as PuLP objects (one
LpVariable per column, one LpAffineExpression per row — the straightforward way DESIGN.md measured
at ~50 us/variable). Then it solves with each backend and prints seconds and ratios.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pulp

from allocation.model.network import build_problem
from allocation.model.snapshot import Information, RiskPolicy, planning_input
from allocation.simulate.world import simulate_world
from allocation.state import initial_state
from allocation.statics import Statics
from solvers.base import LinearProblem, SolveOptions, solve


def pulp_objects_build(problem: LinearProblem) -> float:
    """Seconds to express ``problem`` as PuLP objects, one per variable and per row."""
    t = time.perf_counter()
    m = pulp.LpProblem("baseline", pulp.LpMaximize)
    xs = [
        pulp.LpVariable(f"x{i}", lowBound=float(lo), upBound=None if not np.isfinite(hi) else float(hi))
        for i, (lo, hi) in enumerate(zip(problem.col_lower, problem.col_upper, strict=True))
    ]
    m += pulp.LpAffineExpression([(xs[i], float(v)) for i, v in enumerate(problem.c) if v != 0.0])
    A = problem.A.tocsr()
    for r in range(A.shape[0]):
        a, b = A.indptr[r], A.indptr[r + 1]
        expr = pulp.LpAffineExpression([(xs[j], float(v)) for j, v in zip(A.indices[a:b], A.data[a:b], strict=True)])
        lo, hi = problem.row_lower[r], problem.row_upper[r]
        if lo == hi:
            m += expr == float(lo)
        else:
            if np.isfinite(hi):
                m += expr <= float(hi)
            if np.isfinite(lo):
                m += expr >= float(lo)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", nargs="+", default=["tiny", "small", "medium"])
    ap.add_argument("--backends", nargs="+", default=["highs", "glop", "cbc"])
    ap.add_argument("--baseline-max-vars", type=int, default=200_000)
    ap.add_argument("--time-limit", type=float, default=600.0)
    args = ap.parse_args()
    print(f"{'scale':8} {'vars':>9} {'rows':>9} {'array build s':>14} {'pulp build s':>13} {'ratio':>7}  solves")
    for scale in args.scales:
        world = simulate_world(scale, 7)
        statics = Statics.from_world(world)
        delays = world.rentals["delay_days"].dropna().to_numpy(dtype=np.int64)
        pmf = np.bincount(np.clip(delays, 0, 14), minlength=15) / max(1, len(delays))
        info = Information(RiskPolicy(), np.tile(pmf, (len(world.units) + statics.n_res, 1)), None, None, None)
        t = time.perf_counter()
        inp = planning_input(statics, initial_state(world, statics, None), 0, info)
        problem, _ = build_problem(inp)
        build = time.perf_counter() - t
        if problem.n_vars <= args.baseline_max_vars:
            base = pulp_objects_build(problem)
            base_txt, ratio = f"{base:13.2f}", f"{base / build:7.1f}"
        else:
            base_txt, ratio = f"{'skipped':>13}", f"{'-':>7}"
        solves = []
        for backend in args.backends:
            r = solve(problem, SolveOptions(backend=backend, time_limit_s=args.time_limit))
            solves.append(f"{backend} {r.status} {r.seconds:.2f}s obj {r.objective:,.0f}")
        print(
            f"{scale:8} {problem.n_vars:9,} {problem.n_rows:9,} {build:14.3f} {base_txt} {ratio}  " + "; ".join(solves),
            flush=True,
        )


if __name__ == "__main__":
    main()
