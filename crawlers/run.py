"""A crawl run: pick sources, build plans from the database, crawl, hand items to a sink, record health.

The sink is any callable taking a batch (list) of raw items; ``presswatch crawl`` wires it to
``pipeline.ingest.ingest_items``. The crawler never classifies and never stores articles itself.
Health is recorded after the items reached the sink, so a source's "ok" means its items are in.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from crawlers.plan import CrawlPlan, Outcome
from crawlers.registry import decl_of, iter_due
from models import Article, Outlet, RiskPlan, Source
from models.db import session_scope
from models.enums import SourceKind
from presswatch.events import bus
from presswatch.items import RawItem
from settings import Settings

log = logging.getLogger(__name__)

Sink = Callable[[list[RawItem]], Any]
SINK_BATCH = 100
MIN_POLL_SECONDS = 5  # even in a risk plan's window, not more often than this: sites notice


@dataclass(frozen=True)
class SourceReport:
    key: str
    status: str
    pages_fetched: int
    items_found: int
    items_new: int
    health: str
    consecutive_failures: int
    reason: str | None
    skipped: dict[str, int] = field(default_factory=dict)  # listed but not handed on, by reason


@dataclass
class PipelineTally:
    """What the pipeline did with one source's items in a run: the numbers a user acts on (a crawl
    that fetched 40 pages and stored none is not a good run)."""

    stored: int = 0
    updated: int = 0
    duplicate: int = 0
    dropped: int = 0
    errors: int = 0
    reasons: Counter[str] = field(default_factory=Counter)  # why items were dropped or failed

    def add(self, stats: Any) -> None:
        """Add an ``IngestStats`` (duck-typed: crawler code never imports the pipeline eagerly)."""
        for name in ("stored", "updated", "duplicate", "dropped", "errors"):
            setattr(self, name, getattr(self, name) + int(getattr(stats, name)))
        for url_reason in getattr(stats, "problems", []):
            self.reasons[str(url_reason[1]).split(":")[0]] += 1

    def top_reasons(self, n: int = 3) -> str:
        return ", ".join(f"{reason} ×{count}" for reason, count in self.reasons.most_common(n))


class PipelineSink:
    """Store items through the pipeline (imported lazily: crawler code never needs jieba), and
    count per source what it did: stored / updated / duplicate / dropped (with reasons) / errors."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine, self.settings = engine, settings
        self.per_source: dict[str, PipelineTally] = {}

    def __call__(self, batch: list[RawItem]) -> Any:
        from pipeline.ingest import ingest_items

        by_source: dict[str, list[RawItem]] = {}
        for item in batch:
            by_source.setdefault(item.source_key, []).append(item)
        results = []
        for key, items in by_source.items():
            stats = ingest_items(items, engine=self.engine, settings=self.settings)
            self.per_source.setdefault(key, PipelineTally()).add(stats)
            results.append(stats)
        # crawl() hands one source's items at a time and reads the IngestStats back (skip reasons).
        return results[0] if len(results) == 1 else results

    def tally(self, key: str) -> PipelineTally:
        return self.per_source.get(key, PipelineTally())


def pipeline_sink(engine: Engine, settings: Settings) -> PipelineSink:
    return PipelineSink(engine, settings)


def select_sources(session: Session, settings: Settings, keys: Iterable[str] | None = None,
                   due_only: bool = False, now: datetime | None = None) -> list[Source]:
    """Sources to crawl: ``keys`` (even disabled ones: asked for by name), or every enabled one."""
    query = select(Source).order_by(Source.key)
    wanted = None if keys is None else list(keys)
    if wanted is not None:
        query = query.where(Source.key.in_(wanted))
    rows = list(session.scalars(query))
    missing = set(wanted or []) - {r.key for r in rows}
    if missing:
        raise KeyError(", ".join(sorted(missing)))
    if wanted is None:
        # Import sources without a file are fed by `presswatch import`, not by crawl runs.
        rows = [r for r in rows if r.enabled and (r.kind != SourceKind.IMPORT or r.config.get("path"))]
    if due_only:
        now = now or datetime.now(UTC)
        rows = iter_due(rows, settings.scheduler.crawl_interval_minutes, now, plan_poll_seconds(session, now))
    return rows


def plan_poll_seconds(session: Session, now: datetime) -> dict[str, int]:
    """Source key -> poll interval in seconds that risk plans (三同步) open at ``now`` ask for
    (``overrides.poll_seconds``, or ``overrides.poll_minutes``); the shortest wins. Plans are read
    from their table: the crawler needs only their windows, not the alert rules they tighten."""
    out: dict[str, int] = {}
    plans = session.scalars(select(RiskPlan).where(RiskPlan.window_start <= now, RiskPlan.window_end > now))
    for plan in plans:
        overrides = plan.overrides or {}
        asked = [(key, value, 60) for key, value in (overrides.get("poll_minutes") or {}).items()]
        asked += [(key, value, 1) for key, value in (overrides.get("poll_seconds") or {}).items()]
        for key, value, unit in asked:
            try:
                wanted = max(MIN_POLL_SECONDS, int(value) * unit)
            except (TypeError, ValueError):
                log.warning("risk plan %s: poll interval for %s is not a number: %r", plan.name, key, value)
                continue
            out[key] = min(wanted, out.get(key, wanted))
    return out


def plan_poll_minutes(session: Session, now: datetime) -> dict[str, int]:
    """The same in whole minutes (rounded up), for callers that think in minutes."""
    return {k: max(1, -(-v // 60)) for k, v in plan_poll_seconds(session, now).items()}


def build_plan(session: Session, row: Source, settings: Settings) -> tuple[CrawlPlan, list[RawItem]]:
    """The plan for one source, and for an import source the items its file already carries."""
    decl = decl_of(row)
    plan = build_plans(session, [row], settings)[0]
    ready: list[RawItem] = []
    if decl.kind == "import" and decl.path:
        from crawlers.imports import read_import_file, row_item

        batch = read_import_file(decl.path)
        plan.urls = batch.urls
        ready = [row_item(r, source_key=row.key, lang=decl.language, timezone=decl.timezone,
                          outlet_key=plan.outlet_key) for r in batch.rows]
    return plan, ready


def known_urls(session: Session, ids: list[int], limit: int | None = None) -> dict[int, frozenset[str]]:
    """Each source's stored URL hashes (of the canonical URL and of the URL as fetched); with
    ``limit``, only its newest ``limit`` pieces by publication time (an index seek per source)."""
    known: dict[int, set[str]] = {i: set() for i in ids}
    if not ids:
        return {}
    rows: list[Any] = []
    if limit is None:
        rows += session.execute(select(Article.source_id, Article.url_hash, Article.url)
                                .where(Article.source_id.in_(ids)))
    else:
        from sqlalchemy import union_all

        # One "newest N of this source" per source: each reads ``limit`` entries of the
        # (source_id, published_at) index instead of ranking every article of the source.
        # 100 per statement: SQLite allows 500 terms in a compound SELECT.
        for at in range(0, len(ids), 100):
            parts = [select(Article.source_id, Article.url_hash, Article.url).where(Article.source_id == i)
                     .order_by(Article.published_at.desc()).limit(limit).subquery().select()
                     for i in ids[at:at + 100]]
            rows += session.execute(union_all(*parts) if len(parts) > 1 else parts[0])
    for source_id, stored_hash, stored_url in rows:
        if source_id is None:
            continue
        known[source_id].add(stored_hash)
        if stored_url:
            known[source_id].add(hashlib.sha256(stored_url.encode("utf-8")).hexdigest())
    return {i: frozenset(h) for i, h in known.items()}


def build_plans(session: Session, rows: list[Source], settings: Settings,
                known_limit: int | None = None, with_known: bool = True) -> list[CrawlPlan]:
    """Plans for several sources in a few queries (the crawl worker builds dozens a second).

    ``known_limit`` keeps only each source's newest stored URLs as "known" (the worker: a feed
    lists its recent entries, and an older URL fetched again is still a duplicate to the pipeline;
    loading every hash of a large source on every poll would cost more than the poll).
    ``with_known=False`` leaves them out: the worker loads them (:func:`known_urls`) only for a
    poll whose answer has entries to check, not for the feeds that answer 304.
    """
    ids = [row.id for row in rows]
    known = known_urls(session, ids, known_limit) if with_known else {}
    outlet_ids = {row.outlet_id for row in rows if row.outlet_id}
    outlets: dict[int, str] = {}
    if outlet_ids:
        outlets = {i: k for i, k in session.execute(select(Outlet.id, Outlet.key).where(Outlet.id.in_(outlet_ids)))}
    plans = []
    for row in rows:
        decl = decl_of(row)
        plans.append(CrawlPlan(
            source_key=row.key, decl=decl.config(), known_hashes=known.get(row.id, frozenset()), etag=row.http_etag,
            last_modified=row.http_last_modified, outlet_key=outlets.get(row.outlet_id) if row.outlet_id else None,
            obey_robots_txt=settings.crawl.obey_robots_txt if decl.obey_robots_txt is None else decl.obey_robots_txt,
            max_depth=settings.crawl.max_list_depth if decl.max_depth is None else max(decl.max_depth, 1),
        ))
    return plans


def _not_stored(result: Any) -> dict[str, int]:
    """A pipeline sink's answer (``IngestStats``, or a list of them: ``PipelineSink`` answers one
    per source) as skip reasons; other sinks say nothing."""
    from crawlers.plan import PIPELINE_DROPPED, PIPELINE_DUPLICATE

    out: dict[str, int] = {}
    for stats in result if isinstance(result, list) else [result]:
        for url_reason in getattr(stats, "problems", None) or []:
            _url, reason = url_reason
            key = PIPELINE_DROPPED + reason.split(":")[0]
            out[key] = out.get(key, 0) + 1
        for reason, n in (getattr(stats, "duplicate_reasons", None) or {}).items():
            out[PIPELINE_DUPLICATE + reason] = out.get(PIPELINE_DUPLICATE + reason, 0) + n
    return out


class _Batcher:
    """Hands items to the sink in batches; a failing sink is recorded, never fatal to the run."""

    def __init__(self, sink: Sink) -> None:
        self.sink, self.buffer = sink, list[RawItem]()
        self.results: list[Any] = []
        self.errors: dict[str, list[str]] = {}
        self.not_stored: dict[str, dict[str, int]] = {}  # per source: pipeline reason -> items

    def add(self, item: RawItem) -> None:
        self.buffer.append(item)
        if len(self.buffer) >= SINK_BATCH:
            self.flush()

    def flush(self) -> None:
        batch, self.buffer = self.buffer, []
        if not batch:
            return
        # One sink call per source, so that what the pipeline did not store ("dropped: no_text",
        # "duplicate: same_content") is told on that source's run.
        groups: dict[str, list[RawItem]] = {}
        for item in batch:
            groups.setdefault(item.source_key, []).append(item)
        for key, group in groups.items():
            try:
                result = self.sink(group)
            except Exception as exc:
                log.exception("storing %d crawled items failed", len(group))
                self.errors.setdefault(key, []).append(f"storing items failed: {type(exc).__name__}: {exc}"[:300])
                continue
            self.results.append(result)
            counts = self.not_stored.setdefault(key, {})
            for reason, n in _not_stored(result).items():
                counts[reason] = counts.get(reason, 0) + n


Prepared = tuple[CrawlPlan, list[RawItem]]


def crawl(engine: Engine, settings: Settings, *, sink: Sink, keys: Iterable[str] | None = None,
          due_only: bool = False, isolate: bool = True, extra_plans: list[Prepared] | None = None,
          ) -> list[SourceReport]:
    """Crawl the selected sources once and record each one's run and health.

    ``isolate`` runs Scrapy in a child process (needed whenever this process may crawl again).
    """
    from crawlers.engine import run_plans, run_plans_isolated
    from crawlers.frontier import record_poll

    started = datetime.now(UTC)
    with session_scope(engine) as session:
        rows = select_sources(session, settings, keys, due_only, started)
        prepared = [build_plan(session, row, settings) for row in rows] + list(extra_plans or [])
        source_ids = {row.key: row.id for row in rows}
        for row in rows:
            row.last_attempt_at = started
    if not prepared:
        return []

    plans = [p for p, _ in prepared]
    outcomes: dict[str, Outcome] = {p.source_key: Outcome(p.source_key) for p in plans}
    batcher = _Batcher(sink)
    for plan, ready in prepared:
        outcomes[plan.source_key].items_found += len(ready)
        outcomes[plan.source_key].items_new += len(ready)
        for item in ready:
            batcher.add(item)
    web_plans = [p for p in plans if p.decl["kind"] != SourceKind.IMPORT.value or p.urls or p.decl.get("start_urls")]
    runner = run_plans_isolated if isolate else run_plans
    crawled = runner(web_plans, settings.crawl, batcher.add) if web_plans else {}
    batcher.flush()
    for key, result in crawled.items():
        pre = outcomes[key]
        result.items_found += pre.items_found
        result.items_new += pre.items_new
        result.errors = pre.errors + result.errors
        outcomes[key] = result
    for key, errors in batcher.errors.items():
        if key in outcomes:
            outcomes[key].errors += errors
            outcomes[key].sink_failed = True
    for key, counts in batcher.not_stored.items():
        if key in outcomes:
            for reason, n in counts.items():
                outcomes[key].skip(reason, n)
    finished = datetime.now(UTC)

    reports, events = [], []
    with session_scope(engine) as session:
        plan_seconds = plan_poll_seconds(session, finished)
        for key, outcome in outcomes.items():
            found = session.get(Source, source_ids[key]) if key in source_ids else \
                session.scalar(select(Source).where(Source.key == key))
            if found is None:
                continue
            row = found
            if row is None:
                continue
            found_events, _ = record_poll(session, row, outcome, started_at=started, finished_at=finished,
                                          settings=settings, plan_seconds=plan_seconds)
            events += found_events
            reports.append(SourceReport(key, outcome.status, outcome.pages_fetched, outcome.items_found,
                                        outcome.items_new, row.health, row.consecutive_failures, outcome.reason,
                                        dict(outcome.skipped)))
    for event in events:
        bus.publish(event)
    return reports


def ensure_import_source(session: Session, key: str, language: str) -> Source:
    """The source that manual imports are filed under (created on first use, kind ``import``)."""
    from crawlers.registry import SourceDecl

    row = session.scalar(select(Source).where(Source.key == key))
    if row is None:
        tz = "Asia/Ho_Chi_Minh" if language == "vi" else "Asia/Shanghai"
        decl = SourceDecl(key=key, name=f"manual import ({key})", kind="import", language=language,
                          start_urls=[], path=None, timezone=tz)
        row = Source(key=key, name=decl.name, kind=SourceKind.IMPORT, language=language, timezone=decl.timezone,
                     config=decl.model_dump(mode="json", exclude_none=True))
        session.add(row)
        session.flush()
    elif row.kind != SourceKind.IMPORT:
        raise ValueError(f"source {key!r} is a {row.kind.value} source, not an import source")
    return row


def run_import(engine: Engine, settings: Settings, *, sink: Sink, source_key: str, urls: list[str],
               rows: list[dict[str, str]], language: str = "zh", isolate: bool = True) -> list[SourceReport]:
    """Import pieces staff saw elsewhere: rows with text go straight to the sink, URLs are fetched."""
    from crawlers.imports import row_item

    with session_scope(engine) as session:
        row = ensure_import_source(session, source_key, language)
        plan, _ = build_plan(session, row, settings)
        plan.urls = list(urls)
        ready = [row_item(r, source_key=row.key, lang=row.language, timezone=row.timezone) for r in rows]
    if not urls:  # nothing to fetch: do not start Scrapy at all
        plan.decl = {**plan.decl, "start_urls": []}
    return crawl(engine, settings, sink=sink, keys=[], isolate=isolate, extra_plans=[(plan, ready)])
