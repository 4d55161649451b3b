"""Units and people (correspondents) in the admin pages: the admin's subtree, add, rename and move
units (with their dated history, :mod:`quota.units`), add people and move them between units.
Scoped: only units the scope administers; anything else is "not found". Audited before/after."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import Actor, record
from models import Person, Unit
from models.scope import Scope, unit_children
from presswatch.i18n import N_, Refusal
from quota.units import QuotaError, add_unit, move_unit, parse_unit_kind, rename_unit


class UnitAdminError(Refusal):
    pass


class UnitNotFound(UnitAdminError):
    pass


@dataclass(frozen=True)
class UnitRow:
    unit: Unit
    depth: int
    people: Sequence[Person]


def unit_tree(session: Session, scope: Scope) -> list[UnitRow]:
    """The units the scope administers, depth first, each with its people."""
    children = unit_children(session)
    units = {u.id: u for u in session.scalars(select(Unit))}
    people: dict[int, list[Person]] = {}
    for p in session.scalars(select(Person).order_by(Person.name)):
        people.setdefault(p.unit_id, []).append(p)
    out: list[UnitRow] = []

    def walk(unit_id: int, depth: int) -> None:
        if scope.can("admin", unit_id) and (scope.visible_ids is None or unit_id in scope.visible_ids):
            out.append(UnitRow(units[unit_id], depth, people.get(unit_id, [])))
            depth += 1
        for child in sorted(children.get(unit_id, []), key=lambda i: units[i].code):
            walk(child, depth)

    for root in sorted(children.get(None, []), key=lambda i: units[i].code):
        walk(root, 0)
    return out


def _unit(session: Session, scope: Scope, code: str) -> Unit:
    unit = session.scalar(select(Unit).where(Unit.code == code.strip())) if code else None
    if unit is None or not scope.can("admin", unit.id):
        raise UnitNotFound(N_("Unknown unit '{unit}'."), unit=code)
    return unit


def _state(unit: Unit) -> dict[str, object]:
    return {"code": unit.code, "name": unit.name, "kind": str(unit.kind), "parent_id": unit.parent_id}


def _quota(exc: QuotaError) -> UnitAdminError:
    return UnitAdminError(N_("Not possible: {reason}"), reason=str(exc))


def create_unit(session: Session, actor: Actor, scope: Scope, *, code: str, name: str, kind: str,
                parent_code: str) -> Unit:
    """A new unit under one of the scope's units (only a superuser adds a top-level organization)."""
    parent = _unit(session, scope, parent_code) if parent_code or not scope.superuser else None
    try:
        unit = add_unit(session, code, name, parse_unit_kind(kind), parent=parent.code if parent else None)
    except QuotaError as exc:
        raise _quota(exc) from None
    record(session, actor, "unit.add", unit_id=unit.id, object_type="unit", object_id=unit.code, after=_state(unit))
    return unit


def rename(session: Session, actor: Actor, scope: Scope, code: str, new_name: str) -> Unit:
    unit = _unit(session, scope, code)
    before = _state(unit)
    try:
        rename_unit(session, unit.code, new_name)
    except QuotaError as exc:
        raise _quota(exc) from None
    record(session, actor, "unit.rename", unit_id=unit.id, object_type="unit", object_id=unit.code, before=before,
           after=_state(unit))
    return unit


def move(session: Session, actor: Actor, scope: Scope, code: str, new_parent_code: str) -> Unit:
    """Move a unit under another of the scope's units (dated: past counts keep the old tree)."""
    unit = _unit(session, scope, code)
    parent = _unit(session, scope, new_parent_code) if new_parent_code or not scope.superuser else None
    before = _state(unit)
    try:
        move_unit(session, unit.code, parent.code if parent else None)
    except QuotaError as exc:
        raise _quota(exc) from None
    record(session, actor, "unit.move", unit_id=unit.id, object_type="unit", object_id=unit.code, before=before,
           after=_state(unit))
    return unit


def add_person(session: Session, actor: Actor, scope: Scope, *, unit_code: str, name: str,
               role: str = "correspondent") -> Person:
    unit = _unit(session, scope, unit_code)
    name = name.strip()
    if not name:
        raise UnitAdminError(N_("Give the person's name."))
    if session.scalar(select(Person.id).where(Person.unit_id == unit.id, Person.name == name)) is not None:
        raise UnitAdminError(N_("{name} is already in this unit."), name=name)
    person = Person(unit_id=unit.id, name=name, role=role.strip() or "correspondent", active=True)
    session.add(person)
    session.flush()
    record(session, actor, "person.add", unit_id=unit.id, object_type="person", object_id=person.id,
           after={"name": name, "unit": unit.code, "role": person.role})
    return person


def _person(session: Session, scope: Scope, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None or not scope.can("admin", person.unit_id):
        raise UnitNotFound(N_("Unknown person."))
    return person


def move_person(session: Session, actor: Actor, scope: Scope, person_id: int, new_unit_code: str) -> Person:
    """A correspondent changes unit (both units the scope's); recorded with before and after."""
    person = _person(session, scope, person_id)
    target = _unit(session, scope, new_unit_code)
    if target.id == person.unit_id:
        raise UnitAdminError(N_("{name} is already in this unit."), name=person.name)
    if session.scalar(select(Person.id).where(Person.unit_id == target.id, Person.name == person.name)) is not None:
        raise UnitAdminError(N_("{name} is already in this unit."), name=person.name)
    old = session.get(Unit, person.unit_id)
    person.unit_id = target.id
    session.flush()
    record(session, actor, "person.move", unit_id=target.id, object_type="person", object_id=person.id,
           before={"name": person.name, "unit": old.code if old else None},
           after={"name": person.name, "unit": target.code})
    return person


def set_person_active(session: Session, actor: Actor, scope: Scope, person_id: int, active: bool) -> Person:
    person = _person(session, scope, person_id)
    before = {"name": person.name, "active": person.active}
    person.active = active
    session.flush()
    record(session, actor, "person.enable" if active else "person.disable", unit_id=person.unit_id,
           object_type="person", object_id=person.id, before=before, after={"name": person.name, "active": active})
    return person
