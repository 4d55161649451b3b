"""quota: registrations carry the story of their article, so counting reads no article rows

Revision ID: 0008
Revises: 0007b
Create Date: 2026-11-21 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('registrations') as batch:
        batch.add_column(sa.Column('story_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(
            'fk_registrations_story_id_stories', 'stories', ['story_id'], ['id'], ondelete='SET NULL'
        )
    # An article's story is fixed when the article is stored, so a copy taken now stays true.
    op.execute(
        "UPDATE registrations SET story_id = (SELECT articles.story_id FROM articles"
        " WHERE articles.id = registrations.article_id) WHERE article_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table('registrations') as batch:
        batch.drop_constraint('fk_registrations_story_id_stories', type_='foreignkey')
        batch.drop_column('story_id')
