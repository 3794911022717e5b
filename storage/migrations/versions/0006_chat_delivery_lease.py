"""A delivery lease per chat: the bot process that holds it is the one sending that chat's
replies, so two bot processes on one database send each reply once, and in order.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


# In place on both databases (SQLite 3.35+ can): batch mode would copy and drop the chats
# table, and with foreign keys on, dropping it would cascade to everything a chat owns.


def upgrade() -> None:
    op.add_column("chats", sa.Column("delivery_owner", sa.String(128), nullable=True))
    op.add_column("chats", sa.Column("delivery_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("chats", "delivery_until")
    op.drop_column("chats", "delivery_owner")
