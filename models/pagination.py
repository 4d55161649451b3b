"""Keyset pagination on (time, id), newest first: stable while rows are being inserted.

A page ends at a row; the cursor names that row's (time, id), and the next page is the rows strictly
after it in the order ``time DESC, id DESC``. A row inserted meanwhile (newer time, higher id) sorts
before the cursor, so it never shifts later pages: no row is skipped or shown twice, unlike
``OFFSET``. The cursor is opaque to clients (url-safe base64 of a small JSON array).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

T = TypeVar("T")


class CursorError(ValueError):
    """A cursor this API did not make (or from another list)."""


@dataclass(frozen=True)
class Position:
    at: datetime
    id: int


def encode_cursor(position: Position, kind: str) -> str:
    raw = json.dumps([kind, position.at.isoformat(), position.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        got_kind, at, row_id = json.loads(raw)
        position = Position(datetime.fromisoformat(at), int(row_id))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise CursorError("not a cursor of this list") from exc
    if got_kind != kind or position.at.tzinfo is None:
        raise CursorError("not a cursor of this list")
    return position


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    next_cursor: str | None


def keyset_page(session: Session, stmt: Select[Any], time_col: Any, id_col: Any, *, kind: str,
                cursor: str | None, limit: int) -> Page[Any]:
    """One page of ``stmt`` (a select of one entity) ordered by ``time_col`` then ``id_col``, newest
    first, after ``cursor``. ``time_col`` must be non-null and never change after insert."""
    if cursor:
        pos = decode_cursor(cursor, kind)
        stmt = stmt.where(or_(time_col < pos.at, and_(time_col == pos.at, id_col < pos.id)))
    rows = list(session.scalars(stmt.order_by(time_col.desc(), id_col.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor(Position(getattr(last, time_col.key), getattr(last, id_col.key)), kind)
    return Page(rows, next_cursor)
