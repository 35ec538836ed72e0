"""Alembic's environment: run the revisions on the store's connection, in its transaction.

The caller (:mod:`gridflow.storage.migrate`) opens the transaction and takes the lock
(PostgreSQL's advisory lock, SQLite's write lock), so every revision between the current one
and the target commits together or not at all, and concurrent upgraders take turns.
"""

from __future__ import annotations

from alembic import context

from gridflow.storage import schema

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=schema.metadata,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
