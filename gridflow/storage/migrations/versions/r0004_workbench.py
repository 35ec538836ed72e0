"""schema 3 → 4: the web workbench's tables (local accounts, sessions, SSO logins under way)

They came with the workbench without a new schema number, so a database made at schema 3
may have them already: each is created only when missing.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridflow.storage.migrations._ops import has_table, refuse_downgrade, set_schema_version
from gridflow.storage.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
SCHEMA_VERSION = 4


def upgrade() -> None:
    if not has_table("gf_account"):
        op.create_table(
            "gf_account",
            sa.Column("person", sa.String(), nullable=False),
            sa.Column("password_hash", sa.String(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.Column("updated_at", UTCDateTime(), nullable=False),
            sa.Column("updated_by", sa.String(), nullable=True),
            sa.PrimaryKeyConstraint("person"),
        )
    if not has_table("gf_login_state"):
        op.create_table(
            "gf_login_state",
            sa.Column("state_hash", sa.String(), nullable=False),
            sa.Column("provider", sa.String(), nullable=False),
            sa.Column("nonce", sa.String(), nullable=False),
            sa.Column("verifier", sa.String(), nullable=False),
            sa.Column("next_url", sa.String(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("state_hash"),
        )
        op.create_index(
            "ix_gf_login_state_created_at", "gf_login_state", ["created_at"], unique=False
        )
    if not has_table("gf_session"):
        op.create_table(
            "gf_session",
            sa.Column("id_hash", sa.String(), nullable=False),
            sa.Column("person", sa.String(), nullable=False),
            sa.Column("via", sa.String(), nullable=False),
            sa.Column("csrf", sa.String(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.Column("seen_at", UTCDateTime(), nullable=False),
            sa.Column("expires_at", UTCDateTime(), nullable=False),
            sa.Column("address", sa.String(), nullable=True),
            sa.Column("user_agent", sa.String(), nullable=False),
            sa.PrimaryKeyConstraint("id_hash"),
        )
        op.create_index("ix_gf_session_expires_at", "gf_session", ["expires_at"], unique=False)
        op.create_index("ix_gf_session_person", "gf_session", ["person"], unique=False)
    set_schema_version(4)


def downgrade() -> None:
    refuse_downgrade()
