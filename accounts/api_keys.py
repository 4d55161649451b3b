"""API keys: created by a user (``/account`` or ``presswatch api-keys create``), shown once, stored
hashed, visible by their prefix, narrowed to read-only and/or one unit, optionally expiring, revocable.

A key looks like ``pw_<prefix>_<secret>``: ``prefix`` (8 hex characters) is stored in clear and
shown in lists and the audit log; the database keeps only the sha256 of the whole key (a key has
256 bits of randomness, so a plain digest cannot be guessed back; a password hash would only slow
every API request). :func:`authenticate` finds a key's row by its prefix and compares digests in
constant time; :func:`key_scope` is the creator's :class:`~models.scope.Scope` narrowed by the key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import Actor, record
from accounts.users import AccountError, NotFound
from models import ApiKey, Unit, User, utcnow
from models.scope import Scope, narrowed_scope, scope_for_user
from presswatch.i18n import N_

KEY_START = "pw_"
MAX_EXPIRY_DAYS = 3650
LAST_USED_PRECISION = timedelta(minutes=1)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _new_key() -> tuple[str, str]:
    prefix = secrets.token_hex(4)
    return prefix, f"{KEY_START}{prefix}_{secrets.token_urlsafe(32)}"


def prefix_of(key: str) -> str | None:
    """The prefix of a well-formed key, else None."""
    if not key.startswith(KEY_START):
        return None
    prefix, _, secret = key[len(KEY_START):].partition("_")
    if len(prefix) != 8 or not secret or any(c not in "0123456789abcdef" for c in prefix):
        return None
    return prefix


@dataclass(frozen=True)
class CreatedKey:
    row: ApiKey
    key: str  # the whole key: shown once, never stored


def create_key(session: Session, actor: Actor, user: User, *, name: str, read_only: bool = False,
               unit_id: int | None = None, expires_in_days: float | None = None,
               now: datetime | None = None) -> CreatedKey:
    """A new key for ``user``. ``unit_id`` must be a unit the user may see (the key then sees its
    subtree only); the key can never do more than its user."""
    now = now or utcnow()
    name = name.strip()
    if not name or len(name) > 100:
        raise AccountError(N_("Give the key a name (1 to 100 characters)."))
    if unit_id is not None:
        scope = scope_for_user(session, user)
        if session.get(Unit, unit_id) is None or not scope.contains(unit_id):
            raise NotFound(N_("No such unit."))
    expires_at = None
    if expires_in_days is not None:
        if not 0 < expires_in_days <= MAX_EXPIRY_DAYS:
            raise AccountError(N_("A key expires after 1 to {days} days."), days=MAX_EXPIRY_DAYS)
        expires_at = now + timedelta(days=expires_in_days)
    prefix, key = _new_key()
    row = ApiKey(user_id=user.id, name=name, prefix=prefix, key_hash=key_digest(key), read_only=read_only,
                 unit_id=unit_id, created_at=now, expires_at=expires_at)
    session.add(row)
    session.flush()
    record(session, actor, "api_key.create", unit_id=unit_id if unit_id is not None else _home(user),
           object_type="api_key", object_id=prefix,
           after={"user": user.username, "name": name, "read_only": read_only, "unit_id": unit_id,
                  "expires_at": expires_at})
    return CreatedKey(row, key)


def _home(user: User) -> int | None:
    from accounts.users import home_unit_id

    return home_unit_id(user)


def list_keys(session: Session, user: User) -> list[ApiKey]:
    """The user's keys, newest first (revoked ones too: their last use stays readable)."""
    return list(session.scalars(select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.id.desc())))


def all_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id.desc())))


def revoke_key(session: Session, actor: Actor, user: User | None, prefix: str,
               now: datetime | None = None) -> ApiKey:
    """Revoke a key by its prefix; ``user`` None (the CLI, as operator) may revoke anyone's key,
    otherwise only the user's own key is found."""
    stmt = select(ApiKey).where(ApiKey.prefix == prefix.strip().removeprefix(KEY_START).split("_")[0])
    if user is not None:
        stmt = stmt.where(ApiKey.user_id == user.id)
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(N_("No key with prefix {prefix}."), prefix=prefix)
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        owner = session.get(User, row.user_id)
        record(session, actor, "api_key.revoke", unit_id=row.unit_id if row.unit_id is not None else
               (_home(owner) if owner else None), object_type="api_key", object_id=row.prefix,
               before={"revoked_at": None}, after={"revoked_at": row.revoked_at})
    return row


def key_state(row: ApiKey, now: datetime | None = None) -> str:
    """active, expired or revoked."""
    now = now or utcnow()
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active"


@dataclass(frozen=True)
class KeyUse:
    key: ApiKey
    user: User
    scope: Scope


def authenticate(session: Session, key: str, now: datetime | None = None) -> KeyUse | None:
    """The key's row, user and scope if the key is valid now (not revoked or expired, its user
    active); marks it used (to the minute). None otherwise: the caller does not learn why."""
    now = now or utcnow()
    prefix = prefix_of(key)
    if prefix is None:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None or not hmac.compare_digest(row.key_hash, key_digest(key)) or key_state(row, now) != "active":
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
        row.last_used_at = now  # at most one write a minute per key, not one per request
    return KeyUse(row, user, key_scope(session, row, user))


def key_scope(session: Session, row: ApiKey, user: User) -> Scope:
    return narrowed_scope(session, scope_for_user(session, user), unit_id=row.unit_id, read_only=row.read_only)
