"""Web app response times at scale, on PostgreSQL: p50/p95 of ``/`` (home: scope, open cases),
``/admin/audit`` (newest audit entries of the admin's subtree), ``/inbox``, ``/stream`` (default,
three filters, one row per story, the next page, free text), ``/dashboard`` (7 and 30 days, counting
what ``/stream`` lists: ``classify.visibility.visible_condition``), the time of one login, and the time
from an alert being raised to ``/inbox`` showing it.

A throwaway database gets ``--articles`` articles (default 1,000,000, in stories of 5, one every 12
seconds back from now: 7,200 a day), 9 in 10 about 儋州法院 and 1 in 20 about Hưng Yên (the rest
about neither), each classified (sentiment, risk, topic) on one of 20 outlets, and indexed for
visibility (``article_matches``, as ``classify.visibility.index_articles`` writes it: checked on a
sample); one alert per 200 articles (a quarter of them open) split between 儋州市人民法院 and Cục
THADS Hưng Yên, and ``--audit`` audit rows (default 100,000) over both organizations, generated in
SQL. The app is served by uvicorn on loopback and requested over real HTTP by logged-in users:
``dz-duty`` (analyst, 儋州) and ``hy-duty`` (analyst, Hưng Yên) for ``/``, ``/inbox`` and
``/stream``, ``dz-admin`` (admin, 儋州) and ``admin`` (superuser) for ``/admin/audit``.

    .venv/bin/python bench/web.py                      # 1M articles, 100k audit rows
    .venv/bin/python bench/web.py --articles 100000    # quicker

Alert to inbox: an alert is committed as the alerts engine does (row + "raised" event), then
``/inbox/list`` (what an open inbox fetches every 15 s) is requested until it lists it; the figure is
commit-to-listed, to which an open page adds up to one 15 s polling interval.

Beside wall-clock p50 / p95 each page prints the CPU time of this process per request (the
uvicorn server thread and the HTTP client; PostgreSQL's own CPU is not in it), a figure the shared
machine's load disturbs less.

Login time is the full POST /login (argon2id verify at time_cost=3, memory 64 MiB, parallelism 4,
plus the session row and audit entry). Target: p95 < 300 ms for every page.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

DEFAULT_PG = os.environ.get("PRESSWATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def populate(url: str, articles: int, audit: int) -> None:
    from sqlalchemy import text

    from models.db import make_engine, session_scope
    from tests.web_support import build_world

    engine = make_engine(url)
    with session_scope(engine) as db:
        world = build_world(db)
        dz, hy = world.units["dz-court"].id, world.units["hy-thads"].id
    stories = max(1, articles // 5)
    alerts = max(2, articles // 200)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO stories (title, lang, first_seen_at, last_seen_at, article_count, outlet_count, created_at,"
            " updated_at) SELECT 'story ' || g, 'zh', now() - g * interval '1 minute', now(), 5, 3, now(), now()"
            " FROM generate_series(1, :n) g"), {"n": stories})
        first_story = conn.execute(text("SELECT min(id) FROM stories")).scalar_one()
        conn.execute(text(
            "INSERT INTO outlets (key, name, tier, channel, language, domains, reach, created_at, updated_at)"
            " SELECT 'bench-outlet-' || g, 'Outlet ' || g,"
            " (ARRAY['central','provincial','prefecture','county','own_channel'])[1 + g % 5],"
            " (ARRAY['website','newspaper','weibo','wechat'])[1 + g % 4], 'zh', '[]', 1.0, now(), now()"
            " FROM generate_series(1, 20) g"))
        first_outlet = conn.execute(text("SELECT min(id) FROM outlets WHERE key LIKE 'bench-outlet-%'")).scalar_one()
        conn.execute(text(
            "INSERT INTO articles (story_id, outlet_id, url, canonical_url, url_hash, title, text, lang, published_at,"
            " published_at_missing, fetched_at, stored_at, metrics, flags, extra)"
            " SELECT :s + (g - 1) / 5, :o + g % 20, 'https://news.example.cn/' || g, 'https://news.example.cn/' || g,"
            " md5(g::text) || md5((g + 1)::text),"
            " CASE WHEN g % 20 = 7 THEN 'Cưỡng chế thi hành án ở Hưng Yên ' || g"
            "      WHEN g % 20 = 13 THEN '某地天气晴好 ' || g ELSE '儋州法院执行新闻 ' || g END,"
            " repeat('正文内容。', 40), CASE WHEN g % 20 = 7 THEN 'vi' ELSE 'zh' END,"
            " now() - g * interval '12 seconds', false, now(), now() - g * interval '12 seconds', '{}', '[]', '{}'"
            " FROM generate_series(1, :n) g"), {"n": articles, "s": first_story, "o": first_outlet})
        conn.execute(text(
            "INSERT INTO classifications (article_id, model_version, is_current, lang, topics, sentiment,"
            " sentiment_score, risk_level, risk_score, reasons, mentions_org, created_at)"
            " SELECT id, 'bench', true, lang,"
            " CASE WHEN id % 2 = 0 THEN '[{\"name\": \"enforcement\", \"score\": 0.8}]'::jsonb"
            "      ELSE '[{\"name\": \"legal_publicity\", \"score\": 0.7}]'::jsonb END,"
            " (ARRAY['negative','neutral','positive'])[1 + id % 3], 0.0,"
            " (ARRAY['low','low','low','low','medium','high','critical'])[1 + id % 7], 0.5, '{}', true, now()"
            " FROM articles"))
        watched = (("dz", dz, '"儋州法院"', "儋州法院%"), ("hy", hy, '"Hưng Yên"', "%Hưng Yên%"))
        for key, unit, query, pattern in watched:
            wq = conn.execute(text(
                "INSERT INTO watch_queries (name, query, purpose, enabled, priority, unit_id, created_at, updated_at)"
                " VALUES (:name, :q, 'org', true, 0, :u, now(), now()) RETURNING id"),
                {"name": f"bench-{key}", "q": query, "u": unit}).scalar_one()
            conn.execute(text(
                "INSERT INTO article_matches (article_id, watch_query_id, unit_id)"
                " SELECT id, :wq, :u FROM articles WHERE title LIKE :p"), {"wq": wq, "u": unit, "p": pattern})
        conn.execute(text(
            "INSERT INTO alerts (dedupe_key, kind, severity, title, reason, state, escalation_level, notified_count,"
            " created_at, updated_at, unit_id, story_id)"
            " SELECT 'bench:' || g, 'story', (ARRAY['critical','high','medium','low'])[1 + g % 4],"
            " '居民称执行干警暴力执法 ' || g, '{}', CASE WHEN g % 4 = 0 THEN 'new' ELSE 'resolved' END, 0, 1,"
            " now() - g * interval '40 minutes', now(), CASE WHEN g % 2 = 0 THEN :dz ELSE :hy END, :s + g % :ns"
            " FROM generate_series(1, :n) g"), {"n": alerts, "dz": dz, "hy": hy, "s": first_story, "ns": stories})
        conn.execute(text(
            "INSERT INTO audit_log (at, actor, client_address, unit_id, action, object_type, object_id, note)"
            " SELECT now() - g * interval '30 seconds', 'user' || (g % 50), '10.0.0.' || (g % 250),"
            " CASE WHEN g % 2 = 0 THEN :dz ELSE :hy END,"
            " (ARRAY['login','case.ack','case.resolve','grant.add','user.preferences'])[1 + g % 5],"
            " 'alert', (g % 5000)::text, '' FROM generate_series(1, :n) g"), {"n": audit, "dz": dz, "hy": hy})
        conn.exec_driver_sql("ANALYZE")
    check_index(engine)
    print(f"populated {articles:,} articles in {stories:,} stories, {alerts:,} alerts, {audit:,} audit rows "
          f"in {time.perf_counter() - t0:.1f} s")
    engine.dispose()


def check_index(engine: object, sample: int = 500) -> None:
    """The SQL-made visibility index agrees with classify.visibility.index_articles on a sample."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from classify.query import prepare
    from classify.visibility import owned_queries
    from models import Article, ArticleMatch

    with Session(engine) as db:  # type: ignore[arg-type]
        queries = owned_queries(db)
        rows = list(db.scalars(select(Article).order_by(Article.id).limit(sample)))
        stored = {(a, q) for a, q in db.execute(select(ArticleMatch.article_id, ArticleMatch.watch_query_id)
                                                .where(ArticleMatch.article_id.in_([r.id for r in rows])))}
        computed = {(r.id, qid) for r in rows for qid, _unit, q in queries
                    if q.matches(prepare({"title": r.title, "text": r.text, "lang": r.lang, "source": ""}))}
    assert stored == computed, (len(stored), len(computed))


def alert_to_inbox(url: str, client: object, dz: int) -> float:
    """Commit an alert as the engine does, then poll /inbox/list until it is listed (ms)."""
    from alerts.engine import add_event
    from models import Alert
    from models.db import make_engine, session_scope
    from models.enums import AlertKind, CaseState, RiskLevel

    engine = make_engine(url)
    title = f"bench alert {time.time_ns()}"
    with session_scope(engine) as db:
        alert = Alert(dedupe_key=title, kind=AlertKind.STORY, severity=RiskLevel.CRITICAL, title=title,
                      state=CaseState.NEW, unit_id=dz)
        db.add(alert)
        db.flush()
        add_event(db, alert, "raised", to_state="new")
    t0 = time.perf_counter()  # committed
    while True:
        r = client.get("/inbox/list")  # type: ignore[attr-defined]
        if title in r.text:
            engine.dispose()
            return (time.perf_counter() - t0) * 1000
        if time.perf_counter() - t0 > 30:
            raise RuntimeError("the alert did not show in 30 s")
        time.sleep(0.05)


def timed(client: object, path: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path)  # type: ignore[attr-defined]
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (path, r.status_code)
    return times


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 20 else max(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--audit", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=60, help="requests per page and user")
    parser.add_argument("--postgres", default=DEFAULT_PG, help="server URL; a throwaway database is made on it")
    args = parser.parse_args()

    import httpx
    from sqlalchemy import text

    from accounts.passwords import ARGON2_MEMORY_KIB, ARGON2_PARALLELISM, ARGON2_TIME_COST
    from models.db import make_engine, upgrade
    from presswatch.web import create_app
    from tests.conftest import _create_pg_database, _drop_pg_database
    from tests.web_support import PASSWORD, serve, web_settings

    url, name = _create_pg_database(args.postgres)
    try:
        upgrade(url)
        populate(url, args.articles, args.audit)
        engine = make_engine(url)
        app = create_app(web_settings(**{"db.url": url}), engine)
        with serve(app) as base:
            logins = []
            clients = {}
            for user in ("dz-duty", "hy-duty", "dz-admin", "admin") * 2:
                client = httpx.Client(base_url=base, headers={"Origin": base})
                t0 = time.perf_counter()
                r = client.post("/login", data={"username": user, "password": PASSWORD})
                logins.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 303, r.text[:300]
                clients[user] = client
            print(f"login: median {statistics.median(logins):.0f} ms, max {max(logins):.0f} ms over {len(logins)} "
                  f"(argon2id t={ARGON2_TIME_COST} m={ARGON2_MEMORY_KIB // 1024} MiB p={ARGON2_PARALLELISM})")
            three = "/stream?since=7d&sentiment=negative&risk=high"
            first = clients["dz-duty"].get(three).text
            import re
            more = re.search(r'<li class="more"><a href="([^"]+)"', first)
            page2 = more.group(1).replace("&amp;", "&") if more else three
            cpu0 = time.process_time()
            for user, path in (("dz-duty", "/"), ("admin", "/"), ("dz-admin", "/admin/audit"),
                               ("admin", "/admin/audit"), ("dz-admin", "/admin/audit?action=login"),
                               ("dz-duty", "/inbox"), ("hy-duty", "/inbox"),
                               ("dz-duty", "/stream"), ("dz-duty", three), ("hy-duty", three),
                               ("dz-duty", three.replace("/stream", "/stream/count")),
                               ("dz-duty", three + "&stories=1"), ("dz-duty", three + "&sort=risk"), ("dz-duty", page2),
                               ("dz-duty", "/stream?sort=spread"),
                               ("dz-duty", "/stream?since=30d&channel=social&topic=enforcement"),
                               ("dz-duty", "/stream?q=执行 AND 新闻"), ("admin", three),
                               ("dz-duty", "/dashboard"), ("hy-duty", "/dashboard"),
                               ("dz-duty", "/dashboard?since=30d"), ("admin", "/dashboard?since=30d")):
                timed(clients[user], path, 3)  # warm-up
                cpu = time.process_time()
                times = timed(clients[user], path, args.requests)
                cpu_ms = (time.process_time() - cpu) * 1000 / len(times)
                label = path if len(path) < 50 else path[:47] + "..."
                print(f"{label:<50} as {user:<9} p50 {statistics.median(times):6.1f} ms  p95 {p95(times):6.1f} ms  "
                      f"app+client CPU {cpu_ms:5.1f} ms/req  (n={len(times)})  load {os.getloadavg()[0]:.2f}")
            print(f"CPU seconds in this process (server + client) for all pages: {time.process_time() - cpu0:.1f}")
            with make_engine(url).connect() as conn:
                dz = conn.execute(text("SELECT id FROM units WHERE code = 'dz-court'")).scalar_one()
            latencies = [alert_to_inbox(url, clients["dz-duty"], dz) for _ in range(10)]
            print(f"alert raised -> listed by /inbox/list: median {statistics.median(latencies):.0f} ms, "
                  f"max {max(latencies):.0f} ms over {len(latencies)} (an open inbox polls every 15 s)  "
                  f"load {os.getloadavg()[0]:.2f}")
            for client in clients.values():
                client.close()
        engine.dispose()
    finally:
        from models.db import engine_for

        engine_for.cache_clear()
        _drop_pg_database(args.postgres, name)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"on {os.cpu_count()} CPUs; database {name} dropped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
