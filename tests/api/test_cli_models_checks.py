"""`closetflow models checks` and `models promote --gated`: results printed and stored, a worse
candidate kept out with exit 1, a better one promoted, plain promote unchanged, and bad options as
one line on stderr with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app
from forecasting.checks import load_result
from forecasting.promotion import decisions
from forecasting.registry import ModelRegistry

runner = CliRunner()
COLS = ("--id-col", "sku", "--time-col", "week", "--target-col", "rentals")


@pytest.fixture(autouse=True)
def _artifacts_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLOSETFLOW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))


@pytest.fixture
def table(tmp_path: Path) -> Path:
    """Two SKUs whose rentals jump from 2 to 10 a week halfway: an all-history mean lags behind."""
    rng = np.random.default_rng(3)
    weeks = pd.date_range("2024-01-01", periods=24, freq="7D")
    level = np.concatenate([np.full(12, 2), np.full(12, 10)])
    rentals = np.concatenate([level + rng.poisson(0.5, 24) for _ in "ab"])
    frame = pd.DataFrame({"sku": np.repeat(["a", "b"], 24), "week": np.tile(weeks.date, 2), "rentals": rentals})
    path = tmp_path / "demand.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def registry(tmp_path: Path, table: Path) -> ModelRegistry:
    """v1 historic average (champion), v2 AutoETS; registered through the CLI."""
    for model in ("historic_average", "autoets"):
        res = runner.invoke(app, ["models", "register", "--input", str(table), *COLS, "--model", model])
        assert res.exit_code == 0, res.output
    assert runner.invoke(app, ["models", "promote", "v1"]).exit_code == 0
    return ModelRegistry(tmp_path / "artifacts" / "models")


def test_checks_print_and_store_each_result(registry: ModelRegistry, table: Path) -> None:
    res = runner.invoke(app, ["models", "checks", "v2", "--input", str(table), *COLS, "--holdout", "4"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["PASS", "holdout"], ["PASS", "self_drift"]]
    stored = load_result(registry, "v2", "holdout")
    assert stored is not None and stored.passed and stored.threshold["holdout_periods"] == 4
    assert registry.aliases()["champion"] == "v1"  # checks alone promote nothing

    worse = runner.invoke(app, ["models", "checks", "v1", "--input", str(table), *COLS])
    assert worse.exit_code == 1  # a failing check, not a usage error
    assert worse.stdout.startswith("FAIL  holdout")


def test_gated_promote_keeps_the_champion_then_promotes_a_better_one(registry: ModelRegistry, table: Path) -> None:
    assert runner.invoke(app, ["models", "promote", "v2"]).exit_code == 0
    kept = runner.invoke(app, ["models", "promote", "v1", "--gated", "--input", str(table), *COLS])
    assert kept.exit_code == 1
    assert kept.stdout.splitlines()[-1].startswith("kept champion v2: holdout: historic_average does not beat")
    assert registry.aliases() == {"champion": "v2", "previous": "v1"}
    assert decisions(registry)[-1]["promoted"] is False

    assert runner.invoke(app, ["models", "rollback"]).exit_code == 0  # v1 champion again, no previous
    promoted = runner.invoke(app, ["models", "promote", "v2", "--gated", "--input", str(table), *COLS])
    assert promoted.exit_code == 0, promoted.output
    assert promoted.stdout.splitlines()[-1] == "promoted v2: all checks passed"
    assert registry.aliases() == {"champion": "v2", "previous": "v1"}
    log = [json.loads(line) for line in (registry.root / "promotions.jsonl").read_text().splitlines()]
    assert [entry["promoted"] for entry in log] == [False, True]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--holdout", "0"), "--holdout got 0"),
        (("--metric", "bias"), "--metric got 'bias'"),
        (("--realized", "nowhere.csv"), "--realized got 'nowhere.csv': no such file"),
    ],
)
def test_bad_check_options_are_one_line_exit_2(
    registry: ModelRegistry, table: Path, extra: tuple[str, ...], message: str
) -> None:
    res = runner.invoke(app, ["models", "checks", "v2", "--input", str(table), *COLS, *extra])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: ") and message in res.stderr and res.stderr.count("\n") == 1
    assert load_result(registry, "v2", "holdout") is None  # refused before any check ran


def test_checks_need_the_table_and_plain_promote_refuses_check_options(registry: ModelRegistry, table: Path) -> None:
    res = runner.invoke(app, ["models", "promote", "v2", "--gated"])
    assert res.exit_code == 2 and "the checks need --input, --id-col, --time-col, --target-col" in res.stderr
    res = runner.invoke(app, ["models", "promote", "v2", "--input", str(table)])
    assert res.exit_code == 2 and "--input only apply with --gated" in res.stderr
    res = runner.invoke(app, ["models", "checks", "v9", "--input", str(table), *COLS])
    assert res.exit_code == 2 and "no version 'v9'" in res.stderr
    assert registry.aliases()["champion"] == "v1"
