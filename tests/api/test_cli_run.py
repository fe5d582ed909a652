"""The CLI end to end at tiny scale: simulate, validate, run; the report meets its contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT.parent / "shared" / "checks" / "report_contract.py"
runner = CliRunner()


def test_simulate_validate_run_end_to_end(tmp_path: Path) -> None:
    data = tmp_path / "world"
    res = runner.invoke(app, ["simulate", "--scale", "tiny", "--seed", "3", "--out", str(data)])
    assert res.exit_code == 0, res.output
    assert (data / "meta.json").exists() and (data / "holdout" / "returns.parquet").exists()

    res = runner.invoke(app, ["validate", str(data)])
    assert res.exit_code == 0, res.output

    out = tmp_path / "run"
    res = runner.invoke(
        app,
        [
            "run",
            "--data",
            str(data),
            "--out",
            str(out),
            "--solver",
            "glop",
            "--risk",
            "quantile:0.7",
            "--replan-every",
            "2",
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    assert report["solver"]["backend"] == "glop"
    assert report["solver"]["status"] == "optimal"
    assert report["risk_policy"] == "quantile:0.7"
    plan = report["plan"]
    assert sum(plan["unfilled_by_reason"].values()) == plan["reservations"] - plan["filled"]
    v = report["validation"]
    assert v["hindsight"]["fill_rate"] >= max(v[p]["fill_rate"] for p in ("greedy", "rules", "closetflow")) - 1e-9
    # The perfect-information LP bounds every policy's realized value (issue 10, item 2).
    bound = v["lp_bound"]["value"]
    assert v["lp_bound"]["status"] == "optimal"
    assert max(v[p]["value"] for p in ("greedy", "rules", "closetflow", "hindsight")) <= bound + 1e-6 * abs(bound)
    assert v["hindsight_vs_lp_bound"] == pytest.approx(v["hindsight"]["value"] / bound)
    ships = pd.read_parquet(out / "plan" / "ships.parquet")
    assert len(ships) == plan["filled"]
    assert ships["reservation_id"].is_unique
    # A unit may serve two reservations in the horizon (out, back, cleaned), never two at once.
    assert not ships.duplicated(["unit_id", "ship_date"]).any()
    for name in ("cleaning", "transfers", "held_back", "unfilled"):
        assert (out / "plan" / f"{name}.parquet").exists()
    html = (out / "report.html").read_text()
    assert "Realized fill rate per event day" in html and "capacity use per station-day" in html
    assert "<td>rules</td>" in html and "LP bound" in html and "hindsight / LP bound" in html

    if CONTRACT.exists():
        check = subprocess.run(
            [sys.executable, str(CONTRACT), str(out / "report.json")], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout
    elif os.environ.get("CI") == "true":
        pytest.fail(f"{CONTRACT} is missing in CI")


def test_run_simulates_when_no_data_given(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = runner.invoke(app, ["run", "--scale", "tiny", "--seed", "5", "--out", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    assert report["scale"] == "tiny" and report["seed"] == 5
    assert set(report["timings"]) >= {"simulate", "fit", "solve", "validate", "total"}
    assert (out / "data" / "meta.json").exists()


def test_run_refuses_bad_data_without_a_traceback(tmp_path: Path) -> None:
    data = tmp_path / "world"
    assert runner.invoke(app, ["simulate", "--scale", "tiny", "--seed", "1", "--out", str(data)]).exit_code == 0
    units = pd.read_parquet(data / "units.parquet")
    units.loc[3, "sku_id"] = "NO-SUCH-SKU"
    units.to_parquet(data / "units.parquet", index=False)
    out = tmp_path / "run"
    res = runner.invoke(app, ["run", "--data", str(data), "--out", str(out)])
    assert res.exit_code == 1
    assert "units.parquet:4:sku_id:" in res.output
    assert "Traceback" not in res.output
    assert not (out / "report.json").exists()


def test_unknown_solver_and_risk_policy_are_refused(tmp_path: Path) -> None:
    res = runner.invoke(app, ["run", "--scale", "tiny", "--out", str(tmp_path / "a"), "--solver", "gurobi"])
    assert res.exit_code == 2 and "--solver got 'gurobi'" in res.output
    res = runner.invoke(app, ["run", "--scale", "tiny", "--out", str(tmp_path / "b"), "--risk", "quantile:2"])
    assert res.exit_code == 2 and "quantile:<a>" in res.output
    res = runner.invoke(app, ["simulate", "--scale", "huge", "--out", str(tmp_path / "c")])
    assert res.exit_code == 2 and "huge" in res.output
