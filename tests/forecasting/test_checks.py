"""Checks that gate promotion: each check's pass and fail case, results stored and re-read outside
the version folder, and gated promotion keeping the champion (with the reason logged) on a failure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.base import make_forecaster
from forecasting.checks import (
    CheckContext,
    CheckError,
    CheckResult,
    HoldOutCheck,
    MetricDriftCheck,
    SelfDriftCheck,
    load_result,
    store_result,
)
from forecasting.promotion import decisions, gated_promote
from forecasting.registry import ModelRegistry
from forecasting.series import ID, TARGET, TIME

WEEKS = pd.date_range("2024-01-01", periods=24, freq="7D")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Two series whose level jumps from 2 to 10 halfway: an all-history mean lags far behind."""
    rng = np.random.default_rng(3)
    y = np.concatenate([np.concatenate([np.full(12, 2.0), np.full(12, 10.0)]) + rng.poisson(0.5, 24) for _ in "ab"])
    return pd.DataFrame({ID: np.repeat(["a", "b"], 24), TIME: np.tile(WEEKS, 2), TARGET: y})


@pytest.fixture
def registry(tmp_path: Path, frame: pd.DataFrame) -> ModelRegistry:
    """v1 historic average (champion), v2 historic average again, v3 AutoETS; all fitted on ``frame``."""
    reg = ModelRegistry(tmp_path / "models")
    historic = make_forecaster("historic_average", "W").fit(frame)
    assert reg.register(historic, data_hash="h") == "v1"
    assert reg.register(historic, data_hash="h") == "v2"
    assert reg.register(make_forecaster("autoets", "W").fit(frame), data_hash="h") == "v3"
    reg.promote("v1")
    return reg


# ---- HoldOutCheck ------------------------------------------------------------------------------


def test_holdout_fails_a_candidate_worse_than_a_baseline(registry: ModelRegistry, frame: pd.DataFrame) -> None:
    result = HoldOutCheck(k=4).run(CheckContext(registry, "v2", frame))
    assert not result.passed
    # Its own kind is not a baseline; the others are all scored on the same four weeks.
    assert set(result.values) == {"rmse", "seasonal_naive_rmse", "autoets_rmse", "croston_sba_rmse"}
    assert result.threshold["rmse"] == min(v for k, v in result.values.items() if k != "rmse" and v is not None)
    assert result.values["rmse"] is not None and result.values["rmse"] > result.threshold["rmse"]
    assert "does not beat" in result.reason and "autoets" in result.reason


def test_holdout_passes_a_candidate_better_than_every_baseline(registry: ModelRegistry, frame: pd.DataFrame) -> None:
    result = HoldOutCheck(k=4).run(CheckContext(registry, "v3", frame))
    assert result.passed, result.reason
    assert "autoets_rmse" not in result.values  # a model cannot beat itself


def test_holdout_judges_strictly_below_and_refuses_bad_settings() -> None:
    check = HoldOutCheck(k=2, metric="wape")
    assert not check.judge("v1", "linear", {"linear": 0.5, "autoets": 0.5}).passed  # a tie keeps the champion
    assert check.judge("v1", "linear", {"linear": 0.4, "autoets": 0.5, "croston_sba": None}).passed
    assert not check.judge("v1", "linear", {"linear": None, "autoets": 0.5}).passed
    with pytest.raises(CheckError, match="cannot rank"):
        HoldOutCheck(metric="bias")
    with pytest.raises(CheckError, match="k >= 1"):
        HoldOutCheck(k=0)


# ---- SelfDriftCheck ----------------------------------------------------------------------------


def test_self_drift_passes_within_tolerance_of_the_moving_average() -> None:
    result = SelfDriftCheck(window=3, tolerance=0.1).judge("v5", 1.05, [9.0, 1.0, 1.0, 1.0])
    assert result.passed, result.reason
    assert result.values["moving_average"] == pytest.approx(1.0)  # only the last 3 points count
    assert result.values["relative_gap"] == pytest.approx(0.05)


def test_self_drift_fails_a_rise_outside_tolerance() -> None:
    result = SelfDriftCheck(window=3, tolerance=0.1).judge("v5", 1.3, [1.0, 1.0, 1.0])
    assert not result.passed
    assert result.values["relative_gap"] == pytest.approx(0.3)
    assert "+30.0%" in result.reason and "outside the 10% tolerance" in result.reason


def test_self_drift_fails_a_sharp_drop_only_when_two_sided() -> None:
    history = [1.0, 1.0, 1.0]
    assert SelfDriftCheck(window=3, tolerance=0.1).judge("v5", 0.7, history).passed  # a better model
    assert not SelfDriftCheck(window=3, tolerance=0.1, two_sided=True).judge("v5", 0.7, history).passed


def test_self_drift_without_history_passes() -> None:
    result = SelfDriftCheck().judge("v1", 1.0, [])
    assert result.passed and result.values["moving_average"] is None


def test_self_drift_reads_earlier_versions_stored_holdouts(registry: ModelRegistry) -> None:
    def holdout(version: str, rmse: float) -> None:
        store_result(registry, CheckResult("holdout", version, True, {"rmse": rmse}, {}, "", "2024-01-01T00:00:00"))

    holdout("v1", 2.0)
    holdout("v2", 2.2)
    holdout("v3", 3.0)
    ctx = CheckContext(registry, "v3")
    assert not SelfDriftCheck(window=2, tolerance=0.2).run(ctx).passed  # 3.0 vs mean 2.1: 43% off
    assert SelfDriftCheck(window=2, tolerance=0.5).run(ctx).passed
    assert not SelfDriftCheck(window=1, tolerance=0.0).run(ctx).passed  # against v2 alone: +36%
    with pytest.raises(CheckError, match="no stored holdout"):
        SelfDriftCheck(metric="wape").run(ctx)


# ---- MetricDriftCheck --------------------------------------------------------------------------


def _realized(level: float) -> pd.DataFrame:
    after = pd.date_range(WEEKS[-1] + pd.Timedelta(weeks=1), periods=3, freq="7D")
    return pd.DataFrame({ID: np.repeat(["a", "b", "new"], 3), TIME: np.tile(after, 3), TARGET: np.full(9, level)})


def test_metric_drift_passes_when_realized_bookings_match(registry: ModelRegistry) -> None:
    forecast = float(registry.load("v3").predict(1)["mean"].mean())
    result = MetricDriftCheck(_realized(forecast), max_wape=0.2, max_abs_bias=0.1).run(CheckContext(registry, "v3"))
    assert result.passed, result.reason
    assert result.values["bias"] == pytest.approx(0.0, abs=0.05)


def test_metric_drift_fails_when_realized_bookings_fall_away(registry: ModelRegistry) -> None:
    forecast = float(registry.load("v3").predict(1)["mean"].mean())
    result = MetricDriftCheck(_realized(forecast / 2), max_wape=0.2, max_abs_bias=0.1).run(CheckContext(registry, "v3"))
    assert not result.passed
    assert result.values["bias"] == pytest.approx(1.0, rel=0.1)  # forecast twice what was booked
    assert "bias" in result.reason and "WAPE" in result.reason


def test_metric_drift_refuses_bookings_before_the_forecast(registry: ModelRegistry, frame: pd.DataFrame) -> None:
    with pytest.raises(CheckError, match="first forecast period"):
        MetricDriftCheck(frame).run(CheckContext(registry, "v3"))


# ---- storage and gating ------------------------------------------------------------------------


def test_results_are_stored_beside_the_version_and_reread(registry: ModelRegistry, frame: pd.DataFrame) -> None:
    decision = gated_promote(registry, "v3", [HoldOutCheck(k=4)], frame)
    stored = load_result(registry, "v3", "holdout")
    assert stored == decision.results[0]
    assert (registry.root / "checks" / "v3" / "holdout.json").is_file()
    assert sorted(p.name for p in (registry.root / "versions" / "v3").iterdir()) == [
        "arrays.npz",
        "meta.json",
        "metadata.json",
    ]
    registry.load("v3")  # the version still verifies
    assert load_result(registry, "v3", "self_drift") is None


def test_a_failed_check_keeps_the_champion_and_records_why(registry: ModelRegistry, frame: pd.DataFrame) -> None:
    decision = gated_promote(registry, "v2", [HoldOutCheck(k=4), SelfDriftCheck()], frame)
    assert not decision.promoted
    assert registry.aliases() == {"champion": "v1", "previous": None}
    assert decision.reason.startswith("kept champion v1: holdout: historic_average does not beat")
    (logged,) = decisions(registry)
    assert logged["promoted"] is False and logged["reason"] == decision.reason
    assert logged["checks"] == {"holdout": False, "self_drift": True}
    # Both results are stored, the failing one included.
    assert json.loads((registry.root / "checks" / "v2" / "holdout.json").read_text())["passed"] is False


def test_passing_checks_promote(registry: ModelRegistry, frame: pd.DataFrame) -> None:
    decision = gated_promote(registry, "v3", [HoldOutCheck(k=4), SelfDriftCheck(tolerance=10.0)], frame)
    assert decision.promoted, decision.reason
    assert registry.aliases() == {"champion": "v3", "previous": "v1"}
    assert (decision.champion, decision.previous) == ("v3", "v1")
    assert decisions(registry)[-1]["promoted"] is True
