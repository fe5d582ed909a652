"""The decomposition's group solves as a Celery chord over the workers (``solvers.decompose``).

Each pricing round of ``solve_block_angular`` asks a ``GroupRunner`` to solve every group LP at the
linking-row prices. ``CeleryGroupRunner`` does it on the workers:

- At construction it writes every group once to ``<dw_scratch_dir>/run-<id>/group-NNNNN.npz``
  (``save_group``). Workers on one machine share the folder; workers on several machines need it
  on a shared filesystem. The folder is removed when the runner is closed or garbage collected.
- Each ``solve_all`` sends one ``solve_dw_group`` task per chunk of ``groups_per_task`` groups as
  the header of a ``celery.chord``; the callback ``gather_dw_groups`` joins the chunks' answers in
  group order and names the first failed group. The coordinator waits for it with a timeout (the
  round's time limit plus ``wait_grace_s`` for queueing and loading).
- A task carries JSON only: the group files' paths, the prices (a list of floats), the sense and
  the time limit. It answers each group's point and row duals as base64 of their non-zeros
  (float64 values, int32 positions) and the priced objective; the coordinator rebuilds the
  ``GroupSolution`` with ``split_by_block``, so the arithmetic is the in-process one.
- Every worker process keeps the groups it has loaded, each with its HiGHS model (``WarmLP``),
  keyed by file path: a later round that lands the same chunk on the same process is a warm
  re-solve from the last basis; one that lands it elsewhere loads it there once. Only the groups of
  the ``_CACHE_RUNS`` most recent runs are kept, so memory stays bounded.
- A group that fails (infeasible, time limit) comes back as such, and ``solve_all`` raises the
  ``GroupFailed`` the in-process runner raises; a task that breaks (a missing file, a dead worker
  past the wait) is a ``GroupFailed`` with an error status, so the solve reports an error.

The solve step itself runs in a worker process and waits for the chord there: the group tasks need
other worker processes (``closetflow worker --concurrency 2`` or more, or more workers).
"""

from __future__ import annotations

import base64
import math
import os
import shutil
import socket
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from celery import Celery, chord
from celery.exceptions import TimeoutError as CeleryTimeoutError

from allocation.model.solve import RunnerFactory
from api.settings import Settings, dw_scratch_dir
from solvers.decompose import (
    BlockStructure,
    GroupData,
    GroupFailed,
    GroupSolution,
    load_group,
    save_group,
    solve_group,
    split_by_block,
)
from solvers.highs_warm import WarmLP, available
from workers.celery_app import app

__all__ = ["CeleryGroupRunner", "gather_dw_groups", "runner_factory", "solve_dw_group"]

_CACHE_RUNS = 2  # runs whose loaded groups a worker process keeps (the current one and the last)


@dataclass
class _Loaded:
    group: GroupData
    lp: WarmLP | None


# run folder -> group file -> loaded group; most recently used run last.
_cache: OrderedDict[str, dict[str, _Loaded]] = OrderedDict()


def _encode(v: np.ndarray) -> dict[str, Any]:
    """A float vector as its length and the base64 of its non-zeros (positions and values)."""
    nz = np.flatnonzero(v)
    return {
        "n": int(v.size),
        "idx": base64.b64encode(nz.astype(np.int32).tobytes()).decode("ascii"),
        "val": base64.b64encode(np.ascontiguousarray(v[nz], dtype=np.float64).tobytes()).decode("ascii"),
    }


def _decode(d: dict[str, Any]) -> np.ndarray:
    out = np.zeros(int(d["n"]))
    idx = np.frombuffer(base64.b64decode(d["idx"]), dtype=np.int32)
    out[idx] = np.frombuffer(base64.b64decode(d["val"]), dtype=np.float64)
    return out


def _loaded(path: str, maximize: bool) -> tuple[_Loaded, bool]:
    """The group of ``path`` with its HiGHS model, from this process's cache or loaded now (True)."""
    run = str(Path(path).parent)
    groups = _cache.setdefault(run, {})
    _cache.move_to_end(run)
    while len(_cache) > _CACHE_RUNS:
        _cache.popitem(last=False)
    hit = groups.get(path)
    if hit is not None:
        return hit, False
    g = load_group(path)
    lp = WarmLP(g.A, g.row_lower, g.row_upper, g.col_lower, g.col_upper, maximize=maximize) if available() else None
    groups[path] = _Loaded(g, lp)
    return groups[path], True


@app.task(name="closetflow.dw_group")
def solve_dw_group(spec: dict[str, Any]) -> dict[str, Any]:
    """Solve the groups of one chunk at the given prices (JSON in, JSON out; see the module doc).

    ``spec``: ``paths`` (group files), ``prices`` (one per linking row), ``maximize``,
    ``time_limit_s`` (for the whole chunk). Returns ``solutions`` (one per group solved, in order),
    ``failed`` (None, or the group and status that stopped the chunk) and ``loaded`` (groups this
    process had to load from their files).
    """
    cpu = time.process_time()
    deadline = time.perf_counter() + float(spec["time_limit_s"])
    prices = np.asarray(spec["prices"], dtype=np.float64)
    maximize = bool(spec["maximize"])
    out: list[dict[str, Any]] = []
    loaded = 0
    for path in spec["paths"]:
        entry, fresh = _loaded(str(path), maximize)
        loaded += int(fresh)
        try:
            sol = solve_group(entry.group, prices, maximize, entry.lp, deadline - time.perf_counter())
        except GroupFailed as exc:
            failed = {"group": exc.group, "status": exc.status}
            return {"solutions": out, "failed": failed, "loaded": loaded, "cpu": _cpu_since(cpu)}
        out.append(
            {"group": entry.group.index, "x": _encode(sol.x), "priced": sol.priced, "dual": _encode(sol.row_dual)}
        )
    return {"solutions": out, "failed": None, "loaded": loaded, "cpu": _cpu_since(cpu)}


def _cpu_since(start: float) -> list[Any]:
    """Which worker process ran a chunk and its CPU seconds (what 2 free cores would take: the
    benchmark sums them per process, so a busy shared machine does not hide the parallel path)."""
    return [f"{socket.gethostname()}:{os.getpid()}", time.process_time() - start]


@app.task(name="closetflow.dw_gather")
def gather_dw_groups(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The chord's callback: the chunks' answers joined in group order (sorted here, whatever order
    the result backend kept), and the failure of the lowest group."""
    failures = sorted((c["failed"] for c in chunks if c["failed"] is not None), key=lambda f: int(f["group"]))
    return {
        "solutions": sorted((s for c in chunks for s in c["solutions"]), key=lambda s: int(s["group"])),
        "failed": failures[0] if failures else None,
        "loaded": sum(int(c["loaded"]) for c in chunks),
        "cpu": [c.get("cpu") for c in chunks],
    }


class CeleryGroupRunner:
    """A ``GroupRunner`` that solves the groups on the Celery workers, one chord per round.

    Attributes:
        rounds: ``solve_all`` calls made.
        loads: Group files loaded by the workers so far (the rest of the solves were warm).
        cpu_s: CPU seconds the workers spent on the groups so far.
        critical_cpu_s: Per round, the CPU seconds of the busiest worker process, summed: the groups'
            time with one free core per process.
    """

    def __init__(
        self,
        groups: Sequence[GroupData],
        maximize: bool,
        *,
        scratch_dir: Path,
        groups_per_task: int = 4,
        wait_grace_s: float = 60.0,
        celery_app: Celery = app,
    ) -> None:
        if groups_per_task < 1:
            raise ValueError(f"groups_per_task must be at least 1, got {groups_per_task}")
        self.groups = list(groups)
        self.maximize = maximize
        self.wait_grace_s = wait_grace_s
        self.app = celery_app
        self.folder = Path(scratch_dir).resolve() / f"run-{uuid.uuid4().hex}"
        self.folder.mkdir(parents=True)
        # The files are only needed while this runner lives: removed on close, or when collected.
        self._remove = weakref.finalize(self, shutil.rmtree, str(self.folder), True)
        self.paths: list[str] = []
        for g in self.groups:
            path = self.folder / f"group-{g.index:05d}.npz"
            save_group(g, str(path))
            self.paths.append(str(path))
        self.chunks = [self.paths[i : i + groups_per_task] for i in range(0, len(self.paths), groups_per_task)]
        self.rounds = 0
        self.loads = 0
        self.cpu_s = 0.0
        self.critical_cpu_s = 0.0

    def solve_all(self, prices: np.ndarray, time_limit_s: float) -> list[GroupSolution | None]:
        self.rounds += 1
        if not self.groups:
            return []
        limit = max(float(time_limit_s), 0.01)
        base = {"prices": np.asarray(prices, dtype=np.float64).tolist(), "maximize": self.maximize}
        header = [
            self.app.signature("closetflow.dw_group", args=({**base, "paths": chunk, "time_limit_s": limit},))
            for chunk in self.chunks
        ]
        result = chord(header, app=self.app)(self.app.signature("closetflow.dw_gather"))
        wait = limit + self.wait_grace_s if math.isfinite(limit) else None
        try:
            # Waiting inside a task is what the solve step does: it runs on a worker itself.
            answer = result.get(timeout=wait, disable_sync_subtasks=False)
        except CeleryTimeoutError:
            result.revoke()
            raise GroupFailed(self.groups[0].index, "time_limit") from None
        except Exception as exc:  # whatever broke on the worker (its type comes back by name)
            raise GroupFailed(self.groups[0].index, f"error on a worker ({type(exc).__name__}: {exc})") from None
        finally:
            _forget(result)
        self.loads += int(answer["loaded"])
        per_process: dict[str, float] = {}
        for who, seconds in filter(None, answer.get("cpu", [])):
            per_process[str(who)] = per_process.get(str(who), 0.0) + float(seconds)
        self.cpu_s += sum(per_process.values())
        self.critical_cpu_s += max(per_process.values(), default=0.0)
        if answer["failed"] is not None:
            raise GroupFailed(int(answer["failed"]["group"]), str(answer["failed"]["status"]))
        sols = answer["solutions"]
        if [int(s["group"]) for s in sols] != [g.index for g in self.groups]:
            raise GroupFailed(self.groups[0].index, f"error on a worker ({len(sols)} of {len(self.groups)} groups)")
        return [
            split_by_block(g, _decode(s["x"]), float(s["priced"]), _decode(s["dual"]))
            for g, s in zip(self.groups, sols, strict=True)
        ]

    def close(self) -> None:
        """Remove the group files (the workers' caches of them go with their next runs)."""
        self._remove()


def _forget(result: Any) -> None:
    """Drop a round's answers from the result backend once read: they hold every group's point, and
    would otherwise stay in Redis for ``result_expires`` (a day), round after round."""
    for r in (result, result.parent):
        if r is not None:
            with suppress(Exception):  # a backend away now only means the answers expire later
                r.forget()


def runner_factory(settings: Settings, *, groups_per_task: int = 4) -> RunnerFactory | None:
    """The runner a decomposed solve uses under ``settings``: the chord when ``dw_workers`` is
    ``celery`` and a broker is configured, None (in-process ``LocalRunner``) otherwise."""
    if settings.dw_workers != "celery" or settings.broker_url is None:
        return None
    scratch = dw_scratch_dir(settings)

    def make(structure: BlockStructure, maximize: bool) -> CeleryGroupRunner:
        return CeleryGroupRunner(structure.groups, maximize, scratch_dir=scratch, groups_per_task=groups_per_task)

    return make
