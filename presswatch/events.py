"""Named events between stages (as Scrapy's signals and Datasette's events).

Stages announce what happened; later stages subscribe. The pipeline never calls the classifier or
the alerter: it publishes ``ArticleStored`` and whoever cares reacts. The database remains the
durable record (an article without a classification is still "to classify" after a crash); the
bus is for reacting at once inside one process.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArticleStored:
    article_id: int
    story_id: int | None
    is_new_story: bool


@dataclass(frozen=True)
class ArticleClassified:
    article_id: int
    risk_level: str
    sentiment: str


@dataclass(frozen=True)
class AlertRaised:
    alert_id: int
    severity: str
    is_update: bool = False


@dataclass(frozen=True)
class SourceFailing:
    source_key: str
    consecutive_failures: int
    reason: str
    last_success_at: datetime | None = None


@dataclass(frozen=True)
class CrawlFinished:
    source_key: str
    items_found: int
    items_new: int
    status: str
    errors: tuple[str, ...] = field(default_factory=tuple)


E = TypeVar("E")
Handler = Callable[[Any], None]


class EventBus:
    """A synchronous in-process bus. A failing handler is logged; it never stops the publisher."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> None:
        self._handlers[event_type].append(handler)

    def subscribe_once(self, event_type: type[E], handler: Callable[[E], None]) -> None:
        """Subscribe unless ``handler`` already is (wiring an app twice must not double its alerts)."""
        if handler not in self._handlers.get(event_type, []):
            self.subscribe(event_type, handler)

    def is_subscribed(self, event_type: type, handler: Handler) -> bool:
        return handler in self._handlers.get(event_type, [])

    def unsubscribe(self, event_type: type[E], handler: Callable[[E], None]) -> None:
        handlers = self._handlers.get(event_type, [])
        if handler in handlers:
            handlers.remove(handler)

    def publish(self, event: object) -> None:
        for handler in list(self._handlers.get(type(event), ())):
            try:
                handler(event)
            except Exception:  # a subscriber's bug must not lose the publisher's work
                log.exception("event handler %r failed on %r", handler, event)

    def clear(self) -> None:
        self._handlers.clear()


bus = EventBus()

_PENDING = "presswatch_events_after_commit"


def publish_after_commit(session: Any, event: object, on: EventBus | None = None) -> None:
    """Publish ``event`` once ``session``'s transaction commits; drop it if it rolls back.

    A subscriber reacts by reading the database: published before the commit, it would look for
    rows it cannot see yet (another connection) or act on work that is then rolled back. A
    savepoint's release is not the commit: events wait for the outermost transaction."""
    from sqlalchemy import event as sa_event

    info = session.info
    if not info.get(_PENDING + ".hooked"):
        info[_PENDING + ".hooked"] = True

        def _after_commit(s: Any) -> None:
            if s.get_nested_transaction() is not None:
                return  # a savepoint released; the transaction goes on
            pending = s.info.pop(_PENDING, [])
            for target, pending_event in pending:
                target.publish(pending_event)

        def _after_rollback(s: Any) -> None:
            if s.get_nested_transaction() is None:
                s.info.pop(_PENDING, None)

        sa_event.listen(session, "after_commit", _after_commit)
        sa_event.listen(session, "after_rollback", _after_rollback)
    info.setdefault(_PENDING, []).append((on or bus, event))
