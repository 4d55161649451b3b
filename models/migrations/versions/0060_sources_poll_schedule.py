"""crawl worker: each source's next poll, its learned interval and the worker's claim on it

Revision ID: 0060
Revises: 0020
Create Date: 2026-12-04 17:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0060'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sources') as batch:
        batch.add_column(sa.Column('next_poll_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('poll_interval_seconds', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('claimed_by', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
        batch.create_index('ix_sources_next_poll_at', ['next_poll_at'])


def downgrade() -> None:
    with op.batch_alter_table('sources') as batch:
        batch.drop_index('ix_sources_next_poll_at')
        batch.drop_column('claimed_until')
        batch.drop_column('claimed_by')
        batch.drop_column('poll_interval_seconds')
        batch.drop_column('next_poll_at')
