"""The generic demand series every `forecasting.base.Forecaster` reads: a long frame of counts.

Columns ``unique_id`` (str), ``ds`` (timestamp) and ``y`` (float), one row per series and period
on a regular grid of days (``D``) or weeks (``W``). A demand table records only the periods with
demand, so `regular_grid` fills each series from its first period to the last period of the whole
table with zeros: a missing period is a period without demand, and every series ends together,
which is what makes one forecast origin shared by all of them.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

__all__ = ["FREQS", "ID", "SEASON", "TARGET", "TIME", "future_frame", "periods_between", "regular_grid"]

ID: Final = "unique_id"
TIME: Final = "ds"
TARGET: Final = "y"

FREQS: Final[dict[str, pd.Timedelta]] = {"D": pd.Timedelta(days=1), "W": pd.Timedelta(weeks=1)}
# One season in periods: a week of days, a year of weeks.
SEASON: Final[dict[str, int]] = {"D": 7, "W": 52}


def periods_between(start: pd.Timestamp, times: pd.Series | pd.DatetimeIndex, freq: str) -> np.ndarray:
    """Whole periods from ``start`` to each time (the caller has checked they are on the grid)."""
    delta = pd.DatetimeIndex(times) - start
    return np.asarray(delta // FREQS[freq], dtype=np.int64)


def regular_grid(frame: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Each series from its first period to the table's last, zero-filled; sorted by id and time.

    Rows for the same series and period are summed (a table of events may hold several per period).
    """
    step = FREQS[freq]
    f = frame[[ID, TIME, TARGET]].copy()
    f[ID] = f[ID].astype(str)
    f[TIME] = pd.to_datetime(f[TIME])
    f = f.groupby([ID, TIME], as_index=False, sort=True).agg({TARGET: "sum"})
    start = f[TIME].min()
    pos = periods_between(start, f[TIME], freq)
    end = int(pos.max()) + 1
    ids, codes = np.unique(f[ID].to_numpy(), return_inverse=True)
    first = np.full(len(ids), end, dtype=np.int64)
    np.minimum.at(first, codes, pos)
    lengths = end - first
    rows = np.repeat(np.arange(len(ids)), lengths)
    starts = np.cumsum(lengths) - lengths  # each series' first row in the grid
    grid_pos = first[rows] + np.arange(lengths.sum()) - starts[rows]
    y = np.zeros(len(rows))
    flat = starts[codes] + (pos - first[codes])
    y[flat] = f[TARGET].to_numpy(dtype=float)
    return pd.DataFrame({ID: ids[rows], TIME: start + grid_pos * step, TARGET: y})


def future_frame(ids: np.ndarray, last: pd.Timestamp, horizon: int, freq: str) -> pd.DataFrame:
    """``unique_id`` and ``ds`` for the ``horizon`` periods after ``last``, series by series."""
    times = last + np.arange(1, horizon + 1) * FREQS[freq]
    return pd.DataFrame({ID: np.repeat(ids, horizon), TIME: np.tile(times, len(ids))})
