"""`closetflow run --demand-model`: the job's demand model by name, or the registry's choice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app
from forecasting.base import make_forecaster
from forecasting.registry import ModelRegistry
from forecasting.series import ID, TARGET, TIME

runner = CliRunner()


def test_an_unknown_demand_model_is_refused_in_one_line(tmp_path: Path) -> None:
    res = runner.invoke(app, ["run", "--scale", "tiny", "--out", str(tmp_path / "a"), "--demand-model", "prophet"])
    assert res.exit_code == 2
    assert "--demand-model got 'prophet'" in res.output and "serving, linear" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "a").exists()


def test_the_job_serves_the_registry_champion_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOSETFLOW_ARTIFACTS_DIR", str(tmp_path))
    registry = ModelRegistry(tmp_path / "models")
    ds = pd.date_range("2024-01-01", periods=20, freq="W-MON")
    weekly = pd.DataFrame({ID: np.repeat(["a", "b"], 20), TIME: np.tile(ds, 2), TARGET: np.arange(40) % 3})
    version = registry.register(make_forecaster("historic_average", "W").fit(weekly), data_hash="test")
    registry.promote(version)

    out = tmp_path / "run"
    res = runner.invoke(app, ["run", "--scale", "tiny", "--seed", "5", "--out", str(out)])
    assert res.exit_code == 0, res.output
    served = json.loads((out / "report.json").read_text())["forecasts"]["demand_model"]
    assert served["model"] == "historic_average" and served["source"] == "champion" and served["version"] == version
    assert "demand model: historic_average" in res.output
    assert registry.serving_log()[-1]["version"] == version


def test_a_named_demand_model_bypasses_the_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOSETFLOW_ARTIFACTS_DIR", str(tmp_path))
    out = tmp_path / "run"
    res = runner.invoke(app, ["run", "--scale", "tiny", "--seed", "5", "--out", str(out), "--demand-model", "linear"])
    assert res.exit_code == 0, res.output
    served = json.loads((out / "report.json").read_text())["forecasts"]["demand_model"]
    assert (served["model"], served["source"]) == ("linear", "option")
    assert not (tmp_path / "models").exists()  # nothing asked the registry
