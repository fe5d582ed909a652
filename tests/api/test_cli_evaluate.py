"""`closetflow evaluate` at tiny scale: the JSON has the issue's shape and agrees with its seeds;
a bad --seeds, --world or --fill-bonus is one line and exit 2, refused before any replay."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()
POLICIES = ("greedy", "rules", "closetflow", "hindsight")


@pytest.fixture(autouse=True)
def _no_inherited_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("SOLVER", "TIME_LIMIT_S", "RISK_POLICY", "REPLAN_EVERY", "SCALE", "PROTECT_WEIGHT"):
        monkeypatch.delenv(f"CLOSETFLOW_{name}", raising=False)
    monkeypatch.setenv("CLOSETFLOW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))


def _agrees(spread: dict[str, Any], values: list[float | None]) -> None:
    """mean, min and max are those of the finite per-seed values (all None when there is none)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    assert set(spread) == {"mean", "min", "max"}
    if not finite:
        assert spread == {"mean": None, "min": None, "max": None}
        return
    assert spread["min"] == pytest.approx(min(finite))
    assert spread["max"] == pytest.approx(max(finite))
    assert spread["mean"] == pytest.approx(sum(finite) / len(finite))
    assert spread["min"] <= spread["mean"] + 1e-12 and spread["mean"] <= spread["max"] + 1e-12


def test_evaluate_writes_the_spread_over_seeds(tmp_path: Path) -> None:
    out = tmp_path / "figures" / "eval.json"
    res = runner.invoke(app, ["evaluate", "--scale", "tiny", "--seeds", "1-2", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "closetflow" in res.stdout and "gap captured vs rules" in res.stdout
    doc = json.loads(out.read_text())

    assert doc["seeds"] == [1, 2]
    per_seed = doc["per_seed"]
    assert [r["seed"] for r in per_seed] == [1, 2]
    assert set(doc["policies"]) == set(POLICIES)
    for name in POLICIES:
        assert set(doc["policies"][name]) == {"fill_rate", "value"}
        for metric in ("fill_rate", "value"):
            _agrees(doc["policies"][name][metric], [r["policies"][name][metric] for r in per_seed])
    for key in ("gap_captured_vs_rules", "gap_captured_vs_floor", "hindsight_vs_lp_bound"):
        _agrees(doc[key], [r[key] for r in per_seed])
    below = sum(r["policies"]["closetflow"]["value"] < r["policies"]["rules"]["value"] - 1e-9 for r in per_seed)
    assert doc["closetflow_below_rules"]["value"] == below
    # Hindsight knows the schedule: no policy's realized fill rate beats it on any seed.
    for r in per_seed:
        best = r["policies"]["hindsight"]["fill_rate"]
        assert all(r["policies"][p]["fill_rate"] <= best + 1e-9 for p in POLICIES)


@pytest.mark.parametrize(
    ("args", "starts"),
    [
        (["--seeds", "5-1"], "error: --seeds got '5-1'"),
        (["--seeds", "x"], "error: --seeds got 'x'"),
        (["--seeds", "1,,2"], "error: --seeds got '1,,2'"),
        (["--world", "mars"], "error: --world got 'mars'"),
        (["--fill-bonus", "-1"], "error: --fill-bonus got '-1'"),
        (["--fill-bonus", "nan"], "error: --fill-bonus got 'nan'"),
        (["--protect-weight", "2"], "error: --protect-weight got '2'"),
        (["--solver", "gurobi"], "error: --solver got 'gurobi'"),
    ],
)
def test_bad_option_is_one_line_and_exit_2(tmp_path: Path, args: list[str], starts: str) -> None:
    out = tmp_path / "eval.json"
    res = runner.invoke(app, ["evaluate", "--scale", "tiny", *args, "--json", str(out)])
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit)
    assert "Traceback" not in res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(starts) and "allowed: " in lines[0], lines[0]
    assert not out.exists()  # refused before any work
