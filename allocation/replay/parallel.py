"""Run independent pieces of work in forked child processes, one per piece, results back by pipe.

The holdout replay plays each policy on the same realized days, and the policies never look at
each other: on a machine with more than one core the model policies (each re-solving its LP every
day) can replay side by side. ``fork`` shares the world, the statics and the schedule with the
children without copying or pickling them; only each result travels back. Where fork is not
possible (a platform without it, a daemonic worker process) the pieces run here, one after another
— the same results, only slower.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any, TypeVar

__all__ = ["ChildFailed", "run_side_by_side"]

T = TypeVar("T")


class ChildFailed(RuntimeError):
    """A piece of work raised in its child process; the message carries its traceback."""


def _child(job: Callable[[], Any], conn: Connection) -> None:
    try:
        conn.send((True, job()))
    except BaseException:  # everything goes back to the parent, which raises it there
        conn.send((False, traceback.format_exc()))
    finally:
        conn.close()


def _can_fork() -> bool:
    if "fork" not in mp.get_all_start_methods() or (os.cpu_count() or 1) < 2:
        return False
    return not mp.current_process().daemon  # a daemonic process may not have children


def run_side_by_side(jobs: Sequence[Callable[[], T]], *, here: Callable[[], None] | None = None) -> list[T]:
    """Results of ``jobs`` in order; each in its own forked child when possible. ``here`` runs in
    this process meanwhile (work that must stay in the parent, or that is cheap)."""
    if len(jobs) < 2 or not _can_fork():
        if here is not None:
            here()
        return [job() for job in jobs]
    ctx = mp.get_context("fork")
    started: list[tuple[Any, Connection]] = []
    for job in jobs:
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(job, send))
        proc.start()
        send.close()
        started.append((proc, receive))
    if here is not None:
        here()
    results: list[T] = []
    failure: str | None = None
    for proc, receive in started:
        try:
            ok, value = receive.recv()
        except EOFError:
            ok, value = False, f"the child process ended without a result (exit code {proc.exitcode})"
        proc.join()
        if ok:
            results.append(value)
        elif failure is None:
            failure = str(value)
    if failure is not None:
        raise ChildFailed(failure)
    return results
