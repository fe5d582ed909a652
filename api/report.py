"""Writing a run's outputs: report.json, report.html and the plan's Parquet files.

The documents themselves are made by the job's publish step (``allocation.jobs.report``); this
copies them from the run store to the output folder a user asked for.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from allocation.jobs.pipeline import JobResult

__all__ = ["write_outputs"]

PLAN_FILES = ("ships", "cleaning", "transfers", "held_back", "unfilled")


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is meant to be read
    os.replace(tmp, path)


def write_outputs(job: JobResult, out: Path) -> dict[str, Path]:
    """Write report.json, report.html and plan/*.parquet under ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    plan_dir = out / "plan"
    plan_dir.mkdir(exist_ok=True)
    paths: dict[str, Path] = {}
    for name in PLAN_FILES:
        paths[name] = plan_dir / f"{name}.parquet"
        _atomic_write(paths[name], job.store.get(job.job_id, f"plan/{name}.parquet"))
    paths["substitutes"] = plan_dir / "substitutes.parquet"
    _atomic_write(paths["substitutes"], job.store.get(job.job_id, "plan/substitutes.parquet"))
    for name in ("report.json", "report.html"):
        paths[name] = out / name
        _atomic_write(paths[name], job.store.get(job.job_id, name))
    return paths
