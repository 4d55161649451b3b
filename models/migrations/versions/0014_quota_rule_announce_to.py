"""quota: a rule may name the unit that gets every unit's table and ranking (announce_to)

The anti-gang plan (二道江): the coordinating office circulates each month one table of all member
units' submissions and adoptions, and each quarter the points ranking.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-21 21:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('quota_rules') as batch:
        batch.add_column(sa.Column('announce_unit_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f('fk_quota_rules_announce_unit_id_units'), 'units', ['announce_unit_id'], ['id'], ondelete='SET NULL'
        )


def downgrade() -> None:
    with op.batch_alter_table('quota_rules') as batch:
        batch.drop_constraint(op.f('fk_quota_rules_announce_unit_id_units'), type_='foreignkey')
        batch.drop_column('announce_unit_id')
