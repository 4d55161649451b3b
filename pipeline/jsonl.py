"""JSON Lines import: one article per line -> RawItem, with a clear error per bad line.

Fields: ``url`` (required), ``title``, ``text`` or ``html`` (one is required), ``published_at``,
``source`` (the source key; default from the command line), ``lang``, and optionally ``author``,
``outlet``, ``timezone``, ``fetched_at`` (ISO 8601; default now), ``metrics``, ``extra``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from presswatch.items import RawItem
from presswatch.jsonl import JsonlError, parse_object, read_objects

__all__ = ["JsonlError", "parse_line", "parse_record", "read_jsonl"]

KNOWN_FIELDS = {"url", "title", "text", "html", "published_at", "published", "source", "lang", "author", "outlet",
                "timezone", "fetched_at", "metrics", "extra"}


def parse_line(raw: str, *, default_source: str, now: datetime) -> RawItem:
    """One line -> RawItem; raises ValueError with the problem in plain words."""
    return parse_record(parse_object(raw), default_source=default_source, now=now)


def parse_record(record: dict[str, Any], *, default_source: str, now: datetime) -> RawItem:
    """One JSON object -> RawItem; raises ValueError with the problem in plain words."""
    unknown = sorted(set(record) - KNOWN_FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(unknown)} (known: {', '.join(sorted(KNOWN_FIELDS))})")
    url = record.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ValueError("missing 'url'")
    for key in ("title", "text", "html", "published_at", "published", "source", "lang", "author", "outlet", "timezone"):
        if record.get(key) is not None and not isinstance(record[key], str):
            raise ValueError(f"'{key}' must be a string, got {type(record[key]).__name__}")
    if not (record.get("text") or record.get("html")):
        raise ValueError("needs 'text' or 'html'")
    fetched_at = now
    if record.get("fetched_at"):
        try:
            fetched_at = datetime.fromisoformat(str(record["fetched_at"]).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"'fetched_at' is not an ISO 8601 time: {record['fetched_at']!r}") from None
        if fetched_at.tzinfo is None:
            fetched_at = fetched_at.replace(tzinfo=UTC)
    for key in ("metrics", "extra"):
        if record.get(key) is not None and not isinstance(record[key], dict):
            raise ValueError(f"'{key}' must be an object")
    return RawItem(
        url=url.strip(), source_key=record.get("source") or default_source, fetched_at=fetched_at.astimezone(UTC),
        html=record.get("html"), title=record.get("title"), text=record.get("text"),
        published=record.get("published_at") or record.get("published"), author=record.get("author"),
        lang=record.get("lang"), outlet_key=record.get("outlet"), timezone=record.get("timezone"),
        metrics=record.get("metrics") or {}, extra=record.get("extra") or {},
    )


def read_jsonl(path: Path, *, default_source: str = "import", on_error: Callable[[JsonlError], None],
               now: datetime | None = None) -> Iterator[RawItem]:
    """Yield one RawItem per good line; report each bad line (with its number) to ``on_error``."""
    now = now or datetime.now(UTC)
    for number, record in read_objects(path, on_error):  # the one JSONL reader
        try:
            yield parse_record(record, default_source=default_source, now=now)
        except ValueError as exc:
            on_error(JsonlError(str(path), number, str(exc)))
