"""INSERT ... ON CONFLICT through the dialect's own insert construct (SQLite and PostgreSQL).

The database decides last: two workers inserting the same unique key at once both succeed, one
row results, and the loser learns it lost from the empty RETURNING.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session


def dialect_insert(session: Session, model: Any) -> Any:
    return insert_for_dialect(session.get_bind().dialect.name, model)


def insert_for_dialect(name: str, model: Any) -> Any:
    """The dialect's own INSERT construct (it has ``on_conflict_do_nothing`` / ``_do_update``)."""
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model)
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(model)
    raise NotImplementedError(f"upserts are implemented for SQLite and PostgreSQL, not {name}")


def insert_ignore(session: Session, model: Any, conflict_columns: Sequence[str]) -> Any:
    """``INSERT ... ON CONFLICT (cols) DO NOTHING`` for ``model``."""
    return dialect_insert(session, model).on_conflict_do_nothing(index_elements=list(conflict_columns))
