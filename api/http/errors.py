"""One JSON error shape for every error: ``{"error": {"code", "message", "details"}}``.

The domain raises its own errors with words a planner can act on; this module is the one place that
turns each into a status: NotFoundError 404, ConflictError 409, DataValidationError 422 (details:
every ``file:row:column: message``), ArchiveError 422, any other ClosetflowError 422, an unreachable
database or broker 503, a bug 500 (logged with a reference; never a traceback in the response).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from allocation.domain import ClosetflowError, ConflictError, DataValidationError, NotFoundError, UnavailableError
from allocation.jobs.archive import ArchiveError
from api.http.schemas.common import ErrorResponse

__all__ = ["ApiError", "error_json", "error_responses", "install_error_handlers"]

log = logging.getLogger("closetflow.api")

CODES: Final[dict[int, str]] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    500: "internal",
    503: "unavailable",
}
DESCRIPTIONS: Final[dict[int, str]] = {
    400: "The body could not be parsed",
    401: "No key, or an unknown or revoked key",
    403: "The key's role may not do this",
    404: "No such resource",
    409: "Conflicts with what is recorded",
    413: "The request body is too large",
    422: "The request or its data is not valid",
    503: "The database or broker cannot be reached; try again later",
}


class ApiError(Exception):
    """An error the API answers directly (auth, limits, readiness), already in its final shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})


def error_json(
    status: int,
    message: str,
    *,
    code: str | None = None,
    details: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code or CODES.get(status, "error"), "message": message, "details": list(details)}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: each status it can answer with the error shape (for OpenAPI)."""
    return {s: {"model": ErrorResponse, "description": DESCRIPTIONS.get(s, "Error")} for s in statuses}


def _domain_error(exc: ClosetflowError) -> JSONResponse:
    if isinstance(exc, NotFoundError):
        return error_json(404, str(exc))
    if isinstance(exc, ConflictError):
        return error_json(409, str(exc))
    if isinstance(exc, UnavailableError):
        return error_json(503, str(exc))
    if isinstance(exc, DataValidationError):
        problems = [str(p) for p in exc.problems]
        return error_json(
            422, f"{len(problems)} problem(s) in the data; nothing was stored", code="invalid_data", details=problems
        )
    if isinstance(exc, ArchiveError):
        return error_json(422, str(exc), code="bad_archive")
    return error_json(422, str(exc), code="rejected")


def _validation_details(exc: RequestValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err.get("loc", ()))
        out.append(f"{where}: {err.get('msg', 'invalid')}")
    return out


async def _on_domain(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ClosetflowError)
    return _domain_error(exc)


async def _on_api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_json(exc.status, exc.message, code=exc.code, details=exc.details, headers=exc.headers)


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else CODES.get(exc.status_code, "error")
    return error_json(exc.status_code, message, headers=exc.headers)


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc)
    return error_json(422, f"the request is not valid: {len(details)} problem(s)", details=details)


async def _on_database_down(_request: Request, exc: Exception) -> JSONResponse:
    # The driver's message names hosts and ports: it goes to the log, not to the caller.
    log.warning("database unavailable: %s", " ".join(str(exc).split())[:500])
    return error_json(503, "the database cannot be reached; try again later")


async def _on_bug(request: Request, exc: Exception) -> JSONResponse:
    ref = uuid.uuid4().hex[:12]
    log.error("internal error ref=%s on %s %s", ref, request.method, request.url.path, exc_info=exc)
    return error_json(500, f"internal error (reference {ref}); the details are in the server log")


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception to the one error shape."""
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(ClosetflowError, _on_domain)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(OperationalError, _on_database_down)
    app.add_exception_handler(PoolTimeoutError, _on_database_down)
    app.add_exception_handler(Exception, _on_bug)
