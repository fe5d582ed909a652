"""The fill-rate drift check and the recorded-verdicts check (forecasting.drift): each one's pass and
fail case, the report.json keys they read, results stored and gating a promotion like the other
checks, and `closetflow models checks|promote --gated --report` on top of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from api.cli import app
from forecasting.base import make_forecaster
from forecasting.checks import CheckContext, CheckError, CheckResult, load_result, store_result, stored_results
from forecasting.drift import FillRateDriftCheck, RecordedCheck, report_fill_rates
from forecasting.promotion import decisions, gated_promote, run_checks
from forecasting.registry import ModelRegistry
from forecasting.series import ID, TARGET, TIME

runner = CliRunner()


def report(predicted: float | None, realized: float | None, *, expected: float | None = 0.9) -> dict[str, Any]:
    """The part of a job's report.json (docs/report.md) the check reads, plus neighbours it ignores."""
    return {
        "plan": {"reservations": 40, "projected_fill_rate": predicted, "expected_fill_rate": expected},
        "validation": {
            "reservations": 52,
            "greedy": {"fill_rate": 0.5, "value": 1.0},
            "closetflow": {"fill_rate": realized, "value": 2.0},
        },
    }


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    """v1 (champion) and v2, two historic averages of one short series."""
    frame = pd.DataFrame({ID: "a", TIME: pd.date_range("2024-01-01", periods=8, freq="7D"), TARGET: np.arange(8.0)})
    reg = ModelRegistry(tmp_path / "artifacts" / "models")
    model = make_forecaster("historic_average", "W").fit(frame)
    assert [reg.register(model, data_hash="h") for _ in range(2)] == ["v1", "v2"]
    reg.promote("v1")
    return reg


# ---- FillRateDriftCheck ------------------------------------------------------------------------


def test_fill_rate_within_tolerance_passes() -> None:
    result = FillRateDriftCheck(0.74, 0.71).judge("v2")
    assert result.passed and result.name == "fill_rate_drift"
    assert result.values == pytest.approx({"predicted_fill_rate": 0.74, "realized_fill_rate": 0.71, "gap": 0.03})
    assert result.threshold == {"tolerance": 0.05}
    assert "within" in result.reason and "0.740" in result.reason and "0.710" in result.reason


def test_fill_rate_outside_tolerance_fails_either_way() -> None:
    over = FillRateDriftCheck(0.80, 0.70).judge("v2")
    assert not over.passed and "+0.100, outside the ±0.050 tolerance" in over.reason
    under = FillRateDriftCheck(0.60, 0.70).judge("v2")
    assert not under.passed and under.values["gap"] == pytest.approx(-0.1)


def test_a_gap_equal_to_the_tolerance_passes() -> None:
    # 0.75 - 0.70 is 0.05000000000000004 in floating point: still five points, still within.
    assert FillRateDriftCheck(0.75, 0.70).judge("v2").passed
    assert not FillRateDriftCheck(0.75, 0.70, tolerance=0.04).judge("v2").passed


def test_a_missing_fill_rate_fails_and_a_negative_tolerance_is_refused() -> None:
    result = FillRateDriftCheck(None, 0.7).judge("v2")
    assert not result.passed and result.values["gap"] is None and "no fill rate" in result.reason
    with pytest.raises(CheckError, match=">= 0"):
        FillRateDriftCheck(0.7, 0.7, tolerance=-0.01)


rates = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(predicted=rates, realized=rates, tolerance=st.floats(min_value=0.0, max_value=0.5))
def test_fill_rate_passes_iff_the_gap_is_within_tolerance(predicted: float, realized: float, tolerance: float) -> None:
    result = FillRateDriftCheck(predicted, realized, tolerance).judge("v1")
    gap = abs(predicted - realized)
    if abs(gap - tolerance) > 1e-9:  # away from the boundary, where rounding is forgiven
        assert result.passed == (gap < tolerance)
    assert result.values["gap"] == predicted - realized
    assert CheckResult.from_json(json.loads(json.dumps(result.to_json()))) == result


def test_the_report_keys_are_read() -> None:
    assert report_fill_rates(report(0.8, 0.7)) == (0.8, 0.7)
    assert report_fill_rates(report(0.8, 0.7), "expected_fill_rate") == (0.9, 0.7)
    check = FillRateDriftCheck.from_report(report(0.8, 0.7), predicted_key="expected_fill_rate")
    result = check.judge("v1")
    assert not result.passed and result.reason.startswith("expected fill rate 0.900")
    assert report_fill_rates(report(None, 0.7)) == (None, 0.7)  # null in report.json: not defined


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({**report(0.8, 0.7), "validation": None}, "had no holdout"),
        ({"plan": {}}, "no plan.projected_fill_rate"),
        ({"plan": {"projected_fill_rate": 0.8}, "validation": {"greedy": {}}}, "validation.closetflow.fill_rate"),
    ],
    ids=["no holdout", "not a report", "no closetflow replay"],
)
def test_a_report_that_cannot_feed_the_check_is_refused(doc: dict[str, Any], words: str) -> None:
    with pytest.raises(CheckError, match=words):
        FillRateDriftCheck.from_report(doc)
    with pytest.raises(CheckError, match="not a predicted fill rate"):
        report_fill_rates(report(0.8, 0.7), "filled")


# ---- stored and gating like the other checks ---------------------------------------------------


def test_the_result_is_stored_and_listed(registry: ModelRegistry) -> None:
    [result] = run_checks(registry, "v2", [FillRateDriftCheck.from_report(report(0.72, 0.70))], None)
    assert result.passed
    assert load_result(registry, "v2", "fill_rate_drift") == result
    assert (registry.root / "checks" / "v2" / "fill_rate_drift.json").is_file()
    assert stored_results(registry, "v2") == [result] and stored_results(registry, "v1") == []


def test_a_fill_rate_drift_keeps_the_champion(registry: ModelRegistry) -> None:
    decision = gated_promote(registry, "v2", [FillRateDriftCheck(0.9, 0.7)], None)
    assert not decision.promoted and registry.aliases() == {"champion": "v1", "previous": None}
    assert "kept champion v1: fill_rate_drift: projected fill rate 0.900" in decision.reason
    assert decisions(registry)[-1]["checks"] == {"fill_rate_drift": False}
    assert gated_promote(registry, "v2", [FillRateDriftCheck(0.72, 0.7)], None).promoted
    assert registry.aliases() == {"champion": "v2", "previous": "v1"}


# ---- RecordedCheck -----------------------------------------------------------------------------


def _stored(registry: ModelRegistry, name: str, passed: bool) -> None:
    store_result(registry, CheckResult(name, "v2", passed, {"rmse": 1.0}, {}, f"{name} said so", "2026-11-29T00:00Z"))


def test_recorded_verdicts_pass_only_when_all_stored_and_passed(registry: ModelRegistry) -> None:
    ctx = CheckContext(registry, "v2")
    never = RecordedCheck().run(ctx)
    assert not never.passed and "holdout never run on v2" in never.reason
    assert never.values == {"holdout": None, "self_drift": None}
    _stored(registry, "holdout", True)
    _stored(registry, "self_drift", False)
    failed = RecordedCheck().run(ctx)
    assert not failed.passed and failed.values == {"holdout": 1.0, "self_drift": 0.0}
    assert "self_drift failed (2026-11-29T00:00Z): self_drift said so" in failed.reason
    _stored(registry, "self_drift", True)
    assert RecordedCheck().run(ctx).passed
    with pytest.raises(CheckError, match="at least one"):
        RecordedCheck(())


# ---- closetflow models checks|promote --gated --report -----------------------------------------


@pytest.fixture
def cli_registry(registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch) -> ModelRegistry:
    monkeypatch.setenv("CLOSETFLOW_ARTIFACTS_DIR", str(registry.root.parent))
    return registry


def _report_file(tmp_path: Path, doc: Any, name: str = "report.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_cli_checks_a_report_and_stores_the_result(cli_registry: ModelRegistry, tmp_path: Path) -> None:
    res = runner.invoke(app, ["models", "checks", "v2", "--report", _report_file(tmp_path, report(0.72, 0.7))])
    assert res.exit_code == 0, res.output
    assert res.stdout.split()[:2] == ["PASS", "fill_rate_drift"] and len(res.stdout.splitlines()) == 1
    res = runner.invoke(
        app,
        ["models", "checks", "v2", "--report", _report_file(tmp_path, report(0.72, 0.7)), "--fill-tolerance", "0.01"],
    )
    assert res.exit_code == 1 and res.stdout.startswith("FAIL  fill_rate_drift")
    stored = load_result(cli_registry, "v2", "fill_rate_drift")
    assert stored is not None and not stored.passed and stored.threshold == {"tolerance": 0.01}


def test_cli_gated_promote_on_a_report_needs_the_recorded_table_checks(
    cli_registry: ModelRegistry, tmp_path: Path
) -> None:
    good = _report_file(tmp_path, report(0.72, 0.7))
    res = runner.invoke(app, ["models", "promote", "v2", "--gated", "--report", good])
    assert res.exit_code == 1 and "holdout never run on v2" in res.stdout
    assert cli_registry.aliases()["champion"] == "v1"
    _stored(cli_registry, "holdout", True)
    _stored(cli_registry, "self_drift", True)
    res = runner.invoke(app, ["models", "promote", "v2", "--gated", "--report", good])
    assert res.exit_code == 0, res.output
    assert cli_registry.aliases() == {"champion": "v2", "previous": "v1"}


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        (None, "no such file"),
        ("{not json", "not a readable JSON file"),
        ([1, 2], "a JSON object is expected"),
        ({"plan": {"projected_fill_rate": 0.7}, "validation": None}, "had no holdout"),
    ],
    ids=["missing", "not JSON", "not an object", "no holdout"],
)
def test_cli_a_bad_report_is_one_line_exit_2(cli_registry: ModelRegistry, tmp_path: Path, doc: Any, words: str) -> None:
    path = tmp_path / "report.json"
    if isinstance(doc, str):
        path.write_text(doc)
    elif doc is not None:
        path.write_text(json.dumps(doc))
    res = runner.invoke(app, ["models", "checks", "v2", "--report", str(path)])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error: --report") and words in res.stderr and res.stderr.count("\n") == 1
    assert load_result(cli_registry, "v2", "fill_rate_drift") is None


def test_cli_report_options_are_refused_without_gated(cli_registry: ModelRegistry, tmp_path: Path) -> None:
    res = runner.invoke(app, ["models", "promote", "v2", "--report", _report_file(tmp_path, report(0.7, 0.7))])
    assert res.exit_code == 2 and "--report only apply with --gated" in res.stderr
    res = runner.invoke(app, ["models", "checks", "v2", "--report", str(tmp_path / "r.json"), "--fill-tolerance", "-1"])
    assert res.exit_code == 2 and "--fill-tolerance got -1.0" in res.stderr
    assert cli_registry.aliases()["champion"] == "v1"
