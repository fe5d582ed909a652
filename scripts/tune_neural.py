"""Tune NeuralDemand on the RTR protocol's *tuning* origins, never on the reported ones.

The reported RTR figures (benchmarks/forecast_accuracy.py) use `forecasting.rtr.ORIGINS`
(2017-05-22 .. 2017-11-13). Choosing settings by those figures would flatter the model, so this
script scores a few candidate settings on `forecasting.rtr.TUNING_ORIGINS` — the four Mondays
8 weeks apart ending 2016-11-14, whose test weeks all end before 2017-01-09 — next to the
statistical baselines on the same origins, and writes every figure to
benchmarks/results/neural_tuning_2016.json (rewritten after each candidate, so a stopped run keeps
what it measured). The defaults of `forecasting.neural.NeuralSettings` are taken from it.

    .venv/bin/python scripts/tune_neural.py [--configs base,ens3] [--no-baselines] [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Final

import pandas as pd

from api.settings import real_data_dir
from forecasting.artifacts import utc_now, write_json_atomic
from forecasting.rtr import ORIGINS, SEASONAL_INDEX, TUNING_ORIGINS, rtr_protocol

OUT: Final = Path("benchmarks/results/neural_tuning_2016.json")
STATISTICAL: Final = ("seasonal_naive", "autoets", SEASONAL_INDEX, "croston_sba", "historic_average")
HORIZON: Final = 8
# Candidate settings (fields of NeuralSettings changed from the module defaults of b011f97).
CONFIGS: Final[dict[str, dict[str, Any]]] = {
    "base": {"ensemble": 1},
    "ens3": {"ensemble": 3},
    "ens3_long": {"ensemble": 3, "max_origins": 156},
}
BAND: Final = (0.75, 0.85)  # the target for 80% interval coverage


def _check_origins() -> None:
    """Refuse to run if a tuning window reached into the reported ones (a change to forecasting.rtr)."""
    last_end = TUNING_ORIGINS[-1] + pd.Timedelta(weeks=HORIZON)
    if last_end > ORIGINS[0]:
        raise SystemExit(f"tuning windows end {last_end.date()}, after the first reported origin {ORIGINS[0].date()}")


def ratios(metrics: dict[str, float | None], baselines: dict[str, dict[str, float | None]]) -> dict[str, float]:
    """The model's RMSE and 8-week WAPE over the best statistical baseline's (each metric's own best)."""
    out: dict[str, float] = {}
    for key in ("rmse", "wape_total"):
        best = min(v for m in baselines.values() if (v := m.get(key)) is not None)
        value = metrics.get(key)
        if value is not None:
            out[f"{key}_vs_best_statistical"] = round(value / best, 4)
    return out


def choose(configs: dict[str, Any]) -> str | None:
    """The candidate with the lowest RMSE ratio among those whose coverage is inside `BAND`
    (else the lowest RMSE ratio overall)."""
    scored = {k: v for k, v in configs.items() if "rmse_vs_best_statistical" in v.get("ratios", {})}
    inside = {
        k: v for k, v in scored.items() if BAND[0] <= (v["metrics"].get("coverage_80") or 0.0) <= BAND[1]
    } or scored
    return min(inside, key=lambda k: inside[k]["ratios"]["rmse_vs_best_statistical"]) if inside else None


def main(argv: list[str] | None = None) -> int:
    """Run the candidates named by ``--configs``; one line and exit 2 on a bad option or missing data."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma list of {', '.join(CONFIGS)}")
    parser.add_argument("--no-baselines", action="store_true", help="skip the statistical baselines")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in names if c not in CONFIGS]
    if unknown or not names:
        print(f"tune_neural: unknown config {', '.join(unknown)}; known: {', '.join(CONFIGS)}", file=sys.stderr)
        return 2
    path = real_data_dir() / "rtr_reviews.parquet"
    if not path.is_file():
        print(f"tune_neural: {path} is missing (set CLOSETFLOW_REAL_DATA)", file=sys.stderr)
        return 2
    _check_origins()
    reviews = pd.read_parquet(path, columns=["item_id", "category", "review_date"])
    began = time.perf_counter()
    doc: dict[str, Any] = {
        "protocol": "forecasting.rtr items, top 200, horizon 8, pooled",
        "origins": [o.date().isoformat() for o in TUNING_ORIGINS],
        "reported_origins_not_used": [o.date().isoformat() for o in ORIGINS],
        "created_at": utc_now(),
        "baselines": {},
        "configs": {},
    }

    def report(text: str, _share: float) -> None:
        print(f"  {text}", file=sys.stderr, flush=True)

    if not args.no_baselines:
        doc["baselines"] = rtr_protocol(reviews, models=STATISTICAL, origins=TUNING_ORIGINS, progress=report)
        write_json_atomic(args.out, doc)
    for name in names:
        overrides = {"neural": CONFIGS[name]}
        res = rtr_protocol(reviews, models=["neural"], origins=TUNING_ORIGINS, progress=report, overrides=overrides)[
            "neural"
        ]
        entry: dict[str, Any] = {"settings": CONFIGS[name], "metrics": res}
        if doc["baselines"]:
            entry["ratios"] = ratios(res, doc["baselines"])
        doc["configs"][name] = entry
        doc["chosen"] = choose(doc["configs"])
        doc["wall_seconds"] = round(time.perf_counter() - began, 1)
        write_json_atomic(args.out, doc)
        print(f"{name}: {entry}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
