"""closetflow run --previous-plan: last night's prices and communicated shipments carry over."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


def test_a_run_inherits_the_previous_runs_prices_and_counts_changed_shipments(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    res = runner.invoke(app, ["run", "--scale", "tiny", "--seed", "2", "--out", str(first)])
    assert res.exit_code == 0, res.output
    prices = json.loads((first / "store" / "jobs" / "run" / "capacity_prices.json").read_text())
    assert set(prices["prices"]) >= {"shipping_capacity_per_site_day", "cleaning_capacity_per_site_day"}

    res = runner.invoke(
        app,
        [
            *("run", "--scale", "tiny", "--seed", "2", "--out", str(second)),
            *("--previous-plan", str(first), "--stability-penalty", "25", "--solver", "dw"),
        ],
    )
    assert res.exit_code == 0, res.output
    job = second / "store" / "jobs" / "run"
    assert json.loads((job / "previous" / "capacity_prices.json").read_text()) == prices
    solve = json.loads((job / "solve.json").read_text())
    assert solve["warm_start"] is True and solve["backend"] == "dw"
    assert solve["stability_penalty"] == 25.0
    shipped = len(pd.read_parquet(first / "store" / "jobs" / "run" / "plan" / "ships.parquet"))
    assert 0 < solve["communicated_shipments"] <= shipped
    assert 0 <= solve["changed_shipments"] <= solve["communicated_shipments"]
    assert solve["decomposition"]["rounds"] >= 1


def test_a_previous_plan_that_is_not_a_run_folder_is_one_line(tmp_path: Path) -> None:
    res = runner.invoke(app, ["run", "--scale", "tiny", "--out", str(tmp_path / "x"), "--previous-plan", str(tmp_path)])
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--previous-plan" in lines[0] and "not a closetflow run output folder" in lines[0]


def test_a_negative_stability_penalty_is_refused(tmp_path: Path) -> None:
    res = runner.invoke(app, ["run", "--scale", "tiny", "--out", str(tmp_path / "x"), "--stability-penalty", "-3"])
    assert res.exit_code == 2
    assert "--stability-penalty" in res.output
