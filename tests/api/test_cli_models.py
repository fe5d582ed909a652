"""`closetflow models register|list|promote|rollback`: the happy path through the registry under
<artifacts_dir>/models, and a user mistake as one line on stderr with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app
from forecasting.registry import ModelRegistry

runner = CliRunner()


@pytest.fixture(autouse=True)
def _artifacts_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLOSETFLOW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))


@pytest.fixture
def table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(5)
    weeks = pd.date_range("2024-01-01", periods=20, freq="7D")
    frame = pd.DataFrame(
        {"sku": np.repeat(["a", "b"], 20), "week": np.tile(weeks.date, 2), "rentals": rng.poisson(2.0, 40)}
    )
    path = tmp_path / "demand.csv"
    frame.to_csv(path, index=False)
    return path


def _register(table: Path, *extra: str) -> list[str]:
    cols = ["--id-col", "sku", "--time-col", "week", "--target-col", "rentals"]
    return ["models", "register", "--input", str(table), *cols, *extra]


def test_register_promote_list_rollback(tmp_path: Path, table: Path) -> None:
    first = runner.invoke(app, _register(table, "--model", "historic_average"))
    second = runner.invoke(app, _register(table, "--model", "linear", "--holdout", "3"))
    assert (first.exit_code, second.exit_code) == (0, 0), first.output + second.output
    assert (first.stdout, second.stdout) == ("v1\n", "v2\n")  # only the id: scripts capture it

    reg = ModelRegistry(tmp_path / "artifacts" / "models")
    info = reg.info("v2")
    assert info.model == "linear" and info.metrics["holdout_periods"] == 3 and "rmse" in info.metrics
    assert reg.info("v1").data_hash == info.data_hash  # same table, same hash

    assert runner.invoke(app, ["models", "promote", "v1"]).exit_code == 0
    res = runner.invoke(app, ["models", "promote", "v2"])
    assert res.exit_code == 0 and res.stdout == "champion v2, previous v1\n"
    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:4] == ["version", "model", "created_at", "alias"]
    assert lines[1].split()[:2] == ["v1", "historic_average"] and lines[1].split()[3] == "previous"
    assert lines[2].split()[:2] == ["v2", "linear"] and lines[2].split()[3] == "champion"
    assert "rmse=" in lines[2]

    res = runner.invoke(app, ["models", "rollback"])
    assert res.exit_code == 0 and res.stdout == "champion v1, previous -\n"
    assert json.loads((tmp_path / "artifacts" / "models" / "aliases.json").read_text()) == {
        "champion": "v1",
        "previous": None,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "promote", "v7"], "error: no version 'v7' (versions: none yet)"),
        (["models", "promote", "../etc"], "error: no version '../etc' (versions: none yet)"),
        (["models", "rollback"], "error: there is no previous version to roll back to"),
    ],
)
def test_a_bad_version_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [message] and res.stdout == ""


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--model", "prophet"], "--model"),
        (["--freq", "M"], "--freq"),
        (["--holdout", "40"], "--holdout"),
    ],
)
def test_register_refuses_bad_options_in_one_line(table: Path, tmp_path: Path, extra: list[str], flag: str) -> None:
    res = runner.invoke(app, _register(table, *extra))
    assert res.exit_code == 2
    assert len(res.stderr.splitlines()) == 1 and res.stderr.startswith(f"error: {flag}")
    assert not (tmp_path / "artifacts" / "models" / "versions").exists() or not list(
        (tmp_path / "artifacts" / "models" / "versions").iterdir()
    )


def test_register_reads_the_table_like_the_backtest(tmp_path: Path) -> None:
    res = runner.invoke(app, _register(tmp_path / "missing.csv"))
    assert res.exit_code == 2 and "error: --input" in res.stderr and "no such file" in res.stderr
