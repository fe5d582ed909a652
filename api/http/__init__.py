"""The HTTP service: FastAPI app factory (``main.create_app``), one router per resource under
``routes/``, request and response models under ``schemas/``, auth, errors, limits and metrics."""
