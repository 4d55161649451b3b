"""quota: unit contacts, rule options verified_only / include_subunits, registrations by date

Revision ID: 0007
Revises: 0003
Create Date: 2026-11-21 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0007'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Server defaults fill the rows that already exist; the ORM supplies values from then on.
    with op.batch_alter_table('units') as batch:
        batch.add_column(sa.Column(
            'contacts', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
            nullable=False, server_default=sa.text("'[]'"),
        ))
    with op.batch_alter_table('quota_rules') as batch:
        batch.add_column(sa.Column('verified_only', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('include_subunits', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index('ix_registrations_published_at', 'registrations', ['published_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_registrations_published_at', table_name='registrations')
    with op.batch_alter_table('quota_rules') as batch:
        batch.drop_column('include_subunits')
        batch.drop_column('verified_only')
    with op.batch_alter_table('units') as batch:
        batch.drop_column('contacts')
