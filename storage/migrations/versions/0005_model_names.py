"""Which model is which: a model keeps the name of the file it was trained on and who trained
it, and a chat counts the versions it was given so that a number is never reused.

Before, a new model took the chat's highest version plus one, so `/delete v3` and a new training
made another "v3", and old replies and `/download v3` meant a different model.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("models", sa.Column("filename", sa.String(length=256), nullable=True))
    op.add_column("models", sa.Column("user_id", sa.BigInteger(), nullable=True))
    op.add_column(
        "chats", sa.Column("last_model_version", sa.Integer(), nullable=False, server_default="0")
    )
    # Models trained before: their job says who, its upload which file (while they are kept).
    op.execute(
        "UPDATE models SET user_id = (SELECT jobs.user_id FROM jobs WHERE jobs.id = models.job_id)"
    )
    op.execute(
        "UPDATE models SET filename = (SELECT datasets.filename FROM jobs JOIN datasets "
        "ON datasets.id = jobs.dataset_id WHERE jobs.id = models.job_id)"
    )
    op.execute(
        "UPDATE chats SET last_model_version = COALESCE((SELECT MAX(models.version) FROM models "
        "WHERE models.chat_id = chats.id), 0)"
    )


def downgrade() -> None:
    # In place (SQLite 3.35+ can): batch mode would copy and drop the chats table, and with
    # foreign keys on, dropping it deletes every job and model of every chat.
    op.drop_column("chats", "last_model_version")
    op.drop_column("models", "user_id")
    op.drop_column("models", "filename")
