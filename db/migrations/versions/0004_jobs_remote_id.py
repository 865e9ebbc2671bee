"""jobs.remote_backend and jobs.remote_id: the remote (RunPod) job of a job, so that a retry
resumes it instead of submitting it again

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 02:33:42.954064
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remote_backend', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('remote_id', sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('remote_id')
        batch_op.drop_column('remote_backend')
