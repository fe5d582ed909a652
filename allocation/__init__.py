"""The domain: data contracts, the world generator, the allocation model, the replay and the main job.

Start at ``allocation.jobs.pipeline.run_job``; docs/architecture.md maps the modules.
"""
