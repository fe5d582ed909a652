"""Tonight's allocation solve per world scale: model size, build and solve seconds, status.

Usage: python benchmarks/bench_scale.py [--scales tiny small medium large] [--solver highs]
                                        [--time-limit 600]

For each scale it simulates the world (seed 7), fits the baselines, builds tonight's model from
the snapshot and solves it with the chosen backend under the time limit — the "solve" step of
``closetflow run`` without the holdout replay. The ratio column divides the solve time by the
vectorised model-build time measured in the same process, so a noisy machine shifts both alike.
"""

from __future__ import annotations

import argparse
import math
import time

from allocation.jobs.forecasts import fit_forecasts
from allocation.model.network import build_problem
from allocation.model.snapshot import Information, RiskPolicy, planning_input
from allocation.simulate.world import simulate_world
from allocation.state import initial_state
from allocation.statics import Statics
from solvers.base import SolveOptions, solve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", nargs="+", default=["tiny", "small", "medium"])
    ap.add_argument("--solver", default="highs")
    ap.add_argument("--time-limit", type=float, default=600.0)
    args = ap.parse_args()
    print(
        f"{'scale':7} {'units':>8} {'res':>8} {'vars':>10} {'rows':>9} {'nnz':>10} {'build s':>8} "
        f"{'solve s':>8} {'solve/build':>11}  status (gap)",
        flush=True,
    )
    for scale in args.scales:
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
        t = time.perf_counter()
        inp = planning_input(statics, initial_state(world, statics, None), 0, info)
        problem, _ = build_problem(inp)
        build = time.perf_counter() - t
        t = time.perf_counter()
        result = solve(problem, SolveOptions(backend=args.solver, time_limit_s=args.time_limit))
        took = time.perf_counter() - t
        gap = "" if math.isnan(result.gap) else f" (gap {result.gap:.2%})"
        print(
            f"{scale:7} {len(world.units):8,} {statics.n_res:8,} {problem.n_vars:10,} {problem.n_rows:9,} "
            f"{problem.A.nnz:10,} {build:8.2f} {took:8.1f} {took / build:10.1f}x  {result.status}{gap}",
            flush=True,
        )


if __name__ == "__main__":
    main()
