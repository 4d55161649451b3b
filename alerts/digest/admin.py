"""Digest definitions in the admin pages: the organization's definitions (the digests file's and
those saved here), add / edit with the file's validation, and a preview built and rendered as the
07:30 run would. A definition belongs to the units its ``scope.units`` names: an admin sees and
changes those whose every unit lies in their subtree. Saved definitions live in
``digest_definitions`` and win over the file's entry of the same name (see
:func:`alerts.digest.definitions.all_definitions`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import Actor, record_saved
from alerts.digest.definitions import DigestDefinition, DigestError, all_definitions
from models import DigestDefinitionRow, Unit
from models.scope import Scope
from presswatch.i18n import N_, Refusal
from settings import Settings


class DigestAdminError(Refusal):
    pass


class DigestNotFound(DigestAdminError):
    pass


def _unit_ids(session: Session, codes: list[str]) -> list[int | None]:
    found = {c: i for c, i in session.execute(select(Unit.code, Unit.id).where(Unit.code.in_(codes)))}
    return [found.get(c) for c in codes]


def _manages(session: Session, scope: Scope, definition: DigestDefinition) -> bool:
    if scope.superuser:
        return True
    ids = _unit_ids(session, list(definition.scope.units))
    return bool(ids) and all(i is not None and scope.can("admin", i) for i in ids)


def list_definitions(session: Session, scope: Scope, settings: Settings) -> list[tuple[DigestDefinition, bool]]:
    """(definition, saved in the web app) for the definitions the scope administers."""
    saved = set(session.scalars(select(DigestDefinitionRow.name)))
    return [(d, d.name in saved) for d in all_definitions(session, settings.alerts.digests_file)
            if _manages(session, scope, d)]


def get_definition(session: Session, scope: Scope, settings: Settings, name: str) -> DigestDefinition:
    for definition, _ in list_definitions(session, scope, settings):
        if definition.name == name:
            return definition
    raise DigestNotFound(N_("Unknown digest."))


def validate(raw: Mapping[str, Any]) -> DigestDefinition:
    """The definition as the digests file would validate it (DigestError naming the key)."""
    try:
        return DigestDefinition.model_validate(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(definition)'}: {err['msg']}"
                             for err in exc.errors())
        raise DigestError(f"digest {raw.get('name') or '?'}: {problems}") from None


def save_definition(session: Session, actor: Actor, scope: Scope, settings: Settings, definition: DigestDefinition,
                    *, original: str | None = None) -> DigestDefinitionRow:
    """Add (``original`` None) or change a definition; its units must all be the scope's to administer."""
    if not definition.scope.units or not _manages(session, scope, definition):
        raise DigestAdminError(N_("Name at least one unit, all of them yours."))
    existing = {d.name: d for d in all_definitions(session, settings.alerts.digests_file)}
    if original is None and definition.name in existing:
        raise DigestAdminError(N_("A digest named '{name}' exists already."), name=definition.name)
    if original is not None:
        get_definition(session, scope, settings, original)
        if definition.name != original:
            raise DigestAdminError(N_("The name of a digest cannot change (its sent digests refer to it)."))
    before = existing[definition.name].model_dump(mode="json") if definition.name in existing else None
    row = session.scalar(select(DigestDefinitionRow).where(DigestDefinitionRow.name == definition.name))
    if row is None:
        row = DigestDefinitionRow(name=definition.name)
        session.add(row)
    row.definition = definition.model_dump(mode="json")
    row.unit_id = _unit_ids(session, [definition.scope.units[0]])[0]
    session.flush()
    record_saved(session, actor, "digest", object_type="digest", object_id=definition.name, unit_id=row.unit_id,
                 before=before, after=row.definition)
    return row


def preview_html(session: Session, settings: Settings, definition: DigestDefinition,
                 now: datetime | None = None) -> tuple[str, str]:
    """(subject, browser HTML) of the digest as if sent now (the last 24 hours); nothing is sent."""
    from alerts.digest.builder import build_for_definition
    from alerts.digest.periods import rolling_period
    from alerts.digest.render import render_digest

    now = now or datetime.now(UTC)
    data = build_for_definition(session, definition, rolling_period(now, definition.timezone), now=now)
    rendered = render_digest(data, font_file=settings.alerts.digest_font_file)
    return rendered.subject, rendered.file_html
