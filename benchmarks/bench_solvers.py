"""Build and solve times of every LP backend on random time-expanded network LPs.

The LP has the shape of the allocation model without its meaning: per item, site and day a
flow-conservation row over hold (inventory to the next day), ship (to demand, capped) and
transfer (to another site, arriving after a lead time) arcs; per site and day a shipping
capacity row shared by all items and a transfer capacity row. Maximise shipped value minus
transfer and holding costs.

"Build" is the time to turn the `LinearProblem` into the backend's input (linprog arrays,
an OR-Tools model, an MPS file for CBC); "total" is `SolveResult.seconds` (build + solve);
"solve" is their difference. Ratios are against HiGHS in the same process.

Usage::

    .venv/bin/python benchmarks/bench_solvers.py --sizes 10000 100000 --time-limit 30
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from solvers import LinearProblem, SolveOptions, SolveResult, solve

SITES = 4
DAYS = 21
ARCS_PER_NODE = 2 + (SITES - 1)  # hold, ship, one transfer per other site
LP_BACKENDS = ["highs", "glop", "pdlp", "scip", "cbc"]


def network_lp(n_vars: int, seed: int = 7) -> LinearProblem:
    """Random time-expanded network LP with about ``n_vars`` variables.

    Args:
        n_vars: Target number of variables; rounded to whole items.
        seed: Random seed.
    """
    rng = np.random.default_rng(seed)
    items = max(1, round(n_vars / (SITES * DAYS * ARCS_PER_NODE)))
    nodes = items * SITES * DAYS
    node = np.arange(nodes)
    item, rest = np.divmod(node, SITES * DAYS)
    site, day = np.divmod(rest, DAYS)

    def node_id(i: np.ndarray, s: np.ndarray, d: np.ndarray) -> np.ndarray:
        return (i * SITES + s) * DAYS + d

    hold = node  # variable j = hold arc of node j
    ship = nodes + node
    n = nodes * ARCS_PER_NODE
    rows, cols, vals = [node, node], [hold, ship], [np.ones(nodes), np.ones(nodes)]
    # Hold arcs arrive at the same site the next day (the last day's hold leaves the horizon).
    later = day + 1 < DAYS
    rows.append(node_id(item, site, day + 1)[later])
    cols.append(hold[later])
    vals.append(-np.ones(int(later.sum())))
    lead = rng.integers(1, 3, nodes)
    for k in range(SITES - 1):
        var = (2 + k) * nodes + node
        dest = (site + 1 + k) % SITES
        rows.append(node)
        cols.append(var)
        vals.append(np.ones(nodes))
        arrives = day + lead < DAYS
        rows.append(node_id(item, dest, day + lead)[arrives])
        cols.append(var[arrives])
        vals.append(-np.ones(int(arrives.sum())))
    # Shared capacities per site-day: shipping (all items) and transfers out (all items).
    cap_row = nodes + site * DAYS + day
    rows.append(cap_row)
    cols.append(ship)
    vals.append(np.ones(nodes))
    for k in range(SITES - 1):
        rows.append(nodes + SITES * DAYS + site * DAYS + day)
        cols.append((2 + k) * nodes + node)
        vals.append(np.ones(nodes))
    m = nodes + 2 * SITES * DAYS
    A = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m, n), dtype=np.float64
    )

    # Supply: returns arriving per node, mostly zero, inventory on day 0.
    supply = np.where(rng.random(nodes) < 0.15, rng.integers(1, 6, nodes), 0).astype(float)
    supply[day == 0] += rng.integers(0, 8, int((day == 0).sum()))
    demand = np.where(rng.random(nodes) < 0.3, rng.integers(1, 4, nodes), 0).astype(float)
    row_lower = np.concatenate([supply, np.full(2 * SITES * DAYS, -np.inf)])
    row_upper = np.concatenate(
        [supply, np.full(SITES * DAYS, 0.3 * demand.sum() / DAYS), np.full(SITES * DAYS, 0.05 * supply.sum())]
    )
    c = np.concatenate(
        [
            np.full(nodes, -0.01),  # holding cost
            rng.choice([40.0, 60.0, 90.0, 150.0], nodes),  # value of a shipment
            -rng.choice([2.0, 3.5, 5.0], (SITES - 1) * nodes),  # transfer cost
        ]
    )
    col_upper = np.concatenate([np.full(nodes, np.inf), demand, np.full((SITES - 1) * nodes, np.inf)])
    return LinearProblem(
        c=c,
        A=A,
        row_lower=row_lower,
        row_upper=row_upper,
        col_lower=np.zeros(n),
        col_upper=col_upper,
        maximize=True,
    )


def build_seconds(backend: str, problem: LinearProblem) -> float:
    """Seconds to turn ``problem`` into ``backend``'s input (best of two runs)."""
    builders: dict[str, Callable[[], object]] = {}
    if backend == "highs":
        from solvers.highs_scipy import linprog_input

        builders["highs"] = lambda: linprog_input(problem)
    elif backend in ("glop", "pdlp", "scip"):
        from solvers.ortools_backend import build_model

        builders[backend] = lambda: build_model(problem, integer=False)
    elif backend == "cbc":
        from solvers.mps import to_mps
        from solvers.pulp_cbc import cbc_form

        def write() -> None:
            with tempfile.TemporaryDirectory() as tmp:
                to_mps(cbc_form(problem, integer=False)[0], Path(tmp) / "model.mps")

        builders["cbc"] = write
    times = []
    for _ in range(2):
        start = time.perf_counter()
        builders[backend]()
        times.append(time.perf_counter() - start)
    return min(times)


def run(sizes: list[int], backends: list[str], time_limit_s: float) -> None:
    """Print one table row per size and backend."""
    header = f"{'vars':>8} {'rows':>7} {'backend':>7} {'build_s':>8} {'solve_s':>8} {'total_s':>8} "
    print(header + f"{'x_highs':>8} {'status':>11} {'objective':>16}")
    for size in sizes:
        start = time.perf_counter()
        problem = network_lp(size)
        problem.validate()
        generated = time.perf_counter() - start
        print(f"# {problem.n_vars} vars, {problem.n_rows} rows, {problem.A.nnz} nonzeros ({generated:.2f} s)")
        reference: SolveResult | None = None
        for backend in backends:
            build = build_seconds(backend, problem)
            result = solve(problem, SolveOptions(backend=backend, time_limit_s=time_limit_s))
            if backend == "highs":
                reference = result
            ratio = result.seconds / reference.seconds if reference is not None else math.nan
            print(
                f"{problem.n_vars:>8} {problem.n_rows:>7} {backend:>7} {build:>8.3f} "
                f"{result.seconds - build:>8.3f} {result.seconds:>8.3f} {ratio:>8.2f} "
                f"{result.status.value:>11} {result.objective:>16.6f}",
                flush=True,
            )


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="variable counts")
    parser.add_argument("--backends", nargs="+", default=LP_BACKENDS, help="highs first, for ratios")
    parser.add_argument("--time-limit", type=float, default=60.0, help="per-solve limit, seconds")
    args = parser.parse_args()
    run(args.sizes, args.backends, args.time_limit)


if __name__ == "__main__":
    main()
