"""Crawl throughput: presswatch vs a bare Scrapy spider with the same settings, on one local site.

A local fixture site serves 2,000 GBK article pages (about 5 KB each) linked from one index page,
from its own process.
Both crawlers fetch the index and every article, each in its own process (Twisted's reactor cannot
restart), with the Scrapy settings presswatch derives from ``settings.crawl`` (no politeness
delay: it is our own server). presswatch runs its real path: registry row -> plan -> generic html
spider (decoding, selectors, raw items) -> items streamed back to the parent -> a sink; the bare
spider only yields each response's URL and body. Prints pages/s for both and the ratio.

    .venv/bin/python bench/crawl.py [--pages 2000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from crawlers.testserver import LocalServer, Reply, Request  # noqa: E402

PARAGRAPH = ("儋州市人民法院执行局近日开展集中执行行动，依法查控被执行人财产，兑现胜诉当事人合法权益。"
             "执行干警对拒不履行义务的被执行人依法采取纳入失信名单、限制高消费等措施。")

BARE_SPIDER = r'''
import json, sys, time
import scrapy
from scrapy.crawler import CrawlerProcess

settings, index_url, out_path = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]

class Bare(scrapy.Spider):
    name = "bare"
    start_urls = [index_url]
    def parse(self, response):
        for href in response.css("ul.news a::attr(href)").getall():
            yield response.follow(href, self.parse_article)
    def parse_article(self, response):
        yield {"url": response.url, "body": response.body}

count = 0
def scraped(item, response, spider):
    global count
    count += 1
process = CrawlerProcess(settings)
crawler = process.create_crawler(Bare)
crawler.signals.connect(scraped, signal=scrapy.signals.item_scraped)
process.crawl(crawler)
process.start()
open(out_path, "w").write(str(count))
'''


def make_site(pages: int) -> LocalServer:
    bodies: dict[str, bytes] = {}
    for n in range(pages):
        title = f"执行新闻第{n}号：集中执行兑现案款{n % 97}万元"
        paras = "".join(f"<p>{PARAGRAPH}（{n}-{k}）</p>" for k in range(12))
        html = (f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312">'
                f"<title>{title}</title></head><body><h1 class=\"title\">{title}</h1>"
                f'<div class="meta"><span class="date">2026-11-2{n % 10} 09:{n % 60:02d}</span></div>'
                f'<div class="content">{paras}</div></body></html>')
        bodies[f"/a/{n}.html"] = html.encode("gbk")
    links = "".join(f'<li><a href="/a/{n}.html">第{n}号</a></li>' for n in range(pages))
    index = f'<html><head><meta charset="gbk"></head><body><ul class="news">{links}</ul></body></html>'.encode("gbk")

    def handler(req: Request) -> Reply:
        path = urlsplit(req.path).path
        if path == "/robots.txt":
            return Reply(200, b"User-agent: *\nDisallow:\n", {"Content-Type": "text/plain"})
        if path == "/index.html":
            return Reply(200, index, {"Content-Type": "text/html; charset=GBK"})
        body = bodies.get(path)
        if body is None:
            return Reply(404)
        return Reply(200, body, {"Content-Type": "text/html"})

    return LocalServer(handler).start()


def _serve(pages: int, ports: Any) -> None:
    server = make_site(pages)
    ports.put(server.port)
    threading.Event().wait()  # until the parent terminates this process


def start_site_process(pages: int) -> tuple[multiprocessing.Process, str]:
    """The fixture site in its own process, so its threads never share a GIL with either crawler."""
    ports: Any = multiprocessing.Queue()
    proc = multiprocessing.Process(target=_serve, args=(pages, ports), daemon=True)
    proc.start()
    return proc, f"http://127.0.0.1:{ports.get(timeout=60)}/index.html"


def bench_settings() -> object:
    from settings import load_settings

    return load_settings(environ={}, overrides={
        "crawl.download_delay_seconds": 0, "crawl.concurrent_requests": 16,
        "crawl.concurrent_requests_per_domain": 16, "crawl.retry_times": 1,
    }).settings


def run_bare(index_url: str) -> tuple[float, int]:
    from crawlers.settings import scrapy_settings

    settings = bench_settings()
    scrapy_cfg = scrapy_settings(settings.crawl)  # type: ignore[attr-defined]
    scrapy_cfg["DOWNLOADER_MIDDLEWARES"] = {}  # the bare spider has no presswatch code at all
    with tempfile.TemporaryDirectory() as tmp:
        out, script = Path(tmp) / "count", Path(tmp) / "bare_spider.py"
        script.write_text(BARE_SPIDER, encoding="utf-8")  # Scrapy inspects callback source: not `-c`
        start = time.perf_counter()
        subprocess.run([sys.executable, str(script), json.dumps(scrapy_cfg), index_url, str(out)], check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        return time.perf_counter() - start, int(out.read_text())


def run_presswatch(index_url: str, pages: int) -> tuple[float, int]:
    from crawlers.registry import parse_registry, sync_registry
    from crawlers.run import crawl
    from models.db import make_engine, session_scope, upgrade

    settings = bench_settings()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        engine = make_engine(url)
        registry = parse_registry({"sources": [{
            "key": "bench", "name": "bench", "kind": "html", "start_urls": [index_url], "max_depth": 1,
            "selectors": {"links": "ul.news a::attr(href)", "title": "h1.title::text", "body": "div.content p",
                          "published": "span.date::text"},
        }]})
        with session_scope(engine) as session:
            sync_registry(session, registry)
        count = 0

        def sink(batch: list[object]) -> None:
            nonlocal count
            count += len(batch)

        start = time.perf_counter()
        crawl(engine, settings, sink=sink, isolate=True)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - start
        engine.dispose()
        return elapsed, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    site, index = start_site_process(args.pages)
    fetched = args.pages + 1  # the index page too
    bare_rates, pw_rates = [], []
    try:
        for round_ in range(1, args.rounds + 1):
            seconds, items = run_bare(index)
            assert items == args.pages, f"bare spider got {items} items"
            bare_rates.append(fetched / seconds)
            seconds2, items2 = run_presswatch(index, args.pages)
            assert items2 == args.pages, f"presswatch got {items2} items"
            pw_rates.append(fetched / seconds2)
            print(f"round {round_}: bare scrapy {fetched / seconds:7.1f} pages/s ({seconds:.2f} s), "
                  f"presswatch {fetched / seconds2:7.1f} pages/s ({seconds2:.2f} s)")
    finally:
        site.terminate()
        site.join()
    bare, pw = statistics.median(bare_rates), statistics.median(pw_rates)
    print(f"pages: {args.pages} articles + 1 index, each crawl in its own process, same Scrapy settings")
    print(f"bare scrapy : {bare:7.1f} pages/s (median of {args.rounds})")
    print(f"presswatch  : {pw:7.1f} pages/s (median of {args.rounds})")
    print(f"ratio presswatch/bare: {pw / bare:.2f} (target >= 0.75)")


if __name__ == "__main__":
    main()
