"""Property-based tests of the HTTP API against its own OpenAPI document (schemathesis 4, in-process
ASGI): for every operation, generated requests with an operator key never get a 5xx, and every
answer — success or error — has a documented status, content type and schema.

The database holds one finished tiny job, so the forecast endpoints answer 200 with real rows (the
one path whose JSON is written by hand rather than by a response model). Submitted jobs are not
run: generated requests must not start solves in the background.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from allocation.jobs import service
from allocation.jobs.options import JobOptions
from allocation.jobs.runner import run_steps
from allocation.jobs.steps import StepContext
from api.http import jobs_dispatch
from api.http.main import create_app
from api.keys import Role, create_key
from api.runtime import Runtime
from api.settings import Settings
from tests.service.test_api_support import module_pg_url, pg_settings, tiny_zip

__all__ = ["module_pg_url", "tiny_zip"]  # fixtures, imported for pytest

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CONFIG = {
    "generation": {"mode": "positive", "max-examples": 12},
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
}


# The schema is read from an app built at import time (schemathesis's lazy fixture loader does not
# work with this pytest); the module fixture below points that same app at the test database.
APP = create_app(Runtime(Settings(database_url="postgresql+psycopg://postgres@127.0.0.1:1/unset")))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=schemathesis.Config.from_dict(CONFIG))


@pytest.fixture(scope="module")
def operator_key(module_pg_url: str, tiny_zip: bytes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app's services over a migrated database holding one finished tiny job; an operator key."""
    runtime = Runtime(pg_settings(module_pg_url, tmp_path_factory.mktemp("schemathesis")))
    _, key = create_key(runtime.sessions, role=Role.OPERATOR, name="schemathesis", actor="test")
    dataset = service.register_dataset(
        runtime.sessions, archive=tiny_zip, name="tiny", actor="test", max_unpacked_bytes=2**30
    )
    job, _ = service.create_job(runtime.sessions, options=JobOptions(dataset_id=dataset["id"]), actor="test")
    run_steps(StepContext(job.id, JobOptions.from_json(job.options), runtime.store), runtime.ledger)
    patch = pytest.MonkeyPatch()
    patch.setattr(jobs_dispatch, "submit", lambda _rt, _job: None)
    placeholder = APP.state.services
    APP.state.services = create_app(runtime).state.services
    try:
        yield key
    finally:
        APP.state.services = placeholder
        patch.undo()
        runtime.dispose()


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_keeps_its_contract(case: Any, operator_key: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {operator_key}"}, checks=CHECKS)
