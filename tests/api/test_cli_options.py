"""The CLI never shows a traceback for a user's mistake.

A bad option, from a flag or its ``CLOSETFLOW_*`` variable, is one line on stderr naming it, its
value and what is allowed, with exit 2; a bug is one line pointing at a log holding the traceback,
with exit 3. Bad values are refused before any work, so these runs take milliseconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import api.jobs_cli
from allocation.jobs.pipeline import JobConfig
from api.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

LP_SOLVERS = "auto, cbc, dw, glop, highs, pdlp, scip"

# (command, flag, variable, bad value, words of the line: what is allowed, and a reason if any)
BAD: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    ("run", "--solver", "CLOSETFLOW_SOLVER", "cp-sat", (LP_SOLVERS, "integer programs only")),
    ("run", "--solver", "CLOSETFLOW_SOLVER", "gurobi", (LP_SOLVERS, "unknown solver")),
    ("run", "--time-limit", "CLOSETFLOW_TIME_LIMIT_S", "-1", ("a number > 0",)),
    ("run", "--time-limit", "CLOSETFLOW_TIME_LIMIT_S", "0", ("a number > 0",)),
    ("run", "--time-limit", "CLOSETFLOW_TIME_LIMIT_S", "abc", ("a number > 0",)),
    ("run", "--time-limit", "CLOSETFLOW_TIME_LIMIT_S", "inf", ("a number > 0",)),
    ("run", "--replan-every", "CLOSETFLOW_REPLAN_EVERY", "0", ("an integer >= 1",)),
    ("run", "--replan-every", "CLOSETFLOW_REPLAN_EVERY", "1.5", ("an integer >= 1",)),
    ("run", "--risk", "CLOSETFLOW_RISK_POLICY", "bogus", ("expected, or quantile:<a> with 0 < a < 1",)),
    ("run", "--risk", "CLOSETFLOW_RISK_POLICY", "quantile:1.5", ("expected, or quantile:<a> with 0 < a < 1",)),
    ("run", "--scale", "CLOSETFLOW_SCALE", "huge", ("tiny, small, medium, large, rtr",)),
    ("run", "--seed", "CLOSETFLOW_SEED", "-1", ("an integer >= 0",)),
    ("simulate", "--scale", "CLOSETFLOW_SCALE", "huge", ("tiny, small, medium, large, rtr",)),
    ("simulate", "--seed", "CLOSETFLOW_SEED", "-1", ("an integer >= 0",)),
    ("simulate", "--format", "CLOSETFLOW_FORMAT", "xml", ("parquet, csv",)),
]
IDS = [f"{cmd} {flag} {value}" for cmd, flag, _, value, _ in BAD]


def _one_line_error(res: Any, code: int) -> str:
    """The single stderr line of a failed command, after checking the failure's shape."""
    assert res.exit_code == code, res.output
    assert isinstance(res.exception, SystemExit), res.exception  # nothing escaped the entry point
    assert "Traceback" not in res.output
    assert not any(box in res.output for box in "╭╰│"), res.output  # no Rich panel
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    return str(lines[0])


@pytest.fixture(autouse=True)
def _no_inherited_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Each test sees only the variables it sets; logs land in its own folder.
    for name in ("SOLVER", "TIME_LIMIT_S", "RISK_POLICY", "REPLAN_EVERY", "SCALE", "SEED", "FORMAT"):
        monkeypatch.delenv(f"CLOSETFLOW_{name}", raising=False)
    monkeypatch.setenv("CLOSETFLOW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))


@pytest.mark.parametrize(("command", "flag", "var", "value", "words"), BAD, ids=IDS)
def test_bad_flag_is_one_line_and_exit_2(
    tmp_path: Path, command: str, flag: str, var: str, value: str, words: tuple[str, ...]
) -> None:
    out = tmp_path / "out"
    res = runner.invoke(app, [command, f"{flag}={value}", "--out", str(out)])
    line = _one_line_error(res, 2)
    assert line.startswith(f"error: {flag} got {value!r}"), line
    assert "allowed: " in line and all(w in line for w in words), line
    assert not out.exists()  # refused before any work


@pytest.mark.parametrize(("command", "flag", "var", "value", "words"), BAD, ids=IDS)
def test_bad_variable_is_one_line_and_exit_2(
    tmp_path: Path, command: str, flag: str, var: str, value: str, words: tuple[str, ...]
) -> None:
    out = tmp_path / "out"
    res = runner.invoke(app, [command, "--out", str(out)], env={var: value})
    line = _one_line_error(res, 2)
    assert line.startswith(f"error: {var} got {value!r}"), line
    assert "allowed: " in line and all(w in line for w in words), line
    assert not out.exists()


def test_every_bad_value_is_named_on_the_same_line(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["run", "--solver", "cp-sat", "--out", str(tmp_path)], env={"CLOSETFLOW_TIME_LIMIT_S": "abc"}
    )
    line = _one_line_error(res, 2)
    assert "--solver got 'cp-sat'" in line and "CLOSETFLOW_TIME_LIMIT_S got 'abc'" in line


def _capture_config(monkeypatch: pytest.MonkeyPatch) -> list[JobConfig]:
    """Stop `run` at the domain call and keep the options it was given."""
    seen: list[JobConfig] = []

    def fake_run_job(cfg: JobConfig, progress: object = None) -> None:
        seen.append(cfg)
        raise SystemExit(0)

    monkeypatch.setattr(api.jobs_cli, "run_job", fake_run_job)
    return seen


def test_flags_override_variables_and_zero_is_a_value(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen = _capture_config(monkeypatch)
    env = {"CLOSETFLOW_SEED": "5", "CLOSETFLOW_TIME_LIMIT_S": "abc", "CLOSETFLOW_SOLVER": "glop"}
    # A bad variable is no error when its flag overrides it.
    res = runner.invoke(app, ["run", "--seed", "0", "--time-limit", "2.5", "--out", str(tmp_path)], env=env)
    assert res.exit_code == 0, res.output
    (cfg,) = seen
    assert (cfg.seed, cfg.time_limit_s, cfg.solver) == (0, 2.5, "glop")
    assert (cfg.scale, cfg.replan_every, cfg.risk) == ("small", 1, "expected")  # the defaults


def test_default_output_folder_is_under_the_artifacts_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen = _capture_config(monkeypatch)
    assert runner.invoke(app, ["run"]).exit_code == 0
    assert seen[0].out == tmp_path / "artifacts" / "run"


def test_internal_error_is_one_line_exit_3_and_a_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def broken_run_job(cfg: JobConfig, progress: Any = None) -> None:
        progress("fitting", 0.5)  # fail with the progress bar on screen, as a real bug would
        raise RuntimeError("planner exploded\nsecond line")

    monkeypatch.setattr(api.jobs_cli, "run_job", broken_run_job)
    res = runner.invoke(app, ["run", "--scale", "tiny", "--out", str(tmp_path / "out")])
    line = _one_line_error(res, 3)
    assert line.startswith("internal error: RuntimeError: planner exploded second line; details in "), line
    log = Path(line.rsplit("details in ", 1)[1])
    assert log.parent == tmp_path / "artifacts" / "logs" and log.name.startswith("closetflow-")
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "RuntimeError: planner exploded" in text
    assert "run --scale tiny" in text  # the command line that failed


def test_internal_error_in_simulate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def broken(kind: str, scale: str, seed: int, **_: object) -> None:
        raise KeyError("calibration")

    monkeypatch.setattr(api.jobs_cli, "make_world", broken)
    line = _one_line_error(runner.invoke(app, ["simulate", "--out", str(tmp_path / "w")]), 3)
    assert line.startswith("internal error: KeyError: 'calibration'; details in "), line


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "--no-such-option"], "No such option: --no-such-option"),
        (["validate"], "Missing argument"),
        (["simulate", "--scale", "tiny"], "Missing option '--out'"),
        (["no-such-command"], "No such command"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], words: str) -> None:
    line = _one_line_error(runner.invoke(app, args), 2)
    assert line.startswith("error: ") and words in line and "--help" in line, line


def test_no_arguments_shows_the_help() -> None:
    res = runner.invoke(app, [])
    assert res.exit_code == 2 and "Usage" in res.output and "Traceback" not in res.output


def test_missing_data_folder_is_exit_2(tmp_path: Path) -> None:
    line = _one_line_error(runner.invoke(app, ["run", "--data", str(tmp_path / "nowhere")]), 2)
    assert line == f"error: no data folder at {tmp_path / 'nowhere'}"


def test_valid_run_with_settings_from_flags_and_variables(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = runner.invoke(
        app,
        ["run", "--scale", "tiny", "--seed", "1", "--out", str(out)],
        env={"CLOSETFLOW_SOLVER": "glop", "CLOSETFLOW_RISK_POLICY": "quantile:0.8"},
    )
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    assert (report["scale"], report["seed"]) == ("tiny", 1)
    assert report["solver"]["backend"] == "glop" and report["risk_policy"] == "quantile:0.8"


def _console_script(
    args: list[str], env: dict[str, str] | None = None, code: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as the ``closetflow`` console script does: ``api.cli.app()`` in a fresh process."""
    prelude = f"{code}\nfrom api.cli import app\napp()"
    return subprocess.run(
        [sys.executable, "-c", prelude, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )


def test_console_script_bad_value_and_bad_variable(tmp_path: Path) -> None:
    res = _console_script(["run", "--solver", "cp-sat", "--out", str(tmp_path)])
    assert res.returncode == 2 and res.stdout == "", res
    assert res.stderr.startswith("error: --solver got 'cp-sat'") and res.stderr.count("\n") == 1, res.stderr
    env = {"PATH": "/usr/bin:/bin", "CLOSETFLOW_TIME_LIMIT_S": "abc"}
    res = _console_script(["run", "--out", str(tmp_path)], env=env)
    assert res.returncode == 2 and res.stderr == "error: CLOSETFLOW_TIME_LIMIT_S got 'abc'; allowed: a number > 0\n"


def test_console_script_internal_error(tmp_path: Path) -> None:
    patch = (
        "import allocation.simulate.world as w, api.jobs_cli as j\n"
        "def boom(kind, scale, seed, **kw): raise RuntimeError('bug in the generator')\n"
        "j.make_world = boom"
    )
    env = {"PATH": "/usr/bin:/bin", "CLOSETFLOW_ARTIFACTS_DIR": str(tmp_path)}
    res = _console_script(["simulate", "--out", str(tmp_path / "w")], env=env, code=patch)
    assert res.returncode == 3 and "Traceback" not in res.stderr + res.stdout, res
    (log,) = (tmp_path / "logs").glob("closetflow-*.log")
    assert res.stderr == f"internal error: RuntimeError: bug in the generator; details in {log}\n"
    assert "Traceback (most recent call last)" in log.read_text()


def test_an_output_folder_that_cannot_be_made_is_one_line_and_exit_2(tmp_path: Path) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder")
    res = runner.invoke(app, ["simulate", "--scale", "tiny", "--out", str(in_the_way / "world")])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot write the data folder" in lines[0] and str(in_the_way) in lines[0]


def test_a_run_whose_output_folder_cannot_be_made_is_one_line_and_exit_2(tmp_path: Path) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder")
    res = runner.invoke(app, ["run", "--scale", "tiny", "--out", str(in_the_way / "run")])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "cannot write the output folder" in res.output
