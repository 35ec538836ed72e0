"""The tables as SQLAlchemy Core objects. GENERATED from ``tables.py``: do not edit.

Regenerate with ``python -m gridflow.storage.generate`` after changing a table; a test fails
while this file and the SQLModel classes disagree.
"""

from __future__ import annotations

import sqlalchemy as sa

from gridflow.storage.types import UTCDateTime

SCHEMA_VERSION = 4
metadata = sa.MetaData()


account_t = sa.Table(
    "gf_account",
    metadata,
    sa.Column("person", sa.String(), primary_key=True, nullable=False),
    sa.Column("password_hash", sa.String(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("updated_by", sa.String(), nullable=True),
)


audit_t = sa.Table(
    "gf_audit",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("outcome", sa.String(), nullable=False),
    sa.Column("status", sa.Integer(), nullable=False),
    sa.Column("principal", sa.String(), nullable=True),
    sa.Column("token_id", sa.String(), nullable=True),
    sa.Column("on_behalf_of", sa.String(), nullable=True),
    sa.Column("action", sa.String(), nullable=False),
    sa.Column("case_id", sa.Integer(), nullable=True),
    sa.Column("trigger", sa.String(), nullable=True),
    sa.Column("reason", sa.Text(), nullable=False, default=""),
    sa.Column("channel", sa.String(), nullable=False, default="api"),
    sa.Column("address", sa.String(), nullable=True),
    sa.Column("request_id", sa.String(), nullable=True),
    sa.Index("ix_gf_audit_at", "at"),
    sa.Index("ix_gf_audit_principal", "principal"),
)


case_t = sa.Table(
    "gf_case",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
    sa.Column("workflow_id", sa.String(), nullable=False),
    sa.Column("revision", sa.Integer(), nullable=False),
    sa.Column("state", sa.String(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False, default=0),
    sa.Column("title", sa.String(), nullable=False, default=""),
    sa.Column("data", sa.JSON(), nullable=False),
    sa.Column("unit", sa.String(), nullable=True),
    sa.Column("unit_path", sa.String(), nullable=True),
    sa.Column("tag", sa.String(), nullable=True),
    sa.Column("party", sa.String(), nullable=True),
    sa.Column("grade", sa.String(), nullable=True),
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
    sa.Column("due_provisional", sa.Boolean(), nullable=False, default=False),
    sa.Column("paused_at", UTCDateTime(), nullable=True),
    sa.Column("paused_remaining", sa.Float(), nullable=True),
    sa.Index("ix_gf_case_closed_at", "closed_at"),
    sa.Index("ix_gf_case_due", "due_at"),
    sa.Index(
        "ix_gf_case_kpi",
        "workflow_id",
        "tag",
        "unit",
        "party",
        "state",
        "created_at",
        "closed_at",
        "entered_at",
        "work_seconds",
        "clock",
        "due_at",
        "paused_at",
        "paused_remaining",
    ),
    sa.Index("ix_gf_case_parent", "parent_id", "spawn_group"),
    sa.Index("ix_gf_case_unit_path", "unit_path"),
    sa.Index("ix_gf_case_wf_state", "workflow_id", "state"),
)


daemon_t = sa.Table(
    "gf_daemon",
    metadata,
    sa.Column("id", sa.String(), primary_key=True, nullable=False),
    sa.Column("host", sa.String(), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("beat_at", UTCDateTime(), nullable=False),
    sa.Column("ticks", sa.Integer(), nullable=False, default=0),
    sa.Column("timers_fired", sa.Integer(), nullable=False, default=0),
    sa.Column("notices_sent", sa.Integer(), nullable=False, default=0),
    sa.Column("stopped_at", UTCDateTime(), nullable=True),
    sa.Column("timers_at", UTCDateTime(), nullable=True),
    sa.Column("delivery_at", UTCDateTime(), nullable=True),
)


definition_t = sa.Table(
    "gf_definition",
    metadata,
    sa.Column("workflow_id", sa.String(), primary_key=True, nullable=False),
    sa.Column("revision", sa.Integer(), primary_key=True, nullable=False),
    sa.Column("label_version", sa.String(), nullable=False),
    sa.Column("content_hash", sa.String(), nullable=False),
    sa.Column("source", sa.Text(), nullable=False),
    sa.Column("file", sa.String(), nullable=False),
    sa.Column("loaded_at", UTCDateTime(), nullable=False),
    sa.Index("ix_gf_definition_content_hash", "content_hash"),
)


endpoint_t = sa.Table(
    "gf_endpoint",
    metadata,
    sa.Column("channel", sa.String(), primary_key=True, nullable=False),
    sa.Column("address", sa.String(), primary_key=True, nullable=False),
    sa.Column("reason", sa.String(), nullable=False, default=""),
    sa.Column("disabled_at", UTCDateTime(), nullable=False),
)


event_t = sa.Table(
    "gf_event",
    metadata,
    sa.Column(
        "pos",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        nullable=False,
    ),
    sa.Column("case_id", sa.Integer(), nullable=False),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
)


file_t = sa.Table(
    "gf_file",
    metadata,
    sa.Column("id", sa.String(), primary_key=True, nullable=False),
    sa.Column("sha256", sa.String(), nullable=False),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("content_type", sa.String(), nullable=False),
    sa.Column("size", sa.Integer(), nullable=False),
    sa.Column("case_id", sa.Integer(), nullable=True),
    sa.Column("uploaded_by", sa.String(), nullable=False),
    sa.Column("uploaded_at", UTCDateTime(), nullable=False),
    sa.Index("ix_gf_file_case_id", "case_id"),
    sa.Index("ix_gf_file_sha256", "sha256"),
)


history_t = sa.Table(
    "gf_history",
    metadata,
    sa.Column("case_id", sa.Integer(), primary_key=True, nullable=False),
    sa.Column("seq", sa.Integer(), primary_key=True, nullable=False),
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
    sa.Column("workflow_id", sa.String(), nullable=True),
    sa.Column("case_tag", sa.String(), nullable=True),
    sa.Column("case_unit", sa.String(), nullable=True),
    sa.Column("case_party", sa.String(), nullable=True),
    sa.Column("case_grade", sa.String(), nullable=True),
    sa.Index("ix_gf_history_at", "at"),
    sa.Index(
        "ix_gf_history_kpi",
        "trigger",
        "workflow_id",
        "case_tag",
        "case_unit",
        "case_party",
        "case_grade",
        "at",
        "from_state",
        "to_state",
        "elapsed_s",
        "due_at",
        "late_s",
        "actor_unit",
        "case_id",
    ),
)


idempotency_t = sa.Table(
    "gf_idempotency",
    metadata,
    sa.Column("principal", sa.String(), primary_key=True, nullable=False),
    sa.Column("key", sa.String(), primary_key=True, nullable=False),
    sa.Column("request_hash", sa.String(), nullable=False),
    sa.Column("state", sa.String(), nullable=False, default="pending"),
    sa.Column("status", sa.Integer(), nullable=True),
    sa.Column("headers", sa.JSON(), nullable=True),
    sa.Column("body", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_gf_idempotency_created_at", "created_at"),
)


login_state_t = sa.Table(
    "gf_login_state",
    metadata,
    sa.Column("state_hash", sa.String(), primary_key=True, nullable=False),
    sa.Column("provider", sa.String(), nullable=False),
    sa.Column("nonce", sa.String(), nullable=False),
    sa.Column("verifier", sa.String(), nullable=False),
    sa.Column("next_url", sa.String(), nullable=False, default="/"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_gf_login_state_created_at", "created_at"),
)


meta_t = sa.Table(
    "gf_meta",
    metadata,
    sa.Column("key", sa.String(), primary_key=True, nullable=False),
    sa.Column("value", sa.String(), nullable=False),
)


org_t = sa.Table(
    "gf_org",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
    sa.Column("content_hash", sa.String(), nullable=False),
    sa.Column("source", sa.Text(), nullable=False),
    sa.Column("file", sa.String(), nullable=False),
    sa.Column("loaded_at", UTCDateTime(), nullable=False),
)


outbox_t = sa.Table(
    "gf_outbox",
    metadata,
    sa.Column("id", sa.String(), primary_key=True, nullable=False),
    sa.Column("case_id", sa.Integer(), nullable=True),
    sa.Column("history_seq", sa.Integer(), nullable=True),
    sa.Column("workflow_id", sa.String(), nullable=True),
    sa.Column("notice", sa.String(), nullable=False),
    sa.Column("recipient", sa.String(), nullable=False),
    sa.Column("recipient_name", sa.String(), nullable=True),
    sa.Column("channel", sa.String(), nullable=False),
    sa.Column("address", sa.String(), nullable=False),
    sa.Column("lang", sa.String(), nullable=False, default="zh-CN"),
    sa.Column("subject", sa.String(), nullable=False, default=""),
    sa.Column("text", sa.Text(), nullable=False, default=""),
    sa.Column("html", sa.Text(), nullable=True),
    sa.Column("context", sa.Text(), nullable=True),
    sa.Column("status", sa.String(), nullable=False, default="pending"),
    sa.Column("attempts", sa.Integer(), nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("lease_owner", sa.String(), nullable=True),
    sa.Column("lease_until", UTCDateTime(), nullable=True),
    sa.Column("last_error", sa.String(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=True),
    sa.Index("ix_gf_outbox_case_id", "case_id"),
    sa.Index("ix_gf_outbox_next", "status", "next_attempt_at"),
)


session_t = sa.Table(
    "gf_session",
    metadata,
    sa.Column("id_hash", sa.String(), primary_key=True, nullable=False),
    sa.Column("person", sa.String(), nullable=False),
    sa.Column("via", sa.String(), nullable=False),
    sa.Column("csrf", sa.String(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("seen_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("address", sa.String(), nullable=True),
    sa.Column("user_agent", sa.String(), nullable=False, default=""),
    sa.Index("ix_gf_session_expires_at", "expires_at"),
    sa.Index("ix_gf_session_person", "person"),
)


origin_t = sa.Table(
    "gf_step_origin",
    metadata,
    sa.Column("case_id", sa.Integer(), primary_key=True, nullable=False),
    sa.Column("seq", sa.Integer(), primary_key=True, nullable=False),
    sa.Column("channel", sa.String(), nullable=False),
    sa.Column("principal", sa.String(), nullable=True),
    sa.Column("on_behalf_of", sa.String(), nullable=True),
    sa.Column("token_id", sa.String(), nullable=True),
    sa.Column("address", sa.String(), nullable=True),
    sa.Column("request_id", sa.String(), nullable=True),
    sa.Column("os_user", sa.String(), nullable=True),
    sa.Column("host", sa.String(), nullable=True),
    sa.Index("ix_gf_step_origin_request_id", "request_id"),
)


timer_t = sa.Table(
    "gf_timer",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
    sa.Column("case_id", sa.Integer(), nullable=False),
    sa.Column("entry_seq", sa.Integer(), nullable=False),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("due_at", UTCDateTime(), nullable=False),
    sa.Column("provisional", sa.Boolean(), nullable=False, default=False),
    sa.Column("status", sa.String(), nullable=False, default="pending"),
    sa.Column("lease_owner", sa.String(), nullable=True),
    sa.Column("lease_until", UTCDateTime(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False, default=0),
    sa.Column("spec", sa.JSON(), nullable=True),
    sa.Column("done_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("case_id", "entry_seq", "name", name="uq_gf_timer_once"),
    sa.Index("ix_gf_timer_case_id", "case_id"),
    sa.Index("ix_gf_timer_due", "status", "due_at"),
)


token_t = sa.Table(
    "gf_token",
    metadata,
    sa.Column("id", sa.String(), primary_key=True, nullable=False),
    sa.Column("hash", sa.String(), nullable=False),
    sa.Column("principal", sa.String(), nullable=False),
    sa.Column("kind", sa.String(), nullable=False, default="person"),
    sa.Column("label", sa.String(), nullable=False, default=""),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(), nullable=True),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_by", sa.String(), nullable=True),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    sa.Column("last_used_from", sa.String(), nullable=True),
    sa.UniqueConstraint("hash", name=None),
)
