"""The statistical baselines, from statsforecast: seasonal naive, AutoETS, Croston SBA, historic average.

Each adapter fits one statsforecast model per series and speaks `forecasting.base.Forecaster`.
statsforecast runs on integer periods (``ds`` = periods since the table's first), so its own
calendar never has to agree with the table's (a weekly table of Mondays is not pandas' "W-SUN").
statsforecast is imported when a model is first fitted, with an install hint if it is missing.

A saved model is its training series and settings in plain arrays and JSON (never a pickle);
loading refits them. The models are deterministic, so the reloaded one forecasts the same numbers.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from forecasting.artifacts import read_artifact, write_artifact
from forecasting.series import FREQS, ID, SEASON, TARGET, TIME, periods_between, regular_grid

__all__ = ["AutoETSForecaster", "CrostonSBAForecaster", "HistoricAverageForecaster", "SeasonalNaiveForecaster"]

_ALIAS = "model"  # the column statsforecast names after the model


def _statsforecast() -> tuple[Any, Any]:
    """The statsforecast package and its models module, or an error that says how to get them."""
    try:
        return importlib.import_module("statsforecast"), importlib.import_module("statsforecast.models")
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise ImportError(f"the statistical baselines need statsforecast ({exc}); run `make install`") from exc


class _StatsForecastModel:
    """One statsforecast model behind the forecaster interface; subclasses name the model."""

    name: ClassVar[str]
    has_intervals: ClassVar[bool]

    def __init__(self, freq: str = "W") -> None:
        if freq not in FREQS:
            raise ValueError(f"freq must be one of {sorted(FREQS)}, not {freq!r}")
        self.freq = freq

    def _model(self, models: Any) -> Any:
        raise NotImplementedError

    def _prepare(self, grid: pd.DataFrame) -> pd.DataFrame:
        """The training frame statsforecast sees (a subclass may pad it)."""
        return grid

    def fit(self, frame: pd.DataFrame) -> Self:
        """Fit one model per series of a long frame (``unique_id``, ``ds``, ``y``)."""
        grid = regular_grid(frame, self.freq)
        self.start_ = grid[TIME].min()
        self.train_ = pd.DataFrame(
            {ID: grid[ID].to_numpy(dtype=str), TIME: periods_between(self.start_, grid[TIME], self.freq)}
        )
        self.train_[TARGET] = grid[TARGET].to_numpy(dtype=float)
        self._fit_train()
        return self

    def _fit_train(self) -> None:
        sf, models = _statsforecast()
        self.model_ = sf.StatsForecast(models=[self._model(models)], freq=1, n_jobs=1)
        with warnings.catch_warnings():
            # AutoETS divides by zero on series of all zeros and still returns its model: chatter
            # that would otherwise reach the command's stderr, where only errors belong.
            warnings.simplefilter("ignore", RuntimeWarning)
            self.model_.fit(self._prepare(self.train_))

    def predict(self, horizon: int, levels: Sequence[int] = ()) -> pd.DataFrame:
        """``mean`` per series and period for the next ``horizon`` periods; ``lo_L``/``hi_L`` if it has them."""
        asked = list(levels) if self.has_intervals else []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # as in fitting
            raw = self.model_.predict(h=horizon, level=asked) if asked else self.model_.predict(h=horizon)
        out = pd.DataFrame(
            {
                ID: raw[ID].to_numpy(dtype=str),
                TIME: self.start_ + raw[TIME].to_numpy(dtype=np.int64) * FREQS[self.freq],
                "mean": raw[_ALIAS].to_numpy(dtype=float),
            }
        )
        for level in asked:
            out[f"lo_{level}"] = raw[f"{_ALIAS}-lo-{level}"].to_numpy(dtype=float)
            out[f"hi_{level}"] = raw[f"{_ALIAS}-hi-{level}"].to_numpy(dtype=float)
        return out.sort_values([ID, TIME], kind="stable").reset_index(drop=True)

    def save(self, path: Path) -> None:
        ids, codes = np.unique(self.train_[ID].to_numpy(dtype=str), return_inverse=True)
        params = {"freq": self.freq, "start": self.start_.isoformat(), "ids": [str(i) for i in ids]}
        arrays = {
            "series": codes.astype(np.int64),
            "period": self.train_[TIME].to_numpy(dtype=np.int64),
            "y": self.train_[TARGET].to_numpy(dtype=float),
        }
        write_artifact(path, self.name, params, arrays)

    @classmethod
    def load(cls, path: Path) -> Self:
        p, a = read_artifact(path, cls.name)
        m = cls(p["freq"])
        m.start_ = pd.Timestamp(p["start"])
        m.train_ = pd.DataFrame({ID: np.array(p["ids"], dtype=str)[a["series"]], TIME: a["period"], TARGET: a["y"]})
        m._fit_train()
        return m


class SeasonalNaiveForecaster(_StatsForecastModel):
    """The same period one season earlier (52 weeks, or 7 days), with its normal 80% interval.

    A series younger than one season is padded with zeros before its first period: no demand
    before launch, so a season ago it had none (statsforecast would forecast nothing otherwise).
    """

    name = "seasonal_naive"
    has_intervals = True

    def _model(self, models: Any) -> Any:
        return models.SeasonalNaive(season_length=SEASON[self.freq], alias=_ALIAS)

    def _prepare(self, grid: pd.DataFrame) -> pd.DataFrame:
        season = SEASON[self.freq]
        end = int(grid[TIME].max()) + 1  # every series ends together (`regular_grid`)
        first = grid.groupby(ID, sort=False)[TIME].min()
        short = first[first > end - season]
        pads = [
            pd.DataFrame({ID: sid, TIME: np.arange(end - season, start, dtype=np.int64), TARGET: 0.0})
            for sid, start in short.items()
        ]
        if not pads:
            return grid
        return pd.concat([*pads, grid], ignore_index=True).sort_values([ID, TIME], kind="stable")


class AutoETSForecaster(_StatsForecastModel):
    """Exponential smoothing, the form chosen per series by AICc (statsforecast's AutoETS)."""

    name = "autoets"
    has_intervals = True

    def _model(self, models: Any) -> Any:
        return models.AutoETS(season_length=SEASON[self.freq], alias=_ALIAS)


class CrostonSBAForecaster(_StatsForecastModel):
    """Croston's method with the Syntetos-Boylan bias correction, for intermittent demand; no interval."""

    name = "croston_sba"
    has_intervals = False

    def _model(self, models: Any) -> Any:
        return models.CrostonSBA(alias=_ALIAS)


class HistoricAverageForecaster(_StatsForecastModel):
    """The series' mean since its first period, with its normal 80% interval."""

    name = "historic_average"
    has_intervals = True

    def _model(self, models: Any) -> Any:
        return models.HistoricAverage(alias=_ALIAS)
