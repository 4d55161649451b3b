"""This stage's part of ``presswatch demo``: serve the demo site, register its sources, crawl them.

The demo site runs on a free port for the whole demo (its shutdown is registered in
``ctx.cleanups``; its URL is ``ctx.state["demo_site_url"]``). Items go through the pipeline's
``ingest_items`` when the pipeline is installed, so later demo steps work on stored articles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from presswatch.democontext import DemoContext

EXAMPLE_SOURCES = Path(__file__).resolve().parents[1] / "presswatch" / "templates" / "sources.example.yaml"
STATUS = {
    "ok": "[green]正常\nbình thường\nok[/]",
    "empty": "[yellow]无内容\ntrống\nempty[/]",
    "failed": "[red]失败\nlỗi\nfailed[/]",
}
HEALTH = {"ok": "健康\ntốt\nhealthy", "warning": "注意\ncảnh báo\nwarning", "failing": "故障\nhỏng\nfailing"}


def run(ctx: DemoContext) -> None:
    from rich.table import Table

    from crawlers.demo_site import start_demo_site
    from crawlers.demo_site.site import DEFAULT_DEMO_ORIGIN
    from crawlers.registry import load_registry, sync_registry
    from crawlers.run import crawl
    from models.db import session_scope

    ctx.heading("采集 · Thu thập tin · Crawling the demo sources")
    server = start_demo_site()
    ctx.cleanups.append(server.stop)
    ctx.state["demo_site_url"] = server.base_url
    registry = load_registry(EXAMPLE_SOURCES, {DEFAULT_DEMO_ORIGIN: server.base_url})
    with session_scope(ctx.engine) as session:
        sync_registry(session, registry)
    ctx.console.print(f"demo site / 演示网站 / trang web mẫu: {server.base_url} — {len(registry.sources)} sources")

    # Local server: no politeness delay needed, and keep the demo quick.
    crawl_cfg = ctx.settings.crawl.model_copy(update={"download_delay_seconds": 0.0})
    settings = ctx.settings.model_copy(update={"crawl": crawl_cfg})
    raw_items: list[Any] = []
    sink: Any
    try:
        from crawlers.run import pipeline_sink

        sink = pipeline_sink(ctx.engine, settings)
        stored_by = "pipeline.ingest"
    except ImportError:
        sink, stored_by = raw_items.extend, "kept in memory (pipeline not installed)"
    # A child process: the demo may run inside a longer process (tests) that crawls again.
    reports = crawl(ctx.engine, settings, sink=sink, isolate=True)
    ctx.state["crawl_reports"] = reports
    ctx.state["raw_items"] = raw_items

    names = {s.key: s.name for s in registry.sources}
    table = Table("来源\nNguồn\nSource", "状态\nTrạng thái\nStatus", "页面\nTrang\nPages",
                  "条目\nMục\nListed", "新\nMới\nNew", "健康\nTình trạng\nHealth", show_lines=True)
    for r in reports:
        table.add_row(f"{names.get(r.key, r.key)}\n[dim]{r.key}[/]", STATUS.get(r.status, r.status),
                      str(r.pages_fetched), str(r.items_found), str(r.items_new),
                      HEALTH.get(r.health, r.health) + (f"\n{r.reason}" if r.reason else ""))
    ctx.console.print(table)
    total = sum(r.items_new for r in reports)
    ctx.console.print(f"采集 {total} 篇 · thu thập {total} bài · {total} pieces crawled → {stored_by}")
