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

# Skip reasons that are the source's configuration working as meant, not data lost.
ALREADY_STORED = "already stored"
NOT_WANTED = "link does not match the source's link_pattern"
OVER_CAP = "over the source's max_items"
ROUTINE_SKIPS = frozenset({ALREADY_STORED, NOT_WANTED, OVER_CAP})
# What the pipeline said of an item it did not store ("dropped: no_text", "duplicate: same_url");
# its duplicates are routine, its drops are not.
PIPELINE_DROPPED = "dropped: "
PIPELINE_DUPLICATE = "duplicate: "


def is_routine(reason: str) -> bool:
    return reason in ROUTINE_SKIPS or reason.startswith(PIPELINE_DUPLICATE)


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
    # entries / links the source listed that this run did not hand on, by reason: every one is
    # counted, so "listed 20, new 3" always adds up
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def skipped_summary(self) -> str | None:
        """"2 entries not kept: no link, guid or text (2)" for the reasons that lose data; None when none."""
        lost = {r: n for r, n in self.skipped.items() if not is_routine(r)}
        if not lost:
            return None
        total = sum(lost.values())
        return f"{total} {'entry' if total == 1 else 'entries'} not kept: " + \
            "; ".join(f"{reason} ({n})" for reason, n in sorted(lost.items()))

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
        return self.skipped_summary()
