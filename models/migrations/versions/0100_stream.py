"""coverage stream: the visibility index (article_matches), saved searches, read state, tags

``article_matches`` says which organization's watch queries match which stored piece; it is filled
here for the pieces already stored (the same matching as ``classify.visibility.index_articles``),
and from then on when a piece is classified or a watch query changes.

Revision ID: 0100
Revises: 0130
Create Date: 2026-12-04 20:10:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = '0100'
down_revision: str | None = '0130'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    json_type = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), 'postgresql')
    op.create_table(
        'article_matches',
        sa.Column('article_id', sa.Integer(), nullable=False),
        sa.Column('watch_query_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['article_id'], ['articles.id'], name=op.f('fk_article_matches_article_id_articles'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['watch_query_id'], ['watch_queries.id'],
                                name=op.f('fk_article_matches_watch_query_id_watch_queries'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_article_matches_unit_id_units'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('article_id', 'watch_query_id', name=op.f('pk_article_matches')),
    )
    op.create_index('ix_article_matches_watch_query_id_article_id', 'article_matches',
                    ['watch_query_id', 'article_id'])
    op.create_index('ix_article_matches_article_id_unit_id', 'article_matches', ['article_id', 'unit_id'])
    op.create_table(
        'saved_searches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('params', json_type, nullable=False),
        sa.Column('shared', sa.Boolean(), nullable=False),
        _ts('created_at'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_saved_searches_user_id_users'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_saved_searches_unit_id_units'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_searches')),
    )
    op.create_index('ix_saved_searches_user_id', 'saved_searches', ['user_id'])
    op.create_index(op.f('ix_saved_searches_unit_id'), 'saved_searches', ['unit_id'])
    op.create_table(
        'stream_read_markers',
        sa.Column('user_id', sa.Integer(), nullable=False),
        _ts('read_before'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_stream_read_markers_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_stream_read_markers')),
    )
    op.create_table(
        'stream_reads',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('article_id', sa.Integer(), nullable=False),
        _ts('read_at'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_stream_reads_user_id_users'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['article_id'], ['articles.id'], name=op.f('fk_stream_reads_article_id_articles'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'article_id', name=op.f('pk_stream_reads')),
    )
    op.create_table(
        'article_tags',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('article_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('tag', sa.String(length=64), nullable=False),
        sa.Column('author', sa.String(length=100), nullable=False),
        _ts('created_at'),
        sa.ForeignKeyConstraint(['article_id'], ['articles.id'], name=op.f('fk_article_tags_article_id_articles'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_article_tags_unit_id_units'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_article_tags')),
        sa.UniqueConstraint('article_id', 'unit_id', 'tag', name=op.f('uq_article_tags_article_id_unit_id_tag')),
    )
    op.create_index('ix_article_tags_unit_id_tag', 'article_tags', ['unit_id', 'tag'])
    op.create_index('ix_stories_merged_into_id', 'stories', ['merged_into_id'],
                    sqlite_where=sa.text('merged_into_id IS NOT NULL'),
                    postgresql_where=sa.text('merged_into_id IS NOT NULL'))
    _backfill()


def _backfill() -> None:
    """Index the stored pieces against today's enabled watch queries (owned ones), in batches."""
    from classify.query import PreparedDoc, QuerySyntaxError, cached_query
    from classify.visibility import INDEX_CURSOR, fingerprint

    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, query, unit_id, enabled FROM watch_queries ORDER BY id")).all()
    # The queries the index is built from (the service's stream-index job rebuilds when they change).
    cursors = sa.table('alert_cursors', sa.column('name', sa.String), sa.column('position', sa.Integer),
                       sa.column('updated_at', sa.DateTime(timezone=True)))
    now = datetime.now(UTC)
    if bind.dialect.name == 'sqlite':
        now = now.replace(tzinfo=None)
    op.bulk_insert(cursors, [{"name": INDEX_CURSOR, "position": fingerprint(rows), "updated_at": now}])
    queries = []
    for query_id, unit_id, text in bind.execute(sa.text(
            "SELECT id, unit_id, query FROM watch_queries WHERE enabled AND unit_id IS NOT NULL")):
        try:
            queries.append((query_id, unit_id, cached_query(text)))
        except QuerySyntaxError:
            continue
    if not queries:
        return
    last = 0
    while True:
        rows = bind.execute(sa.text("SELECT id, title, text, lang FROM articles WHERE id > :last"
                                    " ORDER BY id LIMIT 2000"), {"last": last}).all()
        if not rows:
            break
        found = []
        for article_id, title, body, lang in rows:
            doc = PreparedDoc({"title": title or "", "text": body or "", "source": "", "lang": lang or ""})
            found += [{"a": article_id, "q": query_id, "u": unit_id}
                      for query_id, unit_id, query in queries if query.matches(doc)]
        if found:
            bind.execute(sa.text("INSERT INTO article_matches (article_id, watch_query_id, unit_id)"
                                 " VALUES (:a, :q, :u)"), found)
        last = rows[-1][0]


def downgrade() -> None:
    op.execute("DELETE FROM alert_cursors WHERE name = 'stream-index'")
    op.drop_index('ix_stories_merged_into_id', table_name='stories')
    op.drop_index('ix_article_tags_unit_id_tag', table_name='article_tags')
    op.drop_table('article_tags')
    op.drop_table('stream_reads')
    op.drop_table('stream_read_markers')
    op.drop_index(op.f('ix_saved_searches_unit_id'), table_name='saved_searches')
    op.drop_index('ix_saved_searches_user_id', table_name='saved_searches')
    op.drop_table('saved_searches')
    op.drop_index('ix_article_matches_article_id_unit_id', table_name='article_matches')
    op.drop_index('ix_article_matches_watch_query_id_article_id', table_name='article_matches')
    op.drop_table('article_matches')
