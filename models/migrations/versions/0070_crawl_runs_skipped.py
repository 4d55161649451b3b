"""crawl_runs.skipped: entries a run listed but did not hand on, counted by reason (issue 19)

A feed entry with no link, a link outside the source's pattern, one already stored: each is
counted under its reason, so a run's "listed" always adds up and a lost entry is never silent.

Revision ID: 0070
Revises: 0030
Create Date: 2026-12-04 17:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0070'
down_revision: str | None = '0030'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('crawl_runs') as batch:
        batch.add_column(sa.Column('skipped', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
                                    nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('crawl_runs') as batch:
        batch.drop_column('skipped')
