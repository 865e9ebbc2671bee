"""payments.refund_told_at: when the buyer was told of a refund, so that they are told once,
whichever comes first (the platform's notice, the start-up pass), also after an operator's refund

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 09:00:00

One nullable column: nothing is rebuilt. Refunds recorded before it count as told (their buyers
heard then, or would hear of an old refund out of the blue now). A payment that matched no pack
has the state 'unmatched' (the column is a string: no change needed for it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('payments', sa.Column('refund_told_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE payments SET refund_told_at = refunded_at WHERE state = 'refunded'")


def downgrade() -> None:
    op.drop_column('payments', 'refund_told_at')  # SQLite >= 3.35 drops a column in place
