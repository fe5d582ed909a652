"""The worker side without servers: the Celery settings, the chain and its time limits, the commands'
refusal without a broker, failure texts, and how recovery reads a message Redis holds."""

from __future__ import annotations

import base64
import json

import pytest
from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded
from typer.testing import CliRunner

from allocation.domain import ClosetflowError
from allocation.jobs.options import JobOptions
from api.cli import app as cli
from api.settings import Settings
from workers.celery_app import configure
from workers.dispatch import job_chain, step_limits
from workers.execution import failure_text
from workers.recovery import _job_id_of


def test_the_app_takes_json_only_acks_late_and_schedules_the_nightly_run() -> None:
    app = Celery("probe", set_as_current=False)
    configure(
        app,
        Settings(broker_url="redis://127.0.0.1:6379/3", broker_visibility_timeout_s=40, nightly_at="03:30"),
    )
    conf = app.conf
    assert (conf.task_serializer, conf.result_serializer, conf.accept_content) == ("json", "json", ["json"])
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] == 40
    assert conf.broker_transport_options["unacked_restore_interval"] == 8  # a fifth of it
    assert conf.broker_url == conf.result_backend == "redis://127.0.0.1:6379/3"
    schedule = conf.beat_schedule["nightly"]
    assert schedule["task"] == "closetflow.nightly"
    assert (schedule["schedule"].hour, schedule["schedule"].minute) == ({3}, {30})
    assert conf.timezone == "UTC"


def test_time_limits_scale_with_the_solver_limit_and_the_horizon() -> None:
    short = step_limits(JobOptions("d", time_limit_s=10), horizon_days=7)
    long = step_limits(JobOptions("d", time_limit_s=10), horizon_days=21)
    slow = step_limits(JobOptions("d", time_limit_s=100), horizon_days=21)
    assert short["solve"][0] >= 2 * 10 and slow["solve"][0] >= 2 * 100
    assert long["validate"][0] >= 2 * 21 * 10 and long["validate"][0] > short["validate"][0]
    assert slow["validate"][0] >= 2 * 21 * 100
    assert all(hard > soft for soft, hard in long.values())
    assert short["check"] == slow["check"]  # no solver in it: its limit does not move


def test_the_chain_runs_each_step_then_finish_with_its_limits() -> None:
    sig, chain_id = job_chain("job1", JobOptions("d", time_limit_s=10), horizon_days=7)
    links = sig.tasks
    names = [t.task for t in links]
    assert names == [f"closetflow.{s}" for s in ("check", "forecast", "solve", "project", "validate", "publish")] + [
        "closetflow.finish"
    ]
    assert all(t.args == ("job1",) and t.immutable for t in links)
    limits = step_limits(JobOptions("d", time_limit_s=10), horizon_days=7)
    solve = links[2].options
    assert (solve["soft_time_limit"], solve["time_limit"]) == limits["solve"]
    assert chain_id == links[-1].options["task_id"]
    assert len({t.options["task_id"] for t in links}) == len(links)


@pytest.mark.parametrize("command", ["worker", "beat"])
def test_worker_and_beat_refuse_to_start_without_a_broker(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOSETFLOW_BROKER_URL", raising=False)
    result = CliRunner().invoke(cli, [command])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "CLOSETFLOW_BROKER_URL is not set" in lines[0]


def test_a_pool_the_worker_does_not_know_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOSETFLOW_BROKER_URL", "redis://127.0.0.1:6379/0")
    result = CliRunner().invoke(cli, ["worker", "--pool", "gevent"])
    assert result.exit_code == 2 and "gevent" in result.stderr


def test_failure_texts_say_what_happened() -> None:
    assert failure_text(ClosetflowError("bad data"), step="check", soft_limit_s=None) is None  # the ledger has it
    text = failure_text(SoftTimeLimitExceeded(), step="solve", soft_limit_s=840.0)
    assert text is not None and "step solve ran past its time limit of 840 s" in text
    bug = failure_text(KeyError("x"), step="project", soft_limit_s=None)
    assert bug is not None and bug.startswith("internal error: KeyError")


def test_recovery_reads_the_job_id_out_of_a_stored_message() -> None:
    body = base64.b64encode(json.dumps([["job42"], {}, {"chain": None}]).encode()).decode()
    message = {"body": body, "headers": {"task": "closetflow.solve"}, "properties": {"body_encoding": "base64"}}
    assert _job_id_of(json.dumps(message).encode()) == "job42"
    assert _job_id_of({**message, "headers": {"task": "closetflow.nightly"}}) is None  # not a job step
    assert _job_id_of(b"not json") is None
