"""`closetflow simulate --world real`: the generator mode whose bookings are real rentals."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from allocation.data.io import load_world
from api.cli import app
from api.settings import real_data_dir
from tests.servers import require

runner = CliRunner()


def test_a_real_demand_world_is_written_and_loads(tmp_path: Path) -> None:
    if not (real_data_dir() / "rtr_reviews.parquet").exists():
        require("rtr_reviews.parquet", f"not in {real_data_dir()}")
    out = tmp_path / "world"
    result = runner.invoke(app, ["simulate", "--world", "real", "--scale", "tiny", "--seed", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    world = load_world(out)  # through every data contract
    assert len(world.reservations) > 0
    assert world.plan_date.year in (2016, 2017)  # a plan date inside the rentals' years


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (["--world", "fake"], {}, "--world got 'fake'; allowed: simulated, real"),
        (["--world", "real"], {"CLOSETFLOW_REAL_DATA": "/nonexistent"}, "rtr_reviews.parquet, which is missing"),
    ],
)
def test_a_bad_world_request_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], env: dict[str, str], words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    result = runner.invoke(app, ["simulate", *args, "--out", str(tmp_path / "w")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], result.output
    assert not (tmp_path / "w").exists()  # nothing half written
