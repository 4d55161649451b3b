"""Who may see what: the organization tree and the :class:`Scope` every query function takes.

The unit tree is the organization tree: a grant of a role on a unit applies to the unit's whole
subtree. A request (a logged-in user, later an API key) is resolved once into a ``Scope``: the set
of unit ids it may read, and the roles it holds on each. Query functions take the scope and filter
with :meth:`Scope.where` so a list, a count, a chart and an export cannot disagree about it, and an
object outside the scope is simply "not found" (:meth:`Scope.contains`).

Rows loaded without a unit (rules from a YAML file with no ``unit:``) belong to the installation's
organization (:func:`default_unit_id`, the single root unit), if the tree has one root.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.orm import Session

from models.accounts import Grant, Role, User
from models.quota import Unit

# What each role may do, beyond reading its subtree. One table, read by every face.
# Quota registrations: "register" a piece (and confirm a proposed one), "review" it for the section
# (section approval), "approve" it as the leader (leader approval); both reviewers may reject.
ROLE_ACTIONS: Mapping[Role, frozenset[str]] = {
    Role.ADMIN: frozenset({"read", "admin", "triage", "configure", "register", "audit", "review", "approve"}),
    Role.ANALYST: frozenset({"read", "triage", "configure", "review"}),
    Role.LEADER: frozenset({"read", "digests", "approve"}),
    Role.CORRESPONDENT: frozenset({"read_own", "register"}),
}


# The actions a read-only scope (an API key made read-only) keeps.
READ_ACTIONS = frozenset({"read", "read_own"})


def unit_children(session: Session) -> dict[int | None, list[int]]:
    """parent id -> child ids, for the whole tree (a few hundred units at most: one query)."""
    children: dict[int | None, list[int]] = {}
    for unit_id, parent_id in session.execute(select(Unit.id, Unit.parent_id).order_by(Unit.id)):
        children.setdefault(parent_id, []).append(unit_id)
    return children


def subtree_ids(session: Session, roots: Iterable[int],
                children: Mapping[int | None, list[int]] | None = None) -> frozenset[int]:
    """The units at and under ``roots``."""
    children = unit_children(session) if children is None else children
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        unit_id = stack.pop()
        if unit_id in seen:
            continue
        seen.add(unit_id)
        stack.extend(children.get(unit_id, ()))
    return frozenset(seen)


def root_of(session: Session, unit_id: int) -> int:
    """The top of the tree above ``unit_id`` (its organization)."""
    parents: dict[int, int | None] = {i: p for i, p in session.execute(select(Unit.id, Unit.parent_id))}
    seen: set[int] = set()
    while parents.get(unit_id) is not None and unit_id not in seen:
        seen.add(unit_id)
        unit_id = parents[unit_id]  # type: ignore[assignment]
    return unit_id


def default_unit_id(session: Session) -> int | None:
    """The installation's organization when it has exactly one root unit; else None (unowned rows are
    then visible to superusers only, and ``presswatch`` asks for a ``unit:``)."""
    roots = session.scalars(select(Unit.id).where(Unit.parent_id.is_(None)).limit(2)).all()
    return roots[0] if len(roots) == 1 else None


@dataclass(frozen=True)
class Scope:
    """The units a request may see and the roles it holds on each.

    ``unit_ids`` is None for a superuser (everything, including unowned rows). ``focus`` is the
    organization the user is looking at (the switcher): queries for pages use :meth:`where`, which
    narrows to the focus's subtree when one is set."""

    user_id: int | None
    username: str
    superuser: bool = False
    unit_ids: frozenset[int] | None = frozenset()
    # unit id -> roles effective on it (inherited from grants on its ancestors)
    roles: Mapping[int, frozenset[Role]] = field(default_factory=dict)
    # Units the user holds a grant on directly (the switcher's choices).
    granted_units: tuple[int, ...] = ()
    focus: int | None = None
    focus_ids: frozenset[int] | None = None
    # An API key made read-only: every action but reading is refused, whatever the roles say.
    read_only: bool = False

    @property
    def visible_ids(self) -> frozenset[int] | None:
        """Units of the current view: the focus subtree if set, else everything the scope allows."""
        return self.focus_ids if self.focus_ids is not None else self.unit_ids

    def where(self, column: Any) -> ColumnElement[bool]:
        """A SQL condition keeping rows whose unit column is inside the scope (and its focus)."""
        ids = self.visible_ids
        if ids is None:
            return true()
        if not ids:
            return false()
        return column.in_(sorted(ids))

    def contains(self, unit_id: int | None) -> bool:
        """May this scope see an object of ``unit_id`` at all (ignoring the focus)? Unowned objects:
        superusers only."""
        if self.superuser:
            return True
        return unit_id is not None and self.unit_ids is not None and unit_id in self.unit_ids

    def roles_on(self, unit_id: int | None) -> frozenset[Role]:
        if self.superuser:
            return frozenset(Role)
        if unit_id is None:
            return frozenset()
        return self.roles.get(unit_id, frozenset())

    def can(self, action: str, unit_id: int | None) -> bool:
        """May the scope do ``action`` (see ROLE_ACTIONS) on an object of ``unit_id``?"""
        if self.read_only and action not in READ_ACTIONS:
            return False
        return any(action in ROLE_ACTIONS[role] for role in self.roles_on(unit_id))

    def can_anywhere(self, action: str) -> bool:
        if self.read_only and action not in READ_ACTIONS:
            return False
        if self.superuser:
            return True
        return any(action in ROLE_ACTIONS[r] for roles in self.roles.values() for r in roles)

    def units_where(self, action: str) -> frozenset[int] | None:
        """Units where the scope may do ``action`` (None: everywhere, a superuser)."""
        if self.read_only and action not in READ_ACTIONS:
            return frozenset()
        if self.superuser:
            return None
        return frozenset(u for u, roles in self.roles.items() if any(action in ROLE_ACTIONS[r] for r in roles))

    def for_action(self, action: str) -> Scope:
        """This scope narrowed to the units where it may do ``action`` (and inside its focus): what a
        user may change, as a scope to query with. A superuser's scope is returned as it is."""
        units = self.units_where(action)
        if units is None:
            return self
        visible = self.visible_ids
        ids = frozenset(units if visible is None else units & visible)
        return replace(self, unit_ids=ids, focus_ids=ids)

    def acting_unit(self, action: str) -> int | None:
        """The unit a change by this scope is filed under (the audit log's organization): the focus
        if the scope may do ``action`` there, else the first directly granted unit where it may."""
        if self.focus is not None and self.can(action, self.focus):
            return self.focus
        for unit_id in self.granted_units:
            if self.can(action, unit_id):
                return unit_id
        return None


def scope_for_user(session: Session, user: User, focus: int | None = None) -> Scope:
    """Resolve a user's grants into a Scope. ``focus`` (the switcher) is kept only if it lies inside
    what the user may see; else the view covers every granted unit."""
    children = unit_children(session)
    grants = session.execute(select(Grant.unit_id, Grant.role).where(Grant.user_id == user.id)
                             .order_by(Grant.id)).all()
    roles: dict[int, set[Role]] = {}
    granted: list[int] = []
    for unit_id, role in grants:
        if unit_id not in granted:
            granted.append(unit_id)
        for sub in subtree_ids(session, [unit_id], children):
            roles.setdefault(sub, set()).add(Role(role))
    frozen = {u: frozenset(r) for u, r in roles.items()}
    unit_ids: frozenset[int] | None = None if user.is_superuser else frozenset(frozen)
    focus_ids: frozenset[int] | None = None
    if focus is not None and (user.is_superuser or focus in frozen):
        focus_ids = subtree_ids(session, [focus], children)
    else:
        focus = None
    return Scope(user_id=user.id, username=user.username, superuser=user.is_superuser, unit_ids=unit_ids,
                 roles=frozen, granted_units=tuple(granted), focus=focus, focus_ids=focus_ids)


def narrowed_scope(session: Session, scope: Scope, *, unit_id: int | None = None, read_only: bool = False) -> Scope:
    """``scope`` limited to ``unit_id``'s subtree (which must lie inside it: else it sees nothing)
    and/or to reading: an API key's scope is its creator's, or narrower, never wider."""
    if unit_id is not None:
        subtree = subtree_ids(session, [unit_id])
        if scope.superuser:
            roles = {u: frozenset(Role) for u in subtree}
        else:
            roles = {u: r for u, r in scope.roles.items() if u in subtree}
        unit_ids = frozenset(roles)
        scope = Scope(user_id=scope.user_id, username=scope.username, superuser=False, unit_ids=unit_ids,
                      roles=roles, granted_units=(unit_id,) if unit_ids else (), focus=None, focus_ids=None)
    if read_only:
        scope = replace(scope, read_only=True)
    return scope


def system_scope() -> Scope:
    """Everything: for the CLI and scheduled jobs, which run as the installation's operator."""
    return Scope(user_id=None, username="system", superuser=True, unit_ids=None)


def get_in_scope(session: Session, model: Any, object_id: int, scope: Scope) -> Any | None:
    """The ``model`` row ``object_id`` (a table with a ``unit_id``) if ``scope`` may see it, else None:
    a missing row and another organization's row are the same answer."""
    row = session.get(model, object_id)
    if row is None or not scope.contains(row.unit_id):
        return None
    return row
