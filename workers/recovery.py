"""Re-sending what the broker forgot: the database is the source of truth for which jobs must run.

Redis here keeps nothing on disk, so a restart loses every queued message. A job is *orphaned* when
the database says it is queued or running, no worker holds its lease (``workers.lease``), it was
last touched more than ``GRACE_S`` ago, and no message for it is in Redis — neither waiting in the
queue nor delivered and unacknowledged. Each worker looks for orphans when it starts and then
every ``RECOVER_EVERY_S`` seconds, and sends their chains again; the steps already done are skipped
when the chain runs, so a recovered job still runs once.

Why the grace: ``enqueue_job`` stamps the row and only then sends the chain; a job stamped more than
``GRACE_S`` before the look at Redis began has had its message sent before it, so it must show up
(or be running, or be done). Clocks of the API and worker machines must agree to within that.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from datetime import timedelta
from typing import Any, Final

from celery.signals import worker_ready
from sqlalchemy import select

from allocation.jobs.runner import JobState
from allocation.jobs.tables import JobRow, utcnow
from workers.celery_app import QUEUE, app
from workers.dispatch import resend
from workers.lease import lease_is_free
from workers.runtime import runtime

__all__ = ["GRACE_S", "RECOVER_EVERY_S", "job_ids_in_broker", "recover"]

GRACE_S: Final = 5.0
RECOVER_EVERY_S: Final = 60.0
_JOB_TASKS: Final = frozenset(
    f"closetflow.{name}" for name in ("check", "forecast", "solve", "project", "validate", "publish", "finish")
)

log = logging.getLogger(__name__)


def _job_id_of(payload: Any) -> str | None:
    """The job id a raw kombu message (as Redis stores it) carries, if it is one of our step tasks."""
    try:
        message = json.loads(payload) if isinstance(payload, bytes | str) else payload
        if message.get("headers", {}).get("task") not in _JOB_TASKS:
            return None
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]  # protocol 2: [args, kwargs, embed]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None
    return args[0] if args and isinstance(args[0], str) else None


def job_ids_in_broker() -> set[str] | None:
    """Ids of the jobs with a message in Redis (queued, or delivered and not yet acknowledged);
    None when the broker is not Redis and cannot be looked into."""
    with app.connection_for_read() as conn:
        channel: Any = conn.default_channel
        client = getattr(channel, "client", None)
        if client is None or not hasattr(channel, "unacked_key"):
            return None
        # kombu's Redis layout: one list per priority step of the queue, and a hash of the messages
        # delivered to a worker and not acknowledged, each stored as [message, exchange, routing key].
        payloads: list[Any] = []
        for priority in channel.priority_steps:
            payloads.extend(client.lrange(channel._q_for_pri(QUEUE, priority), 0, -1))
        for entry in client.hvals(channel.unacked_key):
            try:
                payloads.append(json.loads(entry)[0])
            except (ValueError, IndexError, TypeError):
                continue
    return {job_id for p in payloads if (job_id := _job_id_of(p)) is not None}


def recover() -> list[str]:
    """Send again the chain of every orphaned job (see the module doc); returns their ids."""
    started = utcnow()
    in_broker = job_ids_in_broker()
    if in_broker is None:
        log.warning("recovery skipped: the broker is not Redis, its queue cannot be looked into")
        return []
    rt = runtime()
    with rt.sessions() as s:
        rows = s.execute(
            select(JobRow.id, JobRow.task_id, JobRow.updated_at, JobRow.options).where(
                JobRow.state.in_((JobState.QUEUED, JobState.RUNNING)),
                JobRow.updated_at < started - timedelta(seconds=GRACE_S),
                lease_is_free(started),
            )
        ).all()
    sent = []
    for job_id, task_id, updated_at, options in rows:
        if job_id in in_broker:
            continue
        if resend(job_id, options, seen_task_id=task_id, seen_at=updated_at):
            sent.append(job_id)
    if sent:
        log.warning("recovered %d job(s) the broker had lost: %s", len(sent), ", ".join(sent))
    return sent


def _every_minute() -> None:
    while True:
        try:
            recover()
        except Exception:  # Redis or the database away: try again next round
            log.warning("recovery failed; trying again in %.0f s", RECOVER_EVERY_S, exc_info=True)
        time.sleep(RECOVER_EVERY_S)


@worker_ready.connect
def _start_recovery(**_: Any) -> None:
    # In the worker's main process, beside the consumer: a lost chain is found without beat running.
    threading.Thread(target=_every_minute, name="closetflow-recovery", daemon=True).start()
