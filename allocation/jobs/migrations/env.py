"""Alembic environment: every closetflow table, on the URL the caller put in the config."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import allocation.jobs.tables
import api.tables
import forecasting.tables  # noqa: F401  (registers its tables on Base.metadata)
from allocation.jobs.db import Base, make_engine

_ = (allocation.jobs.tables, api.tables)
config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    existing = config.attributes.get("connection")
    if existing is not None:
        _run(existing)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
