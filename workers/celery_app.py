"""The Celery app of service mode: Redis as broker and result backend, configured from ``api.settings``.

``celery -A workers.celery_app worker`` and ``closetflow worker`` both start this app. What the
settings below buy:

- JSON only (tasks carry a job id, nothing else): no pickle ever crosses the broker.
- ``acks_late`` + ``reject_on_worker_lost`` + prefetch 1: a task's message is acknowledged only
  after the task returned, so a worker that dies mid-step leaves it in Redis, which hands it to
  another worker after ``visibility_timeout`` (``CLOSETFLOW_BROKER_VISIBILITY_TIMEOUT_S``). The
  step then resumes: finished steps are skipped (``allocation.jobs.runner.run_step``).
- Unacknowledged messages are swept back into the queue every ``visibility_timeout / 5`` seconds
  (1..60): kombu's default sweep runs about every 100 s, far slower than a short visibility timeout.
- What a restarted Redis forgot (it keeps nothing on disk here) is re-sent from the database by
  ``workers.recovery``, which each worker runs when it starts and then every minute.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import worker_process_init

from api.settings import Settings, get_settings
from workers.runtime import forget

__all__ = ["QUEUE", "app", "configure"]

QUEUE = "closetflow"  # a queue of our own: another app on the same Redis db never takes our tasks


def configure(app: Celery, settings: Settings) -> None:
    """Apply ``settings`` to ``app`` (the module's ``app`` at import; tests and benchmarks may reapply)."""
    visibility = settings.broker_visibility_timeout_s
    hour, minute = (int(part) for part in settings.nightly_at.split(":"))
    app.conf.update(
        broker_url=settings.broker_url,
        result_backend=settings.broker_url,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={
            "visibility_timeout": visibility,
            "unacked_restore_interval": min(60, max(1, visibility // 5)),
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        # Keep a running step going when Redis goes away: it reconnects and sends the chain's next
        # task to the new Redis. (Cancelling it would lose it: a Redis that restarts empty cannot
        # hand it back; only workers.recovery could, a minute later.)
        worker_cancel_long_running_tasks_on_connection_loss=False,
        result_expires=timedelta(days=1),
        task_default_queue=QUEUE,
        task_track_started=True,
        worker_send_task_events=True,  # Flower's live view
        task_send_sent_event=True,
        timezone="UTC",
        enable_utc=True,
        beat_schedule={
            "nightly": {
                "task": "closetflow.nightly",
                "schedule": crontab(hour=hour, minute=minute),
                "args": (settings.nightly_dataset_id,),
            }
        },
    )


# The task modules are named as strings: the worker imports them at start, and this module imports
# none of them, so there is no import circle (tasks import `app` from here).
app = Celery("closetflow", include=["workers.tasks", "workers.nightly", "workers.recovery", "workers.dw"])
configure(app, get_settings())


@worker_process_init.connect
def _fresh_runtime_in_child(**_: Any) -> None:
    # A forked pool process must not reuse the database connections of the process it came from.
    forget(close=False)
