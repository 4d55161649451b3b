"""digest: index of articles by storage time, for a daily digest's late arrivals

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-21 20:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_articles_stored_at', 'articles', ['stored_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_articles_stored_at', table_name='articles')
