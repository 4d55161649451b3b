"""The long-lived crawl worker: due-time scheduling, the frontier's claims, and a real worker process.

The worker runs as ``python -m crawlers.worker`` in a child process against a throwaway database
(SQLite, and PostgreSQL when configured) and a local feed server; the test makes sources due by
writing ``next_poll_at``, as the schedule would, and reads what the worker recorded.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from crawlers.frontier import DbFrontier
from crawlers.plan import Outcome
from crawlers.registry import parse_registry, sync_registry
from crawlers.schedule import next_poll, pulled_in
from crawlers.testserver import LocalServer, Reply, Request
from models import Article, CrawlRun, RiskPlan, Source
from models.db import make_engine, session_scope
from settings import Settings, load_settings
from tests.conftest import subprocess_env

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def _settings(**overrides: object) -> Settings:
    return load_settings(environ={}, overrides={"crawl.poll_jitter_fraction": 0, **overrides}).settings


def _outcome(new: int = 0, failed: bool = False) -> Outcome:
    out = Outcome("s", items_found=0 if failed else 5, items_new=new)
    if failed:
        out.errors.append("HTTP 500 at http://x/feed.xml")
    return out


# -- the schedule ----------------------------------------------------------------------------------
def test_interval_learns_sooner_polls_for_a_busy_source_within_bounds() -> None:
    settings = _settings(**{"crawl.min_poll_seconds": 120})
    learned = None
    for _ in range(6):  # news on every poll: halves down to the floor, never below
        nxt = next_poll(outcome=_outcome(new=3), learned_seconds=learned, declared_seconds=900,
                        consecutive_failures=0, now=NOW, settings=settings)
        learned = nxt.interval_seconds
    assert learned == 120 and nxt.at == NOW + timedelta(seconds=120)
    for _ in range(30):  # silence: back up to the declared interval, never above
        nxt = next_poll(outcome=_outcome(new=0), learned_seconds=learned, declared_seconds=900,
                        consecutive_failures=0, now=NOW, settings=settings)
        learned = nxt.interval_seconds
    assert learned == 900 and nxt.at == NOW + timedelta(minutes=15)
    # A source never polled starts at its declared interval; an urgent one below the floor keeps its own.
    first = next_poll(outcome=None, learned_seconds=None, declared_seconds=900, consecutive_failures=0,
                      now=NOW, settings=settings)
    assert first.interval_seconds == 900
    urgent = next_poll(outcome=_outcome(new=0), learned_seconds=None, declared_seconds=15, consecutive_failures=0,
                       now=NOW, settings=settings)
    assert urgent.interval_seconds == 15 and urgent.at == NOW + timedelta(seconds=15)


def test_failing_source_backs_off_and_a_risk_plan_tightens() -> None:
    settings = _settings(**{"crawl.max_backoff_seconds": 3600})
    waits = [next_poll(outcome=_outcome(failed=True), learned_seconds=600, declared_seconds=600,
                       consecutive_failures=n, now=NOW, settings=settings).at - NOW for n in (1, 2, 3, 4, 5)]
    assert waits == [timedelta(minutes=10), timedelta(minutes=20), timedelta(minutes=40), timedelta(hours=1),
                     timedelta(hours=1)]
    planned = next_poll(outcome=_outcome(failed=True), learned_seconds=600, declared_seconds=600,
                        consecutive_failures=4, now=NOW, settings=settings, plan_seconds=120)
    assert planned.at == NOW + timedelta(minutes=2) and planned.why == "risk plan"
    # A plan that opens while a source waits out a long interval pulls its due time in.
    assert pulled_in(NOW + timedelta(hours=1), NOW - timedelta(minutes=1), 120) == NOW + timedelta(minutes=1)
    assert pulled_in(NOW + timedelta(seconds=30), NOW - timedelta(minutes=1), 120) is None


def test_jitter_spreads_next_polls_within_its_fraction() -> None:
    settings = load_settings(environ={}, overrides={"crawl.poll_jitter_fraction": 0.1}).settings
    rng = random.Random(7)
    waits = {(next_poll(outcome=_outcome(), learned_seconds=600, declared_seconds=600, consecutive_failures=0,
                        now=NOW, settings=settings, rng=rng).at - NOW).total_seconds() for _ in range(50)}
    assert len(waits) > 40 and min(waits) >= 600 * 0.9 and max(waits) <= 600 * 1.1


# -- a committed database of our own -------------------------------------------------------------------
@pytest.fixture
def worker_db(own_db: str) -> str:
    return own_db


def _register(engine: Engine, base_url: str, keys: list[str]) -> None:
    registry = parse_registry({"sources": [
        {"key": key, "name": key, "kind": "feed", "start_urls": [f"{base_url}/{key}.xml"], "interval_minutes": 10}
        for key in keys]})
    with session_scope(engine) as session:
        sync_registry(session, registry)


def test_frontier_claims_once_and_a_lapsed_claim_returns(worker_db: str) -> None:
    engine = make_engine(worker_db)
    try:
        _register(engine, "http://127.0.0.1:9", ["one", "two", "three"])
        settings = _settings(**{"crawl.claim_lease_seconds": 60})
        a, b = DbFrontier(engine, settings, "elsewhere:1:a"), DbFrontier(engine, settings, "elsewhere:2:b")
        first = a.claim(2, NOW)
        assert [p.source_key for _, p in first] == ["one", "two"]  # never polled yet: by id
        rest = b.claim(10, NOW + timedelta(seconds=30))
        assert [p.source_key for _, p in rest] == ["three"]  # a's claims are not b's
        assert b.claim(10, NOW + timedelta(seconds=31)) == []
        # Worker a died: after its lease its sources are due again for anyone.
        later = b.claim(10, NOW + timedelta(seconds=61))
        assert sorted(p.source_key for _, p in later) == ["one", "two"]
        # A risk plan open now pulls a source waiting out its interval in.
        with session_scope(engine) as session:
            session.execute(update(Source).values(claimed_by=None, claimed_until=None, last_attempt_at=NOW,
                                                  next_poll_at=NOW + timedelta(hours=1)))
            session.add(RiskPlan(name="庭审直播", action_at=NOW, window_start=NOW - timedelta(hours=1),
                                 window_end=NOW + timedelta(hours=1), overrides={"poll_minutes": {"two": 2}}))
        assert b.claim(10, NOW + timedelta(minutes=1)) == []
        assert [p.source_key for _, p in b.claim(10, NOW + timedelta(minutes=2))] == ["two"]
    finally:
        engine.dispose()


def test_old_crawl_runs_are_purged_but_each_sources_latest_run_is_kept(worker_db: str) -> None:
    from crawlers.jobs import purge_runs_job, scheduled_jobs

    engine = make_engine(worker_db)
    try:
        _register(engine, "http://127.0.0.1:9", ["quiet", "news", "broken", "gone"])
        with session_scope(engine) as session:
            ids = {key: id_ for key, id_ in session.execute(select(Source.key, Source.id))}

            def run(key: str, days: float, status: str = "ok", new: int = 0, errors: list[str] | None = None) -> None:
                at = NOW - timedelta(days=days)
                session.add(CrawlRun(source_id=ids[key], started_at=at, finished_at=at, status=status,
                                     items_new=new, errors=errors or [], skipped={}))

            for days in (40, 10, 4, 1):  # 304s: only the last quiet days stay
                run("quiet", days)
            run("news", 10, new=3)  # it brought news: kept the whole retention
            run("news", 5, errors=["HTTP 404 at http://x/a/1.html"])  # went fine with a warning: kept
            run("news", 45, new=1)  # past the retention: gone
            run("news", 0.1)
            run("broken", 20, status="failed", errors=["HTTP 500"])
            run("broken", 35, status="failed", errors=["HTTP 500"])
            run("gone", 400)  # a source disabled long ago keeps its last run
        settings = _settings(**{"crawl.run_retention_days": 30, "crawl.quiet_run_retention_days": 3})
        assert purge_runs_job(engine, settings, NOW) == 5
        kept = {(key, round((NOW - _as_utc(r.started_at)).total_seconds() / 86400, 1))
                for key in ids for r in _runs(engine, key)}
        assert kept == {("quiet", 1.0), ("news", 10.0), ("news", 5.0), ("news", 0.1), ("broken", 20.0),
                        ("gone", 400.0)}
        assert purge_runs_job(engine, settings, NOW) == 0
        # 0 keeps runs forever; the quiet window alone still applies to quiet runs.
        with session_scope(engine) as session:
            run("news", 2)
            run("broken", 300, status="failed", errors=["HTTP 500"])
        assert purge_runs_job(engine, _settings(**{"crawl.run_retention_days": 0}), NOW + timedelta(days=900)) == 1
        assert len(_runs(engine, "news")) == 3 and len(_runs(engine, "broken")) == 2
    finally:
        engine.dispose()
    jobs = {j.id: j for j in scheduled_jobs(_settings())}
    assert jobs["crawl.purge_runs"].func == "crawlers.jobs:purge_runs_job" and jobs["crawl.purge_runs"].once


def _as_utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


# -- a real worker process -------------------------------------------------------------------------------
class FeedSite:
    """Feeds as a real site serves them: an ETag per version, 304 to a matching If-None-Match."""

    def __init__(self) -> None:
        self.entries: list[int] = [1]
        self.hang = threading.Event()

    def feed(self, base: str, key: str, numbers: list[int]) -> bytes:
        home = "shared" if key.startswith("dup") else key  # two feeds listing the same article
        items = "".join(f"<item><title>{key} 第{n}号</title><link>{base}/{home}/a/{n}.html</link>"
                        f"<pubDate>Fri, 04 Dec 2026 08:0{n % 10}:00 +0800</pubDate></item>" for n in numbers)
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{key}</title>'
                f"{items}</channel></rss>").encode()

    def __call__(self, req: Request) -> Reply:
        path = req.path.split("?")[0]
        if path == "/robots.txt":
            return Reply(200, b"User-agent: *\nDisallow:\n", {"Content-Type": "text/plain"})
        if path == "/broken.xml":
            return Reply(500, b"oops")
        if path == "/slow.xml" and self.hang.is_set():
            return Reply(200, b"", delay_seconds=60)
        if path.endswith(".xml"):
            key = path.strip("/").removesuffix(".xml")
            numbers = self.entries if key == "busy" else [1]
            etag = f'"{key}-{len(numbers)}"'
            if req.headers.get("if-none-match") == etag:
                return Reply(304, b"", {"ETag": etag})
            return Reply(200, self.feed(req.base_url, key, numbers),
                         {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": etag})
        if "/a/" in path:
            n = path.strip("/").replace("/a/", "-").removesuffix(".html")  # busy-2: one text per page
            body = (f"<html><head><title>执行新闻第{n}号</title></head><body><h1>执行新闻第{n}号</h1>"
                    f"<p>儋州市人民法院执行局近日开展集中执行行动，依法查控被执行人财产，兑现胜诉当事人合法权益。第{n}号。</p>"
                    f"</body></html>")
            return Reply(200, body.encode(), {"Content-Type": "text/html; charset=utf-8"})
        return Reply(404)


def _start_worker(db_url: str, tmp_path: Path, *args: str, **extra: str) -> subprocess.Popen[bytes]:
    env = subprocess_env(
        PRESSWATCH_DB__URL=db_url, PRESSWATCH_CRAWL__DOWNLOAD_DELAY_SECONDS="0",
        PRESSWATCH_CRAWL__RETRY_TIMES="0", PRESSWATCH_CRAWL__SOURCES_FILE=str(tmp_path / "none.yaml"),
        PRESSWATCH_CRAWL__FETCH_TIMEOUT_SECONDS="90", PRESSWATCH_CRAWL__POLL_JITTER_FRACTION="0",
        PRESSWATCH_PIPELINE__SNAPSHOT_DIR=str(tmp_path / "snapshots"), **extra)
    log = (tmp_path / "worker.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "crawlers.worker", "--log-level", "WARNING", *args], env=env, stdout=log, stderr=log,
                            cwd=tmp_path)


def _wait(what: Callable[[], bool], why: str, proc: subprocess.Popen[bytes], tmp_path: Path,
          seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if what():
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    path = tmp_path / "worker.log"
    log = path.read_text(errors="replace")[-3000:] if path.is_file() else "(log on the test's output)"
    raise AssertionError(f"{why} (worker exit {proc.poll()}):\n{log}")


def _runs(engine: Engine, key: str) -> list[CrawlRun]:
    with session_scope(engine) as session:
        rows = session.scalars(select(CrawlRun).join(Source, Source.id == CrawlRun.source_id)
                               .where(Source.key == key).order_by(CrawlRun.id)).all()
        session.expunge_all()
        return list(rows)


def _source(engine: Engine, key: str) -> Source:
    with session_scope(engine) as session:
        row = session.scalars(select(Source).where(Source.key == key)).one()
        session.expunge(row)
        return row


def _make_due(engine: Engine, *keys: str) -> None:
    with session_scope(engine) as session:
        session.execute(update(Source).where(Source.key.in_(keys)).values(next_poll_at=datetime.now(UTC)))


def test_worker_keeps_feeds_fresh_with_conditional_get_and_records_health(worker_db: str, tmp_path: Path) -> None:
    pytest.importorskip("pipeline.ingest")
    site = FeedSite()
    engine = make_engine(worker_db)
    with LocalServer(site) as server:
        _register(engine, server.base_url, ["busy", "quiet", "broken"])
        proc = _start_worker(worker_db, tmp_path)
        try:
            _wait(lambda: all(_runs(engine, k) for k in ("busy", "quiet", "broken")), "first polls", proc, tmp_path)
            busy = _source(engine, "busy")
            assert busy.health == "ok" and busy.http_etag == '"busy-1"' and busy.claimed_by is None
            # Due in about its interval (a poll that found news halves it), not at once.
            assert busy.next_poll_at is not None and busy.next_poll_at > datetime.now(UTC) + timedelta(minutes=4)
            broken = _source(engine, "broken")
            assert broken.consecutive_failures == 1 and broken.last_error == f"HTTP 500 at {server.base_url}/broken.xml"

            site.entries.append(2)  # busy publishes; quiet does not
            before = len(server.requests)
            _make_due(engine, "busy", "quiet", "broken")
            _wait(lambda: all(len(_runs(engine, k)) >= 2 for k in ("busy", "quiet", "broken")), "second polls",
                  proc, tmp_path)
            second = server.requests[before:]
            quiet_hits = [r for r in second if r.path == "/quiet.xml"]
            assert len(quiet_hits) == 1 and quiet_hits[0].headers.get("if-none-match") == '"quiet-1"'
            assert _runs(engine, "quiet")[-1].status == "ok"  # a 304 is a healthy, quiet poll
            assert [r.path for r in second if "/a/" in r.path] == ["/busy/a/2.html"]  # only the new entry
            broken = _source(engine, "broken")
            assert broken.consecutive_failures == 2
            # Backing off: the second failure waits twice the declared interval.
            assert broken.next_poll_at is not None and broken.next_poll_at > datetime.now(UTC) + timedelta(minutes=15)
            with session_scope(engine) as session:
                urls = set(session.scalars(select(Article.url)))
            assert urls == {f"{server.base_url}/busy/a/1.html", f"{server.base_url}/busy/a/2.html",
                            f"{server.base_url}/quiet/a/1.html"}
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
        assert code == 0
        with session_scope(engine) as session:
            assert session.scalar(select(func.count()).where(Source.claimed_by.is_not(None))) == 0
    engine.dispose()


def test_a_killed_worker_loses_no_due_poll(worker_db: str, tmp_path: Path) -> None:
    site = FeedSite()
    site.hang.set()
    engine = make_engine(worker_db)
    with LocalServer(site) as server:
        _register(engine, server.base_url, ["slow", "quiet"])
        proc = _start_worker(worker_db, tmp_path)
        try:
            _wait(lambda: "/slow.xml" in server.paths() and bool(_runs(engine, "quiet")), "slow feed requested",
                  proc, tmp_path)
            assert _source(engine, "slow").claimed_by is not None  # in flight, held by the worker
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        assert _runs(engine, "slow") == []  # the poll in flight died with the worker
        site.hang.clear()
        # A worker starting on this machine sees the holder's process is gone and takes the poll
        # back at once (on another machine, the lease lapsing does the same).
        again = _start_worker(worker_db, tmp_path)
        try:
            _wait(lambda: bool(_runs(engine, "slow")), "the lost poll done by the next worker", again, tmp_path)
            assert _runs(engine, "slow")[0].status == "ok"
            assert len(_runs(engine, "quiet")) == 1  # not due: not polled again
        finally:
            again.send_signal(signal.SIGTERM)
            assert again.wait(timeout=60) == 0
    engine.dispose()


def test_a_stopped_worker_hands_unfinished_polls_back(worker_db: str, tmp_path: Path) -> None:
    site = FeedSite()
    site.hang.set()
    engine = make_engine(worker_db)
    with LocalServer(site) as server:
        _register(engine, server.base_url, ["slow"])
        proc = _start_worker(worker_db, tmp_path, "--stop-grace-seconds", "1")
        try:
            _wait(lambda: "/slow.xml" in server.paths(), "slow feed requested", proc, tmp_path)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        slow = _source(engine, "slow")
        assert slow.claimed_by is None and _runs(engine, "slow") == []  # not recorded, and free for anyone
        assert slow.next_poll_at is None or slow.next_poll_at <= datetime.now(UTC)  # still due
    engine.dispose()


def test_presswatch_run_keeps_a_worker_up_and_publishes_its_events(worker_db: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from crawlers import jobs
    from presswatch.events import SourceFailing, bus

    engine = make_engine(worker_db)
    for name, value in {"DB__URL": worker_db, "CRAWL__DOWNLOAD_DELAY_SECONDS": "0", "CRAWL__RETRY_TIMES": "0",
                        "CRAWL__SOURCE_FAILURE_THRESHOLD": "1", "CRAWL__SOURCES_FILE": str(tmp_path / "none.yaml"),
                        "PIPELINE__SNAPSHOT_DIR": str(tmp_path / "snapshots")}.items():
        monkeypatch.setenv(f"PRESSWATCH_{name}", value)
    failing: list[SourceFailing] = []
    bus.subscribe(SourceFailing, failing.append)
    with LocalServer(FeedSite()) as server:
        _register(engine, server.base_url, ["broken"])
        try:
            jobs.ensure_worker()
            first = jobs._worker["proc"]
            jobs.ensure_worker()  # already up: the check leaves it alone
            assert jobs._worker["proc"] is first
            _wait(lambda: bool(failing), "SourceFailing from the worker on the service's bus", first, tmp_path)
            assert failing[0].source_key == "broken" and failing[0].reason.startswith("HTTP 500")
            first.kill()
            first.wait(timeout=30)
            jobs.ensure_worker()  # the next check starts it again
            second = jobs._worker["proc"]
            assert second is not first
            _make_due(engine, "broken")
            _wait(lambda: len(failing) == 2, "the restarted worker's events", second, tmp_path)
        finally:
            jobs.stop_worker()
            bus._handlers[SourceFailing].remove(failing.append)
        assert second.returncode == 0  # stopped cleanly on SIGTERM
    engine.dispose()


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for whoever inherited it to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_a_worker_whose_service_died_stops(worker_db: str, tmp_path: Path) -> None:
    service = subprocess.Popen(
        [sys.executable, "-c", "import time; from crawlers import jobs; jobs.ensure_worker(); "
                               "print(jobs._worker['proc'].pid, flush=True); time.sleep(300)"],
        env=subprocess_env(PRESSWATCH_DB__URL=worker_db, PRESSWATCH_CRAWL__SOURCES_FILE=str(tmp_path / "none.yaml")),
        stdout=subprocess.PIPE, stderr=(tmp_path / "worker.log").open("wb"), text=True, cwd=tmp_path)
    assert service.stdout is not None
    worker_pid = int(service.stdout.readline())
    service.kill()  # kill -9: no stop hook runs
    service.wait(timeout=30)
    deadline = time.monotonic() + 120
    while _running(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    if _running(worker_pid):
        os.kill(worker_pid, signal.SIGKILL)
        raise AssertionError("the orphaned worker kept running:\n" + (tmp_path / "worker.log").read_text()[-2000:])


@pytest.mark.redis
def test_distributed_workers_share_one_seen_url_set(worker_db: str, tmp_path: Path) -> None:
    redis = pytest.importorskip("redis")
    redis_url = "redis://127.0.0.1:6379/15"
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1)
    try:
        client.ping()
    except Exception as exc:  # any connection problem means: no Redis here
        pytest.skip(f"no Redis on 127.0.0.1:6379 ({exc})")
    client.delete("presswatch:feed:dupefilter")
    engine = make_engine(worker_db)
    with LocalServer(FeedSite()) as server:
        _register(engine, server.base_url, ["dup1", "dup2"])
        proc = _start_worker(worker_db, tmp_path, PRESSWATCH_CRAWL__DISTRIBUTED="true",
                             PRESSWATCH_CRAWL__REDIS_URL=redis_url)
        try:
            _wait(lambda: all(_runs(engine, k) for k in ("dup1", "dup2")), "both polls", proc, tmp_path)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
            client.delete("presswatch:feed:dupefilter")
            client.close()
        # The article both feeds list was fetched once; the poll whose request the shared set
        # dropped still finished and was recorded.
        assert server.paths().count("/shared/a/1.html") == 1
        assert [r.status for k in ("dup1", "dup2") for r in _runs(engine, k)] == ["ok", "ok"]
    engine.dispose()
