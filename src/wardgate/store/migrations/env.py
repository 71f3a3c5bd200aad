"""Alembic environment: Wardgate always passes an open connection (store/engine.py); there is no alembic.ini."""

from __future__ import annotations

from alembic import context

from wardgate.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `wardgate db upgrade` (wardgate.store.engine.upgrade)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
