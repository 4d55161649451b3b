"""Benchmark: quota status for many units x rules over a year, on PostgreSQL.

Builds a throwaway database (created and dropped here), migrates it, bulk-inserts with Core
executemany: a hierarchy of units (townships, member units, sections, teams under a few parents),
outlets in every tier, N crawled articles (some grouped into stories, some classified with the
court topics), M registrations spread over a year (most verified against an article; states,
kinds and adoptions mixed), and R rules in the shapes of the seed plans (weekly, half-monthly,
monthly, quarterly, yearly; by unit kind, by outlet, by tier, by topic, points). Then it times
``quota.scoring.status`` for the whole year (every rule's periods in it) and for the current
periods, with and without writing the scores cache, then ``GET /quota`` (the web board: month,
quarter and week of December 2024) as a superuser and as a leader of the whole tree, and prints the
figures (p50 / p95 wall and CPU seconds, with the load average).

    .venv/bin/python bench/quota.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    (sizes: --units 500 --rules 20 --registrations 200000 --articles 1000000; defaults)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from models import Article, Classification, Outlet, QuotaRule, Registration, Unit, UnitHistory
from models.db import make_engine, upgrade

YEAR = 2024
TOPICS = ["失信被执行人", "执行不能", "拒执罪", "普法"]
BATCH = 10_000


def _chunks(rows: list[dict[str, object]], n: int = BATCH) -> list[list[dict[str, object]]]:
    return [rows[i : i + n] for i in range(0, len(rows), n)]


def build(session: Session, n_units: int, n_rules: int, n_regs: int, n_articles: int, seed: int) -> None:
    rnd = random.Random(seed)
    start = datetime(YEAR, 1, 1, tzinfo=UTC) - timedelta(hours=8)
    year_seconds = 366 * 86400
    t0 = time.perf_counter()

    # Units: one bureau, 4 parents, the rest spread over kinds.
    since = datetime(2000, 1, 1, tzinfo=UTC)
    root = {"id": 1, "code": "root", "name": "某市司法局", "kind": "bureau", "parent_id": None,
            "aliases": [], "contacts": [], "active": True}
    session.execute(Unit.__table__.insert(), [root])
    parents = [{"id": 2 + i, "code": f"p{i}", "name": f"分管部门{i}", "kind": "office", "parent_id": 1,
                "aliases": [], "contacts": [], "active": True} for i in range(4)]
    session.execute(Unit.__table__.insert(), parents)
    kinds = ["township"] * 40 + ["member_unit"] * 30 + ["section"] * 20 + ["team"] * 10
    units = []
    for i in range(n_units - 5):
        uid = 6 + i
        units.append({"id": uid, "code": f"u{uid}", "name": f"单位{uid}", "kind": kinds[i % len(kinds)],
                      "parent_id": 2 + i % 4, "aliases": [], "contacts": [], "active": True})
    session.execute(Unit.__table__.insert(), units)
    hist = [{"unit_id": u["id"], "name": u["name"], "parent_id": u["parent_id"], "valid_from": since, "valid_to": None}
            for u in [{"id": 1, "name": "某市司法局", "parent_id": None}, *parents, *units]]
    # A few mid-year moves, so the history path is exercised.
    moved = [u for u in units[:20]]
    for u in moved:
        hist = [h for h in hist if h["unit_id"] != u["id"]]
        mid = datetime(YEAR, 7, 1, tzinfo=UTC)
        hist += [{"unit_id": u["id"], "name": u["name"], "parent_id": u["parent_id"], "valid_from": since,
                  "valid_to": mid},
                 {"unit_id": u["id"], "name": u["name"] + "（新）", "parent_id": 2 + (u["id"] + 1) % 4,
                  "valid_from": mid, "valid_to": None}]
    session.execute(UnitHistory.__table__.insert(), hist)
    unit_ids = [u["id"] for u in units]

    tiers = ["central", "provincial", "prefecture", "county", "own_channel"]
    outlets = [{"id": i + 1, "key": f"o{i + 1}", "name": f"媒体{i + 1}", "tier": tiers[i % 5], "channel": "website",
                "language": "zh", "domains": [], "reach": 1.0} for i in range(50)]
    session.execute(Outlet.__table__.insert(), outlets)
    print(f"  units, outlets: {time.perf_counter() - t0:.1f} s", flush=True)

    # Articles.
    t0 = time.perf_counter()
    n_stories = n_articles // 50
    if n_stories:
        session.execute(text(
            "INSERT INTO stories (id, title, lang, first_seen_at, last_seen_at, article_count, outlet_count, "
            "created_at, updated_at) SELECT g, 'story ' || g, 'zh', now(), now(), 2, 2, now(), now() "
            "FROM generate_series(1, :n) AS g"
        ), {"n": n_stories})
    now = datetime.now(UTC)
    for lo in range(0, n_articles, BATCH):
        rows = []
        for i in range(lo, min(lo + BATCH, n_articles)):
            url = f"https://news{i % 50}.example.cn/a/{i}.html"
            rows.append({
                "id": i + 1, "outlet_id": i % 50 + 1, "url": url, "canonical_url": url,
                "url_hash": hashlib.sha256(url.encode()).hexdigest(), "title": f"新闻标题 {i}", "text": "正文" * 200,
                "lang": "zh", "published_at": start + timedelta(seconds=rnd.randrange(year_seconds)),
                "published_at_missing": False, "fetched_at": now, "stored_at": now,
                "story_id": (i % n_stories) + 1 if n_stories and i % 10 == 0 else None,
                "metrics": {}, "flags": [], "extra": {},
            })
        session.execute(Article.__table__.insert(), rows)
    print(f"  {n_articles} articles: {time.perf_counter() - t0:.1f} s", flush=True)

    # Registrations: 80 % verified against an article.
    t0 = time.perf_counter()
    kinds_p = ["news"] * 5 + ["bulletin"] * 3 + ["case_report"] * 2
    states = ["submitted"] * 6 + ["section_approved"] * 1 + ["leader_approved"] * 2 + ["proposed"] * 1
    classified: list[int] = []
    for lo in range(0, n_regs, BATCH):
        rows = []
        for i in range(lo, min(lo + BATCH, n_regs)):
            verified = rnd.random() < 0.8
            art = rnd.randrange(n_articles) + 1 if verified else None
            if art is not None and rnd.random() < 0.3:
                classified.append(art)
            kind = rnd.choice(kinds_p)
            rows.append({
                "unit_id": rnd.choice(unit_ids), "outlet_id": (art - 1) % 50 + 1 if art else rnd.randrange(50) + 1,
                "url": None, "url_hash": hashlib.sha256(f"r{i}".encode()).hexdigest() if not art else None,
                "title": f"登记稿件 {i}", "authors": [], "kind": kind,
                "adoption": rnd.choice(["standalone", "combined"]) if kind == "bulletin" else "none",
                "published_at": start + timedelta(seconds=rnd.randrange(year_seconds)),
                "char_count": rnd.randrange(300, 5000), "state": rnd.choice(states), "registered_by": "bench",
                "registered_at": now, "article_id": art, "verified_at": now if art else None,
                "verification": {}, "review_history": [], "created_at": now, "updated_at": now,
            })
        session.execute(Registration.__table__.insert(), rows)
    # As registry.verify does: a verified registration carries its article's story.
    session.execute(text(
        "UPDATE registrations AS r SET story_id = a.story_id FROM articles AS a"
        " WHERE a.id = r.article_id AND a.story_id IS NOT NULL"
    ))
    print(f"  {n_regs} registrations: {time.perf_counter() - t0:.1f} s", flush=True)

    t0 = time.perf_counter()
    crows = [{"article_id": a, "model_version": "bench", "is_current": True, "lang": "zh",
              "topics": [{"name": rnd.choice(TOPICS), "score": 0.9}], "sentiment": "neutral", "sentiment_score": 0.0,
              "risk_level": "low", "risk_score": 0.0, "reasons": {}, "mentions_org": False, "created_at": now}
             for a in sorted(set(classified))]
    for chunk in _chunks(crows):
        session.execute(Classification.__table__.insert(), chunk)
    print(f"  {len(crows)} classifications: {time.perf_counter() - t0:.1f} s", flush=True)

    shapes: list[dict[str, object]] = [
        {"unit_kind": "township", "piece_kind": "bulletin", "max_chars": 3000, "target": 1, "period": "week"},
        {"unit_kind": "member_unit", "piece_kind": "bulletin", "max_chars": 3000, "target": 1, "period": "half_month"},
        {"unit_kind": "township", "piece_kind": "bulletin", "measure": "points",
         "weights": {"standalone": 10, "combined": 3}, "target": 60, "period": "quarter"},
        {"unit_kind": "member_unit", "piece_kind": "bulletin", "measure": "points",
         "weights": {"standalone": 10, "combined": 3}, "target": 30, "period": "quarter"},
        {"unit_kind": "section", "outlet_id": 3, "target": 5, "period": "year"},
        {"unit_kind": "section", "outlet_id": 8, "target": 2, "period": "year"},
        {"unit_kind": "section", "outlet_tier": "own_channel", "target": 10, "period": "year"},
        {"unit_id": 1, "include_subunits": True, "outlet_tier": "prefecture", "target": 5, "period": "year"},
        {"unit_kind": "team", "target": 3, "period": "week"},
        {"unit_id": 2, "include_subunits": True, "topics": ["失信被执行人"], "target": 1, "period": "week",
         "registered_only": False},
        {"unit_id": 3, "include_subunits": True, "topics": ["执行不能"], "target": 1, "period": "week",
         "registered_only": False},
        {"unit_kind": "township", "piece_kind": "publicity_lead", "target": 1, "period": "half_month"},
        {"unit_kind": "member_unit", "target": 1, "period": "month"},
        {"unit_kind": "township", "outlet_tier": "provincial", "target": 2, "period": "quarter"},
        {"unit_kind": "section", "review_required": True, "target": 4, "period": "quarter"},
        {"unit_kind": "team", "parent_unit_id": 2, "verified_only": True, "target": 2, "period": "month"},
        {"unit_kind": None, "target": 12, "period": "year"},  # every unit
        {"unit_kind": "member_unit", "outlet_tier": "central", "target": 1, "period": "year"},
        {"unit_kind": "township", "measure": "points", "weights": {"bulletin.standalone": 10, "bulletin.combined": 3,
                                                                    "news": 1}, "target": 40, "period": "month"},
        {"unit_kind": "section", "piece_kind": "case_report", "target": 1, "period": "month"},
    ]
    rules = []
    for i in range(n_rules):
        shape = dict(shapes[i % len(shapes)])
        rules.append({
            "key": f"rule-{i:02d}", "name": f"考核规则 {i}", "unit_id": None, "unit_kind": None,
            "parent_unit_id": None, "outlet_id": None, "outlet_tier": None, "piece_kind": None, "topics": [],
            "max_chars": None, "measure": "count", "weights": {}, "timezone": "Asia/Shanghai",
            "registered_only": True, "review_required": False, "verified_only": False, "include_subunits": False,
            "active_from": None, "active_to": None, "created_at": now, "updated_at": now, **shape,
        })
    session.execute(QuotaRule.__table__.insert(), rules)
    session.commit()
    session.execute(text("ANALYZE"))
    session.commit()  # statistics gathered inside a transaction are rolled back with it
    # Flush the 1.5 GB just loaded now, so the server's next checkpoint does not write it out in
    # the middle of the timed runs (it doubled some of them). Needs a superuser; skipped otherwise.
    try:
        session.execute(text("CHECKPOINT"))
        session.commit()
    except Exception as exc:  # a benchmark nicety, never a reason to stop
        session.rollback()
        print(f"  (no CHECKPOINT: {str(exc).splitlines()[0]})", flush=True)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _pg_cpu(engine: Engine) -> float | None:
    """CPU seconds used so far by this database's PostgreSQL backends (the server is local: read from
    /proc), so the figures show where a first view's time goes; None when that cannot be read."""
    try:
        with engine.connect() as conn:
            pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).scalars()
            total = 0.0
            for pid in pids:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total
    except (OSError, ValueError, IndexError):
        return None


def time_web(engine: Engine, url: str, n: int, cold_n: int) -> None:
    """GET /quota as a superuser and as a leader of the whole tree (the heaviest scopes), through the
    real app (login, scope, status over the scope's units, response times, template) with
    Starlette's TestClient in this process: wall time per request, this process's CPU seconds
    (app + driver) and PostgreSQL's CPU seconds, with the load average. Kinds of view: first views
    (quota.board's kept boards emptied before each: counted in full); for the month, first views
    after a worker start (emptied, then quota.board.warm_boards as the server runs it at start,
    untimed); repeated views with nothing changed; views each after a correspondent registered one
    more piece (the kept board brought up to date: the unit's rows and its parents' counted again).
    The registrations added here stay in a --keep database."""
    from fastapi.testclient import TestClient

    import quota.board as qb
    from accounts.passwords import hash_password
    from models import Grant, Role, User
    from presswatch.web import create_app
    from presswatch.web.server import settled
    from settings import load_settings

    password = "bench-quota-web"
    with Session(engine) as session:
        for username, superuser in (("bench-admin", True), ("bench-leader", False)):
            if session.scalar(select(User.id).where(User.username == username)) is None:
                user = User(username=username, display_name=username, password_hash=hash_password(password),
                            language="zh-CN", is_superuser=superuser, password_changed_at=datetime.now(UTC))
                session.add(user)
                session.flush()
                if not superuser:
                    session.add(Grant(user_id=user.id, unit_id=1, role=Role.LEADER, granted_by="bench"))
        session.commit()
    settings = load_settings(environ={}, overrides={"db.url": url}).settings
    app = settled(create_app(settings, engine))  # as `presswatch web` serves it

    def fmt(values: list[float]) -> str:
        return f"p50 {_percentile(values, .5):.2f} s, p95 {_percentile(values, .95):.2f} s"

    with engine.connect() as conn:
        unit_ids = list(conn.execute(text("SELECT id FROM units WHERE id >= 6 ORDER BY id")).scalars())
    rnd = random.Random(11)
    added = 0

    def register_one() -> None:
        """A correspondent's registration, as the web's /register stores one (a piece not online,
        published in December 2024): the next view brings the kept board up to date."""
        nonlocal added
        added += 1
        with Session(engine) as session:
            now = datetime.now(UTC)
            session.execute(Registration.__table__.insert(), [{
                "unit_id": rnd.choice(unit_ids), "outlet_id": rnd.randrange(50) + 1, "url": None,
                "url_hash": hashlib.sha256(f"web-{uuid.uuid4()}".encode()).hexdigest(),
                "title": f"网页登记稿件 {added}", "authors": [], "kind": "bulletin", "adoption": "standalone",
                "published_at": datetime(YEAR, 12, 1, tzinfo=UTC) + timedelta(hours=rnd.randrange(29 * 24)),
                "char_count": 800, "state": "submitted", "registered_by": "bench-web", "registered_at": now,
                "article_id": None, "verified_at": None, "verification": {}, "review_history": [],
                "created_at": now, "updated_at": now,
            }])
            session.commit()

    for username in ("bench-admin", "bench-leader"):
        client = TestClient(app, headers={"Origin": "http://testserver"}, follow_redirects=False)
        answer = client.post("/login", data={"username": username, "password": password})
        assert answer.status_code == 303, answer.text[:300]
        for query in ("period=month&label=2024-12", "period=quarter&label=2024-Q4", "period=week&label=2024-W50"):
            size = 0
            modes = ("cold", "warmed", "kept", "changed") if "period=month" in query else ("cold", "kept", "changed")
            for mode in modes:
                walls: list[float] = []
                cpus: list[float] = []
                pg: list[float] = []
                if mode != "cold":
                    client.get(f"/quota?{query}")  # computes the board once; the views below keep it
                for _ in range(cold_n if mode in ("cold", "warmed") else n):
                    if mode in ("cold", "warmed"):
                        qb._board_cache.clear()
                    if mode == "warmed":  # as a worker does when it starts (untimed): December 2024's board
                        with Session(engine) as session:
                            qb.warm_boards(session, settings.quota.timezone, now=datetime(YEAR, 12, 31, 4, tzinfo=UTC))
                    elif mode == "changed":
                        register_one()
                    p0 = _pg_cpu(engine)
                    c0, t0 = time.process_time(), time.perf_counter()
                    page = client.get(f"/quota?{query}")
                    walls.append(time.perf_counter() - t0)
                    cpus.append(time.process_time() - c0)
                    p1 = _pg_cpu(engine)
                    if p0 is not None and p1 is not None:
                        pg.append(max(0.0, p1 - p0))
                    assert page.status_code == 200, page.status_code
                    size = len(page.content)
                load = " ".join(f"{x:.1f}" for x in os.getloadavg())
                what = {"cold": "first views (board counted in full)",
                        "warmed": "first views after a worker start (its boards counted at start)",
                        "kept": "repeated views (nothing changed)",
                        "changed": "views each after a new registration (board brought up to date)"}[mode]
                print(f"GET /quota?{query} as {username}, {len(walls)} {what}: {size // 1024} KiB; wall {fmt(walls)};"
                      f" CPU this process {fmt(cpus)}" + (f"; CPU PostgreSQL {fmt(pg)}" if pg else "")
                      + f"; load average {load}", flush=True)
        client.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", default=os.environ.get("PRESSWATCH_TEST_POSTGRES_URL",
                                                   "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--units", type=int, default=500)
    ap.add_argument("--rules", type=int, default=20)
    ap.add_argument("--registrations", type=int, default=200_000)
    ap.add_argument("--articles", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--keep", action="store_true", help="Keep the database (its URL is printed).")
    ap.add_argument("--web-requests", type=int, default=20,
                    help="GET /quota requests per board period, with nothing changed and after a registration each.")
    ap.add_argument("--web-first", type=int, default=7, help="First views (counted in full) per board period.")
    ap.add_argument("--no-web", action="store_true", help="Time quota status only, not the /quota page.")
    ap.add_argument("--web-only", action="store_true", help="Time the /quota page only, not quota status.")
    ap.add_argument("--reuse", metavar="URL", help="Time a database an earlier --keep run built (no build).")
    args = ap.parse_args()

    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    if args.reuse:
        url, name, args.keep = args.reuse, make_url(args.reuse).database or "", True
    else:
        name = f"pw_bench_quota_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(args.pg).set(database=name).render_as_string(hide_password=False)
    try:
        engine = make_engine(url)
        if not args.reuse:
            upgrade(url)
            print(f"database {name}: building {args.units} units, {args.rules} rules, {args.registrations} "
                  f"registrations, {args.articles} articles", flush=True)
            with Session(engine) as session:
                build(session, args.units, args.rules, args.registrations, args.articles, args.seed)
        with engine.connect() as conn:
            sizes = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                     for t in ("units", "quota_rules", "registrations", "articles", "classifications")}
        print("sizes: " + ", ".join(f"{k} {v}" for k, v in sizes.items()), flush=True)

        from quota.scoring import status

        now = datetime(YEAR, 12, 31, 12, tzinfo=UTC)
        for label, period, store in () if args.web_only else (
            ("year 2024, all periods of every rule", "2024", False),
            ("year 2024, all periods, scores cached", "2024", True),
            ("current periods (2024-12-31)", None, False),
            ("quarter 2024-Q2", "2024-Q2", False),
        ):
            times = []
            rows: list[object] = []
            for _ in range(args.repeat):
                with Session(engine) as session:
                    t0 = time.perf_counter()
                    rows = status(session, period, now=now, store=store)  # type: ignore[assignment]
                    session.commit()
                    times.append(time.perf_counter() - t0)
            evidence = sum(len(r.registration_ids) for r in rows)  # type: ignore[attr-defined]
            print(f"quota status, {label}: {len(rows)} rows, {evidence} evidence ids; "
                  f"best {min(times):.2f} s, worst {max(times):.2f} s over {args.repeat} runs", flush=True)
        if not args.no_web:
            time_web(engine, url, args.web_requests, args.web_first)
        engine.dispose()
        print(f"load average while running: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    finally:
        if args.keep:
            print(f"kept {url}")
        else:
            from models.db import engine_for

            engine_for.cache_clear()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
