"""Service mode's workers: the Celery app, one task per step of the main job, the nightly run.

- ``celery_app`` — the app and its settings (Redis broker and results, JSON only, late acks).
- ``tasks`` — one thin task per step (``check`` … ``publish``) and ``finish``.
- ``dispatch`` — ``enqueue_job`` / ``revoke``: what the API calls when a broker is configured.
- ``execution`` and ``lease`` — how a delivered step runs: under the job's lease, through
  ``allocation.jobs.runner.run_step``, so a redelivered or re-sent step runs once.
- ``recovery`` — re-sends jobs the database says are pending when Redis has lost their messages.
- ``nightly`` — beat's nightly job.

Without a broker (the embedded default) none of this is used: jobs run in-process with the same runner.
"""
