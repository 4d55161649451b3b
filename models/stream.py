"""The coverage stream's own rows: which organization sees which piece (the visibility index), saved
searches, per-user read state and per-organization tags on pieces."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, JSONType, utcnow


class ArticleMatch(Base):
    """The piece matched this enabled watch query, owned by ``unit_id`` (``classify.visibility``):
    the index that lets the stream list what an organization sees, and filter by one watch query,
    without evaluating queries on every stored piece. Written when a piece is classified and when
    watch queries change; alerts naming a piece or its story make it visible without a row here."""

    __tablename__ = "article_matches"
    __table_args__ = (Index("ix_article_matches_watch_query_id_article_id", "watch_query_id", "article_id"),
                      Index("ix_article_matches_article_id_unit_id", "article_id", "unit_id"))

    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True,
                                            autoincrement=False)
    watch_query_id: Mapped[int] = mapped_column(ForeignKey("watch_queries.id", ondelete="CASCADE"),
                                                primary_key=True, autoincrement=False)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))


class SavedSearch(Base):
    """A user's named stream filter (the /stream query string), optionally shared with everyone who
    sees its organization (``unit_id``)."""

    __tablename__ = "saved_searches"
    __table_args__ = (Index("ix_saved_searches_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    shared: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StreamReadMarker(Base):
    """Everything stored up to ``read_before`` counts as read for this user ("mark all read")."""

    __tablename__ = "stream_read_markers"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)
    read_before: Mapped[datetime] = mapped_column(default=utcnow)


class StreamRead(Base):
    """One piece a user marked read (newer than their marker)."""

    __tablename__ = "stream_reads"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True,
                                            autoincrement=False)
    read_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArticleTag(Base):
    """An organization's tag on a piece (only scopes that see ``unit_id`` see it)."""

    __tablename__ = "article_tags"
    __table_args__ = (UniqueConstraint("article_id", "unit_id", "tag"),
                      Index("ix_article_tags_unit_id_tag", "unit_id", "tag"))

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
