"""An index on a user's jobs by kind and time: the bot counts a user's trainings of the last
hour before each new one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_user_kind_created", "jobs", ["user_id", "kind", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_user_kind_created", table_name="jobs")
