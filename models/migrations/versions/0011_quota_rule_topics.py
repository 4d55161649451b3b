"""quota: a rule may name several classifier topics (any one counts)

The seed plan's weekly case ("教科书式老赖" and defaulter cases) spans two topics of the taxonomy
(deadbeat, defaulter_blacklist). ``quota_rules.topic`` (one key) becomes ``topics`` (a JSON list);
existing rules keep their one topic.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-21 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('quota_rules') as batch:
        batch.add_column(sa.Column('topics', JSON, nullable=False, server_default=sa.text("'[]'")))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, topic FROM quota_rules WHERE topic IS NOT NULL")).all()
    for rule_id, topic in rows:
        conn.execute(
            sa.table('quota_rules', sa.column('id', sa.Integer), sa.column('topics', JSON))
            .update().where(sa.column('id') == rule_id).values(topics=[topic])
        )
    with op.batch_alter_table('quota_rules') as batch:
        batch.drop_column('topic')


def downgrade() -> None:
    with op.batch_alter_table('quota_rules') as batch:
        batch.add_column(sa.Column('topic', sa.String(length=100), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, topics FROM quota_rules")).all()
    for rule_id, topics in rows:
        if isinstance(topics, str):
            import json

            topics = json.loads(topics)
        if topics:
            conn.execute(sa.text("UPDATE quota_rules SET topic = :t WHERE id = :i"), {"t": topics[0], "i": rule_id})
    with op.batch_alter_table('quota_rules') as batch:
        batch.drop_column('topics')
