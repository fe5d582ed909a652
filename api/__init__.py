"""Every way in: the ``closetflow`` CLI, settings (``CLOSETFLOW_*``) and the report files."""
