"""`NeuralDemand` on tiny tables: reproducible, saved without pickles, no look-ahead, ordered quantiles.

Training is cut to a few epochs of a small network and torch runs on one thread, so the file
takes seconds; the module's defaults are exercised by the backtest tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.backtest import BacktestOptions, backtest, forecast_window, origins
from forecasting.base import FORECASTERS, load_forecaster
from forecasting.neural import NeuralDemand, NeuralSettings, window_features

SMALL = NeuralSettings(max_horizon=4, lags=6, embedding=4, hidden=16, epochs=4, patience=2, batch=64)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Fixed thread count: CPU results are then bit-reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def frame(n_series: int = 4, periods: int = 40, seed: int = 0) -> pd.DataFrame:
    """Poisson weekly counts with a yearly wave, the first series launched 10 weeks late."""
    rng = np.random.default_rng(seed)
    times = pd.date_range("2023-01-02", periods=periods, freq="7D")
    wave = 1 + 0.5 * np.sin(2 * np.pi * np.arange(periods) / 52)
    rates = (1.0 + 2.0 * np.arange(n_series))[:, None] * wave[None, :]
    f = pd.DataFrame(
        {
            "unique_id": np.repeat([f"s{i}" for i in range(n_series)], periods),
            "ds": np.tile(times, n_series),
            "y": rng.poisson(rates).ravel().astype(float),
        }
    )
    return f[~((f["unique_id"] == "s0") & (f["ds"] < times[10]))].reset_index(drop=True)


def test_registered_as_neural() -> None:
    assert type(FORECASTERS["neural"]("W")) is NeuralDemand


def test_save_then_load_forecasts_the_same_from_plain_arrays(tmp_path: Path) -> None:
    model = NeuralDemand("W", SMALL).fit(frame())
    before = model.predict(6, [80])
    model.save(tmp_path / "m")
    with np.load(tmp_path / "m" / "arrays.npz", allow_pickle=False) as z:  # plain arrays, nothing pickled
        assert {z[k].dtype.kind for k in z.files} <= {"f", "i"}
        assert any(k.startswith("w.0.embed") for k in z.files)
    loaded = load_forecaster(tmp_path / "m")
    assert isinstance(loaded, NeuralDemand) and loaded.settings == SMALL
    pd.testing.assert_frame_equal(loaded.predict(6, [80]), before)
    pd.testing.assert_frame_equal(loaded.predict_quantiles(6), model.predict_quantiles(6))


def test_two_fits_with_one_seed_forecast_the_same_and_another_seed_differs() -> None:
    first = NeuralDemand("W", SMALL).fit(frame()).predict(4, [80])
    second = NeuralDemand("W", SMALL).fit(frame()).predict(4, [80])
    pd.testing.assert_frame_equal(first, second)
    other = NeuralDemand("W", NeuralSettings(**{**SMALL.__dict__, "seed": 1})).fit(frame()).predict(4, [80])
    assert not np.allclose(other["mean"], first["mean"])


def test_quantiles_are_ordered_and_non_negative() -> None:
    model = NeuralDemand("W", SMALL).fit(frame())
    q = model.predict_quantiles(6)  # beyond max_horizon too: the last lead is reused
    assert (q[["mean", "p10", "p50", "p90"]].to_numpy() >= 0).all()
    assert (q["p10"] <= q["p50"]).all() and (q["p50"] <= q["p90"]).all()
    p = model.predict(6, [80])
    np.testing.assert_array_equal(p["lo_80"], q["p10"])
    np.testing.assert_array_equal(p["hi_80"], q["p90"])
    with pytest.raises(ValueError, match="only the 80% interval"):
        model.predict(4, [95])


def test_early_stopping_keeps_the_best_epoch() -> None:
    model = NeuralDemand("W", NeuralSettings(**{**SMALL.__dict__, "epochs": 6, "patience": 1})).fit(frame())
    assert 1 <= model.best_epoch_ <= model.epochs_run_ <= 6
    assert model.epochs_run_ == 6 or model.epochs_run_ == model.best_epoch_ + 1


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    origin=st.integers(1, 11),
    lead=st.integers(1, 8),
    launch=st.integers(-3, 11),
    freq=st.sampled_from(["W", "D"]),
)
def test_features_at_an_origin_read_only_periods_before_it(
    seed: int, origin: int, lead: int, launch: int, freq: str
) -> None:
    rng = np.random.default_rng(seed)
    history = rng.poisson(3.0, (2, 12)).astype(float)
    first = np.array([min(launch, origin - 1), 0])
    history[0, : max(first[0], 0)] = 0.0  # nothing before launch
    rows = (np.array([origin]), np.array([lead]), np.array([0]))
    day0 = pd.Timestamp("2024-01-01")
    x, scale = window_features(history, first, *rows, day0, freq, SMALL)
    changed = history.copy()
    changed[:, origin:] = rng.poisson(50.0, changed[:, origin:].shape)
    x2, scale2 = window_features(changed, first, *rows, day0, freq, SMALL)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(scale, scale2)
    # ...and what is before the origin is read: the most recent lag is the period just before it.
    assert x[0, 0] == pytest.approx(np.log1p(history[0, origin - 1]))


def test_a_backtest_window_never_sees_data_at_or_after_its_origin() -> None:
    grid = frame(periods=30)
    opts = BacktestOptions(horizon=4, windows=2, freq="W", models=("neural",))
    origin = origins(grid, opts)[0]
    changed = grid.copy()
    after = changed["ds"] >= origin
    changed.loc[after, "y"] = 40.0
    first, _ = forecast_window(grid, origin, opts, "neural")
    second, _ = forecast_window(changed, origin, opts, "neural")
    pd.testing.assert_frame_equal(first, second)


def test_the_backtest_runs_it_on_a_tiny_table() -> None:
    doc = backtest(frame(periods=30), BacktestOptions(horizon=3, windows=2, freq="W", models=("neural", "linear")))
    m = doc["models"]["neural"]
    assert set(m) == {"rmse", "wape", "wape_total", "mase", "bias", "coverage_80", "fit_seconds"}
    assert m["rmse"] > 0 and m["coverage_80"] is not None and 0 <= m["coverage_80"] <= 1


def test_an_ensemble_saves_every_member_and_loads_to_the_same_forecasts(tmp_path: Path) -> None:
    model = NeuralDemand("W", NeuralSettings(**{**SMALL.__dict__, "ensemble": 2})).fit(frame())
    assert len(model.states_) == 2
    model.save(tmp_path / "m")
    with np.load(tmp_path / "m" / "arrays.npz", allow_pickle=False) as z:
        assert any(k.startswith("w.1.embed") for k in z.files)
    loaded = load_forecaster(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.predict(5, [80]), model.predict(5, [80]))
    single = NeuralDemand("W", SMALL).fit(frame()).predict(5)
    assert not np.allclose(single["mean"], model.predict(5)["mean"])  # the second member counts


def test_the_interval_is_calibrated_on_the_validation_window() -> None:
    """A wider coverage target never gives a narrower interval (same seed, same networks)."""
    narrow = NeuralDemand("W", NeuralSettings(**{**SMALL.__dict__, "target_coverage": 0.3})).fit(frame(seed=3))
    wide = NeuralDemand("W", NeuralSettings(**{**SMALL.__dict__, "target_coverage": 0.99})).fit(frame(seed=3))
    assert 0.0 <= narrow.spread_ <= wide.spread_ <= 2.0
    pd.testing.assert_series_equal(narrow.predict(4)["mean"], wide.predict(4)["mean"])
    n, w = narrow.predict(4, [80]), wide.predict(4, [80])
    assert (w["hi_80"] - w["lo_80"] >= n["hi_80"] - n["lo_80"]).all()
