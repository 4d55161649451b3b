"""quota: scores carry a digest of their figures and evidence, so unchanged rows are not resent

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-21 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows get an empty digest: the next status run rewrites each of them once.
    with op.batch_alter_table('scores') as batch:
        batch.add_column(sa.Column('evidence_hash', sa.String(length=32), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('scores') as batch:
        batch.drop_column('evidence_hash')
