"""Choose closetflow's looked-at constants on TUNING seeds, kept apart from the REPORTING seeds.

Usage: python scripts/tune_policy.py [--scale small] [--seeds 101-103] [--protect-weights 0.25,0.5,0.75]
                                     [--fill-bonuses 50,100,200] [--ship-early-days 2] [--jobs 2]
                                     [--json tuned.json]

Some of closetflow's constants were chosen by looking at replayed results rather than derived:
the protection weight (``Information.protect_weight``: the value share of holding a unit back for
forecast demand), the fill bonus (``Information.fill_bonus``: dollars per filled reservation in the
objective) and, optionally, how many days early a shipment may leave (``ship_early_days``). A
constant chosen on the seeds that are then reported would flatter the report, so this script
chooses them on TUNING seeds only (default 101-103, small scale) and refuses any seed among the
REPORTING seeds (1-5, ``allocation.jobs.evaluate.REPORTING_SEEDS``) that ``closetflow evaluate``
and ``benchmarks/decision_quality.py`` report.

For each point of the grid it replays every policy on every tuning seed with
``allocation.jobs.evaluate.evaluate`` (the LP bound is skipped: it does not depend on the
constants) and picks the point with the best mean realized closetflow value, ties broken by mean
fill rate. It prints the grid and writes the choice, the criterion, the seeds and the whole grid to
``--json``. Greedy, rules and hindsight do not depend on these constants either, so their figures
repeat down the grid; they are replayed anyway so each row's gap is computed exactly as reported.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from allocation.domain import ClosetflowError
from allocation.jobs.evaluate import REPORTING_SEEDS, TUNING_SEEDS, EvaluateOptions, evaluate, parse_seeds
from allocation.model.snapshot import SHIP_EARLY_DAYS

ROOT = Path(__file__).resolve().parents[1]


def _numbers(text: str, kind: type[float] | type[int]) -> list[Any]:
    try:
        return [kind(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma list of {kind.__name__}s") from None


def _git_rev() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def _fmt(s: dict[str, Any], spec: str) -> str:
    return "-" if s["mean"] is None else f"{s['mean']:{spec}} [{s['min']:{spec}}, {s['max']:{spec}}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="small")
    ap.add_argument("--seeds", default=f"{TUNING_SEEDS[0]}-{TUNING_SEEDS[-1]}", help="tuning seeds, never 1-5")
    ap.add_argument("--protect-weights", type=lambda t: _numbers(t, float), default=[0.25, 0.5, 0.75])
    ap.add_argument("--fill-bonuses", type=lambda t: _numbers(t, float), default=[50.0, 100.0, 200.0])
    ap.add_argument("--ship-early-days", type=lambda t: _numbers(t, int), default=[SHIP_EARLY_DAYS])
    ap.add_argument("--solver", default="highs")
    ap.add_argument("--risk", default="expected")
    ap.add_argument("--jobs", type=int, default=2, help="seeds replayed at once, one process each")
    ap.add_argument("--json", type=Path, default=None, help="write the choice and the grid here")
    args = ap.parse_args()
    try:
        seeds = parse_seeds(args.seeds)
    except ClosetflowError as err:
        ap.error(f"--seeds: {err}")
    overlap = sorted(set(seeds) & set(REPORTING_SEEDS))
    if overlap:
        ap.error(f"--seeds {overlap} are reporting seeds; tune on seeds kept apart from {list(REPORTING_SEEDS)}")
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    if not (args.protect_weights and args.fill_bonuses and args.ship_early_days):
        ap.error("every grid list needs at least one value")

    grid = [
        EvaluateOptions(
            solver=args.solver,
            risk=args.risk,
            protect_weight=pw,
            fill_bonus=fb,
            ship_early_days=sed,
            lp_bound=False,
        )
        for pw in args.protect_weights
        for fb in args.fill_bonuses
        for sed in args.ship_early_days
    ]
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for i, opts in enumerate(grid, 1):
        print(
            f"[{i}/{len(grid)}] protect_weight {opts.protect_weight:g}, fill_bonus {opts.fill_bonus:g}, "
            f"ship_early_days {opts.ship_early_days}",
            file=sys.stderr,
            flush=True,
        )
        summary = evaluate(args.scale, seeds, options=opts, jobs=args.jobs).summary
        cf = summary["policies"]["closetflow"]
        rows.append(
            {
                "protect_weight": opts.protect_weight,
                "fill_bonus": opts.fill_bonus,
                "ship_early_days": opts.ship_early_days,
                "closetflow_value": cf["value"],
                "closetflow_fill_rate": cf["fill_rate"],
                "gap_captured_vs_rules": summary["gap_captured_vs_rules"],
                "closetflow_below_rules": summary["closetflow_below_rules"],
            }
        )
    best = max(rows, key=lambda r: (r["closetflow_value"]["mean"], r["closetflow_fill_rate"]["mean"]))

    table = Table(
        title=f"closetflow on tuning seeds {args.seeds} ({args.scale}); the chosen row in bold",
        caption=escape("value $: mean [min, max] over the seeds; fill rate and gap vs rules: mean"),
    )
    for col in ("protect weight", "fill bonus", "early days", "value $", "fill rate", "gap vs rules"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            f"{r['protect_weight']:g}",
            f"{r['fill_bonus']:g}",
            str(r["ship_early_days"]),
            escape(_fmt(r["closetflow_value"], ",.0f")),
            f"{r['closetflow_fill_rate']['mean']:.3f}",
            "-" if r["gap_captured_vs_rules"]["mean"] is None else f"{r['gap_captured_vs_rules']['mean']:.3f}",
            style="bold green" if r is best else None,
        )
    console = Console()
    console.print(table)
    chosen = {k: best[k] for k in ("protect_weight", "fill_bonus", "ship_early_days")}
    console.print(f"chosen: {chosen}", highlight=False, markup=False)
    if args.json is not None:
        doc = {
            "chosen": chosen,
            "criterion": "best mean realized closetflow value over the tuning seeds; ties by mean fill rate",
            "scale": args.scale,
            "tuning_seeds": seeds,
            "reporting_seeds": list(REPORTING_SEEDS),
            "solver": args.solver,
            "risk": args.risk,
            "code_version": _git_rev(),
            "elapsed_s": round(time.perf_counter() - t0, 1),
            "grid": rows,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        console.print(f"written: {args.json}", highlight=False)


if __name__ == "__main__":
    main()
