"""`closetflow run --rule`: business rules from the command line (allocation.model.business_rules)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT.parent / "shared" / "checks" / "report_contract.py"
CLOSETFLOW = Path(sys.executable).parent / "closetflow"
runner = CliRunner()


def test_a_bogus_rule_is_one_line_and_exit_2(tmp_path: Path) -> None:
    res = subprocess.run(
        [str(CLOSETFLOW), "run", "--scale", "tiny", "--out", str(tmp_path / "out"), "--rule", "bogus"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 2
    assert res.stdout == ""
    assert res.stderr.splitlines() == [res.stderr.strip()]
    assert res.stderr.startswith("error: rule 'bogus': not a rule; use hold:")
    assert not (tmp_path / "out").exists()  # refused before any work


def test_a_rule_naming_an_unknown_unit_is_one_line_and_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", "--scale", "tiny", "--seed", "2", "--out", str(out), "--rule", "hold:NOPE"])
    assert res.exit_code == 2, res.output
    assert res.output.strip().splitlines() == ["error: rule 'hold:NOPE': unknown unit 'NOPE'"]
    assert not (out / "report.json").exists()


def test_a_run_with_rules_reports_them_and_keeps_the_contract(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rules = ["block-site:SITE1@2026-10-05", "vip-first", "max-transfers:1", "cleaning-buffer:10%"]
    args = ["run", "--scale", "tiny", "--seed", "1", "--out", str(out)]
    for rule in rules:
        args += ["--rule", rule]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    assert [r["rule"] for r in report["business_rules"]] == rules
    assert report["business_rules"][0]["meaning"] == "SITE1 ships, picks and cleans nothing on 2026-10-05"
    assert "business rule vip-first: VIP reservations" in res.output
    check = subprocess.run(
        [sys.executable, str(CONTRACT), str(out / "report.json")], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
