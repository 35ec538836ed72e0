"""schema 1 → 2: case facets (tag, party, grade) on cases and history, the report indexes

History rows get their case's workflow and unit here; the facet values need the workflows'
``facets``, so they are filled by ``Store.fill_facets`` once an engine has loaded the
workflows (``gf_meta`` holds ``facets_pending`` until then).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridflow.storage.migrations._ops import (
    add_missing_columns,
    create_missing_index,
    refuse_downgrade,
    set_schema_version,
)

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
SCHEMA_VERSION = 2


def upgrade() -> None:
    add_missing_columns("gf_case", *(sa.Column(n, sa.String()) for n in ("tag", "party", "grade")))
    add_missing_columns(
        "gf_history",
        *(
            sa.Column(n, sa.String())
            for n in ("workflow_id", "case_tag", "case_unit", "case_party", "case_grade")
        ),
    )
    op.execute(
        sa.text(
            "UPDATE gf_history SET (workflow_id, case_unit) = "
            "(SELECT c.workflow_id, c.unit FROM gf_case c WHERE c.id = gf_history.case_id)"
        )
    )
    # the KPI report's passes read these covering indexes alone, grouped in their order
    create_missing_index(
        "ix_gf_case_kpi",
        "gf_case",
        ["workflow_id", "tag", "unit", "party", "state", "created_at", "closed_at",
         "entered_at", "work_seconds", "clock", "due_at", "paused_at", "paused_remaining"],
    )  # fmt: skip
    create_missing_index(
        "ix_gf_history_kpi",
        "gf_history",
        ["trigger", "workflow_id", "case_tag", "case_unit", "case_party", "case_grade", "at",
         "from_state", "to_state", "elapsed_s", "due_at", "late_s", "actor_unit", "case_id"],
    )  # fmt: skip
    set_schema_version(2)
    op.execute(sa.text("INSERT INTO gf_meta (key, value) VALUES ('facets_pending', '1')"))


def downgrade() -> None:
    refuse_downgrade()
