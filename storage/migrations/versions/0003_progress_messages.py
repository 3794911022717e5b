"""A job's progress message has its own table: presentation state is the bot's, not the queue's.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_MOVED = ("progress_message_id", "shown_revision", "shown_text")


def upgrade() -> None:
    op.create_table(
        "progress_messages",
        sa.Column(
            "job_id",
            sa.Integer(),
            sa.ForeignKey("jobs.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("shown_revision", sa.Integer(), nullable=False),
        sa.Column("shown_text", sa.Text(), nullable=True),
    )
    op.execute(
        "INSERT INTO progress_messages (job_id, message_id, shown_revision, shown_text) "
        "SELECT id, progress_message_id, shown_revision, shown_text FROM jobs "
        "WHERE progress_message_id IS NOT NULL"
    )
    # In place (SQLite 3.35+ can): batch mode would copy and drop the jobs table, and with
    # foreign keys on, dropping it would cascade to the outbox rows that point at its jobs.
    for column in _MOVED:
        op.drop_column("jobs", column)


def downgrade() -> None:
    op.add_column("jobs", sa.Column("progress_message_id", sa.BigInteger(), nullable=True))
    op.add_column(
        "jobs", sa.Column("shown_revision", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("jobs", sa.Column("shown_text", sa.Text(), nullable=True))
    op.execute(
        "UPDATE jobs SET progress_message_id = p.message_id, shown_revision = p.shown_revision, "
        "shown_text = p.shown_text FROM progress_messages AS p WHERE p.job_id = jobs.id"
    )
    op.drop_table("progress_messages")
