"""Benchmark: the overview dashboard's figures (alerts.overview.overview) at 1M articles.

    .venv/bin/python bench/dashboard.py --size 1000000 \\
        --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres [--keep] [--explain]

Fills a fresh PostgreSQL database ``pw_bench_dashboard_<size>`` with bench/digest.py's generator
(articles spread over the 365 days before now, each classified; stories, alerts, outlets), gives
half the alerts and two outlets (own channels) to 儋州市人民法院 and a watch query of the court
matching one piece in three (its ``article_matches`` rows, as the classifier writes them), then
times ``overview()`` for an operator (every piece) and for the court's leader (the pieces it sees,
``classify.visibility.visible_condition``: its watch query's matches, its alerts' pieces and
stories, its own channels), over 7 and 30 days: the median of ``--repeat`` runs, wall and this process's CPU
seconds, with the load average (the machine is shared). ``--explain`` prints the plan of the
main grouped scan. The database is dropped afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from bench.digest import _drop_pg, _pg_database, fill
from models import Alert, Article, Outlet
from models.db import make_engine, upgrade
from models.scope import Scope, subtree_ids, system_scope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()

    from alerts.overview import overview

    name = f"pw_bench_dashboard_{args.size}"
    url = _pg_database(args.pg_url, name, drop_first=False)
    upgrade(url)
    engine = make_engine(url)
    now = datetime.now(UTC).replace(microsecond=0)
    with Session(engine) as s:
        have = s.scalar(select(func.count()).select_from(Article)) or 0
    if have != args.size:
        if have:
            raise SystemExit(f"{name} holds {have} articles; drop it or pass --size {have}")
        fill(engine, args.size, now)
        with engine.begin() as conn:
            conn.execute(update(Alert).where(Alert.id % 2 == 0).values(unit_id=1))
            conn.execute(update(Outlet).where(Outlet.id.in_([5, 10])).values(unit_id=1, tier="own_channel"))
            wq = conn.execute(text("INSERT INTO watch_queries (name, query, purpose, enabled, priority, unit_id,"
                                   " created_at, updated_at) VALUES ('bench-court', '\"儋州法院\"', 'org', true, 0,"
                                   " 1, now(), now()) RETURNING id")).scalar_one()
            conn.execute(text("INSERT INTO article_matches (article_id, watch_query_id, unit_id)"
                              " SELECT id, :wq, 1 FROM articles WHERE id % 3 = 0"), {"wq": wq})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))  # as autovacuum would: index-only scans see the rows
    with Session(engine) as s:
        court = Scope(user_id=None, username="leader", unit_ids=subtree_ids(s, [1]))
    print(f"postgresql {args.size:,} articles; load average {os.getloadavg()}", flush=True)
    for label, scope in (("operator", system_scope()), ("court leader", court)):
        for window in ("7d", "30d"):
            walls, cpus, result = [], [], None
            for _ in range(args.repeat):
                with Session(engine) as s:
                    w0, c0 = time.perf_counter(), time.process_time()
                    result = overview(s, scope, window=window, now=now)
                    walls.append(time.perf_counter() - w0)
                    cpus.append(time.process_time() - c0)
            assert result is not None
            print(f"  {label:<13} {window:>4}: median {statistics.median(walls):.3f} s wall "
                  f"(client CPU {statistics.median(cpus):.3f} s), {result.pieces:,} pieces, "
                  f"{len(result.topics)} topics, {len(result.stories)} stories; load {os.getloadavg()[0]:.1f}",
                  flush=True)
    if args.explain:
        _explain(engine, court, now)
    engine.dispose()
    if not args.keep:
        _drop_pg(args.pg_url, name)


def _explain(engine, scope: Scope, now: datetime) -> None:  # type: ignore[no-untyped-def]
    """EXPLAIN ANALYZE of the series/mix scan as overview() runs it, for the court over 30 days."""
    from alerts.overview import _buckets, coverage_where, series_statement

    buckets, _hourly = _buckets("30d", now, "Asia/Shanghai")
    start = buckets[0].start
    stmt = series_statement(buckets, [Article.published_at >= start, Article.published_at < now,
                                      coverage_where(scope)])
    with engine.connect() as conn:
        conn.execute(text("SET jit = off"))
        sql = stmt.compile(conn, compile_kwargs={"literal_binds": True})
        for (line,) in conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")):
            print("   ", line[:200])


if __name__ == "__main__":
    main()
