"""Compare demand models behind the main job's interface on worlds with a holdout.

Usage: python scripts/compare_job_demand.py [--world simulated|real] [--scale small] [--seeds 1,2,3]
                                            [--models linear,historic_average,croston_sba]

For each world it fits the job's seasonal naive (same weekday last week) and each named model
through `forecasting.job_demand.JobDemand`, and scores the not-yet-booked demand of the horizon
against the bookings that really came (the holdout): WAPE per SKU and event week (the report's
figure), RMSE per SKU and event week (what the solver, which consumes means, cares about), and
predicted / actual unbooked totals (bias). ``--world real`` uses Rent the Runway rentals as
bookings (`allocation.simulate.real_demand`; needs ../shared/data).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import pandas as pd

from allocation.domain import ClosetflowError, World
from allocation.simulate.real_demand import real_demand_world
from allocation.simulate.world import simulate_world
from allocation.statics import Statics
from forecasting.base import FORECASTERS, make_forecaster
from forecasting.demand import SeasonalNaiveDemand, score_demand, unbooked_actuals
from forecasting.job_demand import JobDemand
from forecasting.metrics import rmse


def _world(kind: str, scale: str, seed: int) -> World:
    return real_demand_world(scale, seed) if kind == "real" else simulate_world(scale, seed)


def _score(pred: pd.DataFrame, actual: pd.DataFrame) -> tuple[float, float, float]:
    s = score_demand(pred, actual)
    predicted, total = s["predicted"], s["actual"]
    assert isinstance(predicted, float) and isinstance(total, float)
    cells = pred.merge(actual, on=["sku_id", "site_id", "day"], how="left").fillna({"count": 0})
    week = cells.assign(week=cells["day"] // 7).groupby(["sku_id", "week"])[["count", "expected_unbooked"]].sum()
    ratio = predicted / total if total > 0 else float("nan")
    wape_ = s["wape"]
    assert isinstance(wape_, float)
    return wape_, rmse(week["count"], week["expected_unbooked"]), ratio


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", choices=("simulated", "real"), default="simulated")
    ap.add_argument("--scale", default="small")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--models", default="linear,historic_average,croston_sba")
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in FORECASTERS]
    if unknown:
        print(f"error: --models: no model {', '.join(unknown)}; known: {', '.join(FORECASTERS)}", file=sys.stderr)
        return 2
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s]
    except ValueError:
        print(f"error: --seeds got {args.seeds!r}; allowed: comma-separated integers", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore", category=FutureWarning)
    head = ("world", "plan date", "model", "wape sku_week", "rmse sku_week", "pred/act", "fit s")
    print(f"{head[0]:>6} {head[1]:>10} {head[2]:18} {head[3]:>13} {head[4]:>13} {head[5]:>8} {head[6]:>6}")
    for seed in seeds:
        try:
            w = _world(args.world, args.scale, seed)
        except (ClosetflowError, FileNotFoundError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        st = Statics.from_world(w)
        soz = {str(z): str(st.site_ids[st.nearest_site[i]]) for i, z in enumerate(st.zone_ids)}
        H = w.horizon_days
        assert w.holdout is not None  # both world kinds have one
        actual = unbooked_actuals(w.holdout.bookings, soz, w.plan_date, H)
        t = time.perf_counter()
        naive = SeasonalNaiveDemand().fit(w.bookings, w.skus, soz, w.plan_date).predict(w.plan_date, H)
        rows = [("naive7", naive, time.perf_counter() - t)]
        for name in models:
            t = time.perf_counter()
            model = JobDemand(make_forecaster(name, "D")).fit(w.bookings, w.skus, soz, w.plan_date)
            rows.append((name, model.predict(w.plan_date, H), time.perf_counter() - t))
        for name, pred, seconds in rows:
            wape_, rmse_, ratio = _score(pred, actual)
            print(f"{seed:>6} {w.plan_date!s:>10} {name:18} {wape_:13.3f} {rmse_:13.4f} {ratio:8.3f} {seconds:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
