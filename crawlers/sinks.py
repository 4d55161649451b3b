"""Sinks other than the pipeline: a list (tests) and a JSONL file (``presswatch crawl --out``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, TextIO

from presswatch.items import RawItem


def item_record(item: RawItem) -> dict[str, Any]:
    """A JSON-safe view of a raw item: the body as its size and sha256, not bytes."""
    record = dataclasses.asdict(item)
    body = record.pop("body")
    record.pop("html")
    record["fetched_at"] = item.fetched_at.isoformat()
    record["body_bytes"] = len(body) if body is not None else None
    record["body_sha256"] = hashlib.sha256(body).hexdigest() if body is not None else None
    return record


class JsonlSink:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh: TextIO = self.path.open("a", encoding="utf-8")
        self.count = 0

    def __call__(self, batch: list[RawItem]) -> int:
        for item in batch:
            self._fh.write(json.dumps(item_record(item), ensure_ascii=False, default=str) + "\n")
        self._fh.flush()
        self.count += len(batch)
        return len(batch)

    def close(self) -> None:
        self._fh.close()
