"""`closetflow explain` and `closetflow whatif` on a run output folder: the explanation's words and
its binding capacities, a before/after table, and one line with exit 2 for every mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from allocation.data.io import write_world
from allocation.jobs.options import JobOptions
from allocation.jobs.pipeline import LOCAL_JOB_ID
from allocation.jobs.runner import MemoryLedger, run_steps
from allocation.jobs.steps import StepContext
from allocation.jobs.store import FileRunStore
from allocation.simulate.world import simulate_world
from api.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `closetflow run --out` folder of a tiny world (made through the same steps, no replay)."""
    out = tmp_path_factory.mktemp("run") / "out"
    write_world(simulate_world("tiny", 3), out / "data")
    store = FileRunStore(out / "store", datasets={"local": out / "data"})
    run_steps(StepContext(LOCAL_JOB_ID, JobOptions(dataset_id="local", validate=False), store), MemoryLedger())
    return out


@pytest.fixture(autouse=True)
def _own_artifacts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLOSETFLOW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))


def _explanations(folder: Path) -> pd.DataFrame:
    return pd.read_parquet(folder / "store" / "jobs" / LOCAL_JOB_ID / "plan" / "explanations.parquet")


def _one_line_error(res: Any) -> str:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    return str(lines[0])


def test_explain_prints_the_words_and_the_binding_capacities(run_folder: Path) -> None:
    frame = _explanations(run_folder)
    row = frame[frame["binding"] != "[]"].iloc[0]
    res = runner.invoke(app, ["explain", "--plan", str(run_folder), "--reservation", row["reservation_id"]])
    assert res.exit_code == 0, res.output
    assert " ".join(res.stdout.split()).startswith(" ".join(row["text"].split())[:40])
    assert "binding capacities" in res.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--reservation", "NO_SUCH"], "error: no reservation 'NO_SUCH' in plan"),
        (["--plan", "/no/such/run", "--reservation", "V1"], "error: no folder /no/such/run"),
    ],
)
def test_explain_refuses_an_unknown_plan_or_reservation_in_one_line(
    run_folder: Path, args: list[str], words: str
) -> None:
    full = ["explain", *(["--plan", str(run_folder)] if "--plan" not in args else []), *args]
    assert _one_line_error(runner.invoke(app, full)).startswith(words)


def test_explain_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    res = runner.invoke(app, ["explain", "--plan", str(tmp_path), "--reservation", "V1"])
    assert "is not a closetflow run output folder" in _one_line_error(res)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--cleaning-capacity", "SITE0+10%"], "--cleaning-capacity 'SITE0+10%' is not SITE:+10%"),
        (["--site-down", "SITE0@tomorrow"], "--site-down 'SITE0@tomorrow' is not SITE@YYYY-MM-DD"),
        (["--demand-surge", "dress:+30"], "--demand-surge 'dress:+30' is not CATEGORY:+30%"),
        (["--shipping-capacity", "NOWHERE:+10%"], "no site 'NOWHERE' in the data"),
        ([], "a what-if needs at least one change"),
    ],
)
def test_whatif_refuses_a_bad_change_in_one_line(run_folder: Path, args: list[str], words: str) -> None:
    line = _one_line_error(runner.invoke(app, ["whatif", "--plan", str(run_folder), *args]))
    assert words in line


def test_whatif_prints_the_plan_against_the_change(run_folder: Path) -> None:
    res = runner.invoke(app, ["whatif", "--plan", str(run_folder), "--shipping-capacity", "SITE1:+50%"])
    assert res.exit_code == 0, res.output
    for words in ("shipping capacity at SITE1 +50%", "fill rate", "value", "LP objective", "reservations gained"):
        assert words in res.stdout
