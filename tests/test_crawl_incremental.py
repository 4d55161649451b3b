"""End to end with the real pipeline: stored articles are not fetched again, unchanged feeds cost a 304.

This checks the contract between the crawler's URL check and the pipeline's ``Article.url_hash``
(the pipeline does not load jieba on ingest).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from crawlers.demo_site import start_demo_site
from crawlers.demo_site.site import DEFAULT_DEMO_ORIGIN
from crawlers.registry import load_registry, sync_registry
from crawlers.run import crawl, pipeline_sink
from models import Article, CrawlRun
from models.db import make_engine, session_scope, upgrade
from settings import load_settings

EXAMPLE = Path(__file__).resolve().parents[1] / "presswatch" / "templates" / "sources.example.yaml"


def test_second_crawl_fetches_only_start_pages(tmp_path: Path) -> None:
    pytest.importorskip("pipeline.ingest")
    url = f"sqlite:///{tmp_path / 'pw.db'}"
    upgrade(url)
    engine = make_engine(url)
    settings = load_settings(environ={}, overrides={
        "crawl.download_delay_seconds": 0, "pipeline.snapshot_dir": str(tmp_path / "snapshots")}).settings
    server = start_demo_site()
    try:
        with session_scope(engine) as session:
            sync_registry(session, load_registry(EXAMPLE, {DEFAULT_DEMO_ORIGIN: server.base_url}))
        first = crawl(engine, settings, sink=pipeline_sink(engine, settings), isolate=True)
        assert sum(r.items_new for r in first) == 35
        with session_scope(engine) as session:
            assert session.scalar(select(func.count()).select_from(Article)) == 35

        before = len(server.requests)
        second = {r.key: r for r in crawl(engine, settings, sink=pipeline_sink(engine, settings), isolate=True)}
        paths = [r.path for r in server.requests[before:]]
        article_pages = [p for p in paths if "/content/" in p or "/art/" in p or "/tin/" in p
                         or (p.endswith(".html") and ("/fzsb/" in p or "/phapluat/" in p))]
        assert article_pages == []  # every article is stored: none fetched again
        assert second["fazhi-shibao"].pages_fetched == 1 and second["fazhi-shibao"].status == "ok"  # a 304
        assert second["jinri-danzhou"].items_found == 10 and second["jinri-danzhou"].items_new == 0
        assert all(r.status == "ok" and r.items_new == 0 for r in second.values()), second
        with session_scope(engine) as session:
            assert session.scalar(select(func.count()).select_from(CrawlRun)) == 12
    finally:
        server.stop()
        engine.dispose()
