"""Logging in and out: the lockout, the per-address rate limit, and database-stored sessions.

Attempts are rows (``login_attempts``), so the lockout and the rate limit hold across several
``presswatch web`` workers. An account is locked once its last ``lockout_failures`` attempts inside
the window all failed (a success resets the count); an address is refused (HTTP 429) after
``login_attempts_per_address`` attempts of any kind inside the window. A session cookie holds a
random token; the database keeps only its sha256.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from accounts.audit import Actor, record
from accounts.passwords import verify_password
from accounts.users import home_unit_id
from models import LoginAttempt, User, WebSession, utcnow
from settings import WebSettings


class LoginOutcome(enum.StrEnum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"  # unknown user, wrong password or disabled: never told apart
    LOCKED = "locked"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    user: User | None = None
    token: str | None = None
    web_session: WebSession | None = None
    retry_after_seconds: int = 0


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _window(settings: WebSettings, now: datetime) -> datetime:
    return now - timedelta(minutes=settings.lockout_minutes)


def locked_until(session: Session, username: str, settings: WebSettings,
                 now: datetime | None = None) -> datetime | None:
    """When the account's lockout ends, or None if it is not locked."""
    now = now or utcnow()
    recent = session.execute(
        select(LoginAttempt.success, LoginAttempt.at).where(LoginAttempt.username == username,
                                                            LoginAttempt.at >= _window(settings, now))
        .order_by(LoginAttempt.id.desc()).limit(settings.lockout_failures)
    ).all()
    if len(recent) < settings.lockout_failures or any(success for success, _ in recent):
        return None
    return recent[0][1] + timedelta(minutes=settings.lockout_minutes)


def _address_attempts(session: Session, address: str, settings: WebSettings, now: datetime) -> int:
    return session.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.client_address == address, LoginAttempt.at >= _window(settings, now))) or 0


def authenticate(session: Session, username: str, password: str, client_address: str, settings: WebSettings,
                 user_agent: str = "", now: datetime | None = None) -> LoginResult:
    """Check a login; on success open a session. Every attempt is recorded and audit-logged."""
    now = now or utcnow()
    username = username.strip()[:100]
    actor = Actor(None, username or "?", client_address)
    limit = settings.login_attempts_per_address
    if client_address and _address_attempts(session, client_address, settings, now) >= limit:
        record(session, actor, "login.rate_limited", note=f"address {client_address}")
        return LoginResult(LoginOutcome.RATE_LIMITED, retry_after_seconds=settings.lockout_minutes * 60)
    user = session.scalar(select(User).where(User.username == username)) if username else None
    until = locked_until(session, username, settings, now)
    if until is not None:
        # Not counted as an attempt: a lockout that every refused try extended would let anyone keep
        # an officer locked out for good. It ends 15 minutes after the failure that set it.
        record(session, Actor(user.id if user else None, username, client_address), "login.locked",
               unit_id=home_unit_id(user) if user else None)
        return LoginResult(LoginOutcome.LOCKED, retry_after_seconds=max(1, int((until - now).total_seconds())))
    ok = verify_password(password, user.password_hash if user else "")
    ok = ok and user is not None and user.active
    session.add(LoginAttempt(at=now, username=username, client_address=client_address, success=ok))
    if not ok or user is None:
        record(session, Actor(user.id if user else None, username, client_address), "login.failed",
               unit_id=home_unit_id(user) if user else None)
        session.flush()
        if locked_until(session, username, settings, now) is not None:
            record(session, Actor(user.id if user else None, username, client_address), "login.lockout",
                   unit_id=home_unit_id(user) if user else None,
                   note=f"{settings.lockout_failures} failures; locked for {settings.lockout_minutes} min")
        return LoginResult(LoginOutcome.BAD_CREDENTIALS)
    token = secrets.token_urlsafe(32)
    web_session = WebSession(token_hash=token_hash(token), user_id=user.id, created_at=now, last_seen_at=now,
                             client_address=client_address, user_agent=user_agent[:300],
                             active_unit_id=home_unit_id(user))
    session.add(web_session)
    user.last_login_at = now
    session.flush()
    record(session, Actor(user.id, user.username, client_address), "login", unit_id=home_unit_id(user),
           object_type="session", object_id=web_session.id, at=now)
    return LoginResult(LoginOutcome.OK, user=user, token=token, web_session=web_session)


def session_for_token(session: Session, token: str, settings: WebSettings,
                      now: datetime | None = None) -> WebSession | None:
    """The live session for a cookie token (touching its last-seen time), or None when it is unknown,
    revoked, idle too long, too old, or its user is disabled."""
    if not token:
        return None
    now = now or utcnow()
    row = session.scalar(select(WebSession).where(WebSession.token_hash == token_hash(token)))
    if row is None or row.revoked_at is not None:
        return None
    if now - row.last_seen_at > timedelta(minutes=settings.session_idle_minutes) or \
            now - row.created_at > timedelta(hours=settings.session_absolute_hours):
        row.revoked_at = now
        return None
    if not row.user.active:
        return None
    # Written at most once a minute: a page load should not be a write on every request.
    if now - row.last_seen_at > timedelta(seconds=60):
        row.last_seen_at = now
    return row


def logout(session: Session, web_session: WebSession, client_address: str = "") -> None:
    web_session.revoked_at = utcnow()
    user = web_session.user
    record(session, Actor(user.id, user.username, client_address), "logout", unit_id=home_unit_id(user),
           object_type="session", object_id=web_session.id)


def logout_everywhere(session: Session, user: User, client_address: str = "") -> int:
    from accounts.users import revoke_sessions

    n = revoke_sessions(session, user)
    record(session, Actor(user.id, user.username, client_address), "logout.everywhere", unit_id=home_unit_id(user),
           object_type="user", object_id=user.id, note=f"{n} session(s)")
    return n


def live_sessions(session: Session, user: User, settings: WebSettings, now: datetime | None = None) -> list[WebSession]:
    now = now or utcnow()
    rows = session.scalars(select(WebSession).where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None))
                           .order_by(WebSession.last_seen_at.desc())).all()
    return [r for r in rows if now - r.last_seen_at <= timedelta(minutes=settings.session_idle_minutes)
            and now - r.created_at <= timedelta(hours=settings.session_absolute_hours)]


def purge(session: Session, settings: WebSettings, now: datetime | None = None) -> int:
    """Drop login attempts and dead sessions older than a day past their use (a scheduled job)."""
    now = now or utcnow()
    horizon = now - timedelta(days=1) - timedelta(hours=settings.session_absolute_hours)
    n = 0
    for stmt in (delete(LoginAttempt).where(LoginAttempt.at < horizon),
                 delete(WebSession).where(WebSession.created_at < horizon)):
        result: Any = session.execute(stmt)
        n += int(result.rowcount or 0)
    return n
