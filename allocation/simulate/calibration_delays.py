"""Calibration figures from getaround_delays.csv: the shape of late returns.

Split from ``allocation.simulate.calibration_derive`` (which assembles the whole file); these figures feed
the generator's lateness: customer-level propensity (Beta concentration) and the delay tail.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["CONCENTRATION_CAP", "CONCENTRATION_FLOOR", "late_return", "percentiles", "propensity_concentration"]

PERCENTILES = tuple(range(0, 101, 5))
# Bounds of the Beta concentration a+b of per-car late propensities; see propensity_concentration.
CONCENTRATION_FLOOR = 0.5
CONCENTRATION_CAP = 10_000.0


def percentiles(values: pd.Series | np.ndarray) -> list[float]:
    """The 0, 5, ..., 100th percentiles (linear interpolation) of ``values``."""
    return [float(q) for q in np.percentile(np.asarray(values, dtype=float), PERCENTILES)]


# --------------------------------------------------------------------------------------------------
# getaround_delays.csv: late returns
# --------------------------------------------------------------------------------------------------


def _ended_with_delay(delays: pd.DataFrame) -> pd.DataFrame:
    """Ended rentals whose delay was recorded (about 9 % of ended rentals have none: unknown, not 0)."""
    ended = delays[delays["state"] == "ended"]
    return ended[ended["delay_at_checkout_in_minutes"].notna()]


def propensity_concentration(
    delays: pd.DataFrame,
    min_rentals: int = 3,
    floor: float = CONCENTRATION_FLOOR,
    cap: float = CONCENTRATION_CAP,
) -> float:
    """Beta concentration ``a+b`` of per-car late propensities, by method of moments.

    Each car ``i`` with ``n_i >= min_rentals`` ended rentals has an observed late rate ``p_i``. If its
    propensity is Beta(a, b) with mean ``m`` and ``rho = 1/(a+b+1)``, then (beta-binomial)
    ``E[var(p_i)] = m(1-m) * (rho + (1-rho) * mean(1/n_i))``: the ``mean(1/n_i)`` part is binomial
    sampling noise, which must be removed or a+b would be badly understated with so few rentals per
    car. Solving for ``rho`` gives ``a+b = 1/rho - 1``.

    Floor at 0.5: a+b below that is a U-shaped Beta with nearly all mass at 0 and 1 (cars that are
    always or never late). Three to ten rentals per car cannot support such a claim (the estimate
    gets there only when the sampling correction is swamped by noise), and Beta samplers with shape
    parameters far below 1 return exact 0s and 1s, i.e. degenerate units in the generator.
    Cap at ``cap``: with no excess variance (rho <= 0) the propensities are homogeneous and a+b is
    unbounded; a large finite value means the same thing and stays valid JSON.
    """
    ended = _ended_with_delay(delays)
    per_car = (
        ended.assign(late=ended["delay_at_checkout_in_minutes"] > 0).groupby("car_id")["late"].agg(["sum", "count"])
    )
    per_car = per_car[per_car["count"] >= min_rentals]
    if len(per_car) < 2:
        raise ValueError(f"need at least two cars with >= {min_rentals} ended rentals")
    n = per_car["count"].to_numpy(dtype=float)
    rates = per_car["sum"].to_numpy(dtype=float) / n
    # Unweighted mean pairs with the unweighted variance below; under the model both have the same
    # expectation for every car, whatever its n.
    mean = float(rates.mean())
    if mean <= 0.0 or mean >= 1.0:
        return cap  # every car always (or never) late: no spread to measure
    variance = float(rates.var(ddof=1))  # unbiased, so the identity above holds in expectation
    inv_n = float(np.mean(1.0 / n))
    rho = (variance / (mean * (1.0 - mean)) - inv_n) / (1.0 - inv_n)
    if rho <= 1.0 / (cap + 1.0):
        return cap
    return float(min(max(1.0 / rho - 1.0, floor), cap))


def late_return(delays: pd.DataFrame) -> dict[str, float | list[float]]:
    """Late-return figures: how often, how late (quantiles and lognormal MLE), how sticky per unit,
    and how often a late return breaks the next rental of the same unit.

    Chaining uses ``previous_ended_rental_id``, which GetAround records only when the next rental
    was planned within 12 hours of the previous one, so the chained figures are conditional on a
    tight turnaround (the case that matters for breaking the next rental).
    """
    ended = _ended_with_delay(delays)
    delay_min = ended["delay_at_checkout_in_minutes"].astype(float)
    late_min = delay_min[delay_min > 0]
    # Clip at 1 minute so a (theoretical) sub-minute delay cannot send log() to -inf.
    late_hours = np.clip(late_min.to_numpy(dtype=float), 1.0, None) / 60.0
    log_hours = np.log(late_hours)

    # Chain each rental to the previous rental of the same car.
    prev_delay = delays.set_index("rental_id")["delay_at_checkout_in_minutes"]
    chained = delays[delays["previous_ended_rental_id"].notna()].copy()
    chained["prev_delay"] = chained["previous_ended_rental_id"].map(prev_delay)
    chained = chained[chained["prev_delay"].notna()]  # previous delay unknown: cannot say
    # Late-after-late: the current rental must itself have ended with a recorded delay.
    both = chained[(chained["state"] == "ended") & chained["delay_at_checkout_in_minutes"].notna()]
    prev_late = both["prev_delay"] > 0
    cur_late = both["delay_at_checkout_in_minutes"] > 0
    # Breaking counts every chained rental, canceled ones included: a late handover is one reason a
    # next rental gets canceled, so dropping them would understate the harm.
    breaks = chained["prev_delay"] > chained["time_delta_with_previous_rental_in_minutes"]

    return {
        "p_late": float((delay_min > 0).mean()),
        "late_delay_hours_quantiles": percentiles(late_hours),
        "lognormal_mu": float(log_hours.mean()),
        "lognormal_sigma": float(log_hours.std(ddof=0)),  # MLE: ddof=0
        "propensity_concentration": propensity_concentration(delays),
        "p_late_after_late": float(cur_late[prev_late].mean()),
        "p_late_after_ontime": float(cur_late[~prev_late].mean()),
        "breaks_next_rental": float(breaks.mean()),
    }


# --------------------------------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------------------------------
