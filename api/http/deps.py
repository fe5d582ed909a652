"""FastAPI dependencies as ``Annotated`` aliases: routes say what they need in their signature.

``RuntimeDep`` (settings, sessions, store, ledger), ``ServicesDep`` (the app's caches), and one key
alias per access level: ``CurrentKey`` (any live key), ``PlannerKey`` (datasets, jobs, plans),
``BuyerKey`` (forecasts), ``PlanKpiKey`` (plan KPIs: planner or buyer), ``OperatorKey`` (keys,
nightly). An operator passes every check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.http.auth import KeyChecker, require_role
from api.http.dbgate import DatabaseGate
from api.http.metrics import Metrics
from api.http.readers import ForecastReader
from api.keys import KeyInfo, Role
from api.runtime import Runtime

__all__ = [
    "BuyerKey",
    "CurrentKey",
    "OperatorKey",
    "PlanKpiKey",
    "PlannerKey",
    "RuntimeDep",
    "Services",
    "ServicesDep",
    "role_key",
]


@dataclass
class Services:
    """What one app holds for its lifetime (on ``app.state.services``)."""

    runtime: Runtime
    keys: KeyChecker
    forecasts: ForecastReader
    metrics: Metrics
    database_gate: DatabaseGate | None = None  # None: the embedded SQLite file, which cannot be away


# The dependencies are coroutines: FastAPI runs a plain function on a worker thread, and a hop per
# dependency would cost more than the work they do (the key check only reaches a thread on a miss).
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_runtime(request: Request) -> Runtime:
    services: Services = request.app.state.services
    return services.runtime


ServicesDep = Annotated[Services, Depends(get_services)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

# auto_error=False: a missing key is answered by `current_key` in the one error shape; the scheme
# is still declared in the OpenAPI document.
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer cf_...`")


async def current_key(
    services: ServicesDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> KeyInfo:
    return await services.keys.check(credentials.credentials if credentials is not None else None)


CurrentKey = Annotated[KeyInfo, Depends(current_key)]


def role_key(*roles: Role) -> Callable[[KeyInfo], Awaitable[KeyInfo]]:
    """A dependency that admits a key of one of ``roles`` (or an operator), else 403."""

    async def check(key: CurrentKey) -> KeyInfo:
        return require_role(key, roles)

    check.__name__ = f"key_of_{'_or_'.join(r.value for r in roles)}"
    return check


PlannerKey = Annotated[KeyInfo, Depends(role_key(Role.PLANNER))]
BuyerKey = Annotated[KeyInfo, Depends(role_key(Role.BUYER))]
PlanKpiKey = Annotated[KeyInfo, Depends(role_key(Role.PLANNER, Role.BUYER))]
OperatorKey = Annotated[KeyInfo, Depends(role_key(Role.OPERATOR))]
