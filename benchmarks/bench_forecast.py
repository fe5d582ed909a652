"""Fit and predict times of the baseline forecasters on generated worlds.

Usage: python benchmarks/bench_forecast.py [--scales small medium large]

Prints seconds per model and the ratio of each fit to the seasonal-naive fit, measured in the same
process on the same world.
"""

from __future__ import annotations

import argparse
import time

from allocation.simulate.world import simulate_world
from allocation.statics import Statics
from forecasting.cleaning import CleaningFailureModel
from forecasting.demand import DemandForecaster, SeasonalNaiveDemand
from forecasting.late_returns import LateReturnModel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", nargs="+", default=["small", "medium", "large"])
    args = ap.parse_args()
    print(
        f"{'scale':7} {'bookings':>10} {'rentals':>10} {'naive fit':>10} {'glm fit':>9} {'glm pred':>9} "
        f"{'late fit':>9} {'clean fit':>10}  ratios to naive fit (glm, late)"
    )
    for scale in args.scales:
        w = simulate_world(scale, 7)
        st = Statics.from_world(w)
        soz = {str(z): str(st.site_ids[st.nearest_site[i]]) for i, z in enumerate(st.zone_ids)}
        t = time.perf_counter()
        SeasonalNaiveDemand().fit(w.bookings, w.skus, soz, w.plan_date)
        naive = time.perf_counter() - t
        t = time.perf_counter()
        glm = DemandForecaster().fit(w.bookings, w.skus, soz, w.plan_date)
        glm_fit = time.perf_counter() - t
        t = time.perf_counter()
        glm.predict(w.plan_date, w.horizon_days)
        glm_pred = time.perf_counter() - t
        t = time.perf_counter()
        LateReturnModel().fit(w.rentals, w.customers, w.plan_date)
        late = time.perf_counter() - t
        t = time.perf_counter()
        CleaningFailureModel().fit(w.rentals, w.skus)
        clean = time.perf_counter() - t
        print(
            f"{scale:7} {len(w.bookings):10,} {len(w.rentals):10,} {naive:10.2f} {glm_fit:9.2f} {glm_pred:9.2f} "
            f"{late:9.2f} {clean:10.2f}  {glm_fit / naive:6.1f}x {late / naive:6.1f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
