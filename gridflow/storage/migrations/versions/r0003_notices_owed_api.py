"""schema 2 → 3: notices owed (outbox context, recipient name), step origins, the HTTP API's tables

Notices are rendered at delivery: the outbox keeps the step's context and the recipient's
name (rows already rendered keep their text and are sent as they are). The daemon beats per
job. New tables, created when missing (a schema-2 database may have some): step origins,
API tokens, refusals, idempotency keys, files, and the change feed — a database that gets
the feed here gets its history as events, once, in time order.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridflow.storage.migrations._ops import (
    add_missing_columns,
    has_table,
    refuse_downgrade,
    set_schema_version,
)
from gridflow.storage.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
SCHEMA_VERSION = 3


def upgrade() -> None:
    add_missing_columns(
        "gf_outbox",
        sa.Column("recipient_name", sa.String(), nullable=True),
        sa.Column("context", sa.Text(), nullable=True),
    )
    add_missing_columns(
        "gf_daemon",
        sa.Column("timers_at", UTCDateTime(), nullable=True),
        sa.Column("delivery_at", UTCDateTime(), nullable=True),
    )
    feed_is_new = not has_table("gf_event")
    if not has_table("gf_audit"):
        op.create_table(
            "gf_audit",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("at", UTCDateTime(), nullable=False),
            sa.Column("outcome", sa.String(), nullable=False),
            sa.Column("status", sa.Integer(), nullable=False),
            sa.Column("principal", sa.String(), nullable=True),
            sa.Column("token_id", sa.String(), nullable=True),
            sa.Column("on_behalf_of", sa.String(), nullable=True),
            sa.Column("action", sa.String(), nullable=False),
            sa.Column("case_id", sa.Integer(), nullable=True),
            sa.Column("trigger", sa.String(), nullable=True),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("channel", sa.String(), nullable=False),
            sa.Column("address", sa.String(), nullable=True),
            sa.Column("request_id", sa.String(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_gf_audit_at", "gf_audit", ["at"], unique=False)
        op.create_index("ix_gf_audit_principal", "gf_audit", ["principal"], unique=False)
    if not has_table("gf_event"):
        op.create_table(
            "gf_event",
            sa.Column("pos", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
            sa.Column("case_id", sa.Integer(), nullable=False),
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("at", UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("pos"),
        )
    if not has_table("gf_file"):
        op.create_table(
            "gf_file",
            sa.Column("id", sa.String(), nullable=False),
            sa.Column("sha256", sa.String(), nullable=False),
            sa.Column("name", sa.String(), nullable=False),
            sa.Column("content_type", sa.String(), nullable=False),
            sa.Column("size", sa.Integer(), nullable=False),
            sa.Column("case_id", sa.Integer(), nullable=True),
            sa.Column("uploaded_by", sa.String(), nullable=False),
            sa.Column("uploaded_at", UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_gf_file_case_id", "gf_file", ["case_id"], unique=False)
        op.create_index("ix_gf_file_sha256", "gf_file", ["sha256"], unique=False)
    if not has_table("gf_idempotency"):
        op.create_table(
            "gf_idempotency",
            sa.Column("principal", sa.String(), nullable=False),
            sa.Column("key", sa.String(), nullable=False),
            sa.Column("request_hash", sa.String(), nullable=False),
            sa.Column("state", sa.String(), nullable=False),
            sa.Column("status", sa.Integer(), nullable=True),
            sa.Column("headers", sa.JSON(), nullable=True),
            sa.Column("body", sa.Text(), nullable=True),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("principal", "key"),
        )
        op.create_index(
            "ix_gf_idempotency_created_at", "gf_idempotency", ["created_at"], unique=False
        )
    if not has_table("gf_step_origin"):
        op.create_table(
            "gf_step_origin",
            sa.Column("case_id", sa.Integer(), nullable=False),
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("channel", sa.String(), nullable=False),
            sa.Column("principal", sa.String(), nullable=True),
            sa.Column("on_behalf_of", sa.String(), nullable=True),
            sa.Column("token_id", sa.String(), nullable=True),
            sa.Column("address", sa.String(), nullable=True),
            sa.Column("request_id", sa.String(), nullable=True),
            sa.Column("os_user", sa.String(), nullable=True),
            sa.Column("host", sa.String(), nullable=True),
            sa.PrimaryKeyConstraint("case_id", "seq"),
        )
        op.create_index(
            "ix_gf_step_origin_request_id", "gf_step_origin", ["request_id"], unique=False
        )
    if not has_table("gf_token"):
        op.create_table(
            "gf_token",
            sa.Column("id", sa.String(), nullable=False),
            sa.Column("hash", sa.String(), nullable=False),
            sa.Column("principal", sa.String(), nullable=False),
            sa.Column("kind", sa.String(), nullable=False),
            sa.Column("label", sa.String(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.Column("created_by", sa.String(), nullable=True),
            sa.Column("expires_at", UTCDateTime(), nullable=True),
            sa.Column("revoked_at", UTCDateTime(), nullable=True),
            sa.Column("revoked_by", sa.String(), nullable=True),
            sa.Column("last_used_at", UTCDateTime(), nullable=True),
            sa.Column("last_used_from", sa.String(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("hash"),
        )
    if feed_is_new:
        op.execute(
            sa.text(
                "INSERT INTO gf_event (case_id, seq, at) SELECT case_id, seq, at FROM gf_history "
                "ORDER BY at, case_id, seq"
            )
        )
    set_schema_version(3)


def downgrade() -> None:
    refuse_downgrade()
