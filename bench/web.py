"""Web app response times at scale, on PostgreSQL: p50/p95 of ``/`` (home: scope, open cases) and
``/admin/audit`` (newest audit entries of the admin's subtree), and the time of one login.

A throwaway database gets ``--articles`` articles (default 1,000,000, in stories of 5), one alert
per 200 articles (a quarter of them open) split between 儋州市人民法院 and Cục THADS Hưng Yên, and
``--audit`` audit rows (default 100,000) over both organizations, generated in SQL. The app is served
by uvicorn on loopback and requested over real HTTP by logged-in users: ``dz-duty`` (analyst,
儋州) for ``/``, ``dz-admin`` (admin, 儋州) and ``admin`` (superuser) for ``/admin/audit``.

    .venv/bin/python bench/web.py                      # 1M articles, 100k audit rows
    .venv/bin/python bench/web.py --articles 100000    # quicker

Login time is the full POST /login (argon2id verify at time_cost=3, memory 64 MiB, parallelism 4,
plus the session row and audit entry). Target: p95 < 300 ms for both pages.
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
            "INSERT INTO articles (story_id, url, canonical_url, url_hash, title, text, lang, published_at,"
            " published_at_missing, fetched_at, stored_at, metrics, flags, extra)"
            " SELECT :s + (g - 1) / 5, 'https://news.example.cn/' || g, 'https://news.example.cn/' || g,"
            " md5(g::text) || md5((g + 1)::text), '儋州法院执行新闻 ' || g, repeat('正文内容。', 40), 'zh',"
            " now() - g * interval '12 seconds', false, now(), now(), '{}', '[]', '{}'"
            " FROM generate_series(1, :n) g"), {"n": articles, "s": first_story})
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
    print(f"populated {articles:,} articles in {stories:,} stories, {alerts:,} alerts, {audit:,} audit rows "
          f"in {time.perf_counter() - t0:.1f} s")
    engine.dispose()


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
            for user in ("dz-duty", "dz-admin", "admin") * 3:
                client = httpx.Client(base_url=base, headers={"Origin": base})
                t0 = time.perf_counter()
                r = client.post("/login", data={"username": user, "password": PASSWORD})
                logins.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 303, r.text[:300]
                clients[user] = client
            print(f"login: median {statistics.median(logins):.0f} ms, max {max(logins):.0f} ms over {len(logins)} "
                  f"(argon2id t={ARGON2_TIME_COST} m={ARGON2_MEMORY_KIB // 1024} MiB p={ARGON2_PARALLELISM})")
            for user, path in (("dz-duty", "/"), ("admin", "/"), ("dz-admin", "/admin/audit"),
                               ("admin", "/admin/audit"), ("dz-admin", "/admin/audit?action=login")):
                timed(clients[user], path, 3)  # warm-up
                times = timed(clients[user], path, args.requests)
                print(f"{path:<28} as {user:<9} p50 {statistics.median(times):6.1f} ms  p95 {p95(times):6.1f} ms  "
                      f"(n={len(times)})")
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
