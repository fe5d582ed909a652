"""Forecast accuracy against the issue's targets (issue 11, item 8): RTR items and categories,
generated worlds, cold start, embeddings, late returns; one JSON file and a table.

    python benchmarks/forecast_accuracy.py --json OUT [--seeds 0,1,2] [--quick] [--only SECTION,...]
    (make bench-forecast)

``--only`` reruns the named sections and keeps the others of an existing OUT (their ``config`` and
run times stay recorded per section in ``section_runs``).

JSON top level: ``rtr_items`` and ``rtr_categories`` (`forecasting.rtr.rtr_protocol`; each
``{MODEL: {"rmse", "wape", "wape_total", "bias", "coverage_80", ...}}``), ``generated`` (the same
models on generated worlds, `generated_weekly`), ``cold_start.{wape_without_embeddings,
wape_with_embeddings}``, ``embeddings.{recall_at_20, popularity_recall_at_20}``,
``late_returns.{brier, base_rate_brier, auc}`` (GetAround) and ``late_returns_generated``,
``train_rows_per_s`` (NeuralDemand), plus ``neural_seeds`` (the neural model per seed with mean,
min and max: its rows above are the means over ``--seeds``), ``embeddings_seeds``, ``targets``
(ratios to the best statistical baseline and pass/fail), ``device``, ``wall_seconds`` and ``config``.

Generated worlds: `simulate_world("small", s)` for world seeds `WORLD_SEEDS`; per SKU the weekly
count of bookings by event date (weeks from Monday) over the history before the plan date (a
Monday); two origins, 16 and 8 weeks before the plan date's week, 8 weeks ahead each; all worlds'
SKUs pooled into one table (ids prefixed by the world seed, so a global model fits them together)
and, as on RTR, the 200 SKUs with the most bookings before each origin (50 with ``--quick``). The
worlds have about 57 weeks of history: less than the two years the seasonal models would like,
which is the question a young business asks too.

The sections written by other modules (`forecasting.embedding_eval`, `forecasting.late_eval`) are
imported when their section runs; an import or run that fails records ``{"error": "..."}`` for that
section and the benchmark goes on. The JSON is rewritten after every section.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.settings import real_data_dir
from forecasting.artifacts import utc_now, write_json_atomic
from forecasting.rtr import ORIGINS, SEASONAL_INDEX, rtr_protocol, split_at, top_series, weekly_counts

STATISTICAL: Final = ("seasonal_naive", "autoets", SEASONAL_INDEX, "croston_sba", "historic_average")
CLOSETFLOW: Final = ("linear", "neural")
SEEDED: Final = ("neural",)
METRICS: Final = ("rmse", "wape", "wape_total", "bias", "coverage_80")
WORLD_SEEDS: Final = (1, 2)
# Worlds the late-return hazard is scored on: its settings were chosen on small seeds 1-4, so the
# reported figures come from seeds it never saw.
LATE_WORLD_SEEDS: Final = tuple(range(11, 19))
SECTIONS: Final = (
    "rtr_items",
    "rtr_categories",
    "generated",
    "cold_start",
    "embeddings",
    "late_returns",
    "late_returns_generated",
    "train_rows_per_s",
)
TARGET_RATIO: Final = 0.9
COVERAGE_BAND: Final = (0.75, 0.85)

Metrics = dict[str, dict[str, float | None]]
Tick = Callable[[str, float], None]


def section_list(text: str) -> list[str]:
    """``"rtr_categories,generated"`` -> the names; ValueError naming an unknown one."""
    names = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise ValueError(f"--only: unknown section {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    return names


def seed_list(text: str) -> list[int]:
    """``"0,1,2"`` -> [0, 1, 2]; ValueError with the bad part."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.lstrip("-").isdigit() for p in parts):
        raise ValueError(f"--seeds {text!r} is not a comma list of integers")
    return [int(p) for p in parts]


def spread(values: Sequence[float | None]) -> dict[str, Any]:
    """Per-seed values with their mean, min and max (None where a value is missing)."""
    ok = [v for v in values if v is not None]
    if not ok:
        return {"per_seed": list(values), "mean": None, "min": None, "max": None}
    return {"per_seed": list(values), "mean": float(np.mean(ok)), "min": min(ok), "max": max(ok)}


def seeded_protocol(
    run: Callable[[Sequence[str], int, Tick], Metrics], models: Sequence[str], seeds: Sequence[int], tick: Tick
) -> tuple[Metrics, dict[str, Any]]:
    """Unseeded models once, seeded ones per seed; the seeded rows are the means, their spread apart."""
    plain = [m for m in models if m not in SEEDED]
    seeded = [m for m in models if m in SEEDED]
    out: Metrics = dict(run(plain, seeds[0], tick)) if plain else {}
    spreads: dict[str, Any] = {}
    for name in seeded:
        runs = [run([name], s, tick)[name] for s in seeds]
        per_metric = {k: spread([r.get(k) for r in runs]) for k in runs[0]}
        out[name] = {k: v["mean"] for k, v in per_metric.items()}
        spreads[name] = {"seeds": list(seeds), **per_metric}
    return {m: out[m] for m in models if m in out}, spreads


def generated_weekly(world_seeds: Sequence[int], scale: str = "small") -> tuple[pd.DataFrame, list[pd.Timestamp]]:
    """A reviews-like table (``item_id``, ``category``, ``review_date``) of the worlds' bookings by event
    date before each plan date, ids prefixed by the world seed; and the two origins (module docstring)."""
    from allocation.simulate.world import simulate_world

    frames, plan_dates = [], set()
    for s in world_seeds:
        world = simulate_world(scale, s)
        plan = pd.Timestamp(world.plan_date)
        plan_dates.add(plan)
        b = world.bookings[pd.to_datetime(world.bookings["event_date"]) < plan]
        cats = world.skus.set_index("sku_id")["category"]
        frames.append(
            pd.DataFrame(
                {
                    "item_id": f"w{s}:" + b["sku_id"].astype(str),
                    "category": b["sku_id"].map(cats).astype(str).to_numpy(),
                    "review_date": pd.to_datetime(b["event_date"]).to_numpy(),
                }
            )
        )
    if len(plan_dates) != 1:
        raise ValueError(f"the worlds have different plan dates {sorted(plan_dates)}; one origin grid needs one")
    plan = plan_dates.pop()
    monday = plan - pd.Timedelta(days=plan.day_of_week)  # the plan date's week is not complete before it
    return pd.concat(frames, ignore_index=True), [monday - pd.Timedelta(weeks=w) for w in (16, 8)]


def train_rows_per_s(reviews: pd.DataFrame, seed: int) -> dict[str, Any]:
    """NeuralDemand's training throughput (rows of gradient steps per second): one default fit on the
    last RTR origin's top 50 items (rows per second hardly depend on how many series there are)."""
    from forecasting.neural import NeuralDemand, NeuralSettings

    weekly = weekly_counts(reviews)
    origin = ORIGINS[-1]
    train, _ = split_at(weekly, origin, top_series(weekly, origin, 50), 8)
    model = NeuralDemand("W", NeuralSettings(seed=seed)).fit(train)
    return {"rows_per_s": round(model.rows_per_s_, 1), "train_rows": model.train_rows_, "epochs": model.epochs_run_}


def targets(items: Metrics) -> dict[str, Any]:
    """Each closetflow model's RMSE and 8-week WAPE over the best statistical baseline's, coverage,
    pass/fail against the issue's targets, and which closetflow model is best (lowest RMSE)."""
    best: dict[str, float] = {}
    for key in ("rmse", "wape_total"):
        found = [v for m in STATISTICAL if m in items and (v := items[m].get(key)) is not None]
        if found:
            best[key] = min(found)
    out: dict[str, Any] = {"best_statistical": best}
    for name in CLOSETFLOW:
        if name not in items:
            continue
        r: dict[str, Any] = {}
        for key, b in best.items():
            value = items[name].get(key)
            r[f"{key}_ratio"] = value / b if value is not None and b > 0 else None
        cover = items[name].get("coverage_80")
        r["coverage_80"] = cover
        r["pass_rmse"] = r.get("rmse_ratio") is not None and r["rmse_ratio"] <= TARGET_RATIO
        r["pass_wape_total"] = r.get("wape_total_ratio") is not None and r["wape_total_ratio"] <= TARGET_RATIO
        r["pass_coverage"] = cover is not None and COVERAGE_BAND[0] <= cover <= COVERAGE_BAND[1]
        out[name] = r
    ranked = [n for n in CLOSETFLOW if n in out and out[n].get("rmse_ratio") is not None]
    out["best_closetflow"] = min(ranked, key=lambda n: out[n]["rmse_ratio"]) if ranked else None
    return out


def guarded(section: str, doc: dict[str, Any], work: Callable[[], Any], err: Console) -> None:
    """``doc[section] = work()``, or ``{"error": ...}`` when it fails (another team's module missing...)."""
    try:
        doc[section] = work()
    except Exception as exc:  # a section's failure is recorded, the others still run
        where = traceback.extract_tb(exc.__traceback__)[-1]
        doc[section] = {"error": f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})"}
        err.print(f"[yellow]{section}: {doc[section]['error']}[/yellow]")


def pick(result: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """The named keys of a section's result first, then its other scalar figures."""
    head = {k: result.get(k) for k in keys}
    rest = {k: v for k, v in result.items() if k not in head and isinstance(v, int | float | str | None)}
    return {**head, **rest}


def print_table(out: Console, title: str, section: Any) -> None:
    """One section's models x metrics."""
    if not isinstance(section, dict) or "error" in section:
        out.print(f"{title}: {section.get('error') if isinstance(section, dict) else section}")
        return
    table = Table(title=title)
    table.add_column("model")
    for k in METRICS:
        table.add_column(k, justify="right")
    for name, m in section.items():
        table.add_row(name, *("-" if m.get(k) is None else f"{m[k]:.3f}" for k in METRICS))
    out.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, type=Path, help="where to write the results")
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the neural model and the embeddings")
    parser.add_argument("--quick", action="store_true", help="one origin, top 50 items, one world, cheap models")
    parser.add_argument("--only", default="", help=f"comma list of sections to rerun ({', '.join(SECTIONS)})")
    args = parser.parse_args(argv)
    err = Console(stderr=True)
    try:
        seeds = seed_list(args.seeds)
        only = section_list(args.only)
        previous = json.loads(args.json.read_text()) if only and args.json.is_file() else {}
    except (ValueError, OSError) as exc:
        print(f"forecast_accuracy: {exc}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    import torch

    origins = list(ORIGINS[-1:] if args.quick else ORIGINS)
    top = 50 if args.quick else 200
    models = (*CLOSETFLOW, "croston_sba", "historic_average") if args.quick else (*CLOSETFLOW, *STATISTICAL)
    config = {
        "seeds": seeds,
        "quick": args.quick,
        "origins": [o.date().isoformat() for o in origins],
        "top": top,
        "horizon": 8,
        "models": list(models),
        "world_seeds": list(WORLD_SEEDS[:1] if args.quick else WORLD_SEEDS),
    }
    doc: dict[str, Any] = {
        **previous,
        "config": config,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "created_at": utc_now(),
    }
    doc.setdefault("neural_seeds", {})
    data = real_data_dir()
    path = data / "rtr_reviews.parquet"
    reviews = pd.read_parquet(path) if path.is_file() else None
    missing = f"{path} is missing (set CLOSETFLOW_REAL_DATA)"
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, disable=not err.is_terminal) as bar:
        task = bar.add_task("forecast accuracy", total=1.0)

        def tick(text: str, share: float) -> None:
            bar.update(task, description=text, completed=share)
            if not err.is_terminal:
                err.print(f"  {text}", highlight=False)

        def protocol(
            section: str, level: str, table: pd.DataFrame | None, at: Sequence[pd.Timestamp], n: int
        ) -> Callable[[], Any]:
            def work() -> Any:
                if table is None:
                    raise FileNotFoundError(missing)

                def run(ms: Sequence[str], seed: int, t: Tick) -> Metrics:
                    return rtr_protocol(table, level=level, models=ms, origins=at, top=n, seed=seed, progress=t)

                result, spreads = seeded_protocol(run, models, seeds, tick)
                doc["neural_seeds"][section] = spreads.get("neural")
                return result

            return work

        sections: list[tuple[str, Callable[[], Any]]] = [
            ("rtr_items", protocol("rtr_items", "item", reviews, origins, top)),
            ("rtr_categories", protocol("rtr_categories", "category", reviews, origins, top)),
        ]

        def generated() -> Any:
            table, at = generated_weekly(doc["config"]["world_seeds"])
            return protocol("generated", "item", table, at, top)()

        def cold_start() -> Any:
            if reviews is None:
                raise FileNotFoundError(missing)
            mod = importlib.import_module("forecasting.embedding_eval")
            return pick(mod.cold_start_wape(reviews), ("wape_without_embeddings", "wape_with_embeddings"))

        def embeddings() -> Any:
            if reviews is None:
                raise FileNotFoundError(missing)
            mod = importlib.import_module("forecasting.embedding_eval")
            runs = [mod.holdout_users_recall(reviews, seed=s) for s in seeds]
            keys = ("recall_at_20", "popularity_recall_at_20")
            doc["embeddings_seeds"] = {k: spread([r.get(k) for r in runs]) for k in keys}
            return {k: doc["embeddings_seeds"][k]["mean"] for k in keys}

        def late() -> Any:
            mod = importlib.import_module("forecasting.late_eval")
            return pick(mod.getaround_scores(data), ("brier", "base_rate_brier", "auc"))

        def late_generated() -> Any:
            mod = importlib.import_module("forecasting.late_eval")
            keys = ("brier", "base_rate_brier", "auc", "true_brier", "brier_baseline", "auc_baseline", "n")
            return pick(mod.generated_scores(LATE_WORLD_SEEDS), keys)

        def throughput() -> Any:
            if reviews is None:
                raise FileNotFoundError(missing)
            found = train_rows_per_s(reviews, seeds[0])
            doc["train_rows_per_s_detail"] = found
            return found["rows_per_s"]

        sections += [
            ("generated", generated),
            ("cold_start", cold_start),
            ("embeddings", embeddings),
            ("late_returns", late),
            ("late_returns_generated", late_generated),
            ("train_rows_per_s", throughput),
        ]
        sections = [(name, work) for name, work in sections if not only or name in only]
        for i, (name, work) in enumerate(sections):
            tick(name, i / len(sections))
            doc.setdefault("section_runs", {})[name] = {"config": config, "at": utc_now()}
            t0 = time.perf_counter()
            guarded(name, doc, work, err)
            doc.setdefault("section_seconds", {})[name] = round(time.perf_counter() - t0, 1)
            if isinstance(doc.get("rtr_items"), dict) and "error" not in doc["rtr_items"]:
                doc["targets"] = targets(doc["rtr_items"])
            doc["wall_seconds"] = round(time.perf_counter() - began, 1)
            write_json_atomic(args.json, doc)
        bar.update(task, completed=1.0)
    report(doc)
    return 0


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def target_line(name: str, r: dict[str, Any]) -> str:
    """One closetflow model against the issue's targets, in words."""

    def verdict(ok: bool) -> str:
        return "pass" if ok else "FAIL"

    return (
        f"{name}: RMSE {_fmt(r.get('rmse_ratio'))}x and 8-week WAPE {_fmt(r.get('wape_total_ratio'))}x the best "
        f"statistical baseline (target <= {TARGET_RATIO}x: {verdict(r['pass_rmse'])}, "
        f"{verdict(r['pass_wape_total'])}); 80% coverage {_fmt(r['coverage_80'])} "
        f"(target {COVERAGE_BAND[0]}-{COVERAGE_BAND[1]}: {verdict(r['pass_coverage'])})"
    )


def report(doc: dict[str, Any]) -> None:
    """The readable summary on stdout: the three tables, the targets, the other sections."""
    out = Console(width=120)
    for key, title in (("rtr_items", "RTR items"), ("rtr_categories", "RTR categories"), ("generated", "generated")):
        print_table(out, title, doc.get(key))
    t = doc.get("targets", {})
    for name in CLOSETFLOW:
        r = t.get(name)
        if r:
            out.print(target_line(name, r), highlight=False)
    for key in ("cold_start", "embeddings", "late_returns", "late_returns_generated", "train_rows_per_s"):
        out.print(f"{key}: {doc.get(key)}", highlight=False)
    out.print(f"device {doc['device']}, wall {doc.get('wall_seconds')} s", highlight=False)


if __name__ == "__main__":
    raise SystemExit(main())
