"""The main job: its steps, the run store they read and write, and the report."""
