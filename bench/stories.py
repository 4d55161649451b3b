"""Story grouping benchmark: how well reposts of short social posts are grouped, beside a
verified-MinHash baseline in the same run, and how fast short posts are stored as stories accumulate.

    .venv/bin/python bench/stories.py                         # quality on all of bench/data/reposts,
                                                              #   speed at 10k and 100k stored stories
    .venv/bin/python bench/stories.py --split test --scales 10000,100000,1000000
    .venv/bin/python bench/stories.py --skip-speed --split calib
    .venv/bin/python bench/stories.py --run 100000 --skip-quality   # a 100k-post run from empty, by quarter

Quality: the labelled set (``bench/data/reposts``, see its README: hand-written originals, reposts
made from them, real social-media posts as distractors) goes through the real pipeline
(``ingest_items`` into a fresh SQLite database) in crawl order; each post's story is its predicted
group. The baseline reads the same raw texts: MinHash of character 3-grams (128 permutations,
datasketch), LSH at 0.5, each join verified at estimated Jaccard >= 0.5, union-find. Printed for
both: pair precision / recall / F1, B-cubed precision / recall / F1, the largest predicted group
and the most real groups one predicted group mixes.

Speed: a fresh database is filled with N stories of one short post each (texts cut from the
labelled set's text at random offsets, with their real lookup keys, written straight into the
tables; no MinHash bands: ``bench/pipeline.py`` measures those at scale), then the labelled posts
are stored through the pipeline and timed (posts/s, and posts per CPU second of the process: SQLite
runs in it, so that is the one-core rate whatever else the machine is doing).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from sqlalchemy import Engine, text

from presswatch.items import RawItem

DATA = Path(__file__).resolve().parent / "data" / "reposts" / "reposts.jsonl.gz"


def load(split: str) -> list[dict[str, Any]]:
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [r for r in rows if split == "all" or r["split"] == split]


def _items(rows: list[dict[str, Any]], prefix: str = "") -> list[RawItem]:
    out = []
    for r in rows:
        published = datetime.fromisoformat(r["published_at"])
        # One account (host) per post: the same text from two accounts is a repost, not a duplicate.
        out.append(RawItem(url=f"https://{prefix}{r['id']}.weibo.example.cn/post", source_key="weibo",
                           fetched_at=published + timedelta(minutes=5), text=r["text"], lang=r["lang"],
                           published=r["published_at"]))
    return out


# --- metrics -----------------------------------------------------------------------------------

def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def scores(gold: list[str], pred: list[Any]) -> dict[str, float]:
    """Pair precision/recall/F1 and B-cubed precision/recall/F1 of ``pred`` against ``gold``."""
    both = Counter(zip(gold, pred, strict=True))
    g_size, p_size = Counter(gold), Counter(pred)
    tp = sum(_pairs(n) for n in both.values())
    pred_pairs, gold_pairs = sum(_pairs(n) for n in p_size.values()), sum(_pairs(n) for n in g_size.values())
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / gold_pairs if gold_pairs else 1.0
    b_p = sum(n * n / p_size[p] for (g, p), n in both.items()) / len(gold)
    b_r = sum(n * n / g_size[g] for (g, p), n in both.items()) / len(gold)
    mixes: dict[Any, set[str]] = defaultdict(set)
    for g, p in zip(gold, pred, strict=True):
        mixes[p].add(g)
    largest = max(p_size, key=lambda p: p_size[p])

    def f1(a: float, b: float) -> float:
        return 2 * a * b / (a + b) if a + b else 0.0

    return {"pair_p": precision, "pair_r": recall, "pair_f1": f1(precision, recall), "b3_p": b_p, "b3_r": b_r,
            "b3_f1": f1(b_p, b_r), "largest": p_size[largest], "largest_mix": len(mixes[largest]),
            "max_mix": max(len(s) for s in mixes.values()), "groups": len(p_size)}


def _line(name: str, s: dict[str, float]) -> str:
    return (f"  {name:<28} pair P {s['pair_p']:.3f} R {s['pair_r']:.3f} F1 {s['pair_f1']:.3f} | "
            f"B3 P {s['b3_p']:.3f} R {s['b3_r']:.3f} F1 {s['b3_f1']:.3f} | largest {s['largest']:.0f} posts "
            f"({s['largest_mix']:.0f} real), most mixed {s['max_mix']:.0f} real, {s['groups']:.0f} groups")


# --- the two systems ---------------------------------------------------------------------------

def _fresh_engine(workdir: Path) -> Engine:
    from models.db import make_engine, upgrade

    url = f"sqlite:///{workdir / f'stories-{uuid.uuid4().hex[:8]}.db'}"
    upgrade(url)
    return make_engine(url)


def _settings(workdir: Path) -> Any:
    from settings import load_settings

    return load_settings(environ={}, overrides={"pipeline.snapshot_dir": str(workdir / "snapshots")}).settings


def ours(rows: list[dict[str, Any]], workdir: Path) -> tuple[list[Any], float]:
    from pipeline.ingest import ingest_items
    from presswatch.events import EventBus

    engine = _fresh_engine(workdir)
    items = _items(rows)
    stats = ingest_items(items, engine=engine, settings=_settings(workdir), bus=EventBus())
    with engine.connect() as conn:
        story_of = dict(conn.execute(text("select url, story_id from articles")).all())
    engine.dispose()
    # A post the pipeline called a duplicate of another (same text from the same account) is in that post's story.
    return [story_of.get(it.url, f"unstored:{it.url}") for it in items], stats.seen / stats.elapsed_seconds


def minhash_baseline(rows: list[dict[str, Any]]) -> list[Any]:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=0.5, num_perm=128)
    hashes = []
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, r in enumerate(rows):
        t = "".join(r["text"].split())
        m = MinHash(num_perm=128, seed=1)
        m.update_batch([t[k:k + 3].encode() for k in range(max(1, len(t) - 2))])
        hashes.append(m)
        for j in lsh.query(m):
            if m.jaccard(hashes[j]) >= 0.5:
                parent[find(i)] = find(j)
        lsh.insert(i, m)
    return [find(i) for i in range(len(rows))]


# --- speed ---------------------------------------------------------------------------------------

def _sqlite_time(at: datetime) -> str:
    """A timestamp as SQLAlchemy stores it on SQLite (naive UTC, microseconds always)."""
    return at.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _fill_stories(engine: Engine, n: int, pool: str, start: datetime, days: float, seed: int = 7) -> None:
    """N one-post stories whose texts are windows of ``pool``, with their real lookup keys, written
    through the driver (keys in key order: the index is loaded, not shuffled into)."""
    from models import utcnow
    from pipeline import dedupe, normalize

    rng = random.Random(seed)
    now = _sqlite_time(utcnow())
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")
        base = (raw.execute("select coalesce(max(id), 0) from articles").fetchone()[0] or 0) + 1_000_000
        sbase = (raw.execute("select coalesce(max(id), 0) from stories").fetchone()[0] or 0) + 1_000_000
        for chunk in range(0, n, 50_000):
            arts, stories, keys = [], [], []
            for i in range(chunk, min(n, chunk + 50_000)):
                at = _sqlite_time(start + timedelta(seconds=rng.uniform(0, days * 86400)))
                off = rng.randrange(len(pool) - 150)
                body = pool[off:off + rng.randint(30, 140)]
                # The pool is simplified Chinese already: the width fold and lower case of the
                # matching form, without the OpenCC pass that would make a 1M fill take an hour.
                folded = normalize.fold_width(body).lower()
                match = folded[:80] + "\n" + folded
                aid, sid = base + i, sbase + i
                arts.append((aid, sid, f"https://fill.example/{aid}", f"https://fill.example/{aid}", f"fill{aid}",
                             body[:80], body, match, at, at, now))
                stories.append((sid, body[:80], aid, at, at, now, now))
                keys.extend((k, sid, aid) for k in dedupe.StoryPiece(match, "zh", None).rep_keys())
            raw.executemany(
                "insert into articles (id, story_id, url, canonical_url, url_hash, title, text, match_text, lang, "
                "published_at, published_at_missing, fetched_at, stored_at, metrics, flags, extra) values "
                "(?, ?, ?, ?, ?, ?, ?, ?, 'zh', ?, 0, ?, ?, '{}', '[]', '{}')", arts)
            raw.executemany(
                "insert into stories (id, title, lang, first_article_id, first_seen_at, last_seen_at, article_count, "
                "outlet_count, created_at, updated_at) values (?, ?, 'zh', ?, ?, ?, 1, 1, ?, ?)", stories)
            keys.sort()
            raw.executemany("insert or ignore into story_keys (key, story_id, article_id) values (?, ?, ?)", keys)


def speed(rows: list[dict[str, Any]], scales: list[int], workdir: Path) -> None:
    """For each scale, a fresh database filled with that many one-post stories, then the labelled
    posts stored and timed (a fresh database each time: stored a second time, the same posts would
    be exact copies and skip the lookup)."""
    from pipeline.ingest import ingest_items
    from presswatch.events import EventBus

    pool = "".join(r["text"] for r in rows if r["lang"] == "zh")
    times = [datetime.fromisoformat(r["published_at"]) for r in rows]
    start, days = min(times), (max(times) - min(times)).total_seconds() / 86400
    settings = _settings(workdir)
    from pipeline import normalize

    normalize.warm_up()
    normalize.detect_language("载入语言模型 (loaded once per process, not in the first timed run)")
    for scale in scales:
        engine = _fresh_engine(workdir)
        try:
            t0 = time.perf_counter()
            _fill_stories(engine, scale, pool, start, days)
            fill = time.perf_counter() - t0
            cpu = time.process_time()
            stats = ingest_items(_items(rows), engine=engine, settings=settings, bus=EventBus())
            cpu = time.process_time() - cpu
            print(f"  {scale:>9,} stored stories: {stats.seen / stats.elapsed_seconds:7.1f} posts/s wall clock, "
                  f"{stats.seen / cpu:7.1f} per CPU second ({stats.seen} posts in {stats.elapsed_seconds:.1f}s; "
                  f"fill {fill:.0f}s; load {os.getloadavg()[0]:.1f})", flush=True)
        finally:
            engine.dispose()
            Path(str(engine.url.database)).unlink(missing_ok=True)


def run_quarters(n: int, rows: list[dict[str, Any]], workdir: Path, seed: int = 11) -> None:
    """``n`` short posts from an empty database: a third reposts of earlier ones; posts/s by quarter."""
    from pipeline.ingest import ingest_items
    from presswatch.events import EventBus

    rng = random.Random(seed)
    pool = "".join(r["text"] for r in rows if r["lang"] == "zh")
    start = datetime(2025, 3, 1, tzinfo=UTC)
    posts: list[dict[str, Any]] = []
    for i in range(n):
        at = start + timedelta(seconds=i * 30)  # 2,880 posts a day
        if posts and rng.random() < 0.33:
            src = posts[max(0, len(posts) - rng.randint(1, 3000))]["text"]
            body = f"{rng.choice(['转发微博', '支持', '太可怕了'])}//@用户{rng.randint(1, 9999)}:{src}"
        else:
            off = rng.randrange(len(pool) - 150)
            body = pool[off:off + rng.randint(30, 140)]
        posts.append({"id": f"r{i}", "text": body, "lang": "zh", "published_at": at.isoformat()})
    engine = _fresh_engine(workdir)
    settings = _settings(workdir)
    rates = []
    for q in range(4):
        part = posts[q * n // 4:(q + 1) * n // 4]
        cpu = time.process_time()
        stats = ingest_items(_items(part), engine=engine, settings=settings, bus=EventBus())
        cpu = time.process_time() - cpu
        rates.append(stats.seen / cpu)
        print(f"  quarter {q + 1}: {stats.seen / stats.elapsed_seconds:7.1f} posts/s wall clock, {rates[-1]:7.1f} per "
              f"CPU second ({stats.summary()}; load {os.getloadavg()[0]:.1f})", flush=True)
    print(f"  last quarter / first, per CPU second: {rates[-1] / rates[0]:.2f} (target >= 0.7)")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=["all", "calib", "test"], default="all")
    parser.add_argument("--scales", default="10000,100000", help="stored stories before the timed run")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--run", type=int, default=0, help="also store this many posts from empty, timed by quarter")
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min), "
          f"{os.cpu_count()} cores")
    rows = load(args.split)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if not args.skip_quality:
            gold = [r["group"] for r in rows]
            real = len({g for g, r in zip(gold, rows, strict=True) if r["kind"] != "distractor"})
            print(f"quality on {len(rows)} posts ({args.split}): {real} repost groups + distractors")
            predicted, rate = ours(rows, workdir)
            print(_line("presswatch", scores(gold, predicted)) + f" | {rate:.0f} posts/s")
            print(_line("MinHash 3-gram verified 0.5", scores(gold, minhash_baseline(rows))))
        if not args.skip_speed:
            print("speed (SQLite, one process): the labelled posts stored after N one-post stories")
            speed(load("all"), [int(s) for s in args.scales.split(",")], workdir)
        if args.run:
            print(f"a {args.run:,}-post run from an empty database")
            run_quarters(args.run, load("all"), workdir)


if __name__ == "__main__":
    main()
