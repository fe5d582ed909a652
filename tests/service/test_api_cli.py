"""The service commands on PostgreSQL: migrations up from empty and down to base, keys (the key is
stdout's last line), datasets add (the id is), and one line with exit 2 for a bad role or option."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select
from typer.testing import CliRunner

from allocation.data.io import write_world
from allocation.jobs.migrate import downgrade, head_revision, upgrade
from allocation.jobs.tables import DatasetRow
from allocation.simulate.world import simulate_world
from api.cli import app
from api.keys import Role, verify_key
from api.runtime import Runtime
from tests.service.test_api_support import pg_settings

TABLES = {
    "alembic_version",
    "api_keys",
    "audit_log",
    "datasets",
    "forecast_demand",
    "forecast_late_returns",
    "job_artifacts",
    "jobs",
    "plan_cleaning",
    "plan_held_back",
    "plan_shipments",
    "plan_transfers",
    "plan_unfilled",
    "plans",
}


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_upgrade_from_empty_and_downgrade_to_base(pg_url: str) -> None:
    assert _tables(pg_url) == set()
    upgrade(pg_url)
    assert _tables(pg_url) == TABLES
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        from alembic.runtime.migration import MigrationContext

        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
    engine.dispose()
    downgrade(pg_url, "base")
    assert _tables(pg_url) <= {"alembic_version"}
    upgrade(pg_url)  # and up again: the downgrade left nothing behind that blocks it
    assert _tables(pg_url) == TABLES


def _env(url: str, tmp_path: Path) -> dict[str, str]:
    return {"CLOSETFLOW_DATABASE_URL": url, "CLOSETFLOW_ARTIFACTS_DIR": str(tmp_path)}


def test_db_commands(pg_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    up = runner.invoke(app, ["db", "upgrade"], env=_env(pg_url, tmp_path))
    assert up.exit_code == 0, up.output
    assert _tables(pg_url) == TABLES
    down = runner.invoke(app, ["db", "downgrade", "--revision", "base"], env=_env(pg_url, tmp_path))
    assert down.exit_code == 0, down.output
    assert _tables(pg_url) <= {"alembic_version"}
    missing = runner.invoke(app, ["db", "downgrade"], env=_env(pg_url, tmp_path))
    assert missing.exit_code == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_keys_and_datasets_commands(migrated_pg_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    env = _env(migrated_pg_url, tmp_path)
    made = runner.invoke(app, ["keys", "create", "--role", "operator", "--name", "ops"], env=env)
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[-1]
    assert made.stdout.strip() == key  # nothing else on stdout
    runtime = Runtime(pg_settings(migrated_pg_url, tmp_path))
    info = verify_key(runtime.sessions, key)
    assert info is not None and info.role is Role.OPERATOR and info.name == "ops"

    bad = runner.invoke(app, ["keys", "create", "--role", "admin"], env=env)
    assert bad.exit_code == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == ["error: unknown role 'admin'; choose one of planner, buyer, operator"]

    folder = tmp_path / "world"
    write_world(simulate_world("tiny", 1), folder)
    added = runner.invoke(app, ["datasets", "add", str(folder)], env=env)
    assert added.exit_code == 0, added.output
    dataset_id = added.stdout.strip().splitlines()[-1]
    with runtime.sessions() as s:
        row = s.scalar(select(DatasetRow).where(DatasetRow.id == dataset_id))
        assert row is not None and row.name == "world" and row.created_by == "cli"

    (folder / "units.parquet").write_bytes(b"not parquet")
    refused = runner.invoke(app, ["datasets", "add", str(folder)], env=env)
    assert refused.exit_code == 1 and "units.parquet" in refused.stdout

    revoked = runner.invoke(app, ["keys", "revoke", info.id], env=env)
    assert revoked.exit_code == 0 and verify_key(runtime.sessions, key) is None
    runtime.dispose()


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--port", "0"],
        ["serve", "--workers", "0"],
        ["serve", "--port", "http"],
        ["datasets", "add", "/no/such/folder"],
        ["keys", "create"],
        ["keys", "revoke", "0" * 32],
    ],
    ids=["port 0", "no workers", "port not a number", "no folder", "no role", "unknown key"],
)
def test_a_bad_option_is_one_line_and_exit_2(migrated_pg_url: str, tmp_path: Path, args: list[str]) -> None:
    result = CliRunner().invoke(app, args, env=_env(migrated_pg_url, tmp_path))
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output
