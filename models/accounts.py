"""Accounts: users, their role grants on units, browser sessions, login attempts and the audit log.

A grant gives a role on a unit and applies to the unit's whole subtree (see :mod:`models.scope`).
Sessions are stored by the sha256 of their token (the cookie holds the token itself), so a
database dump cannot be replayed as a login, and revoking a row logs that browser out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, JSONType, StrEnum, utcnow
from models.enums import db_enum


class Role(StrEnum):
    ADMIN = "admin"                  # users, rules, sources, settings of the subtree
    ANALYST = "analyst"              # triage alerts and cases, corrections, labels, rules
    LEADER = "leader"                # read everything in the subtree; digests
    CORRESPONDENT = "correspondent"  # register pieces for their unit; see their unit's quota


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(300), default="")
    password_hash: Mapped[str] = mapped_column(String(300), default="")
    language: Mapped[str] = mapped_column(String(16), default="")  # empty: from the browser
    timezone: Mapped[str] = mapped_column(String(64), default="")  # empty: the installation's
    is_superuser: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    # Set by an admin's password reset: the next login must choose a new password first.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]

    grants: Mapped[list[Grant]] = relationship(back_populates="user", order_by="Grant.id",
                                               cascade="all, delete-orphan")


class Grant(Base):
    """A role on a unit, applying to its subtree."""

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("user_id", "unit_id", "role"), Index("ix_grants_unit_id", "unit_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(db_enum(Role, "grant_role"))
    granted_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="grants")


class WebSession(Base):
    """A logged-in browser. Valid while not revoked, seen within the idle timeout and younger than
    the absolute one (both in settings ``web.*``)."""

    __tablename__ = "web_sessions"
    __table_args__ = (UniqueConstraint("token_hash"), Index("ix_web_sessions_user_id", "user_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    client_address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    # The organization the user is looking at (one of their granted units, or any for a superuser).
    active_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship()


class LoginAttempt(Base):
    """Every login attempt: the lockout counts an account's recent failures, the rate limit an address's."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_client_address_at", "client_address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    username: Mapped[str] = mapped_column(String(100))
    client_address: Mapped[str] = mapped_column(String(64), default="")
    success: Mapped[bool] = mapped_column(default=False)


class AuditEntry(Base):
    """Who did what, when, from where, to which object, with the state before and after.

    ``unit_id`` is the organization the change belongs to: admins read the log of their subtree.
    ``actor`` keeps the username as it was (a deleted or renamed user stays readable)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_unit_id_at", "unit_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(100), default="system")
    client_address: Mapped[str] = mapped_column(String(64), default="")
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))  # login, login_failed, logout, grant, user.update, ...
    object_type: Mapped[str] = mapped_column(String(64), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    note: Mapped[str] = mapped_column(Text, default="")
    # The API key the change was made with (its visible prefix), empty for the web app and the CLI.
    api_key_prefix: Mapped[str | None] = mapped_column(String(16))


class ApiKey(Base):
    """A user's key for the JSON API (``Authorization: Bearer pw_<prefix>_<secret>``).

    Stored as the sha256 of the whole key (the key is shown once, at creation); ``prefix`` is visible
    in lists and in the audit log. A key acts with its creator's grants, narrowed to read-only and/or
    to one unit's subtree; it stops working when revoked, expired, or its user is disabled."""

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("prefix"), UniqueConstraint("key_hash"), Index("ix_api_keys_user_id", "user_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64))
    read_only: Mapped[bool] = mapped_column(default=False)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class SharedLink(Base):
    """A read-only signed link for a reader without an account (a leader opening the dashboard or a
    report on a phone): what it shows (``kind``: dashboard / report, ``digest_id`` for a report), the
    unit subtree it may see, until when. Stored by the sha256 of its token (the URL holds the token
    itself), so a database dump cannot be replayed as a link; revoking or expiry answers 404."""

    __tablename__ = "shared_links"
    __table_args__ = (UniqueConstraint("token_hash"), Index("ix_shared_links_unit_id", "unit_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # dashboard / report
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(16), default="zh-CN")
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    views: Mapped[int] = mapped_column(default=0)
    last_viewed_at: Mapped[datetime | None]
