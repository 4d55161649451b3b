"""Manual imports: a file of URLs, a CSV or JSONL archive, or pasted text, as raw items.

Rows that carry their text become raw items at once (nothing to fetch); rows with only a URL are
fetched like any article page (``UrlListSpider``). Pasted text without a URL gets a stable
``urn:presswatch:paste:<sha256>`` address, so pasting the same text twice stores it once.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crawlers.encoding import decode_body, nfc
from presswatch.items import RawItem

FIELDS = ("url", "title", "text", "published", "author")


class ImportError_(Exception):
    """An import file that cannot be read (message names the file and line)."""


@dataclass
class ImportBatch:
    urls: list[str] = field(default_factory=list)  # to fetch
    rows: list[dict[str, str]] = field(default_factory=list)  # already have their text


def read_import_file(path: str | Path) -> ImportBatch:
    path = Path(path)
    if not path.is_file():
        raise ImportError_(f"import file not found: {path}")
    text = decode_body(path.read_bytes()).text
    batch = ImportBatch()
    suffix = path.suffix.lower()
    if suffix == ".csv":
        records: list[dict[str, Any]] = list(csv.DictReader(text.splitlines()))
    elif suffix in (".jsonl", ".ndjson"):
        from presswatch.jsonl import JsonlError, objects_in_text

        try:  # the one JSONL reader, on text the one byte decoder read
            records = [obj for _n, obj in objects_in_text(text, str(path))]
        except JsonlError as exc:
            raise ImportError_(str(exc)) from None
    else:  # a plain list of URLs, one per line
        batch.urls = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        return batch
    for rec in records:
        row = {k: str(rec[k]).strip() for k in FIELDS if rec.get(k) not in (None, "")}
        if row.get("text"):
            batch.rows.append(row)
        elif row.get("url"):
            batch.urls.append(row["url"])
    return batch


def paste_url(text: str) -> str:
    return "urn:presswatch:paste:" + hashlib.sha256(nfc(text).encode("utf-8")).hexdigest()[:32]


def row_item(row: dict[str, str], *, source_key: str, lang: str | None, timezone: str | None,
             outlet_key: str | None = None) -> RawItem:
    text = nfc(row["text"])
    return RawItem(
        url=row.get("url") or paste_url(text), source_key=source_key, fetched_at=datetime.now(UTC),
        title=nfc(row["title"]) if row.get("title") else None, text=text, published=row.get("published"),
        author=row.get("author"), lang=lang, timezone=timezone, outlet_key=outlet_key, extra={"imported": True},
    )
