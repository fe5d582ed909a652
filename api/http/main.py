"""The FastAPI app factory: ``create_app(runtime)``; ``uvicorn --factory api.http.main:create_app``.

Everything the app holds is built here from one ``Runtime`` (settings, engine, store, ledger):
the key checker and forecast reader with their caches, the metrics registry, the middleware
(metrics outermost, then body limits) and the error handlers.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from api.http import jobs_dispatch
from api.http.auth import KeyChecker
from api.http.dbgate import DatabaseGate, DatabaseGateMiddleware
from api.http.deps import Services
from api.http.errors import install_error_handlers
from api.http.lifecycle import prepare
from api.http.limits import BodyLimitMiddleware
from api.http.metrics import Metrics, MetricsMiddleware
from api.http.readers import ForecastReader
from api.http.routes import datasets, forecasts, health, jobs, keys, models, nightly, plans
from api.runtime import Runtime
from api.settings import get_settings

__all__ = ["create_app"]

log = logging.getLogger("closetflow.api")

DESCRIPTION = """
closetflow's HTTP API: upload a data folder, run allocation jobs on it, read the plan (ship list,
cleaning order, transfers, unfilled reservations with reasons, holdout validation) and the
forecasts. Every call but the probes needs `Authorization: Bearer <key>`; a key's role decides what
it may do: **planner** (datasets, jobs, plans), **buyer** (forecasts, plan KPIs), **operator**
(everything, keys, nightly, the model registry). Every error has one shape: `{"error": {"code", "message", "details"}}`.
"""


def create_app(runtime: Runtime | None = None) -> FastAPI:
    """The app over ``runtime`` (default: one from ``CLOSETFLOW_*``)."""
    rt = runtime if runtime is not None else Runtime(get_settings())
    services = Services(
        runtime=rt,
        keys=KeyChecker(rt.sessions),
        forecasts=ForecastReader(rt.sessions, rt.engine),
        metrics=Metrics(rt.sessions),
        # Only a server database can be away; the embedded SQLite file is always there.
        database_gate=DatabaseGate(rt) if not rt.database_url.startswith("sqlite") else None,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        prepare(rt)
        try:
            jobs_dispatch.resume_unfinished(rt)
        except SQLAlchemyError as exc:
            # The service starts without its database (``/readyz`` says so); nothing to resume yet.
            log.warning("unfinished jobs not resumed, the database is unreachable: %s", type(exc).__name__)
        # Everything imported so far (pandas, SQLAlchemy, the models: ~200k objects) lives as long as
        # the process; frozen, a full collection no longer walks it (a pause of 100+ ms otherwise,
        # straight into the read path's p99).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            jobs_dispatch.shutdown(rt)

    app = FastAPI(title="closetflow", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.services = services
    install_error_handlers(app)
    for module in (datasets, jobs, plans, forecasts, keys, nightly, models, health):
        app.include_router(module.router)
    settings = rt.settings
    app.add_middleware(
        BodyLimitMiddleware,
        body_limit=settings.max_body_kb * 1024,
        upload_limit=settings.max_upload_mb * 2**20,
        upload_paths=frozenset({"/datasets"}),
    )
    app.add_middleware(DatabaseGateMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    return app
