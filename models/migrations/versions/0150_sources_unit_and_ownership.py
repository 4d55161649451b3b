"""admin screens: a source belongs to a unit; sources and alert rules say who owns them (file or web)

``managed_by`` is ``file`` for rows mirrored from sources.yaml / alert_rules.yaml (the sync owns
them) and ``web`` for rows created or changed in the admin pages or by ``presswatch config
import`` (the file sync leaves them alone). Existing rows came from the files.

Revision ID: 0150
Revises: 0140
Create Date: 2026-12-04 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0150'
down_revision: str | None = '0140'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sources') as batch:
        batch.add_column(sa.Column('unit_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('managed_by', sa.String(length=16), nullable=False, server_default='file'))
        batch.create_foreign_key('fk_sources_unit_id_units', 'units', ['unit_id'], ['id'], ondelete='SET NULL')
        batch.create_index('ix_sources_unit_id', ['unit_id'])
    with op.batch_alter_table('alert_rules') as batch:
        batch.add_column(sa.Column('managed_by', sa.String(length=16), nullable=False, server_default='file'))
    # An installation with one organization: its sources are that organization's (as 0020 did for
    # rules, cases and the rest); with several, a superuser gives each source its unit.
    conn = op.get_bind()
    roots = [r[0] for r in conn.execute(sa.text("SELECT id FROM units WHERE parent_id IS NULL ORDER BY id LIMIT 2"))]
    if len(roots) == 1:
        conn.execute(sa.text("UPDATE sources SET unit_id = :u WHERE unit_id IS NULL"), {"u": roots[0]})


def downgrade() -> None:
    with op.batch_alter_table('alert_rules') as batch:
        batch.drop_column('managed_by')
    with op.batch_alter_table('sources') as batch:
        batch.drop_index('ix_sources_unit_id')
        batch.drop_constraint('fk_sources_unit_id_units', type_='foreignkey')
        batch.drop_column('managed_by')
        batch.drop_column('unit_id')
