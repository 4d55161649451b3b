"""Every worker is safe to run N times on one PostgreSQL database.

- Four ``presswatch classify``, four ``presswatch alerts evaluate`` and four ``presswatch alerts
  deliver`` started at the same moment: none crashes, no alert is raised twice, no message is
  sent twice, and the senders share the backlog.
- Two ``presswatch run`` instances on one new database (they migrate it together, then crawl a
  real feed on loopback): the crawl runs on one of them, every alert reaches the real SMTP server
  once, and both stop cleanly.

PostgreSQL only: SQLite serializes writers by design and is the single-process store.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import func, select

from alerts.mailbox import Behaviour, LocalMailbox
from alerts.outbox import enqueue
from models import Alert, Article, Classification, Delivery, utcnow
from models.db import make_engine, session_scope, upgrade
from models.enums import DeliveryStatus, OutletTier
from tests import factories
from tests.conftest import POSTGRES_URL, _create_pg_database, _drop_pg_database, subprocess_env

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs PRESSWATCH_TEST_POSTGRES_URL")

RULES = """
rules:
  - name: dz-watch
    severity: high
    when: {min_risk: low, query: '儋州法院 OR 儋州市人民法院'}
    recipients: [{name: 王五, address: wangwu@dz-court.example.cn, language: zh-CN}]
    options: {merge_window_minutes: 0, rate_limit_per_hour: 0}
"""
TOWNS = ["那大镇", "和庆镇", "南丰镇", "大成镇", "雅星镇", "兰洋镇", "光村镇", "木棠镇", "峨蔓镇", "三都街道",
         "王五镇", "东成镇"]
STORIES = [
    "{town}居民称儋州法院执行干警强制腾退时推搡群众，一位老人摔倒受伤，视频在网上流传。",
    "{town}商户投诉儋州市人民法院执行局查封店铺前未送达任何文书，要求公开执法记录。",
    "网友爆料{town}一处拆迁现场有人被带走，儋州法院回应称系依法司法拘留拒不履行的被执行人。",
    "{town}村民在路口拉横幅质疑儋州法院强制执行程序，称过渡安置房迟迟没有落实。",
]


@pytest.fixture
def pg_url() -> Iterator[str]:
    url, name = _create_pg_database(POSTGRES_URL)
    try:
        yield url
    finally:
        from models.db import engine_for

        engine_for.cache_clear()
        _drop_pg_database(POSTGRES_URL, name)


def _cli(url: str, port: int, *args: str, config: Path | None = None) -> subprocess.Popen[str]:
    base = ["--config", str(config)] if config else [
        "--set", f"db.url={url}", "--set", "alerts.smtp_host=127.0.0.1", "--set", f"alerts.smtp_port={port}",
        "--set", "alerts.from_address=presswatch@dz-court.example.cn",
    ]
    return subprocess.Popen([sys.executable, "-m", "presswatch", *base, *args], env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_four_classify_evaluate_and_deliver_workers_at_once(pg_url: str, tmp_path: Path) -> None:
    upgrade(pg_url)
    engine = make_engine(pg_url)
    (tmp_path / "alert_rules.yaml").write_text(RULES, encoding="utf-8")
    with session_scope(engine) as session:
        outlet = factories.outlet(session, name="今日儋州", tier=OutletTier.PREFECTURE)
        source = factories.source(session, outlet_id=outlet.id)
        for n, town in enumerate(TOWNS):
            story = factories.story(session, title=town)
            for k in range(2):  # each story also has a repost: it updates the alert, sends nothing more
                text = STORIES[n % len(STORIES)].format(town=town)
                factories.article(session, title=f"{town}：儋州法院执行引发关注（{k}）", text=text,
                                  match_text=text, outlet_id=outlet.id, source_id=source.id, story_id=story.id,
                                  published_at=utcnow(), fetched_at=utcnow())
    with LocalMailbox() as box:
        box.behaviour = Behaviour(data_delay_seconds=0.2)  # a server that takes its time: senders overlap
        procs = []
        for _ in range(4):
            procs += [_cli(pg_url, box.port, "--set", f"alerts.rules_file={tmp_path / 'alert_rules.yaml'}",
                           *step) for step in (["classify"], ["alerts", "evaluate"], ["alerts", "deliver"])]
        outputs = [p.communicate(timeout=600)[0] for p in procs]
        codes = [p.returncode for p in procs]
        assert codes == [0] * len(procs), "\n---\n".join(o for o, c in zip(outputs, codes, strict=True) if c)
        assert not any("Traceback" in o or "UniqueViolation" in o for o in outputs)
        # Whatever the race left for later (a classification committed after an evaluator read):
        # one more pass of each, as the service's timers would do.
        for step in (["classify"], ["alerts", "evaluate"], ["alerts", "deliver"]):
            p = _cli(pg_url, box.port, "--set", f"alerts.rules_file={tmp_path / 'alert_rules.yaml'}", *step)
            assert p.wait(timeout=600) == 0, p.communicate()[0]
        with session_scope(engine) as session:
            articles = session.scalar(select(func.count()).select_from(Article))
            current = session.execute(select(Classification.article_id, func.count())
                                      .where(Classification.is_current.is_(True))
                                      .group_by(Classification.article_id)).all()
            assert len(current) == articles and all(n == 1 for _, n in current)
            alerts = list(session.scalars(select(Alert)))
            assert len(alerts) == len(TOWNS)  # one per story
            for alert in alerts:
                ids = alert.reason["article_ids"]
                assert len(ids) == len(set(ids)) == 2  # the repost counted once
            rows = list(session.scalars(select(Delivery)))
            assert len(rows) == len(TOWNS) and all(r.status == DeliveryStatus.SENT for r in rows)
        received = box.wait_for(len(TOWNS))
        ids = [m.message_id for m in received]
        assert len(ids) == len(set(ids)) == len(TOWNS)

        # A backlog (say, after an outage) and four senders at once: they share it, nothing doubles.
        with session_scope(engine) as session:
            for n in range(24):
                enqueue(session, idempotency_key=f"backlog:{n}", channel="email", recipient=f"p{n}@court.example.cn",
                        language="zh-CN", subject=f"backlog {n}", body_text="x")
        senders = [_cli(pg_url, box.port, "alerts", "deliver") for _ in range(4)]
        outputs = [p.communicate(timeout=600)[0] for p in senders]
        assert [p.returncode for p in senders] == [0] * 4, outputs
        with session_scope(engine) as session:
            backlog = list(session.scalars(select(Delivery).where(Delivery.idempotency_key.like("backlog:%"))))
            assert all(r.status == DeliveryStatus.SENT for r in backlog)
            assert len({r.claimed_by for r in backlog}) >= 2  # more than one sender took a share
        ids = [m.message_id for m in box.wait_for(len(TOWNS) + 24)]
        assert len(ids) == len(set(ids)) == len(TOWNS) + 24
    engine.dispose()


class FeedSite:
    """An RSS feed with the pieces and their article pages, on loopback."""

    def __init__(self, pieces: list[tuple[str, str]]) -> None:
        site = self
        self.pieces = pieces

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/rss.xml":
                    body, ctype = site.feed().encode("utf-8"), "application/rss+xml; charset=utf-8"
                elif self.path.startswith("/a/"):
                    n = int(self.path.split("/")[-1].split(".")[0])
                    title, text = site.pieces[n]
                    body = (f"<html><head><meta charset='utf-8'><title>{escape(title)}</title></head><body>"
                            f"<article><h1>{escape(title)}</h1><p>{escape(text)}</p><p>{escape(text)}</p>"
                            "</article></body></html>").encode()
                    ctype = "text/html; charset=utf-8"
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def feed(self) -> str:
        date = format_datetime(utcnow())
        items = "".join(f"<item><title>{escape(t)}</title><link>{self.base}/a/{n}.html</link>"
                        f"<description>{escape(x)}</description><pubDate>{date}</pubDate></item>"
                        for n, (t, x) in enumerate(self.pieces))
        return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>今日儋州</title>'
                f"<link>{self.base}/</link><description>t</description>{items}</channel></rss>")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_two_service_instances_on_one_database(pg_url: str, tmp_path: Path) -> None:
    pieces = [(STORIES[n % len(STORIES)].format(town=town).split("，")[0], STORIES[n % len(STORIES)].format(town=town))
              for n, town in enumerate(TOWNS[:4])]
    site = FeedSite(pieces)
    (tmp_path / "alert_rules.yaml").write_text(RULES, encoding="utf-8")
    (tmp_path / "sources.yaml").write_text(
        "outlets:\n  - {key: jinri-danzhou, name: 今日儋州, tier: prefecture, language: zh}\n"
        "sources:\n  - key: jinri-danzhou\n    name: 今日儋州\n    kind: feed\n    outlet: jinri-danzhou\n"
        f"    interval_seconds: 10\n    start_urls: ['{site.base}/rss.xml']\n", encoding="utf-8")
    box = LocalMailbox().start()
    config = tmp_path / "presswatch.toml"
    config.write_text(
        f'data_dir = "{tmp_path}"\n[db]\nurl = "{pg_url}"\n'
        f'[crawl]\nsources_file = "{tmp_path / "sources.yaml"}"\nobey_robots_txt = false\nworker = false\n'  # the leased one-off crawl job
        f'[pipeline]\nsnapshot_dir = "{tmp_path / "snapshots"}"\n'
        f'[alerts]\nrules_file = "{tmp_path / "alert_rules.yaml"}"\ndigests_file = "{tmp_path / "none.yaml"}"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {box.port}\nfrom_address = "presswatch@dz-court.example.cn"\n'
        f'[quota]\nrules_file = "{tmp_path / "none-quota.yaml"}"\n', encoding="utf-8")
    # Both start on an empty database: they migrate it one after the other.
    # The scheduler only (`run --no-web`): two web apps could not both listen on web.bind.
    services = [_cli(pg_url, box.port, "-v", "run", "--no-web", config=config) for _ in range(2)]
    logs: list[str] = []
    try:
        engine = make_engine(pg_url)

        def stories() -> int:
            try:
                with session_scope(engine) as session:
                    return int(session.scalar(select(func.count(func.distinct(Article.story_id)))) or 0)
            except Exception:  # the schema may not be there yet
                return 0

        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and (stories() < 1 or len(box.messages) < stories()):
            assert all(s.poll() is None for s in services), "a service exited"
            time.sleep(0.5)
        time.sleep(12)  # another crawl round and timer ticks on both instances: nothing more may arrive
    finally:
        for s in services:
            s.send_signal(signal.SIGTERM)
        for s in services:
            try:
                logs.append(s.communicate(timeout=90)[0])
            except subprocess.TimeoutExpired:
                s.kill()
                logs.append(s.communicate()[0])
        site.stop()
        box.stop()
    assert [s.returncode for s in services] == [0, 0], "\n----\n".join(logs)
    for log in logs:
        assert "Traceback" not in log and " ERROR " not in log, log
    assert sum("now runs crawl-due-sources" in log for log in logs) == 1  # leased to one instance
    with session_scope(engine) as session:
        n_stories = int(session.scalar(select(func.count(func.distinct(Article.story_id)))) or 0)
        n_alerts = int(session.scalar(select(func.count()).select_from(Alert)) or 0)
        sent = int(session.scalar(select(func.count()).select_from(Delivery)
                                  .where(Delivery.status == DeliveryStatus.SENT)) or 0)
    engine.dispose()
    ids = [m.message_id for m in box.messages]
    assert n_stories >= 2 and n_alerts == n_stories  # one alert per story
    assert len(ids) == len(set(ids)) == sent >= n_alerts  # (a story whose risk rose is notified again)
