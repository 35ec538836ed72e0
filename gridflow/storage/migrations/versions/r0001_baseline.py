"""schema 1, the baseline: cases, history, definitions, timers, outbox, endpoints, org, daemons

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridflow.storage.migrations._ops import refuse_downgrade
from gridflow.storage.types import UTCDateTime

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None
SCHEMA_VERSION = 1


def upgrade() -> None:
    op.create_table(
        "gf_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.String(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("unit", sa.String(), nullable=True),
        sa.Column("unit_path", sa.String(), nullable=True),
        sa.Column("created_by", sa.String(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("spawn_group", sa.Integer(), nullable=True),
        sa.Column("parent_trigger", sa.String(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("entered_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("work_seconds", sa.Float(), nullable=True),
        sa.Column("clock", sa.String(), nullable=True),
        sa.Column("clock_started_at", UTCDateTime(), nullable=True),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("due_provisional", sa.Boolean(), nullable=False),
        sa.Column("paused_at", UTCDateTime(), nullable=True),
        sa.Column("paused_remaining", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_gf_case_closed_at"), "gf_case", ["closed_at"], unique=False)
    op.create_index("ix_gf_case_due", "gf_case", ["due_at"], unique=False)
    op.create_index("ix_gf_case_parent", "gf_case", ["parent_id", "spawn_group"], unique=False)
    op.create_index("ix_gf_case_unit_path", "gf_case", ["unit_path"], unique=False)
    op.create_index("ix_gf_case_wf_state", "gf_case", ["workflow_id", "state"], unique=False)
    op.create_table(
        "gf_daemon",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("beat_at", UTCDateTime(), nullable=False),
        sa.Column("ticks", sa.Integer(), nullable=False),
        sa.Column("timers_fired", sa.Integer(), nullable=False),
        sa.Column("notices_sent", sa.Integer(), nullable=False),
        sa.Column("stopped_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "gf_definition",
        sa.Column("workflow_id", sa.String(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("label_version", sa.String(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("file", sa.String(), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", "revision"),
    )
    op.create_index(
        op.f("ix_gf_definition_content_hash"), "gf_definition", ["content_hash"], unique=False
    )
    op.create_table(
        "gf_endpoint",
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("disabled_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "address"),
    )
    op.create_table(
        "gf_history",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("from_state", sa.String(), nullable=True),
        sa.Column("to_state", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=True),
        sa.Column("comment", sa.String(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("late_by", sa.Float(), nullable=True),
        sa.Column("actor_unit", sa.String(), nullable=True),
        sa.Column("elapsed_s", sa.Float(), nullable=True),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("late_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("case_id", "seq"),
    )
    op.create_index(op.f("ix_gf_history_at"), "gf_history", ["at"], unique=False)
    op.create_table(
        "gf_meta",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "gf_org",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("file", sa.String(), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "gf_outbox",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("history_seq", sa.Integer(), nullable=True),
        sa.Column("workflow_id", sa.String(), nullable=True),
        sa.Column("notice", sa.String(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("lang", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_gf_outbox_case_id"), "gf_outbox", ["case_id"], unique=False)
    op.create_index("ix_gf_outbox_next", "gf_outbox", ["status", "next_attempt_at"], unique=False)
    op.create_table(
        "gf_timer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("entry_seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=True),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "entry_seq", "name", name="uq_gf_timer_once"),
    )
    op.create_index(op.f("ix_gf_timer_case_id"), "gf_timer", ["case_id"], unique=False)
    op.create_index("ix_gf_timer_due", "gf_timer", ["status", "due_at"], unique=False)
    op.execute(sa.text("INSERT INTO gf_meta (key, value) VALUES ('schema_version', '1')"))


def downgrade() -> None:
    refuse_downgrade()
