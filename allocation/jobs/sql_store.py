"""The service's run store: step outputs, plans and forecast rows in the database; datasets unpacked
from their stored zip into a local cache on first use (so any worker can run any step)."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from allocation.domain import NotFoundError
from allocation.jobs.archive import safe_extract
from allocation.jobs.db import session_scope
from allocation.jobs.report import clean_json
from allocation.jobs.store import MissingArtifact, check_forecast_frames, check_plan_frames
from allocation.jobs.tables import (
    DatasetRow,
    JobArtifact,
    PlanCleaningRow,
    PlanHeldBackRow,
    PlanRow,
    PlanShipmentRow,
    PlanTransferRow,
    PlanUnfilledRow,
    utcnow,
)
from forecasting.tables import DemandForecastRow, LateReturnForecastRow

__all__ = ["SqlRunStore"]

PLAN_TABLES: dict[str, Any] = {
    "ships": PlanShipmentRow,
    "cleaning": PlanCleaningRow,
    "transfers": PlanTransferRow,
    "held_back": PlanHeldBackRow,
    "unfilled": PlanUnfilledRow,
}
_CHUNK = 5_000  # rows per INSERT: large enough to be fast, small enough for SQLite's variable limit


def _records(frame: pd.DataFrame, **extra: Any) -> list[dict[str, Any]]:
    """Rows as dicts with Python dates and numbers (what every DB driver accepts)."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.date
    out = out.astype(object).where(out.notna(), None)
    rows: list[dict[str, Any]] = out.to_dict("records")  # type: ignore[assignment]
    for r in rows:
        r.update(extra)
    return rows


def _bulk_insert(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), _CHUNK):
        session.execute(insert(table), rows[i : i + _CHUNK])


class SqlRunStore:
    """Run store over SQLAlchemy (PostgreSQL in service mode; SQLite works too)."""

    def __init__(self, sessions: sessionmaker[Session], cache_dir: Path) -> None:
        self.sessions = sessions
        self.cache_dir = cache_dir

    def put(self, job_id: str, name: str, data: bytes) -> None:
        with session_scope(self.sessions) as s:
            s.execute(delete(JobArtifact).where(JobArtifact.job_id == job_id, JobArtifact.name == name))
            s.add(JobArtifact(job_id=job_id, name=name, data=data, created_at=utcnow()))

    def get(self, job_id: str, name: str) -> bytes:
        with self.sessions() as s:
            data = s.scalar(select(JobArtifact.data).where(JobArtifact.job_id == job_id, JobArtifact.name == name))
        if data is None:
            raise MissingArtifact(f"job {job_id} has no {name!r} yet: run the step that makes it first")
        return bytes(data)

    def has(self, job_id: str, name: str) -> bool:
        with self.sessions() as s:
            found = s.scalar(select(JobArtifact.name).where(JobArtifact.job_id == job_id, JobArtifact.name == name))
        return found is not None

    def dataset_dir(self, dataset_id: str) -> Path:
        target = self.cache_dir / "datasets" / dataset_id
        if (target / ".complete").is_file():
            return target
        with self.sessions() as s:
            archive = s.scalar(select(DatasetRow.archive).where(DatasetRow.id == dataset_id))
        if archive is None:
            raise NotFoundError(f"no dataset {dataset_id!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        # Unpack beside the target and rename: two workers unpacking at once never see half a folder.
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{dataset_id}."))
        try:
            safe_extract(bytes(archive), tmp)
            (tmp / ".complete").write_text("")
            try:
                tmp.rename(target)
            except OSError:
                if not (target / ".complete").is_file():
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return target

    def save_forecasts(self, job_id: str, dataset_id: str, demand: pd.DataFrame, late: pd.DataFrame) -> None:
        demand, late = check_forecast_frames(demand, late)
        with session_scope(self.sessions) as s:
            # One transaction: a retried step replaces its rows, readers never see half of them.
            s.execute(delete(DemandForecastRow).where(DemandForecastRow.job_id == job_id))
            s.execute(delete(LateReturnForecastRow).where(LateReturnForecastRow.job_id == job_id))
            _bulk_insert(s, DemandForecastRow, _records(demand, job_id=job_id, dataset_id=dataset_id))
            _bulk_insert(s, LateReturnForecastRow, _records(late, job_id=job_id, dataset_id=dataset_id))

    def save_plan(self, job_id: str, dataset_id: str, frames: dict[str, pd.DataFrame], kpis: dict[str, Any]) -> str:
        checked = check_plan_frames(frames)
        with session_scope(self.sessions) as s:
            existing = s.scalar(select(PlanRow.id).where(PlanRow.job_id == job_id))
            if existing is not None:
                # A redelivered step: the job already has its plan (plans.job_id is unique).
                return str(existing)
            plan_id = uuid.uuid4().hex
            s.add(PlanRow(id=plan_id, job_id=job_id, dataset_id=dataset_id, kpis=clean_json(kpis)))
            s.flush()
            for name, table in PLAN_TABLES.items():
                _bulk_insert(s, table, _records(checked[name], plan_id=plan_id))
        return plan_id

    def publish(self, job_id: str, plan_id: str, report: dict[str, Any], validation: dict[str, Any] | None) -> None:
        with session_scope(self.sessions) as s:
            s.execute(
                update(PlanRow)
                .where(PlanRow.id == plan_id)
                .values(report=clean_json(report), validation=clean_json(validation), published_at=utcnow())
            )
