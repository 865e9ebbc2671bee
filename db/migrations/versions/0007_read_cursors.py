"""Read cursors: how far the start-up reconciliation has read Telegram's Stars transactions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 13:20:00

A new table only: nothing is rebuilt. With no row, the next start reads the history from the
beginning once (as every start did before), then on from where it stopped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'read_cursors',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_read_cursors')),
    )


def downgrade() -> None:
    op.drop_table('read_cursors')
