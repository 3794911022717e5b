"""A model's target name is Text, not String(256): a long column name must not lose the model.

A CSV's last column may be named anything; on PostgreSQL a name over 256 characters failed the
INSERT after a whole training. SQLite never enforced the length (its VARCHAR is TEXT), so only
PostgreSQL's column changes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "models",
            "target_name",
            type_=sa.Text(),
            existing_type=sa.String(length=256),
            existing_nullable=False,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Names that have grown past the old limit are cut to fit it.
        op.execute("UPDATE models SET target_name = left(target_name, 256)")
        op.alter_column(
            "models",
            "target_name",
            type_=sa.String(length=256),
            existing_type=sa.Text(),
            existing_nullable=False,
        )
