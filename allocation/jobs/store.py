"""The run store: where each step of a job reads its inputs and writes its result.

A step takes ids and finds everything else here, so any step can be retried or resumed alone, on
any machine that reaches the store. Two implementations:

- ``FileRunStore`` — the embedded mode: a folder (``<root>/jobs/<job_id>/<name>``), no server.
- ``SqlRunStore`` (``allocation.jobs.sql_store``) — the service: step outputs, plans and forecast
  rows in PostgreSQL (or SQLite), datasets as the zip they arrived in.

Artifacts are bytes (npz without pickles, JSON, Parquet); ``put`` is atomic, so a step killed half
way leaves no artifact and is simply run again.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from allocation.domain import ClosetflowError
from allocation.jobs.frames import DEMAND_FORECAST, LATE_FORECAST, PLAN_FRAMES

__all__ = [
    "FileRunStore",
    "MissingArtifact",
    "RunStore",
    "npz_bytes",
    "parquet_bytes",
    "read_json",
    "read_npz",
    "read_parquet",
]


class MissingArtifact(ClosetflowError):
    """A step's input is not in the store: the step that makes it has not run (or was cancelled)."""


class RunStore(Protocol):
    """What a step may do with the store."""

    def put(self, job_id: str, name: str, data: bytes) -> None: ...

    def get(self, job_id: str, name: str) -> bytes: ...

    def has(self, job_id: str, name: str) -> bool: ...

    def dataset_dir(self, dataset_id: str) -> Path:
        """A local folder holding the dataset's files (unpacked on first use)."""
        ...

    def save_forecasts(self, job_id: str, dataset_id: str, demand: pd.DataFrame, late: pd.DataFrame) -> None:
        """Publish the precomputed forecast rows of a job (replacing any from an earlier try)."""
        ...

    def save_plan(self, job_id: str, dataset_id: str, frames: dict[str, pd.DataFrame], kpis: dict[str, Any]) -> str:
        """Store tonight's plan of a job; returns its id. Idempotent: a job has at most one plan."""
        ...

    def publish(self, job_id: str, plan_id: str, report: dict[str, Any], validation: dict[str, Any] | None) -> None:
        """Attach the report to the plan and mark it published."""
        ...


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    savez: Any = np.savez  # numpy's stub types **kwds as allow_pickle
    savez(buf, **arrays)
    return buf.getvalue()


def read_npz(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def read_parquet(data: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(data))


def read_json(data: bytes) -> Any:
    return json.loads(data.decode())


def check_plan_frames(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every plan frame against its named schema (``allocation.jobs.frames``)."""
    missing = set(PLAN_FRAMES) - set(frames)
    if missing:
        raise ValueError(f"plan frames missing: {sorted(missing)}")
    return {name: PLAN_FRAMES[name].validate(frames[name]) for name in PLAN_FRAMES}


def check_forecast_frames(demand: pd.DataFrame, late: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return DEMAND_FORECAST.validate(demand), LATE_FORECAST.validate(late)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; outputs are meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FileRunStore:
    """The embedded run store: one folder per job under ``root/jobs``; datasets are folders.

    ``datasets`` maps a dataset id to an existing data folder (``closetflow run --data DIR``); other
    ids are looked up under ``root/datasets/<id>``.
    """

    def __init__(self, root: Path, datasets: dict[str, Path] | None = None) -> None:
        self.root = root
        self.datasets = dict(datasets or {})

    def _path(self, job_id: str, name: str) -> Path:
        if "/" in job_id or ".." in job_id or ".." in name or name.startswith("/"):
            raise ValueError(f"bad artifact address {job_id!r}/{name!r}")
        return self.root / "jobs" / job_id / name

    def put(self, job_id: str, name: str, data: bytes) -> None:
        _atomic_write_bytes(self._path(job_id, name), data)

    def get(self, job_id: str, name: str) -> bytes:
        path = self._path(job_id, name)
        if not path.is_file():
            raise MissingArtifact(f"job {job_id} has no {name!r} yet: run the step that makes it first")
        return path.read_bytes()

    def has(self, job_id: str, name: str) -> bool:
        return self._path(job_id, name).is_file()

    def dataset_dir(self, dataset_id: str) -> Path:
        if dataset_id in self.datasets:
            return self.datasets[dataset_id]
        path = self.root / "datasets" / dataset_id
        if not path.is_dir():
            raise ClosetflowError(f"no dataset {dataset_id!r} under {self.root / 'datasets'}")
        return path

    def save_forecasts(self, job_id: str, dataset_id: str, demand: pd.DataFrame, late: pd.DataFrame) -> None:
        demand, late = check_forecast_frames(demand, late)
        self.put(job_id, "forecasts/demand.parquet", parquet_bytes(demand))
        self.put(job_id, "forecasts/late_returns.parquet", parquet_bytes(late))

    def save_plan(self, job_id: str, dataset_id: str, frames: dict[str, pd.DataFrame], kpis: dict[str, Any]) -> str:
        checked = check_plan_frames(frames)
        for name, frame in checked.items():
            self.put(job_id, f"plan/{name}.parquet", parquet_bytes(frame))
        self.put(job_id, "plan/kpis.json", json.dumps(kpis, default=float).encode())
        return job_id  # one plan per job: the plan is addressed by its job

    def publish(self, job_id: str, plan_id: str, report: dict[str, Any], validation: dict[str, Any] | None) -> None:
        self.put(job_id, "published.json", json.dumps({"plan_id": plan_id}).encode())
