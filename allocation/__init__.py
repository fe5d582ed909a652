"""The domain: data contracts, the world generator, the allocation model, the replay and the main job.

Start at ``allocation.pipeline.run_job``; docs/architecture.md maps the modules.
"""
