"""Benchmark: build the daily digest and a monthly report from databases of 10k / 100k / 1M articles.

    .venv/bin/python bench/digest.py                                  # 10k and 100k on SQLite
    .venv/bin/python bench/digest.py --sizes 10000,100000,1000000 --backends sqlite,postgresql \\
        --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Each size gets a fresh database (migrated through the real migrations) filled with Core
executemany: articles spread evenly over the 365 days before now (70% Chinese, 30% Vietnamese),
each with a current classification (topics, sentiment, risk), stories with reposts, alerts,
registrations and sources. It then times, each the median of ``--repeat`` runs:

- ``daily build``: the zh-CN daily digest's content (headline numbers vs the previous day, flagged
  items with case state, top stories, topics, own pieces, source health, the 14-day series);
- ``daily render``: HTML + text + the PNG chart;
- ``monthly build`` / ``monthly xlsx``: last month's report content, and its XLSX export.

Target: daily build under 2 s at 1M articles on PostgreSQL. PostgreSQL databases are created as
``pw_bench_digest_<size>`` next to ``--pg-url``'s database and dropped afterwards (``--keep`` keeps
them, and a kept database of the right size is reused instead of being filled again).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from models import Alert, Article, Classification, Outlet, Registration, Source, Story, Unit
from models.db import make_engine, upgrade

ZH_TOPICS = ["执行工作", "失信被执行人", "拒执罪", "执行不能", "普法", "扫黑除恶", "人民调解", "法律援助"]
VI_TOPICS = ["thi hành án dân sự", "cưỡng chế thi hành án", "khiếu nại, tố cáo", "Luật THADS sửa đổi"]
ZH_TEXT = ("儋州市人民法院执行局今日通报执行工作进展。本月共执结案件{n}件，执行到位金额{m}万元。"
           "法院提醒被执行人主动履行义务。失信被执行人名单将定期公布。")
VI_TEXT = ("Chi cục THADS huyện Văn Lâm cho biết đã thi hành xong {n} việc. Số tiền thu được đạt {m} triệu đồng. "
           "Đơn vị tiếp tục rà soát các vụ việc tồn đọng.")
BATCH = 20_000


def _batched(rows: list[dict[str, Any]], size: int = BATCH) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def fill(engine: Engine, n_articles: int, now: datetime, seed: int = 7) -> None:
    """Bulk-generate a realistic spread of rows with Core executemany."""
    rnd = random.Random(seed)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        outlets = [
            {"key": f"outlet-{i}", "name": f"{'今日儋州' if i % 3 else 'Báo Hưng Yên'} {i}", "tier": "prefecture",
             "channel": "website", "language": "vi" if i % 3 == 0 else "zh", "domains": [], "reach": 1.0,
             "created_at": now, "updated_at": now}
            for i in range(1, 61)
        ]
        conn.execute(insert(Outlet), outlets)
        conn.execute(insert(Source), [
            {"key": f"source-{i}", "name": f"Source {i}", "kind": "feed", "outlet_id": i, "language": o["language"],
             "timezone": "Asia/Shanghai", "enabled": True, "config": {},
             "consecutive_failures": 3 if i % 20 == 0 else 0,
             "health": "failing" if i % 20 == 0 else "ok", "created_at": now, "updated_at": now,
             "last_success_at": now - timedelta(hours=2)}
            for i, o in enumerate(outlets, start=1)
        ])
        conn.execute(insert(Unit), [
            {"code": "dz-court", "name": "儋州市人民法院", "kind": "court", "parent_id": None, "aliases": [],
             "active": True, "created_at": now, "updated_at": now},
            *[{"code": f"dz-team-{i}", "name": f"执行{i}队", "kind": "team", "parent_id": 1, "aliases": [],
               "active": True, "created_at": now, "updated_at": now} for i in range(1, 11)],
        ])
        n_stories = max(1, n_articles // 4)
        start = now - timedelta(days=365)
        span = (now - start).total_seconds()
        story_rows = []
        for i in range(1, n_stories + 1):
            at = start + timedelta(seconds=rnd.random() * span)
            outlets_n = rnd.choice((1, 1, 1, 2, 3, 5, 8))
            story_rows.append({"id": i, "title": f"事件 {i}", "lang": "zh", "first_article_id": None,
                               "first_outlet_id": rnd.randint(1, 60), "first_seen_at": at, "last_seen_at": at,
                               "article_count": outlets_n, "outlet_count": outlets_n, "created_at": at,
                               "updated_at": at})
        for chunk in _batched(story_rows):
            conn.execute(insert(Story), chunk)
        articles, classes = [], []
        for i in range(1, n_articles + 1):
            at = start + timedelta(seconds=span * i / n_articles)
            vi = rnd.random() < 0.3
            url = f"https://news{i % 60}.example/{i}.html"
            negative = rnd.random() < 0.12
            risk = rnd.choices(("low", "medium", "high", "critical"), (80, 15, 4, 1))[0] if negative else "low"
            articles.append({
                "id": i, "source_id": i % 60 + 1, "outlet_id": i % 60 + 1, "story_id": rnd.randint(1, n_stories),
                "url": url, "canonical_url": url, "url_hash": hashlib.sha256(url.encode()).hexdigest(),
                "title": (f"Tin thi hành án số {i}" if vi else f"执行工作动态第{i}期"),
                "text": (VI_TEXT if vi else ZH_TEXT).format(n=i % 97, m=i % 1000), "lang": "vi" if vi else "zh",
                "published_at": at, "published_at_missing": False, "fetched_at": at, "stored_at": at,
                "metrics": {}, "flags": [], "extra": {},
            })
            topics = rnd.sample(VI_TOPICS if vi else ZH_TOPICS, k=rnd.choice((1, 1, 2)))
            classes.append({
                "article_id": i, "model_version": "bench", "is_current": True, "lang": "vi" if vi else "zh",
                "topics": [{"name": t, "score": 0.8} for t in topics],
                "sentiment": "negative" if negative else rnd.choice(("neutral", "positive")),
                "sentiment_score": 0.5, "risk_level": risk, "risk_score": rnd.random(),
                "reasons": {"summary": "bench", "matched_terms": ["执行"]}, "mentions_org": True, "created_at": at,
            })
            if len(articles) >= BATCH:
                conn.execute(insert(Article), articles)
                conn.execute(insert(Classification), classes)
                articles, classes = [], []
        if articles:
            conn.execute(insert(Article), articles)
            conn.execute(insert(Classification), classes)
        conn.execute(insert(Alert), [
            {"dedupe_key": f"story-{i}", "kind": "story", "story_id": rnd.randint(1, n_stories), "severity": "high",
             "title": f"预警 {i}", "reason": {}, "state": rnd.choice(("new", "acknowledged", "responding", "resolved")),
             "escalation_level": 0, "notified_count": 1, "created_at": now, "updated_at": now}
            for i in range(1, max(10, n_articles // 1000) + 1)
        ])
        regs = [
            {"unit_id": rnd.randint(1, 11), "outlet_id": rnd.randint(1, 60), "url": f"https://own.example/{i}",
             "title": f"本单位稿件 {i}", "authors": [], "kind": "news", "adoption": "none",
             "published_at": start + timedelta(seconds=rnd.random() * span), "state": "submitted",
             "registered_by": "bench", "registered_at": now, "verification": {}, "review_history": [],
             "created_at": now, "updated_at": now}
            for i in range(max(10, n_articles // 100))
        ]
        for chunk in _batched(regs):
            conn.execute(insert(Registration), chunk)
        if engine.dialect.name == "postgresql":
            for table in ("articles", "stories"):
                sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                conn.execute(text(sql))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    print(f"  filled {n_articles:,} articles (+ classifications, {n_stories:,} stories) in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)


def _median(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def measure(engine: Engine, now: datetime, repeat: int, workdir: Path) -> dict[str, float]:
    from alerts.digest.builder import build_for_definition
    from alerts.digest.definitions import DigestDefinition, Scope
    from alerts.digest.periods import daily_period, latest_due_day, report_period
    from alerts.digest.render import render_digest
    from alerts.digest.reports import build_report, export_xlsx

    definition = DigestDefinition(name="bench", language="zh-CN", timezone="Asia/Shanghai", send_time="07:30",
                                  scope=Scope(langs=["zh"], units=["dz-court"]))
    day = latest_due_day(now, definition.local_send_time, definition.timezone)
    period = daily_period(day, definition.local_send_time, definition.timezone)
    last_month = (now.astimezone(definition.tz).date().replace(day=1) - timedelta(days=1))
    month = report_period("monthly", f"{last_month:%Y-%m}", definition.timezone)
    out: dict[str, float] = {}
    with Session(engine) as session:
        build_for_definition(session, definition, period, now=now)  # warm caches, imports
        out["daily build"], data = _median(lambda: build_for_definition(session, definition, period, now=now), repeat)
        out["daily render"], _ = _median(lambda: render_digest(data), repeat)
        out["monthly build"], report = _median(lambda: build_report(session, definition, month), max(1, repeat // 2))
        out["monthly xlsx"], _ = _median(lambda: export_xlsx(report, workdir / "report.xlsx"), 1)
    out["daily pieces"] = data.headline.pieces
    out["monthly pieces"] = report.headline.pieces
    return out


def _pg_database(base_url: str, name: str, drop_first: bool) -> str:
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
        if exists and drop_first:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            exists = None
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def _drop_pg(base_url: str, name: str) -> None:
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="article counts, comma-separated")
    parser.add_argument("--backends", default="sqlite", help="sqlite,postgresql")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the generated databases (and reuse them)")
    parser.add_argument("--workdir", default="", help="where SQLite files go (default: a temp folder)")
    args = parser.parse_args()

    now = datetime.now(UTC).replace(microsecond=0)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="pw-bench-digest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for backend in args.backends.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            print(f"{backend} {size:,} articles", flush=True)
            if backend == "sqlite":
                path = workdir / f"bench-{size}.db"
                reuse = args.keep and path.exists()
                if path.exists() and not reuse:
                    path.unlink()
                url = f"sqlite:///{path}"
            else:
                name = f"pw_bench_digest_{size}"
                url = _pg_database(args.pg_url, name, drop_first=not args.keep)
                reuse = False
            upgrade(url)
            engine = make_engine(url)
            with Session(engine) as s:
                have = s.scalar(select(func.count()).select_from(Article)) or 0
            if not (reuse or (args.keep and have == size)):
                fill(engine, size, now)
            result = measure(engine, now, args.repeat, workdir)
            engine.dispose()
            if backend != "sqlite" and not args.keep:
                _drop_pg(args.pg_url, f"pw_bench_digest_{size}")
            rows.append((backend, size, result))
            print("  " + "  ".join(f"{k}: {v:.3f} s" if "pieces" not in k else f"{k}: {int(v)}"
                                   for k, v in result.items()), flush=True)
    print()
    print(f"{'backend':<11}{'articles':>10}{'daily build':>13}{'render':>9}{'monthly build':>15}{'xlsx':>8}"
          f"{'pieces/day':>12}{'pieces/month':>14}")
    for backend, size, r in rows:
        print(f"{backend:<11}{size:>10,}{r['daily build']:>12.3f}s{r['daily render']:>8.3f}s"
              f"{r['monthly build']:>14.3f}s{r['monthly xlsx']:>7.2f}s{int(r['daily pieces']):>12}"
              f"{int(r['monthly pieces']):>14}")
    target = [r for b, s, r in rows if b == "postgresql" and s >= 1_000_000]
    if target:
        verdict = "met" if target[0]["daily build"] < 2.0 else "MISSED"
        print(f"target (daily build < 2 s at 1M articles on PostgreSQL): {verdict}")
    print(f"run on {date.today()}: {workdir}")


if __name__ == "__main__":
    main()
