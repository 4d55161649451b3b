"""quota: covering index articles (id, story_id) for story lookups of registered articles

Revision ID: 0007b
Revises: 0005
Create Date: 2026-11-21 16:55:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0007b'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_articles_id_story_id', 'articles', ['id', 'story_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_articles_id_story_id', table_name='articles')
