"""The sizes of generated worlds and the integer-indexed network they are laid on.

Split from the generator so that the history drawer can name these types without importing the
generator that calls it (no import circle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

__all__ = ["SCALES", "Scale", "Topology"]


@dataclass(frozen=True)
class Scale:
    """Size of a generated world. ``reservations`` counts all events in the horizon (known + new)."""

    skus: int
    units: int
    reservations: int
    sites: int
    zones: int


SCALES: Final[dict[str, Scale]] = {
    "tiny": Scale(skus=20, units=200, reservations=100, sites=2, zones=4),
    "small": Scale(skus=300, units=3_000, reservations=1_500, sites=3, zones=6),
    "medium": Scale(skus=3_000, units=30_000, reservations=15_000, sites=3, zones=6),
    "large": Scale(skus=20_000, units=200_000, reservations=100_000, sites=3, zones=9),
    "rtr": Scale(skus=50_000, units=1_000_000, reservations=500_000, sites=3, zones=9),
}


@dataclass(frozen=True)
class Topology:
    """Sites, zones and the lanes between them, as integer-indexed arrays."""

    n_sites: int
    n_zones: int
    ship_days: np.ndarray  # (sites, zones)
    ship_cost: np.ndarray  # (sites, zones)
    transfer_days: np.ndarray  # (sites, sites), 0 on the diagonal
    transfer_cost: np.ndarray  # (sites, sites)
    zone_share: np.ndarray  # (zones,) share of demand
    nearest_site: np.ndarray  # (zones,) site with the fewest ship days, then cost
