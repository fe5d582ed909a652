"""Tonight's solve from small to RTR scale: the array LP, the decomposed fast path and the naive anchor.

Usage::

    python benchmarks/solve_scaling.py --scales small,medium,large,rtr [--vs-naive]
        [--methods monolithic,decomposed] [--time-limit 600] [--fast-time-limit 300]
        [--threads 2] [--forecast auto|fit|cheap] [--json var/bench/solve_scaling.json]

Methods (each (scale, method) runs alone in a fresh process, one after the other):

* ``monolithic`` — ``build_problem`` (array-built LP) solved whole by HiGHS: the exact reference.
* ``decomposed`` — ``allocation.model.solve.solve_input`` with the ``dw`` backend (Dantzig-Wolfe by
  SKU group), under ``--fast-time-limit``. A backend that refuses the problem is recorded as
  ``unavailable`` with the reason, and the comparisons then use ``monolithic``.
* ``naive`` (``--vs-naive``) — ``allocation.model.naive.solve_naive``: the model as a user writes it
  first, one PuLP object per variable, shipments and transfers integer, one MIP for CBC under the
  time limit. A run that hits it is recorded with its status and time ("did not finish in 10
  minutes" in the table at the default limit).

Instance: per scale the world is simulated once (``simulate_world(scale, 7)``), its forecasts
fitted (``fit_forecasts``, the job's own models) and tonight's ``PlanningInput`` built on the plan
date, in a preparing process of its own. At rtr ``fit_forecasts`` took 1019 s and 8.9 GB on the
2-core machine (large: 66 s), most of it the late-return hazard and the item embeddings the model
does not read, so ``--forecast auto`` (the default) takes ``cheap_information`` there: the job's
demand and cleaning models with one empirical delay distribution (``instance_note`` in the JSON
says so; ``--forecast fit`` insists on the full fit). The input is saved with ``np.savez`` under a
temporary folder and every method's process loads it. Simulation, forecasting and
``planning_input`` are outside the timed total (``simulate_s``, ``forecast_s``, ``input_s`` in
``instances``).

Figures per run:

* ``build_s`` — building the model from the ``PlanningInput`` (for ``decomposed``: the seconds of
  ``solve_input`` outside its backend, i.e. minus ``SolveResult.seconds``);
* ``solve_s`` — the solver (``SolveResult.seconds``; CBC's run for ``naive``);
* ``assign_s`` — unit assignment for today: ``round_today`` (the plan's shipments of the first day as
  whole units, the rule the replay and the published plan use) plus the pick of a physical ready unit
  of that SKU at that site for each, by the replay's matching rule (``_claim``: the ready units of a
  SKU and site in unit order, the first requests take the first units). The full ``project_plan``
  replay needs the world, which the solving process deliberately does not hold;
* ``total_s`` = build + solve + assign;
* ``peak_mb`` — the run's peak resident memory: ``ru_maxrss`` of the method's process
  (``RUSAGE_SELF``: interpreter, imports, the loaded ``PlanningInput``, model, solver in-process)
  plus that of its largest finished child process (``RUSAGE_CHILDREN``: CBC, which PuLP runs as a
  program of its own; 0 for in-process solvers). The sum bounds the concurrent peak from above;
* ``objective``, ``bound``, ``gap`` — dollars, as the solver reports them (naive: bound = objective
  and gap 0 when CBC proves optimality, null otherwise: PuLP does not return CBC's bound);
* ``fill_rate`` — the plan's sum of shipments ``X`` over open reservations divided by the open
  reservations (the whole horizon, the LP's own count), the same definition for every method.

``vs_naive`` compares each scale's naive run with the fast path (the quicker of ``monolithic`` and
``decomposed`` that solved: what the job's ``auto`` backend picks by size): ``ratio`` =
naive_total_s / fast_total_s, ``objective_rel_diff`` = (naive - fast) / |fast|. ``linearity``
divides each method's total by the open reservations and
sets the medium -> large -> rtr growth of the total beside the growth of the reservations.

Targets (reported, never asserted): rtr total <= 60 s on 2 cores, peak <= 8 GiB, gap <= 0.5 %;
small and medium >= 50x faster than naive with the objective within 0.1 %; time roughly linear in
reservations from medium to rtr.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the project's packages sit beside benchmarks/
    sys.path.insert(0, str(ROOT))

from allocation.domain import World  # noqa: E402
from allocation.model.network import Decisions  # noqa: E402
from allocation.model.protection import Protection  # noqa: E402
from allocation.model.rounding import round_today  # noqa: E402
from allocation.model.snapshot import Information, PlanningInput, RiskPolicy  # noqa: E402
from allocation.replay.engine import group_rank  # noqa: E402
from allocation.simulate.scales import SCALES  # noqa: E402
from allocation.statics import Statics  # noqa: E402

METHODS = ("monolithic", "decomposed", "naive")
TEN_MINUTES = 600.0
# A method's process gets its time limit plus this long for loading, building and assigning
# before the benchmark stops it (and records it as stopped).
PROCESS_MARGIN_S = 1800.0
LINEAR_SCALES = ("medium", "large", "rtr")
MAX_DELAY = 14  # days late of the cheap path's last delay bucket ("14 or more"), as the hazard's


# --- the instance: one saved PlanningInput per scale ---------------------------------------------


def save_input(path: Path, inp: PlanningInput, ready_sku: np.ndarray, ready_site: np.ndarray) -> None:
    """Write ``inp`` and the morning's ready units (local SKU, site; unit order) as one ``.npz``."""
    arrays: dict[str, Any] = {"ready_sku": ready_sku, "ready_site": ready_site}
    for f in dataclasses.fields(inp):
        value = getattr(inp, f.name)
        if value is None:  # an optional part left out (no business rules): absent from the file
            continue
        if f.name == "rules":
            raise ValueError("solve_scaling saves inputs without business rules only")
        if isinstance(value, Protection):
            for g in dataclasses.fields(value):
                arrays[f"protect.{g.name}"] = np.asarray(getattr(value, g.name))
        else:
            arrays[f.name] = np.asarray(value)
    np.savez(path, **arrays)


def load_input(path: Path) -> tuple[PlanningInput, np.ndarray, np.ndarray]:
    """The ``PlanningInput`` and ready units written by ``save_input``."""
    with np.load(path) as z:
        arrays = {name: z[name] for name in z.files}
    protect = Protection(**{g.name: arrays[f"protect.{g.name}"] for g in dataclasses.fields(Protection)})
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(PlanningInput):
        if f.name == "protect" or f.name not in arrays:  # absent: the field's default (None)
            continue
        value = arrays[f.name]
        fields[f.name] = int(value) if value.ndim == 0 else value
    return PlanningInput(protect=protect, **fields), arrays["ready_sku"], arrays["ready_site"]


def fitted_information(world: World, statics: Statics) -> Information:
    """What the job knows tonight: ``fit_forecasts`` (demand, late-return hazard, cleaning)."""
    from allocation.jobs.forecasts import fit_forecasts

    fc = fit_forecasts(world, statics)
    return Information(
        risk=RiskPolicy.parse("expected"),
        pmf=fc.pmf,
        schedule=None,
        demand_total=fc.demand_total,
        lead_cdf=fc.lead_cdf,
        sku_fail_rate=fc.cleaning_rates,
    )


def cheap_information(world: World, statics: Statics) -> Information:
    """The instance's forecasts where ``fit_forecasts`` takes too long (rtr: 17 minutes, 8.9 GB).

    Demand and cleaning are the job's own models (the linear demand model per SKU with its site
    split and lead curve; the cleaning failure shares); the late-return hazard (torch, per rental)
    is replaced by one delay distribution for every unit and reservation, the shares of history's
    returned rentals 0, 1, ..., ``MAX_DELAY`` or more days late; the item embeddings and holdout
    scores, which the model does not read, are skipped. The LP keeps its size and shape: only the
    spread of expected returns over days is coarser.
    """
    from forecasting.cleaning import CleaningFailureModel
    from forecasting.job_demand import JobDemand
    from forecasting.job_serving import BASELINE, FREQ, make_forecaster

    site_of_zone = {str(z): str(statics.site_ids[statics.nearest_site[i]]) for i, z in enumerate(statics.zone_ids)}
    demand = JobDemand(make_forecaster(BASELINE, FREQ)).fit(world.bookings, world.skus, site_of_zone, world.plan_date)
    H = world.horizon_days
    by_sku = demand.sku_day_means(H)[:, None, :] * demand.split_.split_[:, :, None]  # (skus, sites, H)
    total = np.zeros((statics.n_skus, statics.n_sites, H))
    k = statics.sku_ids.get_indexer(demand.sku_ids_)
    site = statics.site_ids.get_indexer(demand.site_ids_)
    total[np.ix_(k[k >= 0], site[site >= 0])] = by_sku[np.ix_(k >= 0, site >= 0)]
    delays = world.rentals["delay_days"].dropna().to_numpy(dtype=np.int64)
    share = np.bincount(np.clip(delays, 0, MAX_DELAY), minlength=MAX_DELAY + 1).astype(float)
    share /= max(share.sum(), 1.0)
    pmf = np.tile(share, (len(world.units) + statics.n_res, 1))
    rates = CleaningFailureModel().fit(world.rentals, world.skus).predict(world.skus["category"].astype(str).tolist())
    return Information(
        risk=RiskPolicy.parse("expected"),
        pmf=pmf,
        schedule=None,
        demand_total=total,
        lead_cdf=demand.lead_cdf_,
        sku_fail_rate=np.asarray(rates, dtype=float),
    )


CHEAP_NOTE = (
    "forecasts by cheap_information: the job's demand and cleaning models, one empirical delay "
    "distribution instead of the late-return hazard (fit_forecasts took 1019 s and 8.9 GB at rtr)"
)


def prepare(scale: str, path: Path, forecast: str) -> dict[str, Any]:
    """Simulate ``scale`` (seed 7), forecast, save tonight's input; its figures.

    ``forecast``: ``fit`` (``fit_forecasts``), ``cheap`` (``cheap_information``) or ``auto``
    (cheap at rtr only).
    """
    from allocation.model.snapshot import planning_input
    from allocation.simulate.world import simulate_world
    from allocation.state import U, initial_state

    t0 = time.perf_counter()
    world = simulate_world(scale, 7)
    statics = Statics.from_world(world)
    simulate_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    cheap = forecast == "cheap" or (forecast == "auto" and scale == "rtr")
    info = cheap_information(world, statics) if cheap else fitted_information(world, statics)
    forecast_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    state = initial_state(world, statics, None)
    inp = planning_input(statics, state, 0, info)
    input_s = time.perf_counter() - t0
    local = np.full(statics.n_skus, -1, dtype=np.int64)
    local[inp.skus] = np.arange(len(inp.skus))
    ready = np.nonzero((state.state == U.READY) & (local[statics.unit_sku] >= 0))[0]
    save_input(path, inp, local[statics.unit_sku[ready]], np.asarray(state.site[ready], dtype=np.int64))
    return {
        "scale": scale,
        "units": len(world.units),
        "skus": statics.n_skus,
        "reservations": statics.n_res,
        "open_reservations": len(inp.res),
        "simulate_s": simulate_s,
        "forecast_s": forecast_s,
        "input_s": input_s,
        "forecast": "cheap_information" if cheap else "fit_forecasts",
        "instance_note": CHEAP_NOTE if cheap else "",
    }


# --- one method on one instance (its own process) ------------------------------------------------


def pick_units(inp: PlanningInput, chosen: np.ndarray, ready_sku: np.ndarray, ready_site: np.ndarray) -> np.ndarray:
    """The ready unit (position among the morning's ready units) each of today's shipments takes;
    -1 where none is there yet (a unit only becoming ready during the day).

    The replay's rule (``allocation.replay.engine._claim``): per SKU and site, requests in priority
    order take that cell's ready units in unit order.
    """
    S = inp.n_sites
    key_ready = ready_sku * S + ready_site
    order = np.argsort(key_ready, kind="stable")
    key_sorted = key_ready[order]
    key = inp.cand_sku[chosen] * S + inp.cand_site[chosen]
    lo = np.searchsorted(key_sorted, key, side="left")
    hi = np.searchsorted(key_sorted, key, side="right")
    rank = group_rank(key)
    has = rank < hi - lo
    units = np.full(len(chosen), -1, dtype=np.int64)
    units[has] = order[lo[has] + rank[has]]
    return units


def _decisions_of(inp: PlanningInput, x: np.ndarray) -> Decisions:
    """Decisions holding only the shipments (all ``round_today`` reads) for a solve without a layout."""
    K, S, T = len(inp.skus), inp.n_sites, inp.T
    z = np.zeros((K, S, T))
    return Decisions(x=x, clean=z, ready_end=z, protect=np.zeros(0), transfer=np.zeros(0), slack={})


def _solve_fast(inp: PlanningInput, method: str, time_limit_s: float, threads: int) -> dict[str, Any]:
    """Build and solve with the array LP (HiGHS) or the decomposed path (``dw``)."""
    from allocation.model.network import build_problem, decode
    from solvers.base import SolveOptions, SolverError, solve

    if method == "monolithic":
        t0 = time.perf_counter()
        problem, layout = build_problem(inp)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = solve(problem, SolveOptions(backend="highs", time_limit_s=time_limit_s, threads=threads))
        solve_s = time.perf_counter() - t0
        decisions = decode(inp, layout, result.x) if result.x is not None else None
    else:
        from allocation.model.solve import solve_input

        t0 = time.perf_counter()
        try:
            run = solve_input(inp, SolveOptions(backend="dw", time_limit_s=time_limit_s, threads=threads))
        except SolverError as e:
            return {"status": "unavailable", "message": f"backend dw: {e}"}
        took = time.perf_counter() - t0
        result = run.result
        decisions = run.decisions if result.x is not None else None  # no plan: nothing to assign
        solve_s = float(result.seconds)
        build_s = max(took - solve_s, 0.0)
    return {
        "backend": result.backend,
        "status": str(result.status),
        "message": result.message,
        "vars": result.variables,
        "rows": result.constraints,
        "build_s": build_s,
        "solve_s": solve_s,
        "objective": result.objective,
        "bound": result.bound,
        "gap": result.gap,
        "x": None if decisions is None else decisions.x,
        "decisions": decisions,
    }


def run_method(method: str, npz: Path, time_limit_s: float, threads: int) -> dict[str, Any]:
    """One method on one saved instance: the figures of the module docstring."""
    inp, ready_sku, ready_site = load_input(npz)
    if method == "naive":
        from allocation.model.naive import solve_naive

        got = solve_naive(inp, time_limit_s=time_limit_s)
        optimal = got.status == "optimal"
        out: dict[str, Any] = {
            "backend": "pulp-cbc",
            "status": got.status,
            "message": "",
            "vars": got.n_vars,
            "rows": got.n_rows,
            "build_s": got.build_s,
            "solve_s": got.solve_s,
            "objective": got.objective,
            "bound": got.objective if optimal else float("nan"),
            "gap": 0.0 if optimal else float("nan"),
            "x": got.x,
            "decisions": None if got.x is None else _decisions_of(inp, got.x),
        }
    else:
        out = _solve_fast(inp, method, time_limit_s, threads)
    decisions = out.pop("decisions", None)
    x = out.pop("x", None)
    out["open_reservations"] = len(inp.res)
    if decisions is None or x is None:
        out.update(assign_s=float("nan"), total_s=float("nan"), fill_rate=float("nan"))
    else:
        t0 = time.perf_counter()
        chosen = round_today(inp, decisions).chosen
        units = pick_units(inp, chosen, ready_sku, ready_site)
        out["assign_s"] = time.perf_counter() - t0
        out["total_s"] = out["build_s"] + out["solve_s"] + out["assign_s"]
        out["today_shipments"] = len(chosen)
        out["today_without_ready_unit"] = int((units < 0).sum())
        out["fill_rate"] = float(np.sum(x) / len(inp.res)) if len(inp.res) else float("nan")
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out["peak_mb"] = (me + kids) / 1024.0  # ru_maxrss is in KiB on Linux
    return out


# --- the driver ------------------------------------------------------------------------------------


def _child(argv: list[str], timeout_s: float) -> tuple[dict[str, Any] | None, str]:
    """Run this script with a hidden flag in a fresh process; its JSON, or None and why not."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = Path(f.name)
    try:
        proc = subprocess.run(
            [sys.executable, __file__, *argv, "--child-out", str(out)],
            timeout=timeout_s,
            capture_output=True,
            text=True,
            check=False,
        )
    except subprocess.TimeoutExpired:
        out.unlink(missing_ok=True)
        return None, f"stopped after {timeout_s:.0f} s"
    try:
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or [""])[-1]
            return None, f"exit {proc.returncode}: {last}"
        loaded: dict[str, Any] = json.loads(out.read_text())
        return loaded, ""
    finally:
        out.unlink(missing_ok=True)


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def vs_naive(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per scale with a naive run: its total and objective against the fast path's."""
    out = []
    by = {(r["scale"], r["method"]): r for r in runs}
    for r in runs:
        if r["method"] != "naive":
            continue
        # The fast path is what the job runs (``auto``): the quicker of the two exact array paths that
        # solved — the whole LP below AUTO_MONOLITHIC_MAX_VARS columns, the decomposition above.
        solved = [
            f
            for f in (by.get((r["scale"], "monolithic")), by.get((r["scale"], "decomposed")))
            if f is not None and _finite(f.get("total_s"))
        ]
        if not solved:
            continue
        fast = min(solved, key=lambda f: float(f["total_s"]))
        naive_s = r.get("total_s")
        if not _finite(naive_s):  # no solution to assign: the seconds it ran until it stopped
            spent = r.get("build_s", float("nan")) + r.get("solve_s", float("nan"))
            naive_s = spent if _finite(spent) else r.get("elapsed_s")
        obj_diff = (
            (r["objective"] - fast["objective"]) / abs(fast["objective"])
            if _finite(r.get("objective")) and _finite(fast.get("objective")) and fast["objective"] != 0
            else float("nan")
        )
        out.append(
            {
                "scale": r["scale"],
                "naive_total_s": naive_s,
                "fast_total_s": fast["total_s"],
                "ratio": naive_s / fast["total_s"] if _finite(naive_s) and fast["total_s"] > 0 else float("nan"),
                "objective_rel_diff": obj_diff,
                "fast_method": fast["method"],
                "naive_status": r["status"],
                "naive_finished": r["status"] == "optimal",
            }
        )
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def linearity(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per method: total seconds per open reservation, and growth between consecutive scales."""
    out = []
    for method in METHODS:
        mine = [r for r in runs if r["method"] == method and _finite(r.get("total_s"))]
        for r in mine:
            out.append(
                {
                    "method": method,
                    "scale": r["scale"],
                    "total_s_per_reservation": r["total_s"] / max(r["open_reservations"], 1),
                }
            )
        ordered = [r for s in LINEAR_SCALES for r in mine if r["scale"] == s]
        for a, b in itertools.pairwise(ordered):
            out.append(
                {
                    "method": method,
                    "scale": f"{a['scale']}->{b['scale']}",
                    "time_growth": b["total_s"] / a["total_s"] if a["total_s"] > 0 else float("nan"),
                    "reservation_growth": b["open_reservations"] / max(a["open_reservations"], 1),
                }
            )
    return out


def print_tables(runs: list[dict[str, Any]], comparisons: list[dict[str, Any]], lin: list[dict[str, Any]]) -> None:
    head = (
        f"{'scale':7} {'method':10} {'vars':>10} {'rows':>9} {'build_s':>8} {'solve_s':>8} {'assign_s':>8} "
        f"{'total_s':>8} {'peak_mb':>8} {'objective':>13} {'bound':>13} {'gap':>7} {'fill':>6}  status"
    )
    print(head)
    for r in runs:
        status = r["status"]
        if r["method"] == "naive" and status in ("feasible", "no_solution") and r.get("time_limit_s") == TEN_MINUTES:
            status += " (did not finish in 10 minutes)"
        if r.get("message") and status in ("unavailable", "error", "stopped"):
            status += f": {r['message']}"
        print(
            f"{r['scale']:7} {r['method']:10} {_fmt(r.get('vars'), '10,')} {_fmt(r.get('rows'), '9,')} "
            f"{_fmt(r.get('build_s'), '8.2f')} {_fmt(r.get('solve_s'), '8.2f')} {_fmt(r.get('assign_s'), '8.3f')} "
            f"{_fmt(r.get('total_s'), '8.2f')} {_fmt(r.get('peak_mb'), '8.0f')} "
            f"{_fmt(r.get('objective'), '13,.2f')} {_fmt(r.get('bound'), '13,.2f')} {_fmt(r.get('gap'), '7.2%')} "
            f"{_fmt(r.get('fill_rate'), '6.3f')}  {status}"
        )
    if comparisons:
        print(f"\n{'scale':7} {'naive_total_s':>13} {'fast_total_s':>12} {'ratio':>8} {'obj_rel_diff':>12}  fast")
        for c in comparisons:
            done = "" if c["naive_finished"] else f"  naive {c['naive_status']}: ratio is a lower bound"
            print(
                f"{c['scale']:7} {_fmt(c['naive_total_s'], '13.2f')} {_fmt(c['fast_total_s'], '12.3f')} "
                f"{_fmt(c['ratio'], '7.1f')}x {_fmt(c['objective_rel_diff'], '12.4%')}  {c['fast_method']}{done}"
            )
    if lin:
        print("\nlinearity (total_s per open reservation; growth medium -> large -> rtr)")
        for row in lin:
            if "time_growth" in row:
                print(
                    f"  {row['method']:10} {row['scale']:14} time x{_fmt(row['time_growth'], '.2f')} "
                    f"against reservations x{_fmt(row['reservation_growth'], '.2f')}"
                )
            else:
                print(
                    f"  {row['method']:10} {row['scale']:14} {_fmt(row['total_s_per_reservation'] * 1e6, '.1f')} "
                    "us per reservation"
                )


def _split(text: str, allowed: tuple[str, ...] | list[str], what: str) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in items if s not in allowed]
    if bad or not items:
        sys.exit(f"solve_scaling: unknown {what} {', '.join(bad) or repr(text)}; choose from {', '.join(allowed)}")
    return items


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", default="small,medium", help="comma-separated: " + ",".join(SCALES))
    ap.add_argument("--methods", default="monolithic,decomposed", help="comma-separated: " + ",".join(METHODS))
    ap.add_argument("--vs-naive", action="store_true", help="add the naive PuLP/CBC anchor and its ratios")
    ap.add_argument("--time-limit", type=float, default=TEN_MINUTES, help="seconds per monolithic/naive solve")
    ap.add_argument("--fast-time-limit", type=float, default=300.0, help="seconds per decomposed solve")
    ap.add_argument("--threads", type=int, default=2, help="solver threads for monolithic and decomposed")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    ap.add_argument(
        "--forecast",
        choices=("auto", "fit", "cheap"),
        default="auto",
        help="the instance's forecasts: fit_forecasts, cheap_information, or auto (cheap at rtr only)",
    )
    ap.add_argument("--child-prepare", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-method", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-npz", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-limit", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child_out is not None:  # a process of the benchmark's own: prepare or solve, then exit
        if args.child_prepare is not None:
            result = prepare(args.child_prepare, args.child_npz, args.forecast)
        else:
            result = run_method(args.child_method, args.child_npz, args.child_limit, args.threads)
        args.child_out.write_text(json.dumps(_nan_to_none(result)))
        return

    scales = _split(args.scales, list(SCALES), "scale")
    methods = _split(args.methods, METHODS, "method")
    if args.vs_naive and "naive" not in methods:
        methods.append("naive")
    for name in ("time_limit", "fast_time_limit"):
        if not getattr(args, name) > 0:
            sys.exit(f"solve_scaling: --{name.replace('_', '-')} must be > 0 seconds")
    if args.threads < 1:
        sys.exit("solve_scaling: --threads must be >= 1")
    if args.json is not None:
        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            sys.exit(f"solve_scaling: cannot write {args.json}: {e.strerror}")

    runs: list[dict[str, Any]] = []
    instances: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="solve_scaling_") as tmp:
        for scale in scales:
            npz = Path(tmp) / f"{scale}.npz"
            print(f"[{scale}] simulating and forecasting ...", file=sys.stderr, flush=True)
            prep = ["--child-prepare", scale, "--child-npz", str(npz), "--forecast", args.forecast]
            inst, why = _child(prep, 4 * 3600.0)
            if inst is None:
                sys.exit(f"solve_scaling: preparing {scale} failed ({why})")
            instances.append(inst)
            for method in methods:
                limit = args.fast_time_limit if method == "decomposed" else args.time_limit
                print(f"[{scale}] {method} ...", file=sys.stderr, flush=True)
                t0 = time.perf_counter()
                argv_child = ["--child-method", method, "--child-npz", str(npz), "--child-limit", str(limit)]
                got, why = _child([*argv_child, "--threads", str(args.threads)], limit + PROCESS_MARGIN_S)
                elapsed = time.perf_counter() - t0
                row = got if got is not None else {"status": "stopped", "message": why}
                runs.append({"scale": scale, "method": method, "time_limit_s": limit, "elapsed_s": elapsed, **row})
            npz.unlink(missing_ok=True)
    runs = [{k: (float("nan") if v is None else v) for k, v in r.items()} for r in runs]
    comparisons = vs_naive(runs)
    lin = linearity(runs)
    print_tables(runs, comparisons, lin)
    if args.json is not None:
        doc = {"runs": runs, "vs_naive": comparisons, "instances": instances, "linearity": lin}
        args.json.write_text(json.dumps(_nan_to_none(doc), indent=2) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
