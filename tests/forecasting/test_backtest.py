"""The forecaster interface and the rolling-origin backtest on tiny tables.

Every registered model saves and loads to the same forecasts; a window's forecasts never depend
on values at or after its origin (hypothesis); the metrics agree with hand-computed answers; a
table that cannot be backtested is refused naming the option at fault.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecasting.backtest import (
    BacktestInputError,
    BacktestOptions,
    backtest,
    demand_series,
    forecast_window,
    origins,
    score,
)
from forecasting.base import FORECASTERS, Forecaster, load_forecaster, make_forecaster
from forecasting.metrics import bias, coverage, mase, rmse
from forecasting.series import regular_grid

MODELS = tuple(FORECASTERS)


def table(freq: str = "W", n_series: int = 3, periods: int = 60, seed: int = 0) -> pd.DataFrame:
    """Poisson counts per series and period, rows with 0 left out (as a demand table records them)."""
    rng = np.random.default_rng(seed)
    step = "7D" if freq == "W" else "1D"
    times = pd.date_range("2023-01-02", periods=periods, freq=step)
    rates = 1.0 + 2.0 * np.arange(n_series)
    frame = pd.DataFrame(
        {
            "item": np.repeat([f"s{i}" for i in range(n_series)], periods),
            "week": np.tile(times, n_series),
            "n": rng.poisson(np.repeat(rates, periods)).astype(float),
        }
    )
    frame = frame.iloc[n_series:]  # the first series starts a period late: series of unequal length
    return frame[frame["n"] > 0].reset_index(drop=True)


def grid(freq: str = "W", **kwargs: int) -> pd.DataFrame:
    return demand_series(table(freq, **kwargs), id_col="item", time_col="week", target_col="n", freq=freq)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("freq", ["W", "D"])
def test_save_then_load_forecasts_the_same(tmp_path: Path, name: str, freq: str) -> None:
    model = make_forecaster(name, freq)
    assert isinstance(model, Forecaster)
    model.fit(grid(freq))
    levels = [80] if model.has_intervals else []
    before = model.predict(5, levels)
    model.save(tmp_path / name)
    loaded = load_forecaster(tmp_path / name)
    assert type(loaded) is type(model)
    pd.testing.assert_frame_equal(loaded.predict(5, levels), before)
    assert list(before.columns) == ["unique_id", "ds", "mean"] + (["lo_80", "hi_80"] if levels else [])
    assert len(before) == 3 * 5 and np.isfinite(before["mean"]).all()
    fitted = [a for a in vars(model) if a.endswith("_")]
    assert fitted, "fitted state lives in attributes ending in _"


def test_load_refuses_a_folder_without_a_registered_model(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text('{"kind": "DemandForecaster"}')
    with pytest.raises(ValueError, match="no registered forecaster"):
        load_forecaster(tmp_path)


def test_regular_grid_fills_missing_periods_with_zero_until_the_table_ends() -> None:
    t = pd.to_datetime(["2024-01-01", "2024-01-15", "2024-01-08", "2024-01-15"])
    g = regular_grid(pd.DataFrame({"unique_id": ["a", "a", "b", "a"], "ds": t, "y": [1.0, 2.0, 3.0, 5.0]}), "W")
    assert g["unique_id"].tolist() == ["a", "a", "a", "b", "b"]
    assert g["y"].tolist() == [1.0, 0.0, 7.0, 3.0, 0.0]  # a's two rows of one week are summed


# A few models per example keep it quick; each model is in at least one of the draws' lists.
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    window=st.integers(0, 2),
    seed=st.integers(0, 1000),
    model=st.sampled_from(MODELS),
    newcomer=st.booleans(),
)
def test_a_window_never_sees_data_at_or_after_its_origin(window: int, seed: int, model: str, newcomer: bool) -> None:
    g = grid("W", periods=40)
    opts = BacktestOptions(horizon=4, windows=3, freq="W", models=(model,))
    origin = origins(g, opts)[window]
    rng = np.random.default_rng(seed)
    changed = g.copy()
    after = changed["ds"] >= origin
    changed.loc[after, "y"] = rng.poisson(20.0, int(after.sum())).astype(float)
    if newcomer:  # a series launched at the origin is no business of that window either
        extra = pd.DataFrame({"unique_id": "new", "ds": origin, "y": 9.0}, index=[0])
        changed = pd.concat([changed, extra], ignore_index=True)
    first, _ = forecast_window(g, origin, opts, model)
    second, _ = forecast_window(changed, origin, opts, model)
    pd.testing.assert_frame_equal(first, second)
    assert (first["ds"] >= origin).all() and (first["ds"] < origin + pd.Timedelta(weeks=4)).all()


def test_metrics_by_hand() -> None:
    assert rmse([1, 2, 3], [1, 2, 6]) == pytest.approx(np.sqrt(3))
    assert bias([2, 2], [3, 3]) == pytest.approx(0.5)
    assert mase([1, 3, 5], [2, 3, 3], [2.0, 2.0, 0.0]) == pytest.approx((0.5 + 0.0) / 2)  # scale 0 left out
    assert coverage([1, 5, 3], [0, 0, 3], [2, 4, 3]) == pytest.approx(2 / 3)  # bounds included


def test_score_on_a_hand_made_table() -> None:
    # Two series, one window of two periods: a = [1, 3 | 2, 0], p = [2, 2 | 2, 1].
    rows = pd.DataFrame(
        {
            "window": 0,
            "unique_id": ["a", "a", "b", "b"],
            "actual": [1.0, 3.0, 2.0, 0.0],
            "mean": [2.0, 2.0, 2.0, 1.0],
            "scale": [1.0, 1.0, 0.5, 0.5],
            "lo_80": [0.0, 0.0, 3.0, 0.0],
            "hi_80": [4.0, 4.0, 4.0, 0.5],
        }
    )
    s = score(rows, has_interval=True)
    assert s["rmse"] == pytest.approx(np.sqrt(3 / 4))
    assert s["wape"] == pytest.approx(3 / 6)
    assert s["wape_total"] == pytest.approx((0 + 1) / 6)  # totals: a 4 vs 4, b 2 vs 3
    assert s["mase"] == pytest.approx((1 + 1 + 0 + 2) / 4)
    assert s["bias"] == pytest.approx(1 / 6)
    assert s["coverage_80"] == pytest.approx(3 / 4)  # b's 2 lies outside [3, 4]
    assert score(rows, has_interval=False)["coverage_80"] is None


def test_a_constant_series_is_forecast_exactly_by_the_averaging_baselines() -> None:
    times = pd.date_range("2024-01-01", periods=20, freq="7D")
    flat = pd.DataFrame({"id": np.repeat(["a", "b"], 20), "t": np.tile(times, 2), "y": np.repeat([2.0, 5.0], 20)})
    g = demand_series(flat, id_col="id", time_col="t", target_col="y", freq="W")
    doc = backtest(g, BacktestOptions(horizon=3, windows=2, freq="W", models=("historic_average", "croston_sba")))
    ha = doc["models"]["historic_average"]
    assert ha["rmse"] == pytest.approx(0, abs=1e-9) and ha["wape"] == pytest.approx(0, abs=1e-9)
    assert ha["bias"] == pytest.approx(0, abs=1e-9) and ha["coverage_80"] == 1.0
    assert ha["mase"] is None  # a constant history has no naive error to scale by
    assert doc["models"]["croston_sba"]["coverage_80"] is None  # Croston has no interval
    assert doc["meta"]["origins"] == ["2024-04-08", "2024-04-29"] and doc["meta"]["cells_scored"] == 12


def test_backtest_reports_every_metric_for_every_model() -> None:
    doc = backtest(grid("W", periods=40), BacktestOptions(horizon=4, windows=2, freq="W"))
    assert list(doc["models"]) == list(MODELS)
    for name, m in doc["models"].items():
        assert set(m) == {"rmse", "wape", "wape_total", "mase", "bias", "coverage_80", "fit_seconds"}
        assert m["rmse"] > 0 and m["wape"] > 0 and m["fit_seconds"] >= 0
        assert (m["coverage_80"] is None) == (name == "croston_sba")


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"id_col": "nope"}, "id_col"),
        ({"time_col": "nope"}, "time_col"),
        ({"target_col": "nope"}, "target_col"),
        ({"freq": "M"}, "freq"),
    ],
)
def test_a_bad_column_or_freq_names_its_option(kwargs: dict[str, str], option: str) -> None:
    given = {"id_col": "item", "time_col": "week", "target_col": "n", "freq": "W", **kwargs}
    with pytest.raises(BacktestInputError) as err:
        demand_series(table(), **given)
    assert err.value.option == option


def test_times_off_the_grid_and_negative_counts_are_refused() -> None:
    t = table()
    with pytest.raises(BacktestInputError, match="whole number of weeks") as err:
        demand_series(t.assign(week=t["week"] + pd.to_timedelta((t.index == 3).astype(int), unit="D")), id_col="item",
                      time_col="week", target_col="n", freq="W")  # fmt: skip
    assert err.value.option == "time_col"
    with pytest.raises(BacktestInputError, match="not a count") as err:
        demand_series(t.assign(n=-t["n"]), id_col="item", time_col="week", target_col="n", freq="W")
    assert err.value.option == "target_col"


def test_windows_the_table_cannot_hold_are_refused() -> None:
    g = grid("W", periods=20)
    with pytest.raises(BacktestInputError, match="leaves") as err:
        origins(g, BacktestOptions(horizon=8, windows=3, freq="W"))
    assert err.value.option == "horizon"
    with pytest.raises(BacktestInputError) as err:
        BacktestOptions(horizon=4, windows=2, models=("linear", "prophet"))
    assert err.value.option == "models"
