"""This stage's part of ``presswatch demo``: the stories the crawl step's articles formed.

The crawl step stores what it fetched through :func:`pipeline.ingest.ingest_items`; this step
shows the result a press officer cares about: each story once, with the outlets carrying it, its
first publisher and how fast it spread (articles per hour).
"""

from __future__ import annotations

from rich.markup import escape
from sqlalchemy import func, select

from models import Article, Story
from pipeline.cli import sparkline
from pipeline.stories import list_stories
from presswatch.console import local_time
from presswatch.democontext import DemoContext


def run(ctx: DemoContext) -> None:
    from models.db import session_scope

    ctx.heading("整理与去重 · Xử lý và gộp tin trùng · Pipeline: extraction, dedupe, stories")
    with session_scope(ctx.engine) as session:
        articles = session.scalar(select(func.count()).select_from(Article)) or 0
        story_count = session.scalar(select(func.count()).select_from(Story)) or 0
        ctx.console.print(
            f"已入库文章 {articles} 篇，归并为 {story_count} 个报道 · {articles} bài viết, {story_count} câu chuyện · "
            f"{articles} articles stored, grouped into {story_count} stories",
            highlight=False,
        )
        spreads = list_stories(session, since=None, limit=8)
        if not spreads:
            ctx.console.print("（无数据 · không có dữ liệu · nothing stored yet: did the crawl step run?）")
            return
        tz = ctx.settings.scheduler.timezone
        for s in spreads:
            ctx.console.print(
                f"[bold]#{s.story_id} {escape(s.title[:60])}[/]\n"
                f"   转载 {s.reposts} 次 · {len(s.outlets) or 1} 家媒体 · 首发 {escape(s.first_outlet or '-')} "
                f"{local_time(s.first_seen_at, 'zh-CN', tz)} · 峰值 {s.peak_per_hour} 篇/小时 "
                f"(reposts {s.reposts}, outlets {len(s.outlets) or 1}, peak {s.peak_per_hour}/h) "
                f"{sparkline([n for _, n in s.per_hour][-24:])}\n"
                f"   媒体 · báo · outlets: {escape(', '.join(s.outlets) or '-')}",
                highlight=False,
            )
        ctx.state["pipeline_story_ids"] = [s.story_id for s in spreads]
