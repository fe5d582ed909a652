"""`closetflow forecast backtest` on a small csv and parquet table: the JSON has the issue's shape;
a user mistake is one line on stderr naming the option, exit 2, and no JSON written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app
from forecasting.base import FORECASTERS

runner = CliRunner()
METRICS = {"rmse", "wape", "wape_total", "mase", "bias", "coverage_80", "fit_seconds"}


@pytest.fixture(autouse=True)
def _artifacts_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLOSETFLOW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))


def _table(tmp_path: Path, suffix: str) -> Path:
    rng = np.random.default_rng(3)
    weeks = pd.date_range("2024-01-01", periods=30, freq="7D")
    frame = pd.DataFrame(
        {"sku": np.repeat(["a", "b", "c"], 30), "week": np.tile(weeks, 3), "rentals": rng.poisson(2.0, 90)}
    )
    path = tmp_path / f"demand{suffix}"
    if suffix == ".csv":
        frame.assign(week=frame["week"].dt.date).to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return path


def _args(path: Path, out: Path, *extra: str) -> list[str]:
    base = ["forecast", "backtest", "--input", str(path), "--id-col", "sku", "--time-col", "week"]
    return [*base, "--target-col", "rentals", "--horizon", "4", "--windows", "2", "--json", str(out), *extra]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_backtest_writes_the_figures_of_every_model(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / "figures" / "bt.json"
    res = runner.invoke(app, _args(_table(tmp_path, suffix), out, "--freq", "W"))
    assert res.exit_code == 0, res.output
    assert "linear" in res.stdout and "wape_total" in res.stdout
    doc = json.loads(out.read_text())
    assert list(doc["models"]) == list(FORECASTERS)
    for name, figures in doc["models"].items():
        assert set(figures) == METRICS, name
        assert all(v is None or isinstance(v, float) for v in figures.values())
    assert doc["meta"]["series"] == 3 and doc["meta"]["cells_scored"] == 3 * 4 * 2


def test_models_can_be_chosen(tmp_path: Path) -> None:
    out = tmp_path / "bt.json"
    res = runner.invoke(app, _args(_table(tmp_path, ".csv"), out, "--models", "croston_sba,linear"))
    assert res.exit_code == 0, res.output
    assert list(json.loads(out.read_text())["models"]) == ["croston_sba", "linear"]


@pytest.mark.parametrize(
    ("change", "starts"),
    [
        ({"--input": "missing.csv"}, "error: --input got"),
        ({"--input": "demand.xlsx"}, "error: --input got"),
        ({"--id-col": "item"}, "error: --id-col 'item' is not a column"),
        ({"--time-col": "day"}, "error: --time-col 'day' is not a column"),
        ({"--target-col": "sku"}, "error: --target-col column 'sku'"),
        ({"--freq": "M"}, "error: --freq got 'M'"),
        ({"--horizon": "15"}, "error: --horizon 15 x --windows 2"),
        ({"--windows": "0"}, "error: --windows 0"),
        ({"--models": "linear,prophet"}, "error: --models unknown model 'prophet'"),
    ],
)
def test_a_user_mistake_is_one_line_and_exit_2(tmp_path: Path, change: dict[str, str], starts: str) -> None:
    path = _table(tmp_path, ".csv")
    (tmp_path / "demand.xlsx").write_text("not a table")
    out = tmp_path / "bt.json"
    args = _args(path, out)
    for flag, value in change.items():
        value = str(tmp_path / value) if flag == "--input" else value
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(starts), lines[0]
    assert not out.exists() and not list(tmp_path.glob(".bt.json*"))  # nothing half written
