"""Request body limits, enforced while the body streams in: 413 in the error shape.

A declared ``Content-Length`` over the limit is refused before a byte is read; a body without one
(chunked) is counted as it arrives and reading stops at the first chunk past the limit. Uploads
(``POST /datasets``) get ``max_upload_mb`` plus room for the multipart headers; everything else gets
``max_body_kb``. Raised as an ``HTTPException`` so FastAPI's body reader passes it on unchanged to
the error handlers, whichever part of the request (JSON, form, file) was being read.
"""

from __future__ import annotations

from typing import Final

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http.errors import error_json

__all__ = ["BodyLimitMiddleware", "BodyTooLarge"]

MULTIPART_SLACK: Final = 64 * 1024  # boundaries and part headers around the file


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {_size(limit)}")


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 1024:.0f} KB"


class BodyLimitMiddleware:
    """Pure ASGI middleware (no buffering of its own)."""

    def __init__(self, app: ASGIApp, *, body_limit: int, upload_limit: int, upload_paths: frozenset[str]) -> None:
        self.app = app
        self.body_limit = body_limit
        self.upload_limit = upload_limit
        self.upload_paths = upload_paths

    def limit_for(self, scope: Scope) -> tuple[int, int]:
        """(the limit shown to the user, the bytes allowed on the wire)."""
        if scope.get("method") == "POST" and scope.get("path") in self.upload_paths:
            return self.upload_limit, self.upload_limit + MULTIPART_SLACK
        return self.body_limit, self.body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        shown, allowed = self.limit_for(scope)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > allowed:
            await error_json(413, BodyTooLarge(shown).detail)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > allowed:
                    raise BodyTooLarge(shown)
            return message

        await self.app(scope, counted, send)
