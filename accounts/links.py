"""Read-only signed links: a dashboard or a report for a reader without an account.

An admin creates a link for a unit of their own subtree (the link sees that unit and everything
under it, as a leader would) with an expiry of at most :data:`MAX_DAYS` days; the token is shown
once and only its sha256 is stored. :func:`resolve` answers None for an unknown, revoked or expired
token (the web app then answers 404, exactly like a link that never existed), and
:func:`record_view` writes one audit entry per view. Web routes and the CLI call these functions.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import Actor, record
from accounts.users import AccountError, NotFound
from models import Digest, Role, SharedLink, Unit, utcnow
from models.scope import Scope, subtree_ids, unit_children
from presswatch.i18n import N_

MAX_DAYS = 30
KINDS = ("dashboard", "report")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _admin_unit(session: Session, scope: Scope, unit_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None or not scope.can("admin", unit.id):
        raise NotFound(N_("Unknown unit '{unit}'."), unit=unit_id)
    return unit


def create_link(session: Session, actor: Actor, scope: Scope, *, kind: str, unit_id: int, days: float,
                digest_id: int | None = None, label: str = "", language: str = "zh-CN",
                now: datetime | None = None) -> tuple[SharedLink, str]:
    """A new link and its token (returned once: only the hash is stored). The unit must be one the
    scope administers; a report must belong to that unit's subtree; the expiry is 1 hour to 30 days."""
    now = now or utcnow()
    if kind not in KINDS:
        raise AccountError(N_("A link shows the dashboard or a report."))
    if not (1 / 24 <= days <= MAX_DAYS):
        raise AccountError(N_("A link expires after at most {n} days."), n=MAX_DAYS)
    unit = _admin_unit(session, scope, unit_id)
    digest: Digest | None = None
    if kind == "report":
        digest = session.get(Digest, digest_id) if digest_id is not None else None
        if digest is None or not scope.contains(digest.unit_id) or \
                digest.unit_id not in subtree_ids(session, [unit.id]):
            raise NotFound(N_("Unknown report."))
    token = secrets.token_urlsafe(32)
    link = SharedLink(token_hash=token_hash(token), kind=kind, digest_id=digest.id if digest else None,
                      unit_id=unit.id, label=label.strip()[:200], language=language,
                      created_by_user_id=actor.user_id, created_by=actor.username[:100], created_at=now,
                      expires_at=now + timedelta(days=days), views=0)
    session.add(link)
    session.flush()
    record(session, actor, "link.create", unit_id=unit.id, object_type="shared_link", object_id=link.id,
           after={"kind": kind, "digest_id": link.digest_id, "unit_id": unit.id,
                  "expires_at": link.expires_at.isoformat(), "label": link.label})
    return link, token


def list_links(session: Session, scope: Scope) -> Sequence[SharedLink]:
    """The links on units the scope administers, newest first."""
    stmt = select(SharedLink).order_by(SharedLink.created_at.desc(), SharedLink.id.desc())
    ids = scope.units_where("admin")
    if ids is not None:
        stmt = stmt.where(SharedLink.unit_id.in_(sorted(ids) or [-1]))
    return session.scalars(stmt).all()


def revoke_link(session: Session, actor: Actor, scope: Scope, link_id: int, now: datetime | None = None) -> SharedLink:
    link = session.get(SharedLink, link_id)
    if link is None or not scope.can("admin", link.unit_id):
        raise NotFound(N_("Unknown link."))
    if link.revoked_at is None:
        link.revoked_at = now or utcnow()
        link.revoked_by = actor.username[:100]
        record(session, actor, "link.revoke", unit_id=link.unit_id, object_type="shared_link", object_id=link.id,
               before={"revoked_at": None}, after={"revoked_at": link.revoked_at.isoformat()})
    return link


def is_live(link: SharedLink, now: datetime | None = None) -> bool:
    return link.revoked_at is None and link.expires_at > (now or utcnow())


def resolve(session: Session, token: str, now: datetime | None = None) -> SharedLink | None:
    """The live link of ``token``; None when unknown, revoked or expired (all answer 404 alike)."""
    if not token or len(token) > 200:
        return None
    link = session.scalar(select(SharedLink).where(SharedLink.token_hash == token_hash(token)))
    return link if link is not None and is_live(link, now) else None


def link_scope(session: Session, link: SharedLink) -> Scope:
    """What a link's reader sees: the link's unit subtree, read-only (a leader's view)."""
    ids = subtree_ids(session, [link.unit_id], unit_children(session))
    return Scope(user_id=None, username=f"link:{link.id}", superuser=False, unit_ids=ids,
                 roles={u: frozenset({Role.LEADER}) for u in ids}, granted_units=(link.unit_id,))


def record_view(session: Session, link: SharedLink, client_address: str, what: str = "",
                now: datetime | None = None) -> None:
    """One audit entry per view (who: the link; from where: the client address)."""
    link.views = (link.views or 0) + 1
    link.last_viewed_at = now or utcnow()
    record(session, Actor(None, f"link:{link.id}", client_address), "link.view", unit_id=link.unit_id,
           object_type="shared_link", object_id=link.id, note=what or link.kind)
