"""`closetflow buy`: the table and the JSON carry the same numbers; a user mistake (unknown style,
target outside (0, 1), bad folder or option) is one line on stderr with exit 2, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from allocation.data.io import write_world
from allocation.simulate.world import simulate_world
from api.cli import app

runner = CliRunner()
STYLE = "S00034"  # short of units in one size in the small seed-7 world
WORLD = ["--scale", "small", "--seed", "7"]


@pytest.fixture(autouse=True)
def _artifacts_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLOSETFLOW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))


def _buy(*args: str) -> Result:
    return runner.invoke(app, ["buy", *args])


def _one_error_line(res: Result, code: int = 2) -> str:
    assert res.exit_code == code, (res.exit_code, res.output)
    assert "Traceback" not in res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    return lines[0]


def _table_rows(stdout: str) -> dict[str, list[str]]:
    """The table's body rows by their first cell (a size, or "total")."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if line.startswith("│") and len(cells) == 9:
            rows[cells[0]] = cells
    return rows


def test_the_table_shows_the_numbers_of_the_json(tmp_path: Path) -> None:
    out = tmp_path / "figures" / "buy.json"
    res = _buy("--style", STYLE, "--target-fill", "0.97", *WORLD, "--paths", "150", "--json", str(out))
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["style_id"] == STYLE and doc["reached"] is True
    assert doc["current_fill"] < 0.97 <= doc["recommended_fill"]
    rows = _table_rows(res.stdout)
    assert set(rows) == {s["size"] for s in doc["sizes"]} | {"total"}
    for s in doc["sizes"]:
        _, sku, now, add, unit_cost, requests, fill_now, fill_after, cost = rows[s["size"]]
        assert (sku, int(now), int(add)) == (s["sku_id"], s["current_units"], s["units_to_add"])
        assert (fill_now, fill_after) == (f"{s['current_fill']:.3f}", f"{s['recommended_fill']:.3f}")
        assert (unit_cost, requests) == (f"{s['unit_cost']:,.0f}", f"{s['expected_requests']:.1f}")
        assert cost == f"{s['units_to_add'] * s['unit_cost']:,.0f}"
    total = rows["total"]
    assert int(total[3]) == doc["units_added"] and total[8] == f"{doc['cost']:,.0f}"
    assert (total[6], total[7]) == (f"{doc['current_fill']:.3f}", f"{doc['recommended_fill']:.3f}")
    assert doc["note"] in res.stderr and "turn time median" in res.stderr


def test_a_data_folder_is_read_like_the_other_commands_read_it(tmp_path: Path) -> None:
    world = simulate_world("tiny", 3)
    write_world(world, tmp_path / "data")
    style = str(world.skus["style_id"].iloc[0])
    out = tmp_path / "buy.json"
    res = _buy(
        "--style", style, "--target-fill", "0.9", "--data", str(tmp_path / "data"), "--paths", "50", "--json", str(out)
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["assumptions"]["plan_date"] == world.plan_date.isoformat() and doc["assumptions"]["paths"] == 50


def test_an_unknown_style_is_one_line_naming_it() -> None:
    line = _one_error_line(_buy("--style", "NOPE", "--target-fill", "0.97", *WORLD))
    assert line.startswith("error: --style no style 'NOPE'") and "S00000" in line


@pytest.mark.parametrize("target", ["1.5", "0"])
def test_a_target_outside_zero_one_is_one_line(target: str) -> None:
    line = _one_error_line(_buy("--style", STYLE, "--target-fill", target, *WORLD))
    assert line.startswith(f"error: --target-fill got {float(target)}")


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["--paths", "0"], "error: --paths got 0"),
        (["--season-days", "400"], "error: --season-days got 400"),
        (["--paths", "many"], "error: Invalid value for '--paths'"),
        (["--scale", "huge"], "error: --scale got 'huge'"),
    ],
)
def test_a_bad_option_is_one_line_naming_it(args: list[str], start: str) -> None:
    line = _one_error_line(_buy("--style", STYLE, "--target-fill", "0.9", *args))
    assert line.startswith(start), line


def test_a_missing_data_folder_is_one_line(tmp_path: Path) -> None:
    line = _one_error_line(_buy("--style", STYLE, "--target-fill", "0.9", "--data", str(tmp_path / "none")))
    assert line.startswith("error: --data got") and "no data folder" in line


def test_data_and_a_simulated_world_together_are_refused(tmp_path: Path) -> None:
    line = _one_error_line(_buy("--style", STYLE, "--target-fill", "0.9", "--data", str(tmp_path), "--seed", "7"))
    assert "give one or the other" in line


def test_a_folder_in_the_way_of_the_json_is_refused_before_any_work(tmp_path: Path) -> None:
    line = _one_error_line(_buy("--style", STYLE, "--target-fill", "0.9", *WORLD, "--json", str(tmp_path)))
    assert line.startswith("error: --json got") and "a folder is in the way" in line
