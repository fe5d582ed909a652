"""Units held back for demand that is not booked yet: what they are worth and what they use.

Forecast demand that will still be booked (after tonight, before its event) is summed per SKU, site
and ``PROTECT_BUCKET_DAYS`` of ship days. Holding ``y`` units for a bucket whose demand is ``D``
fills ``min(D, y)`` bookings, so the y-th unit held is worth ``P(D >= y)`` fills: the protection of a
bucket is a stack of one-unit *segments* whose values fall with that probability, the piecewise-linear
concave ``E[min(D, y)]`` an LP maximises exactly. (A flat value per unit up to the mean — what the
model did before — pays as much for the unit that will almost surely sit idle as for the first.)

A held unit leaves ready stock on the bucket's first ship day (it must be there when the first
booking of the week may come), is expected to ship on the bucket's demand-weighted ship day with
probability ``P(D >= y)`` — using that share of the day's shipping and pick capacity — and to come
back dirty one rental cycle later; with the remaining probability it is back in ready stock the day
after the bucket ends. ``D`` is taken as Poisson with the forecast mean: the demand forecast gives a
mean only, and per-bucket booking counts of a style are small integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import poisson

__all__ = ["PROTECT_BUCKET_DAYS", "Protection", "protection_segments"]

PROTECT_BUCKET_DAYS = 7  # forecast protection is planned per SKU, site and week of ship days
# Segments worth less than this share of a fill are dropped: they would almost surely sit idle,
# and the long tail of near-zero columns only slows the LP.
MIN_FILL_PROBABILITY = 0.02


@dataclass
class Protection:
    """Protection columns (one per segment), in local SKU, site and local day indexes.

    ``tau`` is the day the unit leaves ready stock, ``ship_tau`` the day it is expected to ship
    (``ship_w`` = P(D >= y) units of shipping and pick capacity), ``back_tau`` the day it is expected
    back dirty (``back_w`` units), ``free_tau`` the day an unused unit is ready again (``free_w``).
    Days at or past the horizon are kept; the rules drop terms that fall outside it.
    """

    sku: np.ndarray
    site: np.ndarray
    tau: np.ndarray
    ub: np.ndarray
    obj: np.ndarray
    ship_tau: np.ndarray
    ship_w: np.ndarray
    back_tau: np.ndarray
    back_w: np.ndarray
    free_tau: np.ndarray
    free_w: np.ndarray

    @classmethod
    def empty(cls) -> Protection:
        z = np.zeros(0, dtype=np.int64)
        f = np.zeros(0)
        return cls(z, z, z, f, f, z, f, z, f, z, f)

    def __len__(self) -> int:
        return len(self.sku)


def _buckets(
    demand: np.ndarray, own_days: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Forecast demand (K, S, T by event day) summed into buckets of ship days.

    Returns per bucket: SKU, site, first ship day, last ship day, demand-weighted mean ship day
    (rounded) and mean demand. Forecast demand at a site ships to its nearest zone (``own_days``).
    """
    kk, ss, ee = np.nonzero(demand > 1e-4)
    tau = ee - own_days[ss]
    keep = tau >= 0
    kk, ss, ee, tau = kk[keep], ss[keep], ee[keep], tau[keep]
    if len(kk) == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z, z, z, np.zeros(0)
    S = demand.shape[1]
    n_buckets = int(tau.max()) // PROTECT_BUCKET_DAYS + 1
    key = (kk * S + ss) * n_buckets + tau // PROTECT_BUCKET_DAYS
    uniq, inv = np.unique(key, return_inverse=True)
    d = demand[kk, ss, ee]
    mean = np.bincount(inv, weights=d)
    first = np.full(len(uniq), np.iinfo(np.int64).max)
    np.minimum.at(first, inv, tau)
    last = np.zeros(len(uniq), dtype=np.int64)
    np.maximum.at(last, inv, tau)
    expected_day = np.rint(np.bincount(inv, weights=d * tau) / np.maximum(mean, 1e-12)).astype(np.int64)
    cell = uniq // n_buckets
    return cell // S, cell % S, first, last, expected_day, mean


def protection_segments(
    demand: np.ndarray,
    own_days: np.ndarray,
    unit_value: np.ndarray,
    cycle_days: np.ndarray,
    weight: float,
) -> Protection:
    """The protection segments of a planning run.

    Args:
        demand: (K, S, T) not-yet-booked expected demand by local event day.
        own_days: (S,) ship days from each site to its nearest zone.
        unit_value: (K,) dollars one fill of the SKU is worth in the objective.
        cycle_days: (S,) days from a unit shipping to it being back dirty at the site (transit out,
            rental, transit back, expected lateness).
        weight: multiplier on the value of a fill that is forecast rather than booked (tuned on
            tuning seeds by ``scripts/tune_policy.py``).
    """
    kk, ss, first, last, exp_day, mean = _buckets(demand, own_days)
    if len(kk) == 0:
        return Protection.empty()
    # Segments 1..n per bucket, n well past the mean, then drop those below MIN_FILL_PROBABILITY.
    n = np.ceil(mean + 4.0 * np.sqrt(mean) + 2.0).astype(np.int64)
    b = np.repeat(np.arange(len(kk)), n)
    i = np.arange(len(b)) - np.repeat(np.cumsum(n) - n, n) + 1  # segment number within its bucket
    p = poisson.sf(i - 1, mean[b])  # P(D >= i)
    keep = p >= MIN_FILL_PROBABILITY
    b, p = b[keep], p[keep]
    k, s = kk[b], ss[b]
    return Protection(
        sku=k,
        site=s,
        tau=first[b],
        ub=np.ones(len(b)),
        obj=weight * unit_value[k] * p,
        ship_tau=exp_day[b],
        ship_w=p,
        back_tau=exp_day[b] + cycle_days[s],
        back_w=p,
        free_tau=last[b] + 1,
        free_w=1.0 - p,
    )
