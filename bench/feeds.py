"""How many feeds one machine keeps fresh: the crawl worker against N feeds on a local server.

A server process on 127.0.0.1 serves N RSS feeds with ETags: 94 % never change (a conditional GET
costs a 304), 5 % publish new entries at random (exponential gaps, ``--publish-minutes`` on
average per feed; each entry links an article page), 1 % answer 500 and 1 % hang past the fetch
timeout. Each feed is a source declared with a 5-minute interval (``--interval-minutes``).

Per size, two runs of the real worker (``python -m crawlers.worker``: frontier, Scrapy, the
pipeline storing every new entry in a SQLite database, health recorded per poll):

* **sweep**: every feed due at once; polls/s until 90 % of them were recorded, beside a bare
  Scrapy spider sending the same N conditional GETs with the same Scrapy settings on the same
  server (the reference ceiling).
* **steady**: the database starts as a worker that already swept every feed (ETags stored, next
  polls spread over one interval, as jitter leaves them); runs ``--minutes`` and prints the
  sustained polls/s, the freshness (p95 age of a new entry when it is stored: ``stored_at`` minus
  the moment the server first listed it; entries listed too late to be due before the end are
  left out, entries due but never stored count as missed), and the worker's CPU (cores) and
  memory (RSS now / peak).

    .venv/bin/python bench/feeds.py --sizes 1000,5000,15000 [--minutes 8] [--sweep-only | --steady-only]

No politeness delay: every feed is on our own server (one host), as in bench/crawl.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from crawlers.testserver import LocalServer, Reply, Request  # noqa: E402

ENTRIES_SHOWN = 10
HANG_SECONDS = 60.0
FETCH_TIMEOUT = 10.0
PARAGRAPH = ("儋州市人民法院执行局近日开展集中执行行动，依法查控被执行人财产，兑现胜诉当事人合法权益。"
             "执行干警对拒不履行义务的被执行人依法采取纳入失信名单、限制高消费等措施。")


def role(i: int) -> str:
    r = i % 100
    if r == 0:
        return "fail"
    if r == 1:
        return "hang"
    if r in (2, 22, 42, 62, 82):
        return "active"
    return "static"


def publications(i: int, t0: float, mean_gap: float, horizon: float) -> list[float]:
    """When active feed ``i`` lists each of its entries (epoch seconds), up to ``horizon``."""
    rng = random.Random(i * 7919 + 17)
    out: list[float] = []
    t = t0
    while True:
        t += rng.expovariate(1 / mean_gap)
        if t > horizon:
            return out
        out.append(t)


def rss(base: str, i: int, numbers: list[int]) -> bytes:
    items = "".join(f"<item><title>第{i}号源 新闻{n}</title><link>{base}/a/{i}/{n}.html</link>"
                    f"<guid>{base}/a/{i}/{n}.html</guid></item>" for n in reversed(numbers[-ENTRIES_SHOWN:]))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>源{i}</title>'
            f"{items}</channel></rss>").encode()


def make_server(t0: Any, mean_gap: float, horizon_after: float) -> LocalServer:
    """``t0`` is a shared value: 0 until the parent starts the clock (the worker is up by then)."""
    schedule: dict[int, list[float]] = {}

    def handler(req: Request) -> Reply:
        path = urlsplit(req.path).path
        if path == "/robots.txt":
            return Reply(200, b"User-agent: *\nDisallow:\n", {"Content-Type": "text/plain"})
        if path.startswith("/f/"):
            i = int(path[3:].removesuffix(".xml"))
            kind = role(i)
            if kind == "fail":
                return Reply(500, b"internal error", {"Content-Type": "text/plain"})
            if kind == "hang":
                return Reply(200, b"", delay_seconds=HANG_SECONDS)
            if kind == "active":
                numbers = []
                if t0.value > 0:
                    pubs = schedule.get(i)
                    if pubs is None:
                        pubs = schedule[i] = publications(i, t0.value, mean_gap, t0.value + horizon_after)
                    now = time.time()
                    numbers = [n for n, t in enumerate(pubs) if t <= now]
            else:
                numbers = [0]  # one old entry, stored long ago
            etag = f'"{i}-{len(numbers)}"'
            if req.headers.get("if-none-match") == etag:
                return Reply(304, b"", {"ETag": etag})
            return Reply(200, rss(req.base_url, i, numbers),
                         {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": etag})
        if path.startswith("/a/"):
            _, _, feed, entry = path.removesuffix(".html").split("/")
            title = f"第{feed}号源新闻{entry}：集中执行兑现案款"
            body = (f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><h1>{title}</h1>"
                    + "".join(f"<p>{PARAGRAPH}（{feed}-{entry}-{k}）</p>" for k in range(6)) + "</body></html>")
            return Reply(200, body.encode(), {"Content-Type": "text/html; charset=utf-8"})
        return Reply(404)

    return LocalServer(handler).start()


def _serve(t0: Any, mean_gap: float, horizon_after: float, ports: Any) -> None:
    server = make_server(t0, mean_gap, horizon_after)
    ports.put(server.port)
    threading.Event().wait()


def start_server(mean_gap: float, horizon_after: float) -> tuple[multiprocessing.Process, str, Any]:
    """The feed server in its own process (its threads never share a GIL with the worker)."""
    ports: Any = multiprocessing.Queue()
    t0: Any = multiprocessing.Value("d", 0.0)
    proc = multiprocessing.Process(target=_serve, args=(t0, mean_gap, horizon_after, ports), daemon=True)
    proc.start()
    return proc, f"http://127.0.0.1:{ports.get(timeout=60)}", t0


# -- process measurements (/proc: no extra dependency) ---------------------------------------------
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> tuple[float, float]:
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


# -- the database ----------------------------------------------------------------------------------
def bench_overrides(tmp: Path, db_url: str) -> dict[str, str]:
    return {
        "DB__URL": db_url, "CRAWL__DOWNLOAD_DELAY_SECONDS": "0", "CRAWL__CONCURRENT_REQUESTS": "64",
        "CRAWL__CONCURRENT_REQUESTS_PER_DOMAIN": "64", "CRAWL__FETCH_TIMEOUT_SECONDS": str(FETCH_TIMEOUT),
        "CRAWL__SOURCES_FILE": str(tmp / "none.yaml"), "PIPELINE__SNAPSHOT_DIR": str(tmp / "snapshots"),
    }


def prepare_db(tmp: Path, base: str, n: int, interval_minutes: int, *, spread: bool, t0: float) -> tuple[str, Any]:
    """Sources as a worker that already swept every feed once leaves them (ETags stored); due all
    at ``t0``, or (``spread``) spread over one interval as jitter leaves them."""
    from sqlalchemy import update

    from crawlers.registry import parse_registry, sync_registry
    from models import Source
    from models.db import make_engine, session_scope, upgrade

    url = f"sqlite:///{tmp / 'feeds.db'}"
    upgrade(url)
    engine = make_engine(url)
    registry = parse_registry({"sources": [
        {"key": f"f{i:05d}", "name": f"feed {i}", "kind": "feed", "start_urls": [f"{base}/f/{i}.xml"],
         "interval_minutes": interval_minutes} for i in range(n)]})
    with session_scope(engine) as session:
        sync_registry(session, registry)
    start = datetime.fromtimestamp(t0, UTC)
    rng = random.Random(1)
    with session_scope(engine) as session:
        values = []
        for i in range(n):
            etag = None
            if role(i) in ("static", "active"):
                etag = f'"{i}-1"' if role(i) == "static" else f'"{i}-0"'
            due = start + timedelta(seconds=rng.uniform(0, interval_minutes * 60)) if spread else start
            values.append({"key": f"f{i:05d}", "etag": etag, "due": due})
        for v in values:
            session.execute(update(Source).where(Source.key == v["key"])
                            .values(http_etag=v["etag"], next_poll_at=v["due"], last_attempt_at=start
                                    - timedelta(minutes=interval_minutes)))
    return url, engine


PROFILE: dict[str, str] = {}  # --profile DIR: each worker runs under cProfile, its stats written there


def start_worker(tmp: Path, db_url: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSWATCH_")}
    env.update({f"PRESSWATCH_{k}": v for k, v in bench_overrides(tmp, db_url).items()})
    env["PYTHONPATH"] = str(ROOT)
    log = (tmp / "worker.log").open("ab")
    profile: list[str] = []
    if PROFILE:
        out = Path(PROFILE["dir"]) / f"worker-{tmp.name}-{int(time.time())}.prof"
        profile = ["-m", "cProfile", "-o", str(out)]
        env["PW_WORKER_DB_PROFILE"] = str(out.with_suffix(".db.prof"))
    return subprocess.Popen([sys.executable, *profile, "-m", "crawlers.worker", "--log-level", "WARNING"], env=env,
                            stdout=log, stderr=log, cwd=tmp)


def count_runs(engine: Any, since: datetime | None = None) -> int:
    from sqlalchemy import func, select

    from models import CrawlRun
    from models.db import session_scope

    with session_scope(engine) as session:
        query = select(func.count()).select_from(CrawlRun)
        if since is not None:
            query = query.where(CrawlRun.finished_at >= since)
        return int(session.scalar(query) or 0)


# -- sweep: every feed due at once --------------------------------------------------------------------
BARE_SPIDER = r'''
import json, sys, time
import scrapy
from scrapy.crawler import CrawlerProcess

settings, base, n, out_path = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
done = []

class Bare(scrapy.Spider):
    name = "bare"
    async def start(self):
        for i in range(n):
            tag = '"%d-1"' % i if i % 100 > 1 and i % 100 not in (2, 22, 42, 62, 82) else '"%d-0"' % i
            yield scrapy.Request("%s/f/%d.xml" % (base, i), headers={"If-None-Match": tag},
                                 meta={"handle_httpstatus_list": [304]}, errback=self.failed, dont_filter=True)
    def parse(self, response):
        done.append(time.time())
    def failed(self, failure):
        done.append(time.time())

def opened(spider):
    done.append(-time.time())

process = CrawlerProcess(settings)
crawler = process.create_crawler(Bare)
crawler.signals.connect(opened, signal=scrapy.signals.spider_opened)
process.crawl(crawler)
process.start()
import resource
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
open(out_path, "w").write(json.dumps({"times": done, "rss_peak_mb": peak}))
'''


def bare_sweep(tmp: Path, base: str, n: int) -> dict[str, float]:
    from crawlers.settings import scrapy_settings
    from settings import load_settings

    overrides = {k.lower().replace("__", "."): v for k, v in bench_overrides(tmp, "sqlite://").items()
                 if k.startswith("CRAWL__")}
    cfg = load_settings(environ={}, overrides=overrides).settings.crawl
    scrapy_cfg = scrapy_settings(cfg)
    scrapy_cfg["DOWNLOADER_MIDDLEWARES"] = {}  # no presswatch code at all
    scrapy_cfg["CONCURRENT_ITEMS"] = 1  # as the worker: its callbacks yield nothing either
    scrapy_cfg["LOG_LEVEL"] = "CRITICAL"  # the failing and hanging feeds are expected
    out, script = tmp / "bare.json", tmp / "bare_spider.py"
    script.write_text(BARE_SPIDER, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), json.dumps(scrapy_cfg), base, str(n), str(out)],
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    samples: list[tuple[float, float]] = []  # (time, CPU seconds so far)
    while proc.poll() is None:
        with contextlib.suppress(OSError, IndexError):  # it just exited
            samples.append((time.time(), cpu_seconds(proc.pid)))
        time.sleep(0.1)
    data = json.loads(out.read_text())
    start = -min(t for t in data["times"] if t < 0)
    ends = sorted(t for t in data["times"] if t > 0)
    t90 = ends[int(0.9 * n) - 1] - start

    def cpu_at(moment: float) -> float:
        return min(samples, key=lambda s: abs(s[0] - moment))[1]

    cpu = cpu_at(start + t90) - cpu_at(start)
    return {"rate": 0.9 * n / t90, "t90": t90, "cpu": cpu / t90, "rss": data["rss_peak_mb"]}


def worker_sweep(tmp: Path, base: str, n: int, interval_minutes: int) -> dict[str, float]:
    from sqlalchemy import func, select

    from models import CrawlRun
    from models.db import session_scope

    url, engine = prepare_db(tmp, base, n, interval_minutes, spread=False, t0=time.time())
    proc = start_worker(tmp, url)
    target = int(0.9 * n)
    deadline = time.time() + 600
    try:
        while count_runs(engine) < 1 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        cpu0 = cpu_seconds(proc.pid)  # from the first recorded poll: start-up imports left out
        while count_runs(engine) < target and time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
        cpu1 = cpu_seconds(proc.pid)
        rss, peak = memory_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    with session_scope(engine) as session:
        starts = sorted(session.scalars(select(CrawlRun.started_at)))
        ends = sorted(t for t in session.scalars(select(CrawlRun.finished_at)) if t is not None)
        total = session.scalar(select(func.count()).select_from(CrawlRun))
    engine.dispose()
    if (total or 0) < target:
        raise SystemExit(f"worker recorded {total} of {n} polls; see {tmp / 'worker.log'}")
    t90 = (ends[target - 1] - starts[0]).total_seconds()
    return {"rate": target / t90, "t90": t90, "cpu": (cpu1 - cpu0) / max(t90, 1e-9), "rss": rss, "peak": peak}


# -- steady: N feeds kept fresh ----------------------------------------------------------------------
def steady(tmp: Path, n: int, interval_minutes: int, minutes: float, mean_gap: float) -> dict[str, Any]:
    from sqlalchemy import select

    from models import Article
    from models.db import session_scope

    horizon_after = minutes * 60 + 600
    server, base, clock = start_server(mean_gap, horizon_after)
    try:
        url, engine = prepare_db(tmp, base, n, interval_minutes, spread=True, t0=time.time() + 15)
        proc = start_worker(tmp, url)
        while count_runs(engine) < 1 and proc.poll() is None:  # the worker is up: start the clock
            time.sleep(0.1)
        t0 = clock.value = time.time()
        horizon = t0 + horizon_after
        warm = 60.0  # the first minute is left out of the rates (imports, first claims)
        time.sleep(warm)
        since = datetime.now(UTC)
        runs0, cpu0, m0 = count_runs(engine, since), cpu_seconds(proc.pid), time.time()
        load_samples = []
        end = t0 + minutes * 60
        while time.time() < end and proc.poll() is None:
            time.sleep(5)
            load_samples.append(os.getloadavg()[0])
        runs1, cpu1, m1 = count_runs(engine, since), cpu_seconds(proc.pid), time.time()
        rss, peak = memory_mb(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        with session_scope(engine) as session:
            stored = {u: s for u, s in session.execute(select(Article.url, Article.stored_at))}
        engine.dispose()
    finally:
        server.terminate()
        server.join()
    cutoff = end - interval_minutes * 60 * 1.1 - 30  # listed before this: due (with jitter) before the end
    ages, missed = [], 0
    for i in range(n):
        if role(i) != "active":
            continue
        for k, listed in enumerate(publications(i, t0, mean_gap, horizon)):
            if listed > cutoff:
                break
            at = stored.get(f"{base}/a/{i}/{k}.html")
            if at is None:
                missed += 1
                ages.append(end - listed)
            else:
                ages.append(at.timestamp() - listed)
    ages.sort()
    p95 = ages[int(0.95 * (len(ages) - 1))] if ages else float("nan")
    return {"polls": (runs1 - runs0) / (m1 - m0), "cpu": (cpu1 - cpu0) / (m1 - m0), "rss": rss, "peak": peak,
            "p95": p95, "median": statistics.median(ages) if ages else float("nan"), "entries": len(ages),
            "missed": missed, "load": max(load_samples) if load_samples else os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,5000,15000")
    parser.add_argument("--minutes", type=float, default=8.0, help="Length of each steady run.")
    parser.add_argument("--interval-minutes", type=int, default=5)
    parser.add_argument("--publish-minutes", type=float, default=10.0,
                        help="Mean gap between an active feed's entries.")
    parser.add_argument("--sweep-only", action="store_true")
    parser.add_argument("--steady-only", action="store_true")
    parser.add_argument("--profile", metavar="DIR", help="Run each worker under cProfile; stats files go to DIR.")
    args = parser.parse_args()
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        PROFILE["dir"] = str(Path(args.profile).resolve())
    import logging

    logging.basicConfig(level=logging.WARNING)
    print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"({os.cpu_count()} cores)", flush=True)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="pw-feeds-") as tmp_name:
            tmp = Path(tmp_name)
            row: dict[str, Any] = {"n": n}
            if not args.steady_only:
                server, base, _ = start_server(args.publish_minutes * 60, 3600)  # clock never started: no news
                try:
                    bare = bare_sweep(tmp, base, n)
                    (tmp / "sweep").mkdir()
                    work = worker_sweep(tmp / "sweep", base, n, args.interval_minutes)
                finally:
                    server.terminate()
                    server.join()
                row.update(sweep=work, bare=bare)
                print(f"{n:6d} feeds, sweep: worker {work['rate']:6.1f} polls/s ({work['cpu']:.2f} cores, "
                      f"{1000 * work['cpu'] / work['rate']:.1f} ms CPU per poll, "
                      f"{work['peak']:.0f} MB peak) | bare scrapy {bare['rate']:6.1f} req/s ({bare['cpu']:.2f} cores, "
                      f"{bare['rss']:.0f} MB peak) | ratio {work['rate'] / bare['rate']:.2f} | load "
                      f"{os.getloadavg()[0]:.2f}", flush=True)
            if not args.sweep_only:
                (tmp / "steady").mkdir()
                st = steady(tmp / "steady", n, args.interval_minutes, args.minutes, args.publish_minutes * 60)
                print(f"{n:6d} feeds, steady {args.minutes:g} min at a {args.interval_minutes}-min interval: "
                      f"{st['polls']:6.1f} polls/s (needed {n / (args.interval_minutes * 60):.1f}), "
                      f"new-entry age p95 {st['p95']:.0f} s / median {st['median']:.0f} s over {st['entries']} "
                      f"entries ({st['missed']} missed), worker {st['cpu']:.2f} cores "
                      f"({1000 * st['cpu'] / max(st['polls'], 1e-9):.1f} ms CPU per poll), RSS {st['rss']:.0f} MB "
                      f"(peak {st['peak']:.0f} MB), max load {st['load']:.2f}", flush=True)
                row["steady"] = st
            rows.append(row)
    print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
