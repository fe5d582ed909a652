"""``/healthz`` (the process is alive), ``/readyz`` (it can take work), ``/metrics`` (Prometheus).
No key needed: probes and scrapers call these."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.http.deps import RuntimeDep, ServicesDep
from api.http.errors import ApiError, error_responses
from api.http.readiness import readiness
from api.http.schemas.health import Alive, Ready

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Alive, summary="Liveness: answers without touching the database")
def healthz() -> Alive:
    return Alive()


@router.get(
    "/readyz",
    response_model=Ready,
    responses=error_responses(503),
    summary="Readiness: the database (and the broker, when set) answer",
)
async def readyz(runtime: RuntimeDep) -> Ready:
    """503 within a second when a dependency does not answer; ``details`` says which."""
    checks = await readiness(runtime)
    failing = [f"{name}: {state}" for name, state in checks.items() if state != "ok"]
    if failing:
        raise ApiError(503, "not ready: " + ", ".join(n.split(":")[0] for n in failing), details=failing)
    return Ready(checks=checks)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}, "description": "Metrics"}},
    summary="Prometheus metrics",
)
def metrics(services: ServicesDep) -> PlainTextResponse:
    return PlainTextResponse(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
