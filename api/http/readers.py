"""The forecast read path, cached: buyers ask the same few SKUs over and over, at a high rate.

Two caches per process. The *source* (which dataset and which job's rows to serve) is looked up at
most every ``SOURCE_TTL_S`` seconds, so a job that finishes its forecast step is served within that
time. *Answers* are cached as finished JSON bytes keyed by the source job and the query: a newer
job changes the key, so stale answers are never served and simply age out of the LRU.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Final

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from allocation.jobs.queries import ForecastSource, latest_forecast_source
from api.http.cache import TTLCache
from forecasting.queries import ForecastQuery, demand_forecasts, late_return_forecasts

__all__ = ["ForecastReader"]

SOURCE_TTL_S: Final = 2.0
ANSWER_TTL_S: Final = 300.0
ANSWERS: Final = 50_000  # ~1-3 KB each: at most ~100 MB, in practice a few MB


def _json_default(obj: object) -> str:
    if isinstance(obj, dt.date):
        return obj.isoformat()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


class ForecastReader:
    def __init__(self, sessions: sessionmaker[Session], engine: Engine) -> None:
        self.sessions = sessions
        self.engine = engine
        self.sources: TTLCache[ForecastSource] = TTLCache(maxsize=1_000, ttl_s=SOURCE_TTL_S)
        self.answers: TTLCache[bytes] = TTLCache(maxsize=ANSWERS, ttl_s=ANSWER_TTL_S)

    async def source(self, dataset_id: str | None) -> ForecastSource:
        found, src = self.sources.get(dataset_id)
        if found and src is not None:
            return src
        src = await run_in_threadpool(latest_forecast_source, self.sessions, dataset_id)
        self.sources.put(dataset_id, src)
        return src

    async def _answer(self, kind: str, query: dict[str, Any]) -> bytes:
        """A cached answer on the event loop; a miss is read on a worker thread."""
        src = await self.source(query.get("dataset_id"))
        q = ForecastQuery(**{**query, "dataset_id": src.dataset_id, "job_id": src.job_id})
        key = (kind, q)
        found, body = self.answers.get(key)
        if found and body is not None:
            return body
        body = await run_in_threadpool(self._read, kind, q)
        self.answers.put(key, body)
        return body

    def _read(self, kind: str, q: ForecastQuery) -> bytes:
        fetch = demand_forecasts if kind == "demand" else late_return_forecasts
        rows, more = fetch(self.engine, q)
        page = {
            "dataset_id": q.dataset_id,
            "job_id": q.job_id,
            "limit": q.limit,
            "offset": q.offset,
            "next_offset": q.offset + q.limit if more else None,
            "rows": rows,
        }
        return json.dumps(page, default=_json_default, separators=(",", ":")).encode()

    async def demand(self, query: dict[str, Any]) -> bytes:
        """Demand forecast rows for ``query`` (``ForecastQuery`` fields; ``dataset_id`` optional), as JSON."""
        return await self._answer("demand", query)

    async def late_returns(self, query: dict[str, Any]) -> bytes:
        """Late-return forecast rows for ``query``, as JSON."""
        return await self._answer("late", query)
