"""Articles, stories (clusters of reposts), classifications, staff corrections and watch queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, JSONType, TimestampMixin, utcnow
from models.enums import RiskLevel, SentimentLabel, db_enum


class Story(TimestampMixin, Base):
    """One story and its spread: the first publisher and every repost (转载) grouped under it."""

    __tablename__ = "stories"
    __table_args__ = (
        Index("ix_stories_last_seen_at", "last_seen_at"),
        # The few merged stories (visibility follows a merge: classify.visibility.visible_condition).
        Index("ix_stories_merged_into_id", "merged_into_id", sqlite_where=text("merged_into_id IS NOT NULL"),
              postgresql_where=text("merged_into_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(16), default="und")
    # No foreign key: stories and articles would reference each other (a cycle on create/drop).
    first_article_id: Mapped[int | None] = mapped_column(Integer)
    first_outlet_id: Mapped[int | None] = mapped_column(ForeignKey("outlets.id", ondelete="SET NULL"))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    article_count: Mapped[int] = mapped_column(default=1)
    outlet_count: Mapped[int] = mapped_column(default=1)
    # Set when the story was merged into another (by a piece that verified against both, or by an
    # analyst): its articles moved there; the row stays so that the merge can be undone.
    merged_into_id: Mapped[int | None] = mapped_column(Integer)

    articles: Mapped[list[Article]] = relationship(
        back_populates="story", foreign_keys="Article.story_id"
    )


# A post at most this long (a Weibo post is <= 140 characters before "全文") is a short post; the
# pipeline folds short posts crawled before the article they forward into its story.
SHORT_POST_MAX_CHARS = 300
# Written out as SQL (not a bound parameter) so that both planners can match a query's condition
# to the partial index below; a query must use exactly this text.
SHORT_POST_SQL = f"length(articles.text) <= {SHORT_POST_MAX_CHARS}"


class Article(Base):
    """One published piece at one canonical URL."""

    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("url_hash"),
        Index("ix_articles_published_at", "published_at"),
        Index("ix_articles_fetched_at", "fetched_at"),
        # Daily digests read their late arrivals (stored in the period, published shortly before)
        # by storage time: alerts.digest.queries.LATE_ARRIVAL_DAYS.
        Index("ix_articles_stored_at", "stored_at"),
        Index("ix_articles_content_hash", "content_hash"),
        Index("ix_articles_story_id", "story_id"),
        Index("ix_articles_source_id_published_at", "source_id", "published_at"),
        Index("ix_articles_outlet_id_published_at", "outlet_id", "published_at"),
        # Covering index: quota scoring maps registered articles to their story (one piece per
        # story) with an index-only scan instead of reading every article row.
        Index("ix_articles_id_story_id", "id", "story_id"),
        # Covering index: visibility asks whether another piece of a listed piece's story is seen
        # (classify.visibility.visible_condition), an index-only probe per piece.
        Index("ix_articles_story_id_id_outlet_id", "story_id", "id", "outlet_id"),
        # Short posts by publication time (partial: a few rows among many articles): each new story
        # looks up the recent ones to absorb (pipeline.dedupe.absorb_short_posts) without reading
        # every recent article's text to measure it.
        Index("ix_articles_short_post_published_at", "published_at",
              sqlite_where=text(SHORT_POST_SQL), postgresql_where=text(SHORT_POST_SQL)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    outlet_id: Mapped[int | None] = mapped_column(ForeignKey("outlets.id", ondelete="SET NULL"))
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"))
    url: Mapped[str] = mapped_column(Text)
    canonical_url: Mapped[str] = mapped_column(Text)
    # sha256 of canonical_url: the unique key (a btree on long URLs is fragile on PostgreSQL).
    url_hash: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    # Simplified-Chinese / normalized form kept beside the original for matching.
    match_text: Mapped[str | None] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(16), default="und")
    byline: Mapped[str | None] = mapped_column(String(500))
    source_line: Mapped[str | None] = mapped_column(String(500))
    published_at: Mapped[datetime | None]
    published_at_missing: Mapped[bool] = mapped_column(default=False)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("snapshots.id", ondelete="SET NULL"))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Social counters (reposts / comments / likes) and anything kind-specific.
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    flags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)

    story: Mapped[Story | None] = relationship(back_populates="articles", foreign_keys=[story_id])
    classifications: Mapped[list[Classification]] = relationship(back_populates="article")


class Classification(Base):
    """Topics, sentiment and risk of one article by one model version, with the reasons."""

    __tablename__ = "classifications"
    __table_args__ = (
        UniqueConstraint("article_id", "model_version"),
        Index("ix_classifications_risk_level_created_at", "risk_level", "created_at"),
        Index("ix_classifications_article_id_is_current", "article_id", "is_current"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    model_version: Mapped[str] = mapped_column(String(100))
    is_current: Mapped[bool] = mapped_column(default=True)
    lang: Mapped[str] = mapped_column(String(16), default="und")
    topics: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)  # [{name, score}]
    sentiment: Mapped[SentimentLabel] = mapped_column(db_enum(SentimentLabel, "sentiment_label"))
    sentiment_score: Mapped[float] = mapped_column(default=0.0)
    risk_level: Mapped[RiskLevel] = mapped_column(db_enum(RiskLevel, "risk_level"))
    risk_score: Mapped[float] = mapped_column(default=0.0)
    # Why: matched terms, model scores, factors with their weights.
    reasons: Mapped[dict[str, Any]] = mapped_column(default=dict)
    mentions_org: Mapped[bool] = mapped_column(default=False)
    # The article's content_hash when it was classified: the pipeline updates an edited article in
    # place, and a classification of other text is then out of date (classify.service.pending_articles).
    content_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    article: Mapped[Article] = relationship(back_populates="classifications")


class Label(Base):
    """A staff correction of a classification; ``presswatch train`` learns from these."""

    __tablename__ = "labels"
    __table_args__ = (Index("ix_labels_task_created_at", "task", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    task: Mapped[str] = mapped_column(String(32))  # topic / sentiment / risk
    label: Mapped[str] = mapped_column(String(200))
    text: Mapped[str | None] = mapped_column(Text)  # for labels on text that is not an article
    author: Mapped[str] = mapped_column(String(100), default="")
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WatchQuery(TimestampMixin, Base):
    """A named boolean query: the organization's names, officials' names, topic rules."""

    __tablename__ = "watch_queries"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    query: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(32), default="watch")  # org / official / topic / watch
    enabled: Mapped[bool] = mapped_column(default=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # The organization (unit) this belongs to: who may see and change it (models.scope).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"), index=True)


class StoryKey(Base):
    """One lookup key of a story's representative (pipeline.dedupe.story_keys): a sampled
    character n-gram of its text or its headline. A new piece is compared only with the
    representatives its keys find, never with every recent story, and never with a story's
    other members (a join cannot chain through them).

    The primary key (key, story_id, article_id) is the lookup index; WITHOUT ROWID on SQLite as
    ``fingerprint_bands``. ``article_id`` is the representative whose text gave the key.
    """

    __tablename__ = "story_keys"
    __table_args__ = (
        Index("ix_story_keys_story_id", "story_id"),
        {"sqlite_with_rowid": False},
    )

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    story_id: Mapped[int] = mapped_column(
        ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    article_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class StoryDecision(Base):
    """A merge or split of stories, by the pipeline (``auto_merge``) or an analyst (``merge``,
    ``split``): what moved, who decided and why, and whether it was undone. An analyst's decision
    binds the pipeline afterwards: stories an analyst split are never merged again automatically."""

    __tablename__ = "story_decisions"
    __table_args__ = (
        Index("ix_story_decisions_story_id", "story_id"),
        Index("ix_story_decisions_other_story_id", "other_story_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # auto_merge / merge / split
    story_id: Mapped[int] = mapped_column(Integer)  # the story kept (merge) or split from
    other_story_id: Mapped[int] = mapped_column(Integer)  # the story merged in, or the new one
    article_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)  # the articles moved
    actor: Mapped[str] = mapped_column(String(100), default="pipeline")
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None]


class FingerprintBand(Base):
    """One LSH band key of an article's MinHash signature (pipeline.fingerprint), for repost lookup.

    The primary key (band_key, article_id) is the lookup index; on SQLite the table is WITHOUT
    ROWID, so the index is the table and the 20-odd rows per article cost no second b-tree.
    """

    __tablename__ = "fingerprint_bands"
    __table_args__ = (
        Index("ix_fingerprint_bands_article_id", "article_id"),
        {"sqlite_with_rowid": False},
    )

    band_key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
