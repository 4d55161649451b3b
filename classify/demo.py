"""This stage's part of ``presswatch demo``: classify what the crawl + pipeline steps stored and show
a table (title, topics, sentiment, risk, top reasons) with zh / vi / en labels.

The demo world's organizations and correspondents are added as watch queries (purpose ``org`` /
``official``) when absent, so "the organization is named" counts in the risk of the pieces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.table import Table
from sqlalchemy import select

from classify.reasons import (
    contributing_factors,
    factor_label,
    matched_terms,
    parse_reasons,
    risk_label,
    sentiment_label,
)
from models.enums import RISK_LEVELS_DESC
from presswatch.democontext import DemoContext
from presswatch.i18n import LANGUAGES

DEMO_WATCH_QUERIES = (
    ("儋州市人民法院", "儋州法院 OR 儋州市人民法院 OR 儋州市法院", "org"),
    (
        "Cục THADS tỉnh Hưng Yên",
        '"thi hành án dân sự tỉnh Hưng Yên" OR "THADS tỉnh Hưng Yên" OR "THADS huyện Văn Lâm" '
        'OR "thi hành án dân sự huyện Văn Lâm" OR "THADS thành phố Hưng Yên"',
        "org",
    ),
    ("通讯员与干警 · cán bộ", '张三 OR 李四 OR 王五 OR "Nguyễn Văn An"', "official"),
)

RISK_STYLE = {"low": "green", "medium": "yellow", "high": "red", "critical": "bold white on red"}


def _trilingual(label: Callable[[str, str], str], key: str) -> str:
    """One word in every language the demo speaks (zh-CN · vi · en), from the catalog."""
    return " · ".join(dict.fromkeys(label(key, language) for language in LANGUAGES))


def _seed_watch_queries(session: Any) -> None:
    from models.articles import WatchQuery
    from models.scope import default_unit_id

    existing = set(session.scalars(select(WatchQuery.name)))
    for name, query, purpose in DEMO_WATCH_QUERIES:
        if name not in existing:
            session.add(WatchQuery(name=name, query=query, purpose=purpose, enabled=True,
                                   unit_id=default_unit_id(session)))
    session.flush()


def _top_reasons(raw: dict[str, Any]) -> str:
    reasons = parse_reasons(raw)
    parts = [f"{_trilingual(factor_label, f['factor'])} +{f['contribution']:.2f}"
             for f in contributing_factors(reasons)[:3]]
    terms = matched_terms(reasons)[:3]
    if terms:
        parts.append("、".join(terms))
    if not parts:
        notes = reasons.get("notes") or []
        parts = [notes[-1]] if notes else ["—"]
    return "\n".join(parts)


def run(ctx: DemoContext) -> None:
    from classify.service import classify_pending
    from classify.taxonomy import load_taxonomy
    from models import Article, Classification
    from models.db import session_scope

    ctx.heading("分类 · Phân loại · Classification: topics, sentiment, risk (with reasons)")
    with session_scope(ctx.engine) as session:
        _seed_watch_queries(session)
        events = classify_pending(session, ctx.settings)
    ctx.console.print(
        f"已分类 {len(events)} 篇 · đã phân loại {len(events)} bài · classified {len(events)} stored articles",
        highlight=False,
    )
    taxonomy = load_taxonomy(ctx.settings.classify.taxonomy_file or None)
    with session_scope(ctx.engine) as session:
        rows = session.execute(
            select(Article, Classification)
            .join(Classification, Classification.article_id == Article.id)
            .where(Classification.is_current.is_(True))
            .order_by(Classification.risk_score.desc(), Article.id)
        ).all()
        if not rows:
            ctx.console.print("（无数据 · không có dữ liệu · nothing stored to classify: did the crawl step run?）")
            return
        table = Table(
            "标题 · Tiêu đề · Title",
            "主题 · Chủ đề · Topics",
            "情感 · Sắc thái · Sentiment",
            "风险 · Rủi ro · Risk",
            "主要原因 · Lý do chính · Top reasons",
            title="分类结果 · Kết quả phân loại · Classification results",
            show_lines=True,
        )
        counts: dict[str, int] = {}
        for article, c in rows[:25]:
            lang = "vi" if (c.lang or "").startswith("vi") else "zh"
            topics = (
                "\n".join(
                    f"{taxonomy.label(t['name'], lang)} / {taxonomy.label(t['name'], 'en')} {t['score']:.2f}"
                    for t in c.topics[:3]
                )
                or "—"
            )
            level = str(c.risk_level)
            counts[level] = counts.get(level, 0) + 1
            table.add_row(
                (article.title or article.text[:40] or "(无标题)")[:48],
                topics,
                f"{_trilingual(sentiment_label, str(c.sentiment))}\n{c.sentiment_score:+.2f}",
                f"[{RISK_STYLE.get(level, '')}]{_trilingual(risk_label, level)}[/]\n{c.risk_score:.2f}",
                _top_reasons(c.reasons or {}),
            )
        ctx.console.print(table)
        summary = " · ".join(f"{_trilingual(risk_label, k)}: {counts.get(k, 0)}" for k in RISK_LEVELS_DESC)
        ctx.console.print(f"风险分布 · Phân bố rủi ro · Risk levels: {summary}", highlight=False)
        ctx.state["classified_article_ids"] = [a.id for a, _ in rows]
