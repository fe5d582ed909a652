"""The job as stored steps: each step resumes from the store alone, a finished step is never redone,
a failure is recorded in the job's own words, and the one-shot run equals the step-by-step one."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from allocation.data.io import write_world
from allocation.domain import ClosetflowError
from allocation.jobs.options import JobOptions
from allocation.jobs.runner import STEP_NAMES, JobCancelled, JobState, MemoryLedger, run_step, run_steps
from allocation.jobs.steps import StepContext
from allocation.jobs.store import FileRunStore, MissingArtifact
from allocation.simulate.world import simulate_world


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny") / "data"
    write_world(simulate_world("tiny", 3), folder)
    return folder


def _ctx(root: Path, folder: Path, job_id: str = "j1", **opts: object) -> StepContext:
    store = FileRunStore(root, datasets={"d": folder})
    return StepContext(job_id, JobOptions(dataset_id="d", **opts), store)  # type: ignore[arg-type]


def test_steps_resume_one_by_one_in_fresh_processes_and_match_the_one_shot_run(
    tmp_path: Path, tiny_folder: Path
) -> None:
    one_shot = _ctx(tmp_path / "a", tiny_folder)
    run_steps(one_shot, MemoryLedger())
    ledger = MemoryLedger()
    for name in STEP_NAMES:
        # A fresh context per step: nothing in memory, everything read back from the store.
        assert run_step(_ctx(tmp_path / "b", tiny_folder), name, ledger)
    for name in ("ships", "cleaning", "transfers", "unfilled"):
        a = pd.read_parquet(tmp_path / "a" / "jobs" / "j1" / "plan" / f"{name}.parquet")
        b = pd.read_parquet(tmp_path / "b" / "jobs" / "j1" / "plan" / f"{name}.parquet")
        pd.testing.assert_frame_equal(a, b)
    ra = json.loads((tmp_path / "a" / "jobs" / "j1" / "report.json").read_text())
    rb = json.loads((tmp_path / "b" / "jobs" / "j1" / "report.json").read_text())
    for policy in ("greedy", "rules", "closetflow", "hindsight"):
        for key in ("fill_rate", "value", "cost", "filled", "transfers"):
            assert ra["validation"][policy][key] == rb["validation"][policy][key]
    assert ra["plan"] == rb["plan"]
    assert ledger.attempts["j1"] == 1


def test_a_done_step_is_skipped_and_a_restarted_one_counts_an_attempt(tmp_path: Path, tiny_folder: Path) -> None:
    ctx = _ctx(tmp_path, tiny_folder)
    ledger = MemoryLedger()
    assert run_step(ctx, "check", ledger)
    assert not run_step(ctx, "check", ledger)  # redelivered: its output is stored, nothing reruns
    # A step that began and never ended (its worker died) starts again as a new attempt.
    ledger.begin_step("j1", "forecast")
    assert run_step(ctx, "forecast", ledger)
    assert ledger.attempts["j1"] == 2


def test_a_step_without_its_input_says_which_step_to_run(tmp_path: Path, tiny_folder: Path) -> None:
    with pytest.raises(MissingArtifact, match="run the step that makes it"):
        run_step(_ctx(tmp_path, tiny_folder), "solve", MemoryLedger())


def test_a_domain_error_fails_the_job_with_its_words(tmp_path: Path, tiny_folder: Path) -> None:
    ledger = MemoryLedger()
    with pytest.raises(ClosetflowError, match="horizon_days 99"):
        run_steps(_ctx(tmp_path, tiny_folder, horizon_days=99), ledger)
    assert ledger.state["j1"] == JobState.FAILED
    assert "horizon_days 99 is outside the dataset's horizon" in ledger.errors["j1"]


def test_a_cancelled_job_runs_no_further_step(tmp_path: Path, tiny_folder: Path) -> None:
    ctx = _ctx(tmp_path, tiny_folder)
    ledger = MemoryLedger()
    run_step(ctx, "check", ledger)
    ledger.cancel("j1")
    with pytest.raises(JobCancelled):
        run_step(ctx, "forecast", ledger)
    assert not ctx.store.has("j1", "forecasts.npz")


def test_a_shorter_horizon_plans_only_its_days(tmp_path: Path, tiny_folder: Path) -> None:
    ctx = _ctx(tmp_path, tiny_folder, horizon_days=7, validate=False)
    run_steps(ctx, MemoryLedger())
    report = json.loads(ctx.store.get("j1", "report.json"))
    assert report["horizon_days"] == 7 and "validation" not in report
    ships = pd.read_parquet(tmp_path / "jobs" / "j1" / "plan" / "ships.parquet")
    plan_date = pd.Timestamp(report["plan_date"])
    assert ((ships["ship_date"] - plan_date).dt.days < 7).all()


def test_the_solve_step_reports_how_fractional_today_was_and_what_rounding_cost(
    tmp_path: Path, tiny_folder: Path
) -> None:
    ctx = _ctx(tmp_path, tiny_folder)
    for name in ("check", "forecast", "solve"):
        run_step(ctx, name, MemoryLedger())
    stats = json.loads((tmp_path / "jobs" / "j1" / "solve.json").read_text())
    assert 0 <= stats["today_fractional"] <= stats["today_candidates_used"]
    assert stats["today_shipments"] <= stats["today_candidates_used"]
    # Fixing today's shipments to whole units can only cost objective (the LP is a relaxation).
    assert stats["rounding_cost"] >= -1e-6
