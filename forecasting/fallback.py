"""`category_average`: the last resort of the model registry's serving chain.

Every series is forecast at its category's recent mean per series and period, flat over the
horizon. It needs nothing but the table itself (no solver, no statsforecast, no saved state), so it
can serve when every registered version and the baseline refit have failed. Without a category
map every series falls in one category: the table's mean per series and period.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar, Final, Self

import numpy as np
import pandas as pd

from forecasting.artifacts import read_artifact, write_artifact
from forecasting.series import FREQS, ID, TARGET, TIME, future_frame, regular_grid

__all__ = ["CategoryAverageForecaster"]

# Recent periods the average is taken over: 8 weeks, as the linear model's window.
WINDOW: Final[dict[str, int]] = {"D": 56, "W": 8}
_ALL: Final = "all"  # the one category of series the map does not name


class CategoryAverageForecaster:
    """Each series at its category's mean per series and period over the last window (module docstring)."""

    name: ClassVar[str] = "category_average"
    has_intervals: ClassVar[bool] = False

    def __init__(self, freq: str = "W", categories: Mapping[str, str] | None = None) -> None:
        if freq not in FREQS:
            raise ValueError(f"freq must be one of {sorted(FREQS)}, not {freq!r}")
        self.freq = freq
        self.categories = dict(categories or {})

    def fit(self, frame: pd.DataFrame) -> Self:
        """Fit on a long frame (``unique_id``, ``ds``, ``y``)."""
        grid = regular_grid(frame, self.freq)
        last = grid[TIME].max()
        self.last_ = pd.Timestamp(last)
        recent = grid[grid[TIME] > last - WINDOW[self.freq] * FREQS[self.freq]]
        cat = recent[ID].map(lambda i: self.categories.get(i, _ALL))
        per_cat = recent[TARGET].groupby(cat).mean()  # mean over series x period cells of the category
        self.ids_ = np.unique(grid[ID].to_numpy(dtype=str))
        self.mean_ = np.array([float(per_cat.get(self.categories.get(i, _ALL), 0.0)) for i in self.ids_])
        return self

    def predict(self, horizon: int, levels: Sequence[int] = ()) -> pd.DataFrame:
        """``mean`` per series and period, flat; no interval (``levels`` is ignored)."""
        out = future_frame(self.ids_, self.last_, horizon, self.freq)
        out["mean"] = np.repeat(self.mean_, horizon)
        return out

    def save(self, path: Path) -> None:
        params = {"freq": self.freq, "last": self.last_.isoformat(), "ids": [str(i) for i in self.ids_]}
        write_artifact(path, self.name, params, {"mean": self.mean_})

    @classmethod
    def load(cls, path: Path) -> Self:
        p, a = read_artifact(path, cls.name)
        m = cls(p["freq"])
        m.last_, m.ids_, m.mean_ = pd.Timestamp(p["last"]), np.array(p["ids"], dtype=str), a["mean"]
        return m
