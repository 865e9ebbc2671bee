"""users.chosen_language: the language a user picked with /language (NULL: follow their app's)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 23:30:00

One nullable column: nothing is rebuilt. ``users.language`` (there since 0001) now holds the
language their app was set to when last heard from, for the messages that reach them later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('users', sa.Column('chosen_language', sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column('users', 'chosen_language')  # SQLite >= 3.35 drops a column in place
