"""The neural model's settings and its feature rows: what `forecasting.neural.NeuralDemand` reads.

Split from forecasting/neural.py (the network, training, calibration and artifacts) so that each
stays short; `window_features` is a pure function of the history before each row's origin, which
tests check under hypothesis (no look-ahead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from forecasting.series import FREQS, SEASON

__all__ = ["LONG", "NeuralSettings", "n_features", "window_features"]

LONG: Final[dict[str, int]] = {"D": 365, "W": 52}  # the "last year" the long mean covers


@dataclass(frozen=True)
class NeuralSettings:
    """Hyperparameters; the defaults keep a 200-series weekly backtest to minutes on 2 CPU cores."""

    max_horizon: int = 13  # leads trained for; a longer forecast reuses the last lead's features
    lags: int = 13  # recent periods fed as inputs
    max_origins: int = 104  # training origins: the last this many periods
    embedding: int = 8
    hidden: int = 48
    epochs: int = 30
    patience: int = 3  # epochs without a better validation loss before stopping
    batch: int = 512
    lr: float = 3e-3
    seed: int = 0
    ensemble: int = 1  # networks trained with seeds seed, seed + 1, ...; their outputs are averaged
    target_coverage: float = 0.8  # what the calibrated [p10, p90] should cover on the validation window


def n_features(s: NeuralSettings) -> int:
    # lags, log recent mean, log long mean, log age, season value + flag, 4 calendar, lead one-hot
    return s.lags + 3 + 2 + 4 + s.max_horizon


def window_features(
    history: np.ndarray,
    first: np.ndarray,
    origin: np.ndarray,
    lead: np.ndarray,
    series: np.ndarray,
    day0: pd.Timestamp,
    freq: str,
    settings: NeuralSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """Features of rows (series ``series``, origin index ``origin``, lead ``lead``), and each row's scale.

    Args:
        history: counts per series x period (S x P), zeros before each series' first period.
        first: each series' first period index (may be negative: history older than the array).
        origin: per row, the first forecast period's index; only ``history[:, :origin]`` is read.
        lead: per row, 1-based periods ahead; the target period is ``origin + lead - 1``.
        series: per row, the series' row in ``history``.
        day0: the date of period index 0.
        freq: "D" or "W".
        settings: lags, max_horizon.

    Returns:
        A float32 array (rows x features) and the per-row recent mean ``s`` (float64, counts).
    """
    s = settings
    n = len(origin)
    padded = np.concatenate([np.zeros((history.shape[0], s.lags)), history], axis=1)
    cols = origin[:, None] + np.arange(s.lags)[None, :]  # padded index of periods origin-lags..origin-1
    lags = padded[series[:, None], cols][:, ::-1]  # most recent first
    age = origin - first[series]
    seen = np.clip(age, 1, s.lags)
    recent = lags.sum(axis=1) / seen
    cum = np.concatenate([np.zeros((history.shape[0], 1)), np.cumsum(history, axis=1)], axis=1)
    start = np.maximum(origin - LONG[freq], np.maximum(first[series], 0))
    long = (cum[series, origin] - cum[series, start]) / np.maximum(origin - start, 1)
    target = origin + lead - 1
    season = SEASON[freq]
    back = target - season * np.ceil(lead / season).astype(np.int64)  # latest same phase before origin
    has_season = (back >= np.maximum(first[series], 0)) & (back >= 0)
    season_value = np.where(has_season, history[series, np.clip(back, 0, None)], 0.0)
    days = day0 + pd.to_timedelta(target * (FREQS[freq] // pd.Timedelta(days=1)), unit="D")
    year = 2 * np.pi * days.day_of_year.to_numpy() / 365.25
    week = 2 * np.pi * days.day_of_week.to_numpy() / 7
    onehot = np.zeros((n, s.max_horizon))
    onehot[np.arange(n), np.clip(lead, 1, s.max_horizon) - 1] = 1.0
    x = np.column_stack(
        [
            np.log1p(lags),
            np.log1p(recent),
            np.log1p(long),
            np.log1p(age) / 5,
            np.log1p(season_value),
            has_season.astype(float),
            np.sin(year),
            np.cos(year),
            np.sin(week),
            np.cos(week),
            onehot,
        ]
    )
    return x.astype(np.float32), recent
