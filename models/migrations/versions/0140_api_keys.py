"""api: keys for the JSON API (hashed, prefix visible, read-only / one-unit narrowing, expiry), and
the key an audit entry was made with

Revision ID: 0140
Revises: 0060
Create Date: 2026-12-04 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0140'
down_revision: str | None = '0060'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        'api_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('read_only', sa.Boolean(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=True),
        _ts('created_at'), _ts('expires_at', True), _ts('last_used_at', True), _ts('revoked_at', True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_keys_user_id_users'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_api_keys_unit_id_units'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
        sa.UniqueConstraint('prefix', name=op.f('uq_api_keys_prefix')),
        sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash')),
    )
    op.create_index('ix_api_keys_user_id', 'api_keys', ['user_id'])
    with op.batch_alter_table('audit_log') as batch:
        batch.add_column(sa.Column('api_key_prefix', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_log') as batch:
        batch.drop_column('api_key_prefix')
    op.drop_index('ix_api_keys_user_id', table_name='api_keys')
    op.drop_table('api_keys')
