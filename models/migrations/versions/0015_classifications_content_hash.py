"""classify: a classification records the article text it read, so an edited article is classified again

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-22 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('classifications') as batch:
        batch.add_column(sa.Column('content_hash', sa.String(length=64), nullable=True))
    # Existing rows read the article as it is now, as far as anyone can tell: without this, the
    # first run after the upgrade would classify the whole archive again.
    op.execute(
        "UPDATE classifications SET content_hash = "
        "(SELECT articles.content_hash FROM articles WHERE articles.id = classifications.article_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table('classifications') as batch:
        batch.drop_column('content_hash')
