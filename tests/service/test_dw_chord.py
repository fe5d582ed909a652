"""The decomposition's group solves as a Celery chord (``workers.dw``) on real Redis with a real
worker process: the same optimum as in-process and as HiGHS on the whole LP, warm re-solves from
the workers' caches, an infeasible group reported infeasible, and the wiring from the settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from api.settings import SettingsError, resolve
from solvers.base import SolveOptions, SolveStatus, solve
from solvers.decompose import BlockStructure, DWSettings, block_structure, solve_block_angular
from solvers.support import max_violation
from tests.service.test_workers_support import REDIS_GROUP, Service, register_world, service_running
from tests.solvers.test_decompose import block_angular
from workers.dw import CeleryGroupRunner, gather_dw_groups, runner_factory

pytestmark = REDIS_GROUP


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch, migrated_pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[Service]:
    with service_running(monkeypatch, migrated_pg_url, redis_url, tmp_path) as svc:
        svc.start_worker("w1", concurrency=2)
        svc.wait_ready("w1")
        yield svc


def _chord(scratch: Path, made: list[CeleryGroupRunner]) -> Callable[[BlockStructure, bool], CeleryGroupRunner]:
    """A runner factory for the chord that keeps the runners it made (to look at afterwards)."""

    def make(structure: BlockStructure, maximize: bool) -> CeleryGroupRunner:
        runner = CeleryGroupRunner(structure.groups, maximize, scratch_dir=scratch, groups_per_task=2, wait_grace_s=60)
        made.append(runner)
        return runner

    return make


@pytest.mark.parametrize(("seed", "maximize"), [(11, True), (12, False)])
def test_the_chord_finds_the_same_optimum_as_in_process_and_the_whole_lp(
    service: Service, redis_url: str, tmp_path: Path, seed: int, maximize: bool
) -> None:
    problem = block_angular(seed, 10, maximize)
    settings = DWSettings(tolerance=1e-7, group_nnz=20)
    whole = solve(problem, SolveOptions(backend="highs"))
    local, local_trace = solve_block_angular(problem, SolveOptions(time_limit_s=120), settings=settings)
    made: list[CeleryGroupRunner] = []
    dw, trace = solve_block_angular(
        problem, SolveOptions(time_limit_s=120), settings=settings, runner_factory=_chord(tmp_path / "dw", made)
    )
    assert dw.status is SolveStatus.OPTIMAL, dw.message
    assert dw.x is not None
    assert max_violation(problem, dw.x) <= 1e-7
    assert dw.objective == pytest.approx(whole.objective, rel=1e-5, abs=1e-6)
    assert dw.objective == pytest.approx(local.objective, rel=1e-6, abs=1e-7)
    assert trace.groups == local_trace.groups and trace.groups > 2  # several chunks per round

    (runner,) = made
    assert len(runner.chunks) == -(-trace.groups // 2)
    assert runner.rounds == trace.rounds + 1  # the frugal first proposals, then one chord per round
    # Each of the worker's 2 processes loads a group at most once; every other solve is warm.
    assert runner.loads <= 2 * trace.groups
    if trace.rounds >= 3:
        assert runner.loads < runner.rounds * trace.groups
    # Each round's answers were dropped from Redis once read.
    leftovers = redis.Redis.from_url(redis_url).keys("celery-task-meta-*")
    assert leftovers == []
    folder = runner.folder
    assert sorted(p.name for p in folder.iterdir()) == [f"group-{g:05d}.npz" for g in range(trace.groups)]
    runner.close()
    assert not folder.exists()


def test_an_infeasible_group_on_a_worker_is_reported_infeasible(service: Service, tmp_path: Path) -> None:
    problem = block_angular(3, 6, True)
    problem.row_lower = problem.row_lower.copy()
    problem.row_upper = problem.row_upper.copy()
    problem.row_lower[0], problem.row_upper[0] = 1e6, 2e6  # block 0 cannot reach this
    settings = DWSettings(group_nnz=20)
    local, _ = solve_block_angular(problem, SolveOptions(time_limit_s=60), settings=settings)
    made: list[CeleryGroupRunner] = []
    dw, trace = solve_block_angular(
        problem, SolveOptions(time_limit_s=60), settings=settings, runner_factory=_chord(tmp_path / "dw", made)
    )
    assert local.status is SolveStatus.INFEASIBLE
    assert dw.status is SolveStatus.INFEASIBLE and dw.x is None
    assert trace.stopped_by == "group 0: infeasible"


def test_a_job_solved_by_decomposition_on_a_worker_fans_its_groups_out_as_a_chord(
    monkeypatch: pytest.MonkeyPatch, migrated_pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    from allocation.jobs.options import JobOptions
    from allocation.jobs.service import create_job
    from workers.dispatch import enqueue_job

    with service_running(monkeypatch, migrated_pg_url, redis_url, tmp_path, dw_workers="celery") as svc:
        # The solve step waits in one pool process while the others solve its groups.
        svc.start_worker("w1", concurrency=3)
        dataset_id = register_world(svc.rt)
        job, _ = create_job(svc.rt.sessions, options=JobOptions(dataset_id, solver="dw", validate=False), actor="t")
        enqueue_job(job.id, job.options)
        done = svc.wait_final(job.id, timeout=120)
        assert done.state == "succeeded", done.error
        solved = svc.rt.store.get(job.id, "solve.json")
        assert b'"backend": "dw"' in solved and b'"status": "optimal"' in solved
        log = svc.log("w1")
        assert "closetflow.dw_group[" in log and "closetflow.dw_gather[" in log
        assert list((tmp_path / "artifacts" / "dw").iterdir()) == []  # the group files are gone


def test_the_settings_choose_the_runner(tmp_path: Path) -> None:
    assert runner_factory(resolve({"dw_workers": "local", "broker_url": "redis://127.0.0.1:6379/0"})) is None
    assert runner_factory(resolve({"dw_workers": "celery"})) is None  # no broker: nothing to fan out to
    make = runner_factory(
        resolve({"dw_workers": "celery", "broker_url": "redis://127.0.0.1:6379/0", "dw_scratch_dir": str(tmp_path)})
    )
    assert make is not None
    problem = block_angular(1, 4, True)
    assert problem.col_block is not None
    runner = make(block_structure(problem, problem.col_block, 1), True)  # one group per block
    assert isinstance(runner, CeleryGroupRunner)
    assert runner.folder.parent == tmp_path.resolve() and len(runner.paths) == 4
    runner.close()


def test_a_bad_dw_workers_value_is_one_line_naming_the_choices() -> None:
    with pytest.raises(SettingsError, match=r"dw_workers got 'cluster'.*allowed: local, celery"):
        resolve({"dw_workers": "cluster"})


def test_the_gather_callback_puts_the_groups_in_order_and_names_the_lowest_failure() -> None:
    chunks = [
        {"solutions": [{"group": 2}, {"group": 3}], "failed": {"group": 4, "status": "time_limit"}, "loaded": 1},
        {"solutions": [{"group": 0}, {"group": 1}], "failed": None, "loaded": 2},
        {"solutions": [], "failed": {"group": 5, "status": "infeasible"}, "loaded": 0},
    ]
    out = gather_dw_groups(chunks)
    assert [s["group"] for s in out["solutions"]] == [0, 1, 2, 3]
    assert out["failed"] == {"group": 4, "status": "time_limit"}
    assert out["loaded"] == 3
