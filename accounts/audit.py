"""The audit log: who did what, when, from where, with the state before and after.

``record`` is called by every state change and configuration change (the web app's routes call it
through the stage functions they use, the CLI likewise); ``entries`` and ``write_csv`` read it for a
:class:`~models.scope.Scope`, so the page and its export always show the same rows.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from models import AuditEntry, Unit, utcnow
from models.scope import Scope

# session.info key under which an API request's session names its key (see :func:`record`).
API_KEY_INFO = "presswatch.api_key"


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user (with the client address of the request) or the system / CLI, and the
    prefix of the API key the request came with (empty for the web app and the CLI)."""

    user_id: int | None
    username: str
    client_address: str = ""
    api_key: str = ""

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(user_id=None, username=name)


def as_actor(actor: Actor | str) -> Actor:
    """A stage function's ``actor``: an :class:`Actor` (a web user, with their id and address) or a
    plain name (the CLI's ``--by``, the pipeline)."""
    return actor if isinstance(actor, Actor) else Actor(None, actor)


def record(session: Session, actor: Actor, action: str, *, unit_id: int | None = None, object_type: str = "",
           object_id: object = "", before: Mapping[str, Any] | None = None,
           after: Mapping[str, Any] | None = None, note: str = "", at: datetime | None = None) -> AuditEntry:
    """One audit entry. A session serving an API request carries its key in ``session.info``
    (:data:`API_KEY_INFO`: prefix, user id, username): a stage function that names its actor only by a
    string (the case workflow) is still attributed to that key and its user."""
    via = session.info.get(API_KEY_INFO) or {}
    key_prefix = actor.api_key or (via.get("prefix", "") if via.get("username") == actor.username else "")
    user_id = actor.user_id
    if user_id is None and key_prefix and via.get("username") == actor.username:
        user_id = via.get("user_id")
    if key_prefix and not actor.client_address and via.get("client_address"):
        actor = Actor(user_id, actor.username, str(via["client_address"]), key_prefix)
    entry = AuditEntry(
        at=at or utcnow(), actor_user_id=user_id, actor=actor.username[:100], api_key_prefix=key_prefix or None,
        client_address=actor.client_address[:64], unit_id=unit_id, action=action, object_type=object_type,
        object_id=str(object_id)[:64] if object_id is not None else "",
        before=_jsonable(before), after=_jsonable(after), note=note,
    )
    session.add(entry)
    session.flush()
    return entry


def record_saved(session: Session, actor: Actor, action: str, *, object_type: str, object_id: object,
                 unit_id: int | None, before: Mapping[str, Any] | None,
                 after: Mapping[str, Any]) -> AuditEntry | None:
    """The entry of an admin's save: ``<action>.add`` when there was nothing ``before``,
    ``<action>.update`` otherwise; none when the save changed nothing."""
    if before == after:
        return None
    return record(session, actor, f"{action}.add" if before is None else f"{action}.update", unit_id=unit_id,
                  object_type=object_type, object_id=object_id, before=before, after=after)


def _jsonable(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if data is None:
        return None
    return json.loads(json.dumps(dict(data), default=str, ensure_ascii=False))


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    actor: str = ""
    since: datetime | None = None
    until: datetime | None = None


def _query(scope: Scope, flt: AuditFilter) -> Select[AuditEntry]:
    """Entries of the scope's units where it holds the audit right. Entries without a unit (logins of
    users without grants, system events) are shown to superusers only."""
    query = select(AuditEntry)
    audit_units = scope.units_where("audit")
    if audit_units is not None:
        visible = scope.visible_ids
        ids = audit_units if visible is None else audit_units & visible
        query = query.where(AuditEntry.unit_id.in_(sorted(ids)) if ids else AuditEntry.id.is_(None))
    elif scope.focus_ids is not None:
        query = query.where(AuditEntry.unit_id.in_(sorted(scope.focus_ids)))
    if flt.action:
        query = query.where(or_(AuditEntry.action == flt.action, AuditEntry.action.like(f"{flt.action}.%")))
    if flt.actor:
        query = query.where(AuditEntry.actor == flt.actor)
    if flt.since is not None:
        query = query.where(AuditEntry.at >= flt.since)
    if flt.until is not None:
        query = query.where(AuditEntry.at < flt.until)
    return query


def entries(session: Session, scope: Scope, flt: AuditFilter = AuditFilter(), *, before_id: int | None = None,
            limit: int = 50) -> list[AuditEntry]:
    """Newest first; ``before_id`` is the cursor (the last id of the previous page)."""
    query = _query(scope, flt)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))


def iter_entries(session: Session, scope: Scope, flt: AuditFilter = AuditFilter(),
                 batch: int = 1000) -> Iterator[AuditEntry]:
    before_id: int | None = None
    while True:
        rows = entries(session, scope, flt, before_id=before_id, limit=batch)
        yield from rows
        if len(rows) < batch:
            return
        before_id = rows[-1].id


CSV_COLUMNS = ("id", "at_utc", "actor", "client_address", "unit", "action", "object_type", "object_id",
               "before", "after", "note", "api_key")


def write_csv(session: Session, scope: Scope, out: IO[str], flt: AuditFilter = AuditFilter()) -> int:
    """The scope's audit log as CSV (UTC ISO times, JSON before/after); returns the row count."""
    unit_codes = {i: c for i, c in session.execute(select(Unit.id, Unit.code))}
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    n = 0
    for e in iter_entries(session, scope, flt):
        writer.writerow([
            e.id, e.at.isoformat(), e.actor, e.client_address, unit_codes.get(e.unit_id or 0, ""), e.action,
            e.object_type, e.object_id, _dump(e.before), _dump(e.after), _csv_safe(e.note), e.api_key_prefix or "",
        ])
        n += 1
    return n


def _dump(data: Mapping[str, Any] | None) -> str:
    return "" if data is None else _csv_safe(json.dumps(data, ensure_ascii=False, sort_keys=True))


def _csv_safe(text: str) -> str:
    """Spreadsheet formula injection: a cell starting with = + - @ is shown as text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


# Actions recorded by the foundation; other stages add theirs (``case.ack`` ...). The audit page's
# filter offers these and accepts any prefix ("case" matches every "case.*"); reading the distinct
# actions from the table would scan it on every page view.
KNOWN_ACTIONS = (
    "audit.export", "case.ack", "case.assign", "case.dismiss", "case.reopen", "case.resolve", "case.respond",
    "api_key.create", "api_key.revoke", "grant.add", "grant.revoke",
    "login", "login.failed", "login.locked", "login.lockout", "login.rate_limited",
    "logout", "logout.everywhere", "rule.add", "rule.disable", "rule.update", "user.add", "user.change_password",
    "user.disable", "user.enable", "user.preferences", "user.reset_password", "label.add", "plan.create",
    "correction.request", "correction.close", "correction.note", "registration.add", "registration.review",
)


def actions() -> Iterable[str]:
    return KNOWN_ACTIONS
