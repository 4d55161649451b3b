"""What one crawl of one source needs (a plan) and what came of it (an outcome). Plain, picklable.

A plan is built from the database (the source's declaration, its conditional-GET state and the
URL hashes already stored) so the spiders themselves never touch the database, and a crawl can run
in a child process (Twisted's reactor cannot restart within one process).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Run statuses (crawl_runs.status): the difference between "ok, 0 new" (a quiet day: the
# source answered and everything it lists is already stored) and "empty" (the source answered
# with nothing at all: a changed layout, a JavaScript-only page) is the point of health tracking.
OK = "ok"
EMPTY = "empty"
FAILED = "failed"


@dataclass
class CrawlPlan:
    source_key: str
    decl: dict[str, Any]  # SourceDecl.config()
    known_hashes: frozenset[str] = frozenset()
    etag: str | None = None
    last_modified: str | None = None
    outlet_key: str | None = None
    obey_robots_txt: bool = True
    max_depth: int = 3
    # import sources: rows already read from the import file that still need fetching
    urls: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    source_key: str
    pages_fetched: int = 0
    items_found: int = 0  # entries / links / posts the source listed (stored or not)
    items_new: int = 0  # items handed to the sink
    errors: list[str] = field(default_factory=list)
    empty_reason: str | None = None  # set by the spider when the source listed nothing
    not_modified: bool = False  # a feed answered 304
    sink_failed: bool = False  # items could not be stored: keep the old conditional-GET state
    etag: str | None = None
    last_modified: str | None = None

    @property
    def status(self) -> str:
        if self.not_modified or self.items_found > 0:
            return OK
        if self.errors:
            return FAILED
        return EMPTY

    @property
    def reason(self) -> str | None:
        """Why this run was not clean (None when it was)."""
        if self.status == FAILED:
            return self.errors[0]
        if self.status == EMPTY:
            return self.empty_reason or "the source returned nothing"
        if self.errors:
            more = f" (+{len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            return self.errors[0] + more
        return None
