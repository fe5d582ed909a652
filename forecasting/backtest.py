"""Rolling-origin backtests of the registered forecasters on any demand table.

The table is cut into ``windows`` forecast origins, ``horizon`` periods apart, the last window
ending on the table's last period. At each origin every model is fitted on the periods before it
only (`forecast_window`: the training frame holds nothing at or after the origin) and forecasts
the next ``horizon`` periods of every series that has at least `MIN_HISTORY` periods before it;
series launched later are not scored (cold start is a different question). All forecasts of all
windows are pooled and scored per model (`score`):

- ``rmse``: root mean squared error per series x period;
- ``wape``: sum |actual - forecast| / sum actual, per series x period;
- ``wape_total``: the same on each series' total over the whole horizon (a buyer's number);
- ``mase``: mean of |actual - forecast| / (the series' in-sample one-step naive MAE);
- ``bias``: (sum forecast - sum actual) / sum actual;
- ``coverage_80``: share of actuals inside the 80% interval (None for a model without one);
- ``fit_seconds``: fitting and forecasting time, all windows together.

Domain code: no printing; user mistakes are `BacktestInputError`, naming the option at fault.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from allocation.domain import ClosetflowError
from forecasting.base import FORECASTERS, make_forecaster
from forecasting.metrics import bias, coverage, mase, rmse, wape
from forecasting.series import FREQS, ID, TARGET, TIME, periods_between, regular_grid

__all__ = [
    "LEVEL",
    "MIN_HISTORY",
    "BacktestInputError",
    "BacktestOptions",
    "backtest",
    "demand_series",
    "forecast_window",
    "model_names",
    "origins",
    "score",
]

LEVEL: Final = 80  # the interval whose coverage is reported
MIN_HISTORY: Final = 2  # periods a series needs before an origin to be forecast there

Progress = Callable[[str, float], None]


class BacktestInputError(ClosetflowError):
    """The table or the options cannot be backtested; ``option`` names what to change."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class BacktestOptions:
    """How to cut the table: ``windows`` origins, ``horizon`` periods each, at frequency ``freq``."""

    horizon: int
    windows: int
    freq: str = "W"
    models: tuple[str, ...] = field(default_factory=lambda: tuple(FORECASTERS))

    def __post_init__(self) -> None:
        if self.freq not in FREQS:
            raise BacktestInputError("freq", f"{self.freq!r} is not a frequency; allowed: {', '.join(FREQS)}")
        if self.horizon < 1:
            raise BacktestInputError("horizon", f"{self.horizon} is not a number of periods >= 1")
        if self.windows < 1:
            raise BacktestInputError("windows", f"{self.windows} is not a number of windows >= 1")
        unknown = [m for m in self.models if m not in FORECASTERS]
        if unknown or not self.models:
            raise BacktestInputError(
                "models", f"unknown model {', '.join(map(repr, unknown))}; known: {', '.join(FORECASTERS)}"
            )


def demand_series(table: pd.DataFrame, *, id_col: str, time_col: str, target_col: str, freq: str) -> pd.DataFrame:
    """The table as zero-filled series (`forecasting.series.regular_grid`), once its columns check out.

    Raises:
        BacktestInputError: a column is missing, a time is not a date on one ``freq`` grid, or a
            target is not a finite number >= 0.
    """
    if freq not in FREQS:
        raise BacktestInputError("freq", f"{freq!r} is not a frequency; allowed: {', '.join(FREQS)}")
    for option, col in (("id_col", id_col), ("time_col", time_col), ("target_col", target_col)):
        if col not in table.columns:
            known = ", ".join(map(str, table.columns))
            raise BacktestInputError(option, f"{col!r} is not a column of the table (columns: {known})")
    if table.empty:
        raise BacktestInputError("input", "the table has no rows")
    try:
        times = pd.to_datetime(table[time_col], errors="raise")
    except (ValueError, TypeError) as exc:
        raise BacktestInputError("time_col", f"column {time_col!r} holds a value that is not a date ({exc})") from None
    if times.isna().any():
        row = int(np.argmax(times.isna())) + 1
        raise BacktestInputError("time_col", f"column {time_col!r} has an empty cell in data row {row}")
    y = pd.to_numeric(table[target_col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(y) | (y < 0)
    if bad.any():
        row = int(np.argmax(bad))
        raise BacktestInputError(
            "target_col",
            f"column {target_col!r} data row {row + 1} holds {table[target_col].iloc[row]!r}, not a count >= 0",
        )
    start = times.min()
    off = (pd.DatetimeIndex(times) - start) % FREQS[freq]
    if (off != pd.Timedelta(0)).any():
        row = int(np.argmax(off != pd.Timedelta(0)))
        unit = "day" if freq == "D" else "week"
        raise BacktestInputError(
            "time_col",
            f"column {time_col!r}: {times.iloc[row]} is not a whole number of {unit}s after {start} (--freq {freq})",
        )
    frame = pd.DataFrame({ID: table[id_col].astype(str).to_numpy(), TIME: times.to_numpy(), TARGET: y})
    return regular_grid(frame, freq)


def origins(grid: pd.DataFrame, opts: BacktestOptions) -> list[pd.Timestamp]:
    """The first forecast period of each window, oldest first; the last window ends the table."""
    start, last = grid[TIME].min(), grid[TIME].max()
    n = int(periods_between(start, pd.DatetimeIndex([last]), opts.freq)[0]) + 1
    left = n - opts.windows * opts.horizon
    if left < MIN_HISTORY:
        raise BacktestInputError(
            "horizon",
            f"{opts.horizon} x --windows {opts.windows} = {opts.windows * opts.horizon} periods leaves {left} of the "
            f"table's {n} for history before the first origin (at least {MIN_HISTORY} needed)",
        )
    step = FREQS[opts.freq]
    return [start + (left + k * opts.horizon) * step for k in range(opts.windows)]


def forecast_window(
    grid: pd.DataFrame, origin: pd.Timestamp, opts: BacktestOptions, model: str
) -> tuple[pd.DataFrame, float]:
    """One model's forecasts from one origin, fitted on periods before it only; and the seconds taken.

    Columns ``unique_id``, ``ds``, ``mean`` and, when the model has an interval, ``lo_80``/``hi_80``.
    """
    train = _train(grid, origin)
    began = time.perf_counter()
    fitted = make_forecaster(model, opts.freq).fit(train)
    pred = fitted.predict(opts.horizon, [LEVEL] if fitted.has_intervals else [])
    return pred, time.perf_counter() - began


def _train(grid: pd.DataFrame, origin: pd.Timestamp) -> pd.DataFrame:
    """Periods before ``origin`` of the series with at least `MIN_HISTORY` of them."""
    before = grid[grid[TIME] < origin]
    sizes = before.groupby(ID)[TIME].transform("size")
    return before[sizes >= MIN_HISTORY].reset_index(drop=True)


def _naive_scale(train: pd.DataFrame) -> pd.Series:
    """Per series, the in-sample mean absolute one-step change (MASE's yardstick)."""
    change = train.groupby(ID)[TARGET].diff().abs()
    return change.groupby(train[ID]).mean()


def score(scored: pd.DataFrame, has_interval: bool) -> dict[str, float | None]:
    """The metrics of the module docstring on pooled rows (``window``, ``unique_id``, ``actual``,
    ``mean``, ``scale``, and ``lo_80``/``hi_80`` when ``has_interval``); NaN becomes None."""
    a, p = scored["actual"].to_numpy(), scored["mean"].to_numpy()
    totals = scored.groupby(["window", ID])[["actual", "mean"]].sum()
    figures: dict[str, float] = {
        "rmse": rmse(a, p),
        "wape": wape(a, p),
        "wape_total": wape(totals["actual"], totals["mean"]),
        "mase": mase(a, p, scored["scale"].to_numpy()),
        "bias": bias(a, p),
    }
    out: dict[str, float | None] = {k: _finite(v) for k, v in figures.items()}
    lo, hi = f"lo_{LEVEL}", f"hi_{LEVEL}"
    out[f"coverage_{LEVEL}"] = _finite(coverage(a, scored[lo], scored[hi])) if has_interval else None
    return out


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def backtest(grid: pd.DataFrame, opts: BacktestOptions, progress: Progress | None = None) -> dict[str, Any]:
    """``{"models": {name: metrics + fit_seconds}, "meta": {...}}`` over every window (module docstring)."""
    starts = origins(grid, opts)
    actual = grid.rename(columns={TARGET: "actual"})
    steps = len(starts) * len(opts.models)
    models: dict[str, Any] = {}
    scored_cells = 0
    for i, name in enumerate(opts.models):
        parts: list[pd.DataFrame] = []
        seconds = 0.0
        has_interval = True
        for w, origin in enumerate(starts):
            if progress is not None:
                progress(f"{name}, window {w + 1} of {len(starts)}", (i * len(starts) + w) / steps)
            pred, took = forecast_window(grid, origin, opts, name)
            seconds += took
            has_interval = f"lo_{LEVEL}" in pred.columns
            scale = _naive_scale(_train(grid, origin)).rename("scale")
            rows = pred.merge(actual, on=[ID, TIME], how="left", validate="one_to_one").join(scale, on=ID)
            parts.append(rows.assign(window=w))
        scored = pd.concat(parts, ignore_index=True)
        scored_cells = len(scored)
        models[name] = {**score(scored, has_interval), "fit_seconds": round(seconds, 3)}
    if progress is not None:
        progress("done", 1.0)
    meta = {
        "freq": opts.freq,
        "horizon": opts.horizon,
        "windows": opts.windows,
        "origins": [o.date().isoformat() for o in starts],
        "series": int(grid[ID].nunique()),
        "cells_scored": scored_cells,
        "interval_level": LEVEL,
    }
    return {"models": models, "meta": meta}


def model_names(text: str) -> tuple[str, ...]:
    """``"linear,autoets"`` -> ("linear", "autoets"); empty parts dropped."""
    return tuple(part.strip() for part in text.split(",") if part.strip())
