"""`linear`: the main job's Poisson GLM idea for any demand table (`forecasting.series` frames).

The same three ideas as `forecasting.demand.DemandForecaster`, whose code it reuses:
``E[y of series i in period t] = level * g(t) * share_i``, where ``g`` is a Poisson GLM with a log
link on the table's total per period (yearly Fourier terms when a year of history is there, a
weekday effect for daily data, a linear trend), ``level`` anchors ``g`` to the last ``window``
periods' actual total, and ``share_i`` is the series' share of those periods, shrunk toward the
mean share (`forecasting.demand.shrunk_shares`). Its 80% interval is the Poisson one around the mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Final, Self

import numpy as np
import pandas as pd
from scipy.stats import poisson

from forecasting.artifacts import read_artifact, write_artifact
from forecasting.demand import fit_poisson_glm, season_design, shrunk_shares
from forecasting.series import FREQS, ID, TARGET, TIME, future_frame, periods_between, regular_grid

__all__ = ["LinearForecaster"]

# Recent periods that set the shares and the level: 8 weeks, as the job's 56 days.
WINDOW: Final[dict[str, int]] = {"D": 56, "W": 8}
# History the GLM sees: one year, as the job's.
HISTORY: Final[dict[str, int]] = {"D": 365, "W": 52}
_WEEKDAY_COLUMNS = list(range(1, 7))  # columns of `season_design` that a weekly series cannot identify
_FOURIER_COLUMNS = list(range(7, 11))


class LinearForecaster:
    """Poisson GLM on the total per period times shrunk per-series shares (module docstring)."""

    name: ClassVar[str] = "linear"
    has_intervals: ClassVar[bool] = True

    def __init__(self, freq: str = "W") -> None:
        if freq not in FREQS:
            raise ValueError(f"freq must be one of {sorted(FREQS)}, not {freq!r}")
        self.freq = freq

    def _design(self, offsets: np.ndarray, origin: pd.Timestamp, with_year: bool) -> np.ndarray:
        """Design rows for periods ``offsets`` after ``origin`` (the first forecast period)."""
        days = offsets * (FREQS[self.freq] // pd.Timedelta(days=1))
        X = season_design(days, origin.date())
        drop = ([] if self.freq == "D" else _WEEKDAY_COLUMNS) + ([] if with_year else _FOURIER_COLUMNS)
        return np.delete(X, drop, axis=1)

    def fit(self, frame: pd.DataFrame) -> Self:
        """Fit on a long frame (``unique_id``, ``ds``, ``y``); every series is forecast from its end."""
        grid = regular_grid(frame, self.freq)
        last = grid[TIME].max()
        self.origin_ = last + FREQS[self.freq]
        pos = periods_between(self.origin_, grid[TIME], self.freq)  # -1 is the last period
        history = min(HISTORY[self.freq], int(-pos.min()))
        self.with_year_ = history >= HISTORY[self.freq]  # yearly terms only from a year of data
        seen = pos >= -history
        totals = np.bincount(pos[seen] + history, weights=grid[TARGET].to_numpy()[seen], minlength=history)
        offsets = np.arange(-history, 0)
        self.beta_ = fit_poisson_glm(self._design(offsets, self.origin_, self.with_year_), totals)

        self.ids_, codes = np.unique(grid[ID].to_numpy(dtype=str), return_inverse=True)
        window = min(WINDOW[self.freq], history)
        recent = pos >= -window
        counts = np.bincount(codes[recent], weights=grid[TARGET].to_numpy()[recent], minlength=len(self.ids_))
        self.share_, self.prior_shape_ = shrunk_shares(counts, np.zeros(len(self.ids_), dtype=np.int64))
        season = np.exp(self._design(offsets[-window:], self.origin_, self.with_year_) @ self.beta_)
        # The window's actual total over its modelled total: anchors g to recent demand.
        self.level_ = float(counts.sum() / season.sum()) if season.sum() > 0 else 1.0
        return self

    def predict(self, horizon: int, levels: Sequence[int] = ()) -> pd.DataFrame:
        """``mean`` per series and period for the next ``horizon`` periods; Poisson ``lo_L``/``hi_L``."""
        g = self.level_ * np.exp(self._design(np.arange(horizon), self.origin_, self.with_year_) @ self.beta_)
        mean = (self.share_[:, None] * g[None, :]).ravel()
        out = future_frame(self.ids_, self.origin_ - FREQS[self.freq], horizon, self.freq)
        out["mean"] = mean
        for level in levels:
            tail = (1 - level / 100) / 2
            out[f"lo_{level}"] = poisson.ppf(tail, mean)
            out[f"hi_{level}"] = poisson.ppf(1 - tail, mean)
        return out

    def save(self, path: Path) -> None:
        params = {
            "freq": self.freq,
            "origin": self.origin_.isoformat(),
            "with_year": self.with_year_,
            "level": self.level_,
            "prior_shape": self.prior_shape_,
            "ids": [str(i) for i in self.ids_],
        }
        write_artifact(path, self.name, params, {"beta": self.beta_, "share": self.share_})

    @classmethod
    def load(cls, path: Path) -> Self:
        p, a = read_artifact(path, cls.name)
        m = cls(p["freq"])
        m.origin_, m.with_year_ = pd.Timestamp(p["origin"]), bool(p["with_year"])
        m.level_, m.prior_shape_ = float(p["level"]), float(p["prior_shape"])
        m.ids_ = np.array(p["ids"], dtype=str)
        m.beta_, m.share_ = a["beta"], a["share"]
        return m
