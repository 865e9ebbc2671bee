"""Held notices: messages (a Discord receipt) waiting for an account's next interaction

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 18:50:00

A new table only: nothing is rebuilt. Before it, such a notice waited in the bot's memory and a
restart lost it (the credits were in the ledger all the same).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'held_notices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('platform_user_id', sa.String(length=64), nullable=False),
        sa.Column('body', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_held_notices')),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_held_notices_account', 'held_notices', ['platform', 'platform_user_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_held_notices_account', table_name='held_notices')
    op.drop_table('held_notices')
