"""The RTR forecasting protocol (issue 11): weekly rentals per item (or category) from the reviews table.

A buyer's analyst's test of the demand models on real Rent the Runway data
(``rtr_reviews.parquet``, one row per rental review; `weekly_counts`):

- a rental counts in the week (Monday to Sunday) of its ``review_date``, the data's only date and a
  demand proxy a few days after the rental (the data README's caveat);
- forecast origins are Mondays; at each origin the series are the ``top`` items by rentals *before*
  the origin (`top_series`: ties broken by id, so the choice is reproducible), each trained on every
  week before the origin (from its first rental on, zero-filled) and scored on the ``horizon`` weeks
  from the origin (weeks without a review count zero). Items first rented in the last week before
  the origin are left out (`MIN_HISTORY`, as the rolling backtest does);
- by category (``level="category"``): every category's weekly total among the categories with at
  least `CATEGORY_MIN_WEEKS` weeks since their first rental before the origin (AutoETS refuses
  shorter series: "tiny datasets") — the default ``top`` of 200 is above the data's 68 categories,
  so all of those are kept (a smaller ``top`` keeps the largest);
- every model is fitted per origin by name (`forecasting.base.make_forecaster(name, "W")`), the
  scored rows of all origins are pooled and scored with `forecasting.backtest.score`, so ``rmse``
  and ``wape`` are per series x week, ``wape_total`` per series over the whole horizon (a buyer's
  number), ``bias`` relative, ``coverage_80`` the share of actuals inside the 80% interval (None for
  a model without one).

The reported origins (`ORIGINS`) are the issue's "four origins from 2017-05-22 to 2017-11-13,
8 weeks ahead each": 2017-05-22 and then every 8 weeks would end on 2017-11-06, whose window stops a
week before the last full week of data (the week of 2018-01-01). The issue's last origin,
2017-11-13, is the one whose 8 weeks end exactly there, so the first three are 8 weeks apart and
the last is moved one week later (a week, 2017-11-06, is scored by no origin). These origins
reproduce the issue's CrostonSBA row best (RMSE 1.008, 8-week WAPE 0.525, weekly WAPE 0.976, bias
+13.7% against the issue's 1.002 / 0.525 / 0.980 / +14%); strictly every 8 weeks from 2017-05-22
gives 1.019 / 0.520 / 0.967 / +11.4%, and every 8 weeks back from 2017-11-13 1.020 / 0.511 / 0.970
/ +12.5%. Counting rentals on review_date minus 2 days instead matched no better overall
(1.013 / 0.528 / 0.980 / +14.7%), so the review date is used as it is.
Tuning uses `TUNING_ORIGINS`, a year earlier (the four Mondays 8 weeks apart ending 2016-11-14),
whose test weeks all end before 2017-01-09 and so never touch a reported window.

Besides the registered models the protocol offers `SEASONAL_INDEX` ("autoets_x_seasonal_index",
the issue's "AutoETS x last-year seasonal index"): AutoETS's forecast times, per target week, last
year's total over all series of the same week divided by last year's mean weekly total over the
eight weeks before the origin's same week (`seasonal_index`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from forecasting.backtest import LEVEL, MIN_HISTORY, score
from forecasting.base import FORECASTERS, Forecaster, make_forecaster
from forecasting.series import ID, TARGET, TIME

__all__ = [
    "CATEGORY_MIN_WEEKS",
    "DEFAULT_MODELS",
    "LEVELS",
    "ORIGINS",
    "SEASONAL_INDEX",
    "TUNING_ORIGINS",
    "rtr_protocol",
    "scored_rows",
    "seasonal_index",
    "split_at",
    "top_series",
    "weekly_counts",
]

Progress = Callable[[str, float], None]
Overrides = Mapping[str, Mapping[str, Any]]  # model name -> settings fields to change

WEEK: Final = pd.Timedelta(weeks=1)
LEVELS: Final[dict[str, str]] = {"item": "item_id", "category": "category"}  # level -> reviews column
ORIGINS: Final[tuple[pd.Timestamp, ...]] = tuple(
    pd.Timestamp(d) for d in ("2017-05-22", "2017-07-17", "2017-09-11", "2017-11-13")
)
TUNING_ORIGINS: Final[tuple[pd.Timestamp, ...]] = tuple(
    pd.Timestamp(d) for d in ("2016-05-30", "2016-07-25", "2016-09-19", "2016-11-14")
)
SEASONAL_INDEX: Final = "autoets_x_seasonal_index"
DEFAULT_MODELS: Final[tuple[str, ...]] = (
    "linear",
    "neural",
    "seasonal_naive",
    "autoets",
    SEASONAL_INDEX,
    "croston_sba",
    "historic_average",
)
CATEGORY_MIN_WEEKS: Final = 26  # history a category needs to be forecast (see the module docstring)
_INDEX_WEEKS: Final = 8  # last year's weeks that set the level the seasonal index is relative to
_SEASON: Final = 52


def weekly_counts(reviews: pd.DataFrame, level: str = "item") -> pd.DataFrame:
    """Rentals per series and week (``unique_id``, ``ds`` = the week's Monday, ``y``), weeks with rentals only.

    Raises:
        ValueError: ``level`` is not "item" or "category", or the table lacks its column or ``review_date``.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    col = LEVELS[level]
    missing = [c for c in (col, "review_date") if c not in reviews.columns]
    if missing:
        raise ValueError(f"the reviews table has no column {', '.join(missing)}")
    day = pd.to_datetime(reviews["review_date"]).dt.normalize()
    monday = day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    frame = pd.DataFrame({ID: reviews[col].astype(str).to_numpy(), TIME: monday.to_numpy()})
    counts = frame.groupby([ID, TIME], sort=True).size().rename(TARGET).reset_index()
    counts[TARGET] = counts[TARGET].astype(float)
    return counts


def top_series(weekly: pd.DataFrame, origin: pd.Timestamp, top: int, min_weeks: int = MIN_HISTORY) -> np.ndarray:
    """The ``top`` series by rentals in weeks before ``origin`` (ties by id), among those with
    at least ``min_weeks`` weeks since their first rental; nothing at or after ``origin`` is read."""
    before = weekly[weekly[TIME] < origin]
    first = before.groupby(ID)[TIME].min()
    old_enough = first[first <= origin - min_weeks * WEEK].index
    totals = before[before[ID].isin(old_enough)].groupby(ID)[TARGET].sum()
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    return np.array([sid for sid, _ in ranked[:top]], dtype=str)


def split_at(
    weekly: pd.DataFrame, origin: pd.Timestamp, ids: np.ndarray, horizon: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and test frames of series ``ids`` at ``origin``.

    Training: every week from each series' first rental to the week before ``origin``, zero-filled,
    so all series end together just before the origin. Test: the ``horizon`` weeks from ``origin``
    for every series (``actual``, zero where there were no rentals).
    """
    sub = weekly[weekly[ID].isin(ids)]
    before = sub[sub[TIME] < origin]
    first = before.groupby(ID)[TIME].min().reindex(ids)
    n = ((origin - first).dt.days // 7).to_numpy(dtype=np.int64)
    rows = np.repeat(np.arange(len(ids)), n)
    offset = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    train = pd.DataFrame({ID: ids[rows], TIME: first.to_numpy()[rows] + offset * WEEK})
    train = train.merge(before, on=[ID, TIME], how="left")
    train[TARGET] = train[TARGET].fillna(0.0)
    weeks = origin + np.arange(horizon) * WEEK
    test = pd.DataFrame({ID: np.repeat(ids, horizon), TIME: np.tile(weeks, len(ids))})
    test = test.merge(sub.rename(columns={TARGET: "actual"}), on=[ID, TIME], how="left")
    test["actual"] = test["actual"].fillna(0.0)
    return train, test


def seasonal_index(weekly: pd.DataFrame, origin: pd.Timestamp, horizon: int) -> np.ndarray:
    """Per target week, last year's total of the same week over last year's mean weekly total of the
    `_INDEX_WEEKS` weeks before the origin's same week (all series of the table; weeks before ``origin``
    only). 1.0 where last year has no rentals."""
    totals = weekly[weekly[TIME] < origin].groupby(TIME)[TARGET].sum()
    back = origin - _SEASON * WEEK
    base_weeks = back - np.arange(1, _INDEX_WEEKS + 1) * WEEK
    base = float(totals.reindex(base_weeks, fill_value=0.0).mean())
    same = totals.reindex(back + np.arange(horizon) * WEEK, fill_value=0.0).to_numpy(dtype=float)
    return same / base if base > 0 else np.ones(horizon)


def _fitted(name: str, train: pd.DataFrame, seed: int, overrides: Overrides | None = None) -> Forecaster:
    """Model ``name`` fitted on ``train``; a model with dataclass settings gets ``seed`` and
    ``overrides[name]`` (fields of its settings, e.g. the neural model's ``ensemble``)."""
    model = make_forecaster(name, "W")
    settings = getattr(model, "settings", None)
    if dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        changes = {"seed": seed} if hasattr(settings, "seed") else {}
        changes.update((overrides or {}).get(name, {}))
        model.settings = dataclasses.replace(settings, **changes)  # type: ignore[attr-defined]
    return model.fit(train)


def _forecast(
    name: str, train: pd.DataFrame, horizon: int, seed: int, overrides: Overrides | None = None
) -> pd.DataFrame:
    """``unique_id``, ``ds``, ``mean`` (and ``lo_80``/``hi_80`` when the model has them)."""
    model = _fitted(name, train, seed, overrides)
    return model.predict(horizon, [LEVEL] if model.has_intervals else [])


def _base(name: str) -> str:
    """The registered model whose forecast ``name`` starts from."""
    return "autoets" if name == SEASONAL_INDEX else name


def _adjusted(name: str, pred: pd.DataFrame, weekly: pd.DataFrame, origin: pd.Timestamp, horizon: int) -> pd.DataFrame:
    """``pred`` times the seasonal index for `SEASONAL_INDEX`; any other model's forecast as it is."""
    if name != SEASONAL_INDEX:
        return pred
    out = pred.sort_values([ID, TIME], kind="stable").reset_index(drop=True)
    factor = np.tile(seasonal_index(weekly, origin, horizon), len(out) // horizon)
    for col in ("mean", f"lo_{LEVEL}", f"hi_{LEVEL}"):
        if col in out.columns:
            out[col] = out[col].to_numpy() * factor
    return out


def _train_at(
    weekly: pd.DataFrame, origin: pd.Timestamp, top: int, horizon: int, min_weeks: int
) -> tuple[np.ndarray, pd.DataFrame]:
    """The chosen series at ``origin`` and their training frame."""
    ids = top_series(weekly, origin, top, min_weeks)
    return ids, split_at(weekly, origin, ids, horizon)[0]


def scored_rows(
    weekly: pd.DataFrame,
    origin: pd.Timestamp,
    name: str,
    *,
    top: int = 200,
    horizon: int = 8,
    seed: int = 0,
    forecast: pd.DataFrame | None = None,
    min_weeks: int = MIN_HISTORY,
) -> pd.DataFrame:
    """One model's forecasts at one origin joined to the actuals: ``unique_id``, ``ds``, ``actual``,
    ``mean``, ``scale`` (the in-sample naive MAE, for MASE) and the interval bounds where it has them.

    ``forecast``: the base model's forecast at this origin when already made (`SEASONAL_INDEX`
    reuses AutoETS's rather than fitting it twice). ``min_weeks``: see `top_series`.
    """
    ids = top_series(weekly, origin, top, min_weeks)
    train, test = split_at(weekly, origin, ids, horizon)
    pred = forecast if forecast is not None else _forecast(_base(name), train, horizon, seed)
    pred = _adjusted(name, pred, weekly, origin, horizon)
    scale = train.groupby(ID)[TARGET].diff().abs().groupby(train[ID]).mean().rename("scale")
    return test.merge(pred, on=[ID, TIME], how="left", validate="one_to_one").join(scale, on=ID)


def rtr_protocol(
    reviews: pd.DataFrame,
    level: str = "item",
    models: Sequence[str] = DEFAULT_MODELS,
    origins: Sequence[pd.Timestamp] = ORIGINS,
    top: int = 200,
    horizon: int = 8,
    seed: int = 0,
    progress: Progress | None = None,
    overrides: Overrides | None = None,
) -> dict[str, dict[str, float | None]]:
    """``{model: {"rmse", "wape", "wape_total", "mase", "bias", "coverage_80", "fit_seconds"}}`` pooled
    over ``origins`` (module docstring). ``reviews`` needs ``review_date`` and the level's column.
    ``overrides``: per model name, settings fields to change (for tuning; seeded models get ``seed``).

    Raises:
        ValueError: an unknown level or model, or an origin that is not a Monday.
    """
    unknown = [m for m in models if m not in FORECASTERS and m != SEASONAL_INDEX]
    if unknown:
        raise ValueError(
            f"unknown model {', '.join(map(repr, unknown))}; known: {', '.join([*FORECASTERS, SEASONAL_INDEX])}"
        )
    weekly = weekly_counts(reviews, level)
    min_weeks = CATEGORY_MIN_WEEKS if level == "category" else MIN_HISTORY
    for origin in origins:
        if pd.Timestamp(origin).day_of_week != 0:
            raise ValueError(f"origin {origin} is not a Monday")
    steps = max(len(models) * len(origins), 1)
    out: dict[str, dict[str, float | None]] = {}
    made: dict[tuple[str, int], tuple[pd.DataFrame, float]] = {}  # (base model, origin) -> forecast, seconds
    for i, name in enumerate(models):
        parts: list[pd.DataFrame] = []
        seconds = 0.0
        for w, origin in enumerate(origins):
            if progress is not None:
                progress(f"{level} {name}, origin {pd.Timestamp(origin).date()}", (i * len(origins) + w) / steps)
            at = pd.Timestamp(origin)
            key = (_base(name), w)
            if key not in made:
                began = time.perf_counter()
                _, train = _train_at(weekly, at, top, horizon, min_weeks)
                made[key] = (_forecast(key[0], train, horizon, seed, overrides), time.perf_counter() - began)
            pred, took = made[key]
            seconds += took
            rows = scored_rows(
                weekly, at, name, top=top, horizon=horizon, seed=seed, forecast=pred, min_weeks=min_weeks
            )
            parts.append(rows.assign(window=w))
        pooled = pd.concat(parts, ignore_index=True)
        has_interval = f"lo_{LEVEL}" in pooled.columns
        out[name] = {**score(pooled, has_interval), "fit_seconds": round(seconds, 3)}
    if progress is not None:
        progress("done", 1.0)
    return out
