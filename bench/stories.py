"""Story grouping benchmark: how well reposts of short social posts are grouped, beside a
verified-MinHash baseline in the same run, and how fast short posts are stored as stories accumulate.

    .venv/bin/python bench/stories.py                         # quality on all of bench/data/reposts,
                                                              #   speed at 10k and 100k stored stories
    .venv/bin/python bench/stories.py --split test --scales 10000,100000,1000000
    .venv/bin/python bench/stories.py --skip-speed --split calib
    .venv/bin/python bench/stories.py --run 100000 --skip-quality   # a 100k-post run from empty, by quarter
    .venv/bin/python bench/stories.py --skip-quality --scales 100000 --fill-cache /tmp/fills --profile /tmp/s.prof

Quality: the labelled set (``bench/data/reposts``, see its README: hand-written originals, reposts
made from them, real social-media posts as distractors) goes through the real pipeline
(``ingest_items`` into a fresh SQLite database) in crawl order; each post's story is its predicted
group. The baseline reads the same raw texts: MinHash of character 3-grams (128 permutations,
datasketch), LSH at 0.5, each join verified at estimated Jaccard >= 0.5, union-find. Printed for
both: pair precision / recall / F1, B-cubed precision / recall / F1, the largest predicted group
and the most real groups one predicted group mixes.

Speed: a fresh database is filled with N stories of one short post each (texts cut from the
labelled set's text at random offsets, each prepared by the pipeline and written in bulk with every
row the pipeline writes for a new story: snapshot, article, MinHash bands, story, story keys), then
the labelled posts are stored through the pipeline and timed (posts/s, and posts per CPU second of
the process: SQLite runs in it, so that is the one-core rate whatever else the machine is doing).
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

_FILL: dict[str, Any] = {}  # the fill's worker processes: the text pool and the settings


def _fill_init(pool: str, snapshot_dir: str) -> None:
    from pipeline import normalize

    _FILL["pool"], _FILL["settings"] = pool, _settings(Path(snapshot_dir))
    normalize.warm_up()


def _fill_prepare(job: tuple[int, int, int, list[datetime], Any]) -> list[tuple[Any, ...]]:
    """Posts ``lo``..``hi`` of the fill, each through ``pipeline.ingest.prepare``: (snapshot row,
    article row, band keys, story row, story keys), ids still relative to the fill's first."""
    from pipeline import dedupe
    from pipeline.ingest import prepare
    from pipeline.snapshots import snapshot_row

    lo, hi, seed, times, now = job
    pool, settings = _FILL["pool"], _FILL["settings"]
    rng = random.Random(seed * 1_000_003 + lo)
    out = []
    for i in range(lo, hi):
        off = rng.randrange(len(pool) - 150)
        body = pool[off:off + rng.randint(30, 140)]
        at = times[i - lo]
        item = RawItem(url=f"https://fill{i}.weibo.example.cn/post", source_key="weibo",
                       fetched_at=at + timedelta(minutes=5), text=body, lang="zh", published=at.isoformat())
        p = prepare(item, settings, now=now)
        snap = snapshot_row(p.snapshot, settings=settings, content_type=p.snapshot_type, encoding=p.snapshot_encoding)
        art = {
            "source_id": None, "outlet_id": None, "url": p.url, "canonical_url": p.canonical_url,
            "url_hash": p.url_hash, "title": p.title, "text": p.text, "match_text": p.match_text, "lang": p.lang,
            "byline": p.byline, "source_line": p.source_line, "published_at": p.published_at,
            "published_at_missing": p.published_at_missing, "fetched_at": p.fetched_at, "stored_at": now,
            "content_hash": p.content_hash, "fingerprint": p.fingerprint.to_bytes(), "metrics": p.metrics,
            "flags": p.flags, "extra": p.extra,
        }
        story = {"title": p.title[:2000] or "(untitled)", "lang": p.lang, "first_outlet_id": None,
                 "first_seen_at": p.published_at, "last_seen_at": p.published_at, "article_count": 1,
                 "outlet_count": 1, "created_at": now, "updated_at": now}
        keys = dedupe.StoryPiece(p.match_text, p.lang, p.fingerprint).rep_keys()
        out.append((snap, art, sorted(set(p.band_keys)), story, keys))
    return out


def _fill_stories(engine: Engine, n: int, pool: str, start: datetime, days: float, seed: int = 7,
                  processes: int = 2) -> None:
    """N one-post stories into an empty database, each the rows the pipeline writes for a new
    story (its snapshot, the article with its fingerprint and hashes, its MinHash band keys, the
    story and its lookup keys in ``story_keys``), written in bulk: each post goes through
    ``pipeline.ingest.prepare`` (the same extraction, normalization and fingerprint as
    ``ingest_items``; in ``processes`` worker processes), then one executemany per table and
    chunk instead of a dedupe lookup per post; the band and story keys go through staging tables
    and into their indexes in key order at the end. Texts are windows of ``pool`` at random
    offsets, published in time order over ``days``."""
    import multiprocessing

    from sqlalchemy import insert

    from models import Article, Snapshot, Story, utcnow

    rng = random.Random(seed)
    times = sorted(start + timedelta(seconds=rng.uniform(0, days * 86400)) for _ in range(n))
    now = utcnow()
    step = 2000
    jobs = [(lo, min(n, lo + step), seed, times[lo:lo + step], now) for lo in range(0, n, step)]
    with engine.begin() as conn:
        conn.exec_driver_sql("create table fill_bands (band_key bigint, article_id integer)")
        conn.exec_driver_sql("create table fill_keys (key bigint, story_id integer, article_id integer)")
    snapshot_dir = str(Path(str(engine.url.database)).parent / "snapshots")
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(processes, initializer=_fill_init, initargs=(pool, snapshot_dir)) as workers:
        for chunk in workers.imap(_fill_prepare, jobs):
            snaps, arts, bands, stories, keys = [], [], [], [], []
            for snap, art, band_keys, story, story_keys in chunk:
                i = int(art["url"].split("fill", 1)[1].split(".", 1)[0])
                aid = sid = snid = 1_000_000 + i
                snaps.append({**snap, "id": snid})
                arts.append({**art, "id": aid, "story_id": sid, "snapshot_id": snid})
                stories.append({**story, "id": sid, "first_article_id": aid})
                bands.extend((k, aid) for k in band_keys)
                keys.extend((k, sid, aid) for k in story_keys)
            with engine.begin() as conn:
                conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")  # articles and stories point at each other
                conn.exec_driver_sql("PRAGMA synchronous = OFF")  # a bulk load: no fsync per chunk
                conn.execute(insert(Snapshot), snaps)
                conn.execute(insert(Article), arts)
                conn.execute(insert(Story), stories)
                raw = conn.connection.driver_connection  # integers only: no type processing to skip
                assert raw is not None
                raw.executemany("insert into fill_bands values (?, ?)", bands)
                raw.executemany("insert into fill_keys values (?, ?, ?)", keys)
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA cache_size = -500000")
        conn.exec_driver_sql("insert or ignore into fingerprint_bands (band_key, article_id) "
                             "select band_key, article_id from fill_bands order by band_key, article_id")
        conn.exec_driver_sql("insert or ignore into story_keys (key, story_id, article_id) "
                             "select key, story_id, article_id from fill_keys order by key, story_id, article_id")
        conn.exec_driver_sql("drop table fill_bands")
        conn.exec_driver_sql("drop table fill_keys")


def _cpu_with_children() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def speed(rows: list[dict[str, Any]], scales: list[int], workdir: Path, fill_cache: Path | None = None,
          profile: Path | None = None) -> None:
    """For each scale, a fresh database filled with that many one-post stories, then the labelled
    posts stored and timed (a fresh database each time: stored a second time, the same posts would
    be exact copies and skip the lookup). ``fill_cache``: filled databases are kept there and
    copied for each run (a 1M fill takes a quarter of an hour). ``profile``: the timed ingest of the
    largest scale runs under cProfile, its stats written to that file."""
    import shutil

    from pipeline.ingest import ingest_items
    from presswatch.events import EventBus

    pool = "".join(r["text"] for r in rows if r["lang"] == "zh")
    times = [datetime.fromisoformat(r["published_at"]) for r in rows]
    start, days = min(times), (max(times) - min(times)).total_seconds() / 86400
    settings = _settings(workdir)
    from models.db import make_engine
    from pipeline import normalize

    normalize.warm_up()
    normalize.detect_language("载入语言模型 (loaded once per process, not in the first timed run)")
    for scale in scales:
        fill_cpu, fill = _cpu_with_children(), time.perf_counter()
        cached = fill_cache / f"fill-{scale}.db" if fill_cache is not None else None
        if cached is not None and cached.is_file():
            target = workdir / f"stories-{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(cached, target)
            engine = make_engine(f"sqlite:///{target}")
        else:
            engine = _fresh_engine(workdir)
            _fill_stories(engine, scale, pool, start, days)
            if cached is not None:
                engine.dispose()
                shutil.copyfile(str(engine.url.database), cached)
        fill_cpu, fill = _cpu_with_children() - fill_cpu, time.perf_counter() - fill
        try:
            profiler = None
            if profile is not None and scale == max(scales):
                import cProfile

                profiler = cProfile.Profile()
            load = os.getloadavg()[0]
            cpu = time.process_time()
            if profiler is not None:
                profiler.enable()
            stats = ingest_items(_items(rows), engine=engine, settings=settings, bus=EventBus())
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(str(profile))
            cpu = time.process_time() - cpu
            print(f"  {scale:>9,} stored stories: {stats.seen / cpu:7.1f} posts per CPU second, "
                  f"{stats.seen / stats.elapsed_seconds:7.1f} posts/s wall clock ({stats.seen} posts in "
                  f"{stats.elapsed_seconds:.1f}s; fill {fill:.0f}s, {fill_cpu:.0f} CPU s; load {load:.1f} -> "
                  f"{os.getloadavg()[0]:.1f}{'; profiled' if profiler is not None else ''})", flush=True)
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
    parser.add_argument("--fill-cache", type=Path, help="keep the filled databases in this folder and reuse them")
    parser.add_argument("--profile", type=Path, help="cProfile the timed ingest at the largest scale into this file")
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
            if args.fill_cache is not None:
                args.fill_cache.mkdir(parents=True, exist_ok=True)
            speed(load("all"), [int(s) for s in args.scales.split(",")], workdir, args.fill_cache, args.profile)
        if args.run:
            print(f"a {args.run:,}-post run from an empty database")
            run_quarters(args.run, load("all"), workdir)


if __name__ == "__main__":
    main()
