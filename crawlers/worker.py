"""The long-lived crawl worker: one Scrapy process that stays up and keeps thousands of sources fresh.

One Scrapy crawler per source *kind* (feed, html, sitemap, json_api), each with a spider that
never closes, is fed with the requests of due sources claimed from the frontier
(:mod:`crawlers.frontier`). A claimed source becomes a *poll*: an instance of that kind's generic
spider (:mod:`crawlers.spiders`, unchanged: the same decoding, extraction and conditional GET as
a one-off ``presswatch crawl``) holds its plan and outcome, and the worker routes each response of
the poll to it. When the last request of a poll is answered the poll is finished: its items go to
the sink, then its run and health are recorded and its next due time set
(:mod:`crawlers.schedule`), in that order, so "ok" still means "its items are in".

Scrapy gives per-domain politeness (``CONCURRENT_REQUESTS_PER_DOMAIN``, ``DOWNLOAD_DELAY`` with
jitter), retries with back-off, robots.txt and the byte cap, exactly as in one-off runs. Database
work (claims, the sink, records) runs on one thread beside the reactor, one task at a time, so the
reactor only ever fetches and parses.

Run it with ``python -m crawlers.worker`` (``presswatch run`` starts it for you; extra machines run
it on their own, against the same database). SIGTERM stops claiming, lets polls in flight finish
for ``STOP_GRACE_SECONDS``, records them and hands the rest back to the frontier; kill -9 loses
nothing either (see :mod:`crawlers.frontier`).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from crawlers.frontier import DbFrontier, Finished
from crawlers.plan import CrawlPlan, Outcome
from crawlers.run import Sink
from presswatch.events import bus
from presswatch.items import RawItem
from settings import Settings

log = logging.getLogger(__name__)

TICK_SECONDS = 0.25  # how often the worker claims and records: well under a poll's own latency
# The database thread releases the GIL around every SQLite / libpq call and must win it back from
# the busy reactor thread each time: at Python's default 5 ms switch interval a round recording
# and claiming 40 polls (~50 statements) waited a quarter of a second for the GIL alone, and on a
# loaded machine the worker sat at 0.07 cores and 16 polls/s (cProfile: the reactor never idle in
# epoll, ticks every 0.9 s instead of 0.25). A 0.5 ms interval hands it back ten times sooner.
SWITCH_INTERVAL_SECONDS = 0.0005
STOP_GRACE_SECONDS = 20.0
KINDS = ("feed", "html", "sitemap", "json_api")


def drain_start(agen: Any) -> list[Any]:
    """The requests of a spider's ``async def start()`` that never awaits (ours never do).

    Driving it by hand keeps starting a poll synchronous: no event-loop round trip per source.
    """
    out: list[Any] = []
    while True:
        step = agen.__anext__()
        try:
            step.send(None)
        except StopIteration as stop:
            out.append(stop.value)
        except StopAsyncIteration:
            return out
        else:  # it awaited something: not one of ours
            step.close()
            raise RuntimeError("a spider's start() awaited; the worker cannot drive it synchronously")


@dataclass(eq=False)
class Poll:
    source_id: int
    plan: CrawlPlan
    outcome: Outcome
    started_at: datetime
    started_mono: float
    delegate: Any = None
    pending: int = 0
    done: bool = False
    finished_at: datetime | None = None
    items: list[RawItem] = field(default_factory=list)
    # The source's stored URLs (plan.known_hashes) are read when the first answer with content
    # arrives, not at the claim: most polls are a 304 and never need them.
    known: str = "unread"  # unread / reading / read
    waiting: list[Any] = field(default_factory=list)  # answers that arrived while they were read


@dataclass
class WorkerStats:
    polls_finished: int = 0
    polls_recorded: int = 0
    items: int = 0
    claimed: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


def worker_scrapy_settings(settings: Settings) -> dict[str, Any]:
    from crawlers.settings import scrapy_settings

    cfg = settings.crawl
    quiet = logging.DEBUG if logging.getLogger().getEffectiveLevel() <= logging.DEBUG else logging.WARNING
    out = {**scrapy_settings(cfg, log_level=quiet), "LOG_INSTALL_ROOT_HANDLER": False}
    # Local mode: the database's stored URLs (the plan's known hashes) decide what is fetched
    # again; Scrapy's in-memory seen set would grow for ever in a process that never stops and
    # would refuse a page whose storing failed last time. Distributed mode keeps a shared seen
    # set in Redis (an article is fetched once across machines) but not scrapy-redis' request
    # queue: a poll's responses must come back to the worker that holds its claim.
    out["DUPEFILTER_CLASS"] = "crawlers.dupefilter.SharedDupeFilter" if cfg.distributed else \
        "scrapy.dupefilters.BaseDupeFilter"
    out.pop("SCHEDULER", None)
    out.pop("SCHEDULER_PERSIST", None)
    # Our callbacks hand nothing back to Scrapy (the worker relays requests and items itself), yet
    # Scrapy starts CONCURRENT_ITEMS (100) asyncio tasks per callback to process that nothing: a
    # third of the worker's CPU at 15,000 feeds (cProfile). One is plenty.
    out["CONCURRENT_ITEMS"] = 1
    return out


def _kind_spider(kind: str) -> type:
    import scrapy

    class KindSpider(scrapy.Spider):
        """The one open spider of a kind; polls are fed to it, so it never goes idle-closed."""

        name = f"presswatch-{kind}"

        @classmethod
        def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> Any:
            from scrapy import signals

            spider = super().from_crawler(crawler, *args, **kwargs)
            crawler.signals.connect(spider.keep_open, signal=signals.spider_idle)
            return spider

        def keep_open(self, spider: Any = None) -> None:
            from scrapy.exceptions import DontCloseSpider

            raise DontCloseSpider

        async def start(self) -> Any:  # requests come from the frontier, not from here
            return
            yield  # pragma: no cover

    KindSpider.kind = kind  # type: ignore[attr-defined]
    KindSpider.__name__ = KindSpider.__qualname__ = f"{kind.title().replace('_', '')}WorkerSpider"
    return KindSpider


def _quiet_scrapy() -> None:
    """Scrapy's per-request lines only when the worker itself runs at DEBUG (they cost CPU per poll)."""
    quiet = logging.DEBUG if logging.getLogger().getEffectiveLevel() <= logging.DEBUG else logging.WARNING
    for name in ("scrapy", "twisted", "py.warnings", "filelock"):
        logging.getLogger(name).setLevel(quiet)


class CrawlWorker:
    """One worker process. ``run()`` blocks (it runs Twisted's reactor) until :meth:`stop`."""

    def __init__(self, engine: Engine, settings: Settings, sink: Sink, *, frontier: DbFrontier | None = None,
                 max_seconds: float | None = None, stop_grace_seconds: float = STOP_GRACE_SECONDS,
                 parent_pid: int | None = None) -> None:
        self.engine, self.settings, self.sink = engine, settings, sink
        self.frontier = frontier or DbFrontier(engine, settings)
        self.max_seconds = max_seconds
        self.stop_grace_seconds = stop_grace_seconds
        self.parent_pid = parent_pid  # started by `presswatch run`: stop when that service is gone
        self.stats = WorkerStats()
        self.polls: dict[int, Poll] = {}
        self.finished: list[Poll] = []
        self.crawlers: dict[str, Any] = {}
        self._busy = False
        self._open_spiders = 0
        self._stopping = False
        self._stop_deadline = 0.0
        self._pool: Any = None
        self._tick: Any = None
        self._sync: Callable[[], None] | None = None
        self._last_sync = 0.0
        self._db_profile: Any = None
        if os.environ.get("PW_WORKER_DB_PROFILE"):
            import cProfile

            self._db_profile = cProfile.Profile()

    # -- lifecycle -------------------------------------------------------------------------------
    def run(self, *, install_signal_handlers: bool = True, sync_sources: Callable[[], None] | None = None) -> None:
        os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
        import warnings

        from scrapy import signals
        from scrapy.crawler import CrawlerProcess
        from twisted.internet import task
        from twisted.python.threadpool import ThreadPool

        warnings.filterwarnings("ignore", category=DeprecationWarning, module="scrapy_redis")
        _quiet_scrapy()
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        self._sync = sync_sources
        self.frontier.release_dead()
        process = CrawlerProcess(worker_scrapy_settings(self.settings))
        for kind in KINDS:
            crawler = process.create_crawler(_kind_spider(kind))
            crawler.signals.connect(self._dropped, signal=signals.request_dropped)
            crawler.signals.connect(self._opened, signal=signals.spider_opened)
            self.crawlers[kind] = crawler
            process.crawl(crawler)
        from twisted.internet import reactor  # only now: the crawlers installed the reactor Scrapy wants
        self._pool = ThreadPool(minthreads=1, maxthreads=1, name="presswatch-worker-db")
        self._pool.start()
        self._started = time.monotonic()
        self._tick = task.LoopingCall(self._on_tick)
        if install_signal_handlers:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: reactor.callFromThread(self.stop))
        try:
            process.start(stop_after_crawl=False, install_signal_handlers=False)
        finally:
            self._pool.stop()
            if self._db_profile is not None:
                self._db_profile.dump_stats(os.environ["PW_WORKER_DB_PROFILE"])
        log.info("crawl worker stopped: %s", self.stats)

    def _opened(self, spider: Any = None) -> None:
        _quiet_scrapy()  # again: applying a crawler's settings resets Scrapy's loggers to DEBUG
        self._open_spiders += 1
        if self._open_spiders == len(KINDS) and self._tick is not None:  # every engine can take requests
            self._tick.start(TICK_SECONDS, now=False)

    def stop(self) -> None:
        """Stop claiming; finish what is in flight for a grace period, then hand the rest back."""
        if not self._stopping:
            log.info("crawl worker stopping: %d polls in flight", len(self.polls))
            self._stopping = True
            self._stop_deadline = time.monotonic() + self.stop_grace_seconds
            if self._tick is None or not self._tick.running:  # never got going: nothing to hand back
                self._stop_reactor()

    # -- the tick: claim, record, time out -------------------------------------------------------
    def _on_tick(self) -> None:
        now_mono = time.monotonic()
        if self.max_seconds is not None and now_mono - self._started >= self.max_seconds:
            self.stop()
        if self.parent_pid is not None and os.getppid() != self.parent_pid and not self._stopping:
            log.warning("the service that started this worker is gone; stopping")
            self.stop()
        lease = self.settings.crawl.claim_lease_seconds
        for poll in list(self.polls.values()):
            # A poll whose requests vanished (a middleware dropped one without a signal) must not
            # hold its source for ever: end it with a reason well before the lease lapses.
            if now_mono - poll.started_mono > lease * 0.8:
                poll.outcome.errors.append(f"poll did not finish within {lease * 0.8:.0f} s")
                self._finish(poll)
        if self._busy:
            return
        if self._stopping:
            if self.polls and now_mono < self._stop_deadline:
                if self.finished:
                    self._run_db(self._record, self._take_finished())
                return
            self._run_db(self._shutdown, self._take_finished(), [p.source_id for p in self.polls.values()])
            return
        room = self.settings.crawl.worker_max_sources_in_flight - len(self.polls)
        self._run_db(self._record_and_claim, self._take_finished(), room)

    def _take_finished(self) -> list[Poll]:
        done, self.finished = self.finished, []
        return done

    def _run_db(self, func: Callable[..., Any], *args: Any) -> None:
        from twisted.internet import reactor
        from twisted.internet.threads import deferToThreadPool

        self._busy = True
        d = deferToThreadPool(reactor, self._pool, self._profiled, func, *args)

        def _done(result: Any) -> Any:
            self._busy = False
            return result

        def _failed(failure: Any) -> None:
            log.error("crawl worker database task failed: %s", failure.getTraceback())

        d.addBoth(_done)
        d.addCallbacks(self._after_db, _failed)

    def _after_db(self, claimed: Any) -> None:
        if isinstance(claimed, list):
            for source_id, plan in claimed:
                self._start_poll(source_id, plan)

    # -- database side (one thread) ----------------------------------------------------------------
    def _profiled(self, func: Callable[..., Any], *args: Any) -> Any:
        """``func(*args)``, under cProfile when ``PW_WORKER_DB_PROFILE`` names a file (the
        database thread's share of the worker's CPU; ``python -m cProfile`` sees the reactor only)."""
        if self._db_profile is None:
            return func(*args)
        self._db_profile.enable()
        try:
            return func(*args)
        finally:
            self._db_profile.disable()

    def _record(self, polls: list[Poll]) -> None:
        if not polls:
            return
        items = [i for p in polls for i in p.items]
        if items:
            self._store(items, polls)
        finishes = [Finished(p.source_id, p.outcome, p.started_at, p.finished_at or p.started_at) for p in polls]
        events, recorded = self.frontier.complete(finishes)
        for event in events:
            bus.publish(event)
        self.stats.polls_recorded += len(recorded)
        for r in recorded:
            self.stats.statuses[r.status] = self.stats.statuses.get(r.status, 0) + 1

    def _store(self, items: list[RawItem], polls: list[Poll]) -> None:
        """Items to the sink as one-off crawls hand them (crawlers.run._Batcher: per source, a failing
        batch recorded on its source, what the pipeline did not store counted as skipped)."""
        from crawlers.run import _Batcher

        batcher = _Batcher(self.sink)
        for item in items:
            batcher.add(item)
        batcher.flush()
        for poll in polls:
            key = poll.plan.source_key
            if key in batcher.errors:
                poll.outcome.errors += batcher.errors[key]
                poll.outcome.sink_failed = True
            for reason, n in batcher.not_stored.get(key, {}).items():
                poll.outcome.skip(reason, n)
        self.stats.items += len(items)

    def _record_and_claim(self, polls: list[Poll], room: int) -> list[tuple[int, CrawlPlan]]:
        self._record(polls)
        if self._sync is not None and time.monotonic() - self._last_sync > 60:
            self._last_sync = time.monotonic()
            try:
                self._sync()
            except Exception:
                log.exception("syncing the sources file failed; polling the sources already registered")
        claimed = self.frontier.claim(room, datetime.now(UTC))
        self.stats.claimed += len(claimed)
        return claimed

    def _shutdown(self, polls: list[Poll], unfinished: list[int]) -> None:
        from twisted.internet import reactor

        try:
            self._record(polls)
            self.frontier.release(unfinished)
            if unfinished:
                log.info("handed %d unfinished polls back to the frontier", len(unfinished))
        finally:
            reactor.callFromThread(self._stop_reactor)

    def _stop_reactor(self) -> None:
        from twisted.internet import reactor

        if self._tick is not None and self._tick.running:
            self._tick.stop()
        if reactor.running:
            # Everything worth keeping is recorded or handed back: do not let Scrapy's graceful
            # shutdown wait for a hanging download (up to the fetch timeout) before the process ends.
            reactor.crash()  # type: ignore[misc]
            pool = getattr(reactor, "threadpool", None)
            if pool is not None:
                pool.stop()

    # -- reactor side: polls -----------------------------------------------------------------------
    def _start_poll(self, source_id: int, plan: CrawlPlan) -> None:
        from crawlers.spiders import SPIDERS

        kind = plan.decl["kind"]
        crawler = self.crawlers[kind]
        outcome = Outcome(plan.source_key)
        poll = Poll(source_id, plan, outcome, datetime.now(UTC), time.monotonic())
        self.polls[source_id] = poll
        try:
            timeout = self.settings.crawl.fetch_timeout_seconds
            delegate = SPIDERS[kind](plan=plan, outcome=outcome, timeout_seconds=timeout)
            delegate.crawler, delegate.settings = crawler, crawler.settings
            poll.delegate = delegate
            for request in drain_start(delegate.start()):
                self._schedule(poll, request)
        except Exception as exc:  # a bad declaration costs its own poll only
            log.exception("starting the poll of %s failed", plan.source_key)
            outcome.errors.append(f"poll could not start: {type(exc).__name__}: {exc}"[:300])
        if poll.pending == 0:
            self._finish(poll)

    def _schedule(self, poll: Poll, request: Any) -> None:
        request.meta["pw_poll"] = poll
        request.meta["pw_cb"], request.meta["pw_eb"] = request.callback, request.errback
        request.callback, request.errback = self._on_response, self._on_failure
        poll.pending += 1
        self.crawlers[poll.plan.decl["kind"]].engine.crawl(request)

    def _relay(self, poll: Poll, output: Iterable[Any] | None) -> None:
        import scrapy

        for thing in output or ():
            if isinstance(thing, scrapy.Request):
                self._schedule(poll, thing)
            elif isinstance(thing, RawItem):
                poll.outcome.items_new += 1
                poll.items.append(thing)

    def _on_response(self, response: Any) -> None:
        poll: Poll = response.meta["pw_poll"]
        if poll.known != "read" and not poll.done and response.status != 304:
            poll.waiting.append(response)
            if poll.known == "unread":
                poll.known = "reading"
                self._read_known(poll)
            return
        self._handle(poll, response)

    def _read_known(self, poll: Poll) -> None:
        """Read the poll's known URLs on the database thread, then handle the answers that waited."""
        from twisted.internet import reactor
        from twisted.internet.threads import deferToThreadPool

        d = deferToThreadPool(reactor, self._pool, self._profiled, self.frontier.known_hashes, poll.source_id,
                              poll.plan.decl["kind"])

        def read(known: frozenset[str]) -> None:
            poll.plan.known_hashes = known

        def failed(failure: Any) -> None:  # fetch them all: the pipeline still tells a duplicate
            log.error("reading the stored URLs of %s failed: %s", poll.plan.source_key, failure.getErrorMessage())

        def then(_: Any) -> None:
            poll.known = "read"
            waiting, poll.waiting = poll.waiting, []
            for response in waiting:
                self._handle(poll, response)

        d.addCallbacks(read, failed)
        d.addBoth(then)

    def _handle(self, poll: Poll, response: Any) -> None:
        try:
            if not poll.done:
                self._relay(poll, response.meta["pw_cb"](response))
        except Exception as exc:  # a bug in a callback: recorded on the source, as one-off runs do
            poll.outcome.errors.append(f"spider error at {response.url}: {exc!r}"[:300])
        finally:
            self._answered(poll)

    def _on_failure(self, failure: Any) -> None:
        request = getattr(failure, "request", None)
        poll: Poll | None = request.meta.get("pw_poll") if request is not None else None
        if poll is None:
            return
        try:
            if not poll.done:
                self._relay(poll, request.meta["pw_eb"](failure))  # type: ignore[union-attr]
        except Exception as exc:
            poll.outcome.errors.append(f"spider error on a failure: {exc!r}"[:300])
        finally:
            self._answered(poll)

    def _dropped(self, request: Any, spider: Any = None) -> None:
        poll = request.meta.get("pw_poll")
        if poll is not None:  # the shared seen-URL set already had it: another worker fetched it
            self._answered(poll)

    def _answered(self, poll: Poll) -> None:
        poll.pending -= 1
        if poll.pending <= 0:
            self._finish(poll)

    def _finish(self, poll: Poll) -> None:
        if poll.done:
            return
        poll.done = True
        poll.finished_at = datetime.now(UTC)
        poll.delegate = None
        self.polls.pop(poll.source_id, None)
        self.finished.append(poll)
        self.stats.polls_finished += 1


def sync_sources_file(engine: Engine, settings: Settings) -> Callable[[], None]:
    """A callable mirroring ``crawl.sources_file`` into the table when the file changed."""
    from pathlib import Path

    from crawlers.registry import RegistryError, load_registry, sync_registry
    from models.db import session_scope

    seen: dict[str, float] = {}

    def sync() -> None:
        path = Path(settings.crawl.sources_file)
        if not path.is_file():
            return
        mtime = path.stat().st_mtime
        if seen.get("mtime") == mtime:
            return
        seen["mtime"] = mtime
        try:
            registry = load_registry(path)
        except RegistryError as exc:
            log.error("%s; polling the sources already registered", exc)
            return
        with session_scope(engine) as session:
            sync_registry(session, registry, disable_missing=True)

    return sync


FORWARDED_EVENTS = ("ArticleStored", "CrawlFinished", "SourceFailing")


def forward_events(stream: Any) -> None:
    """Pickle every event of :data:`FORWARDED_EVENTS` published here to ``stream``.

    ``presswatch run`` starts the worker as a child process and re-publishes these on its own bus,
    so the alerts stage's subscribers (a failing source opens a case) and anything reacting to a
    stored article see the worker's events as they saw those of the one-off crawl job.
    """
    import contextlib
    import pickle
    import threading

    from presswatch import events

    lock = threading.Lock()

    def send(event: object) -> None:
        data = pickle.dumps(event, protocol=pickle.HIGHEST_PROTOCOL)
        # OSError: the service is gone; the database keeps the record.
        with lock, contextlib.suppress(OSError):
            stream.write(data)

    for name in FORWARDED_EVENTS:
        bus.subscribe(getattr(events, name), send)


def main(argv: list[str] | None = None) -> int:
    """``python -m crawlers.worker``: the worker on the configured database, storing through the pipeline."""
    import argparse

    from crawlers.run import pipeline_sink
    from models.db import get_engine
    from settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m crawlers.worker", description="The long-lived crawl worker.")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument("--stop-grace-seconds", type=float, default=STOP_GRACE_SECONDS,
                        help="On SIGTERM, how long polls in flight may finish before they are handed back.")
    parser.add_argument("--service-pid", type=int, default=None,
                        help="The service that started this worker: stop when it is gone (no orphan workers).")
    parser.add_argument("--events-fd", type=int, default=None,
                        help="Write the events this worker publishes to this pipe (presswatch run reads them).")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.events_fd is not None:
        forward_events(os.fdopen(args.events_fd, "wb", buffering=0))
    settings = get_settings()
    engine = get_engine()
    sync = sync_sources_file(engine, settings)
    sync()
    CrawlWorker(engine, settings, pipeline_sink(engine, settings),
                stop_grace_seconds=args.stop_grace_seconds,
                parent_pid=args.service_pid).run(sync_sources=sync)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
