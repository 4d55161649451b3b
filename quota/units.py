"""The organization's units over time: add, rename, move, and "what did the tree look like on day X".

A unit keeps its id for life, so its registrations stay its own whatever it is called or wherever
it sits. Each change closes the current :class:`models.UnitHistory` row and opens a new one at the
effective instant, so a report on a past period shows the name and parent the unit had then, and a
rule on "every team under 执行局" counts a team moved away mid-year under its old parent for the
periods before the move. Functions take a session and never commit.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Unit, UnitHistory, utcnow
from models.base import StrEnum
from models.enums import UnitKind, enum_values

# The first history row of a unit loaded without a start date: "since always".
BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)


class QuotaError(ValueError):
    """Bad input to the quota stage (unknown unit, URL of another outlet, ...): one clear line.

    ``str(exc)`` is the English line the CLI prints. A refusal the web shows may also carry
    ``msgid`` (a catalog string marked with ``N_``) and ``params``, so each face can say it in the
    user's language (:meth:`localized`)."""

    def __init__(self, message: str, *, msgid: str | None = None, params: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.msgid = msgid
        self.params = dict(params or {})

    def localized(self, translate: Callable[..., str]) -> str:
        """The refusal in the language of ``translate`` (a gettext-like callable taking ``**params``)."""
        return translate(self.msgid, **self.params) if self.msgid else str(self)


E = TypeVar("E", bound=StrEnum)


def parse_enum(enum_cls: type[E], value: str | E, what: str) -> E:
    """``value`` as a member of ``enum_cls``, or a QuotaError listing the accepted values."""
    try:
        return enum_cls(value)
    except ValueError:
        raise QuotaError(f"unknown {what} '{value}' (one of: {', '.join(enum_values(enum_cls))})") from None


def parse_unit_kind(value: str) -> UnitKind:
    return parse_enum(UnitKind, value, "unit kind")


def get_unit(session: Session, ref: str) -> Unit:
    """The unit named by ``ref``: its code, else its current name, else one of its aliases / old names.

    The one resolver every quota entry point uses (CLI options, register, status, units
    rename/move). A code always wins; a name shared by several units ("执行局" in two courts) is
    refused with their codes rather than guessed. (accounts.users.find_unit also takes ids and
    picks the first of equal names, which would let "0101" or a shared name hit the wrong unit.)
    """
    ref = ref.strip()
    unit = session.scalar(select(Unit).where(Unit.code == ref))
    if unit is not None:
        return unit
    named = list(session.scalars(select(Unit).where(Unit.name == ref).order_by(Unit.code)))
    if not named:
        named = [
            u for u in session.scalars(select(Unit).order_by(Unit.code))
            if ref in (u.aliases or [])
        ] or [
            u for u in session.scalars(
                select(Unit).join(UnitHistory, UnitHistory.unit_id == Unit.id)
                .where(UnitHistory.name == ref).distinct().order_by(Unit.code)
            )
        ]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise QuotaError(
            f"unit name '{ref}' is ambiguous: " + ", ".join(f"{u.code} ({u.name})" for u in named) + "; give the code"
        )
    known = session.scalars(select(Unit.code).order_by(Unit.code).limit(12)).all()
    hint = f" (known: {', '.join(known)}{', ...' if len(known) == 12 else ''})" if known else " (no units yet)"
    raise QuotaError(f"unknown unit '{ref}'{hint}")


def _open_row(session: Session, unit: Unit) -> UnitHistory | None:
    return session.scalar(
        select(UnitHistory)
        .where(UnitHistory.unit_id == unit.id, UnitHistory.valid_to.is_(None))
        .order_by(UnitHistory.valid_from.desc())
        .limit(1)
    )


def add_unit(
    session: Session,
    code: str,
    name: str,
    kind: UnitKind | str,
    parent: str | None = None,
    aliases: Iterable[str] = (),
    since: datetime | None = None,
    contacts: list[dict[str, str]] | None = None,
) -> Unit:
    code = code.strip()
    if not code or not name.strip():
        raise QuotaError("a unit needs a code and a name")
    if session.scalar(select(Unit.id).where(Unit.code == code)) is not None:
        raise QuotaError(f"unit '{code}' already exists (use units rename / units move to change it)")
    parent_unit = get_unit(session, parent) if parent else None
    unit = Unit(
        code=code, name=name.strip(), kind=parse_unit_kind(kind) if isinstance(kind, str) else kind,
        parent_id=parent_unit.id if parent_unit else None, aliases=list(aliases), contacts=list(contacts or []),
    )
    session.add(unit)
    session.flush()
    session.add(UnitHistory(
        unit_id=unit.id, name=unit.name, parent_id=unit.parent_id, valid_from=since or BEGINNING, valid_to=None
    ))
    session.flush()
    return unit


def _change(session: Session, unit: Unit, effective: datetime | None, *, name: str, parent_id: int | None) -> None:
    now = utcnow()
    effective = effective or now
    if effective.tzinfo is None:
        raise QuotaError("the effective time must carry a time zone")
    if effective > now:
        raise QuotaError(f"effective date {effective.date()} is in the future; record changes when they happen")
    current = _open_row(session, unit)
    if current is not None:
        if effective <= current.valid_from:
            raise QuotaError(
                f"unit '{unit.code}' last changed on {current.valid_from.date()}; "
                f"a change effective {effective.date()} would rewrite that history"
            )
        current.valid_to = effective
    session.add(UnitHistory(unit_id=unit.id, name=name, parent_id=parent_id, valid_from=effective, valid_to=None))
    unit.name = name
    unit.parent_id = parent_id
    session.flush()


def rename_unit(session: Session, code: str, new_name: str, effective: datetime | None = None) -> Unit:
    unit = get_unit(session, code)
    code = unit.code
    new_name = new_name.strip()
    if not new_name:
        raise QuotaError("the new name is empty")
    if new_name == unit.name:
        raise QuotaError(f"unit '{code}' is already called {new_name}")
    old = unit.name
    _change(session, unit, effective, name=new_name, parent_id=unit.parent_id)
    # The old name keeps matching bylines of pieces published before the rename.
    if old not in unit.aliases:
        unit.aliases = [*unit.aliases, old]
    return unit


def move_unit(session: Session, code: str, new_parent: str | None, effective: datetime | None = None) -> Unit:
    unit = get_unit(session, code)
    code = unit.code
    parent = get_unit(session, new_parent) if new_parent else None
    if parent is not None:
        # Refuse cycles: the new parent may not be the unit itself or one of its descendants.
        node_id: int | None = parent.id
        seen: set[int] = set()
        while node_id is not None and node_id not in seen:
            if node_id == unit.id:
                raise QuotaError(f"cannot move '{code}' under '{new_parent}': that unit is inside '{code}'")
            seen.add(node_id)
            node = session.get(Unit, node_id)
            node_id = node.parent_id if node else None
    new_parent_id = parent.id if parent else None
    if new_parent_id == unit.parent_id:
        raise QuotaError(f"unit '{code}' is already under '{new_parent or '(top level)'}'")
    _change(session, unit, effective, name=unit.name, parent_id=new_parent_id)
    return unit


@dataclass(frozen=True)
class UnitState:
    id: int
    code: str
    kind: UnitKind
    name: str
    parent_id: int | None


class Hierarchy:
    """Every unit's history, loaded once, answering questions about the tree at any instant."""

    def __init__(self, session: Session) -> None:
        self.units = {u.id: u for u in session.scalars(select(Unit))}
        self.by_code = {u.code: u for u in self.units.values()}
        self._history: dict[int, list[UnitHistory]] = {}
        changes: set[datetime] = set()
        for row in session.scalars(select(UnitHistory).order_by(UnitHistory.unit_id, UnitHistory.valid_from)):
            self._history.setdefault(row.unit_id, []).append(row)
            changes.add(row.valid_from)
            if row.valid_to is not None:
                changes.add(row.valid_to)
        # Between two consecutive change instants the tree is the same: answers are cached per span.
        self._changes = sorted(changes)
        self._cache: dict[tuple[Any, ...], Any] = {}

    def _epoch(self, at: datetime) -> int:
        return bisect.bisect_right(self._changes, at)

    def state(self, unit_id: int, at: datetime) -> UnitState | None:
        """The unit's name and parent at ``at``; None if it did not exist yet."""
        key = ("state", unit_id, self._epoch(at))
        if key not in self._cache:
            self._cache[key] = self._state(unit_id, at)
        return self._cache[key]

    def _state(self, unit_id: int, at: datetime) -> UnitState | None:
        unit = self.units[unit_id]
        rows = self._history.get(unit_id)
        if not rows:  # created outside add_unit: only its present state is known
            return UnitState(unit.id, unit.code, unit.kind, unit.name, unit.parent_id)
        for row in rows:
            if row.valid_from <= at and (row.valid_to is None or at < row.valid_to):
                return UnitState(unit.id, unit.code, unit.kind, row.name, row.parent_id)
        return None

    def names(self, unit_id: int) -> set[str]:
        """Every name the unit ever had, plus its aliases (for byline matching)."""
        unit = self.units[unit_id]
        out = {unit.name, *unit.aliases}
        out.update(r.name for r in self._history.get(unit_id, []))
        return {n for n in out if n}

    def _children(self, at: datetime) -> dict[int, list[int]]:
        key = ("children", self._epoch(at))
        if key not in self._cache:
            children: dict[int, list[int]] = {}
            for uid in self.units:
                st = self.state(uid, at)
                if st is not None and st.parent_id is not None:
                    children.setdefault(st.parent_id, []).append(uid)
            self._cache[key] = children
        return self._cache[key]

    def descendants(self, unit_id: int, at: datetime) -> set[int]:
        """Units under ``unit_id`` (transitively) at ``at``, not including itself."""
        children = self._children(at)
        out: set[int] = set()
        stack = list(children.get(unit_id, []))
        while stack:
            uid = stack.pop()
            if uid not in out:
                out.add(uid)
                stack.extend(children.get(uid, []))
        return out

    def members(self, kind: UnitKind | None, under: int | None, at: datetime) -> list[int]:
        """Active units of ``kind`` (any kind if None) existing at ``at``, under ``under`` if given."""
        key = ("members", kind, under, self._epoch(at))
        if key in self._cache:
            return list(self._cache[key])
        pool = self.descendants(under, at) if under is not None else set(self.units)
        self._cache[key] = out = sorted(
            uid for uid in pool
            if self.units[uid].active
            and (kind is None or self.units[uid].kind == kind)
            and self.state(uid, at) is not None
        )
        return list(out)

    def ever_above(self, unit_id: int) -> set[int]:
        """Every unit that was ever above ``unit_id`` at any time: its parents now and in its
        history, their parents, and so on (the units its pieces may ever have counted for)."""
        out: set[int] = set()
        stack = [unit_id]
        while stack:
            uid = stack.pop()
            parents = {self.units[uid].parent_id, *(r.parent_id for r in self._history.get(uid, []))}
            for parent in parents:
                if parent is not None and parent in self.units and parent not in out:
                    out.add(parent)
                    stack.append(parent)
        out.discard(unit_id)
        return out

    def path(self, unit_id: int, at: datetime) -> str:
        """"儋州市人民法院 / 执行局 / 执行一队" as the tree stood at ``at``."""
        key = ("path", unit_id, self._epoch(at))
        if key in self._cache:
            return self._cache[key]
        parts: list[str] = []
        seen: set[int] = set()
        current: int | None = unit_id
        while current is not None and current not in seen:
            seen.add(current)
            st = self.state(current, at)
            if st is None:
                break
            parts.append(st.name)
            current = st.parent_id
        self._cache[key] = path = " / ".join(reversed(parts))
        return path
