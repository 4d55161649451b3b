"""crawl runs: an index on started_at, for the daily purge of old runs (crawl.run_retention_days)

Revision ID: 0170
Revises: 0100
Create Date: 2026-12-04 20:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0170'
down_revision: str | None = '0100'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('crawl_runs') as batch:
        batch.create_index('ix_crawl_runs_started_at', ['started_at'])


def downgrade() -> None:
    with op.batch_alter_table('crawl_runs') as batch:
        batch.drop_index('ix_crawl_runs_started_at')
