"""Sources managed in the admin pages: health, add and edit with the registry's validation, pause.

Every face (``/admin/sources``, ``presswatch config import``) calls these with a
:class:`models.scope.Scope`; a source outside it is "not found". A declaration is validated by
:func:`validate_source`, which runs the very parser that reads ``sources.yaml``
(:func:`crawlers.registry.parse_registry`), so a selector typo is refused in the browser with the
same message the file would give.

Who owns a row (``sources.managed_by``): ``file`` rows are mirrored from ``sources.yaml`` on every
crawl start; the first change made here (edit, pause, resume) turns the row into a ``web`` row,
which the file sync then leaves alone (it logs that the file's entry is ignored). A source added
here is a ``web`` row from the start. To hand a source back to the file, delete nothing: export it
(``presswatch config export``), put it in the file and set ``managed_by`` back (not offered in the
pages yet).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from accounts.audit import Actor, record, record_saved
from crawlers.registry import WEB, RegistryError, SourceDecl, apply_decl, parse_registry
from models import CrawlRun, Outlet, Source, Unit
from models.enums import SourceKind
from models.scope import Scope
from presswatch.i18n import N_, Refusal

WITH_ERRORS_HEALTH = ("warning", "failing")


class SourceError(Refusal):
    """A change that cannot be made; ``message`` is translatable with ``params``."""


class SourceNotFound(SourceError):
    pass


@dataclass(frozen=True)
class SourceHealth:
    source: Source
    outlet_name: str
    unit_name: str

    @property
    def has_errors(self) -> bool:
        return bool(self.source.consecutive_failures) or self.source.health in WITH_ERRORS_HEALTH


def list_sources(session: Session, scope: Scope, *, with_errors: bool = False) -> list[SourceHealth]:
    """The scope's sources with their health, failing first, then by name."""
    stmt = (select(Source, Outlet.name, Unit.name).outerjoin(Outlet, Outlet.id == Source.outlet_id)
            .outerjoin(Unit, Unit.id == Source.unit_id).where(scope.where(Source.unit_id)))
    if with_errors:
        stmt = stmt.where(or_(Source.consecutive_failures > 0, Source.health.in_(WITH_ERRORS_HEALTH)))
    rows = [SourceHealth(s, outlet or "", unit or "") for s, outlet, unit in session.execute(stmt)]
    rows.sort(key=lambda r: (-(r.source.consecutive_failures or 0), not r.has_errors, r.source.name, r.source.key))
    return rows


def get_source(session: Session, scope: Scope, source_id: int) -> Source:
    row = session.get(Source, source_id)
    if row is None or not scope.contains(row.unit_id):
        raise SourceNotFound(N_("Unknown source."))
    return row


def recent_runs(session: Session, source: Source, limit: int = 10) -> Sequence[CrawlRun]:
    return session.scalars(select(CrawlRun).where(CrawlRun.source_id == source.id)
                           .order_by(CrawlRun.started_at.desc(), CrawlRun.id.desc()).limit(limit)).all()


def outlets_for(session: Session, scope: Scope) -> Sequence[Outlet]:
    """Outlets a source may point at: shared publishers, and own channels of the scope's units."""
    stmt = select(Outlet).order_by(Outlet.name)
    if not scope.superuser:
        stmt = stmt.where(or_(Outlet.unit_id.is_(None), scope.where(Outlet.unit_id)))
    return session.scalars(stmt).all()


def validate_source(session: Session, raw: Mapping[str, Any]) -> SourceDecl:
    """One source declaration, validated exactly as ``sources.yaml`` is (same parser, same messages).
    Its outlet must exist in the database. Raises :class:`crawlers.registry.RegistryError`."""
    outlets = []
    outlet_key = raw.get("outlet")
    if outlet_key:
        outlet = session.scalar(select(Outlet).where(Outlet.key == str(outlet_key)))
        if outlet is not None:
            outlets.append({"key": outlet.key, "name": outlet.name})
    return parse_registry({"outlets": outlets, "sources": [dict(raw)]}, "source").sources[0]


def _snapshot(row: Source) -> dict[str, Any]:
    return {"key": row.key, "name": row.name, "enabled": row.enabled, "unit_id": row.unit_id,
            "outlet_id": row.outlet_id, "managed_by": row.managed_by, "config": dict(row.config or {})}


def _admin_unit(session: Session, scope: Scope, unit_code: str | None) -> Unit:
    unit = session.scalar(select(Unit).where(Unit.code == unit_code)) if unit_code else None
    if unit is None or not scope.can("admin", unit.id):
        raise SourceError(N_("Choose one of your units."))
    return unit


def save_source(session: Session, actor: Actor, scope: Scope, decl: SourceDecl, *,
                source_id: int | None = None) -> Source:
    """Add a source (``source_id`` None) or change one; ``decl.unit`` (a unit code) must be a unit the
    scope administers. The row becomes web-managed; the change is audited with before and after."""
    unit = _admin_unit(session, scope, decl.unit)
    outlet_id = session.scalar(select(Outlet.id).where(Outlet.key == decl.outlet)) if decl.outlet else None
    if source_id is None:
        if session.scalar(select(Source.id).where(Source.key == decl.key)) is not None:
            raise SourceError(N_("A source with the key '{key}' exists already."), key=decl.key)
        row = Source(key=decl.key, name=decl.name, kind=SourceKind(decl.kind), managed_by=WEB)
        session.add(row)
        before = None
    else:
        row = get_source(session, scope, source_id)
        if not scope.can("admin", row.unit_id):
            raise SourceNotFound(N_("Unknown source."))
        if decl.key != row.key:
            raise SourceError(N_("The key of a source cannot change (articles refer to it)."))
        before = _snapshot(row)
    apply_decl(session, row, decl, outlet_id)
    row.unit_id, row.managed_by = unit.id, WEB
    session.flush()
    record_saved(session, actor, "source", object_type="source", object_id=row.key, unit_id=row.unit_id,
                 before=before, after=_snapshot(row))
    return row


def set_enabled(session: Session, actor: Actor, scope: Scope, source_id: int, enabled: bool) -> Source:
    """Pause (``enabled`` False) or resume a source; the row becomes web-managed."""
    row = get_source(session, scope, source_id)
    if not scope.can("admin", row.unit_id):
        raise SourceNotFound(N_("Unknown source."))
    if row.enabled == enabled and row.managed_by == WEB:
        return row
    before = _snapshot(row)
    row.enabled, row.managed_by = enabled, WEB
    row.config = {**(row.config or {}), "enabled": enabled}
    session.flush()
    record(session, actor, "source.resume" if enabled else "source.pause", unit_id=row.unit_id,
           object_type="source", object_id=row.key, before=before, after=_snapshot(row))
    return row


def declaration_of(row: Source, unit_code: str | None) -> dict[str, Any]:
    """A source row as a ``sources.yaml`` entry (the edit form and ``presswatch config export``)."""
    raw = dict(row.config or {})
    raw.setdefault("key", row.key)
    raw.setdefault("name", row.name)
    raw.setdefault("kind", str(row.kind))
    raw["enabled"] = row.enabled
    if unit_code:
        raw["unit"] = unit_code
    return raw


__all__ = ["RegistryError", "SourceError", "SourceHealth", "SourceNotFound", "declaration_of", "get_source",
           "list_sources", "outlets_for", "recent_runs", "save_source", "set_enabled", "validate_source"]
