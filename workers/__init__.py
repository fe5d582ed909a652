"""Celery app, tasks and the nightly chain (service mode).

Not built yet: the main job runs in-process through ``allocation.jobs.pipeline.run_job`` (the embedded
default). Tasks here will stay thin: take ids, call that domain function, record the outcome.
"""
