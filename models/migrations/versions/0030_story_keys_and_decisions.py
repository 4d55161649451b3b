"""stories: lookup keys of each story's representatives, merge/split decisions, merged_into_id

Revision ID: 0030
Revises: 0050
Create Date: 2026-12-04 18:00:00

Stories stored before this revision have no keys: a short post finds them through the MinHash
bands only (``presswatch stories reindex --since 3d`` writes the keys of recent ones).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0030'
down_revision: str | None = '0050'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'story_keys',
        sa.Column('key', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('story_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('article_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(['story_id'], ['stories.id'], name=op.f('fk_story_keys_story_id_stories'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('key', 'story_id', 'article_id', name=op.f('pk_story_keys')),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table('story_keys', schema=None) as batch_op:
        batch_op.create_index('ix_story_keys_story_id', ['story_id'], unique=False)
    op.create_table(
        'story_decisions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('story_id', sa.Integer(), nullable=False),
        sa.Column('other_story_id', sa.Integer(), nullable=False),
        sa.Column('article_ids', models.base.JSONType, nullable=False),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
        sa.Column('undone_at', models.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_story_decisions')),
    )
    with op.batch_alter_table('story_decisions', schema=None) as batch_op:
        batch_op.create_index('ix_story_decisions_story_id', ['story_id'], unique=False)
        batch_op.create_index('ix_story_decisions_other_story_id', ['other_story_id'], unique=False)
    # Not batch mode: on SQLite that copies and drops ``stories``, and the drop sets every
    # article's story_id to NULL (ON DELETE SET NULL). A plain ADD/DROP COLUMN is native there.
    op.add_column('stories', sa.Column('merged_into_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('stories', 'merged_into_id')
    with op.batch_alter_table('story_decisions', schema=None) as batch_op:
        batch_op.drop_index('ix_story_decisions_other_story_id')
        batch_op.drop_index('ix_story_decisions_story_id')
    op.drop_table('story_decisions')
    with op.batch_alter_table('story_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_story_keys_story_id')
    op.drop_table('story_keys')
