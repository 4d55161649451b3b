"""digest definitions made in the admin pages (they win over digests.yaml's entry of the same name)

Revision ID: 0152
Revises: 0151
Create Date: 2026-12-04 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0152'
down_revision: str | None = '0151'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'digest_definitions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=True),
        sa.Column('definition', sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), 'postgresql'), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_digest_definitions_unit_id_units'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_digest_definitions')),
        sa.UniqueConstraint('name', name=op.f('uq_digest_definitions_name')),
    )
    op.create_index('ix_digest_definitions_unit_id', 'digest_definitions', ['unit_id'])


def downgrade() -> None:
    op.drop_index('ix_digest_definitions_unit_id', table_name='digest_definitions')
    op.drop_table('digest_definitions')
