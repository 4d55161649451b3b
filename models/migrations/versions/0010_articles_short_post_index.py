"""pipeline: partial index of short posts by publication time, for the absorb step

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21 19:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# models.articles.SHORT_POST_SQL as of this revision (a migration never imports the live constant).
_SHORT_POST = sa.text("length(articles.text) <= 300")


def upgrade() -> None:
    op.create_index('ix_articles_short_post_published_at', 'articles', ['published_at'], unique=False,
                    sqlite_where=_SHORT_POST, postgresql_where=_SHORT_POST)


def downgrade() -> None:
    op.drop_index('ix_articles_short_post_published_at', table_name='articles')
