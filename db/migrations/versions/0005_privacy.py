"""Privacy: ids never handed out twice (SQLite AUTOINCREMENT), consent, the free allowance once
per account, the model-expiry notice, the messages with portraits the bot can take back

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 07:40:00

SQLite reuses the largest rowid of a table once its row is deleted (a deleted user's id went to
the next user, and with it their scratch folders and storage keys). AUTOINCREMENT needs the table
rebuilt; this is done from the table's own stored SQL, so CHECKs, defaults, partial indexes and
column order stay exactly as they are (SQLite's "generalized ALTER TABLE" procedure). It needs
foreign keys off (``Database.migrate`` opens SQLite so; dropping a parent table would otherwise
cascade into its children) and checks them all afterwards. PostgreSQL's sequences never hand a
value out twice: nothing to do there.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# Parents before children is not needed (no cascade can fire), but it reads naturally.
TABLES = ("users", "selfie_sets", "photos", "jobs", "lora_models", "output_images", "credit_ledger")


def _autoincrement(connection: sa.Connection, table: str) -> None:
    sql = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar_one()
    if "AUTOINCREMENT" in sql.upper():
        return
    new_sql, found = re.subn(r"\bid INTEGER NOT NULL\b", "id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT", sql, count=1)
    new_sql, dropped = re.subn(r",\s*CONSTRAINT pk_\w+ PRIMARY KEY \(id\)", "", new_sql, count=1)
    if not (found and dropped):
        raise RuntimeError(f"table {table}: unexpected definition, cannot add AUTOINCREMENT:\n{sql}")
    indexes = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (table,)).all()
    new = f"_new_{table}"
    new_sql, named = re.subn(rf"^CREATE TABLE \"?{table}\"? \(", f"CREATE TABLE {new} (", new_sql, count=1)
    if not named:
        raise RuntimeError(f"table {table}: unexpected definition, cannot add AUTOINCREMENT:\n{sql}")
    connection.exec_driver_sql(new_sql)
    connection.exec_driver_sql(f"INSERT INTO {new} SELECT * FROM {table}")
    connection.exec_driver_sql(f"DROP TABLE {table}")
    connection.exec_driver_sql(f"ALTER TABLE {new} RENAME TO {table}")
    for _, index_sql in indexes:
        connection.exec_driver_sql(index_sql)


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        if connection.exec_driver_sql("PRAGMA foreign_keys").scalar():
            raise RuntimeError("migration 0005 rebuilds tables and needs SQLite's foreign keys off "
                               "(dropping a parent table would cascade); run it through `studio db upgrade`")
        for table in TABLES:
            _autoincrement(connection, table)
        problems = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if problems:
            raise RuntimeError(f"foreign keys broken by the rebuild: {problems[:5]}")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consented_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('lora_models', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expiry_warned_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'posted_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('job_id', sa.Integer(), nullable=True),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('chat_id', sa.String(length=64), nullable=False),
        sa.Column('message_id', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_posted_messages_job_id_jobs'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_posted_messages_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_posted_messages')),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f('ix_posted_messages_user_id'), 'posted_messages', ['user_id'], unique=False)
    op.create_table(
        'allowance_claims',
        sa.Column('account_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('account_hash', name=op.f('pk_allowance_claims')),
    )


def downgrade() -> None:
    op.drop_table('allowance_claims')
    op.drop_index(op.f('ix_posted_messages_user_id'), table_name='posted_messages')
    op.drop_table('posted_messages')
    with op.batch_alter_table('lora_models', schema=None) as batch_op:
        batch_op.drop_column('expiry_warned_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('consented_at')
