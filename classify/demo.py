"""This stage's part of ``presswatch demo``: classify what the crawl + pipeline steps stored and show
a table (title, topics, sentiment, risk, top reasons) with zh / vi / en labels.

The demo world's organizations and correspondents are added as watch queries (purpose ``org`` /
``official``) when absent, so "the organization is named" counts in the risk of the pieces.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from sqlalchemy import select

from presswatch.democontext import DemoContext

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

SENTIMENT_TEXT = {
    "negative": "负面 · tiêu cực · negative",
    "neutral": "中性 · trung lập · neutral",
    "positive": "正面 · tích cực · positive",
}
RISK_TEXT = {
    "low": "低 · thấp · low",
    "medium": "中 · trung bình · medium",
    "high": "高 · cao · high",
    "critical": "极高 · rất cao · critical",
}
RISK_STYLE = {"low": "green", "medium": "yellow", "high": "red", "critical": "bold white on red"}
FACTOR_TEXT = {
    "negative_sentiment": "负面情绪 · cảm xúc tiêu cực · negative",
    "sensitive_terms": "敏感词 · từ nhạy cảm · sensitive terms",
    "hostility_model": "敌意模型 · mô hình thù địch · hostility",
    "names_organization": "点名本单位 · nêu tên đơn vị · names us",
    "source_reach": "媒体影响力 · độ phủ · reach",
    "spread_velocity": "传播速度 · tốc độ lan truyền · spread",
}


def _seed_watch_queries(session: Any) -> None:
    from models.articles import WatchQuery

    existing = set(session.scalars(select(WatchQuery.name)))
    for name, query, purpose in DEMO_WATCH_QUERIES:
        if name not in existing:
            session.add(WatchQuery(name=name, query=query, purpose=purpose, enabled=True))
    session.flush()


def _top_reasons(reasons: dict[str, Any]) -> str:
    parts = []
    for factor in (reasons.get("factors") or [])[:3]:
        label = FACTOR_TEXT.get(factor["factor"], factor["factor"])
        detail = factor.get("detail")
        if factor["factor"] == "sensitive_terms" and isinstance(detail, list):
            label += " " + "、".join(h["term"] for h in detail[:3])
        elif factor["factor"] == "names_organization" and isinstance(detail, list):
            label += " " + "、".join(detail[:2])
        parts.append(f"{label} +{factor['contribution']:.2f}")
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
                f"{SENTIMENT_TEXT.get(str(c.sentiment), str(c.sentiment))}\n{c.sentiment_score:+.2f}",
                f"[{RISK_STYLE.get(level, '')}]{RISK_TEXT.get(level, level)}[/]\n{c.risk_score:.2f}",
                _top_reasons(c.reasons or {}),
            )
        ctx.console.print(table)
        summary = " · ".join(f"{RISK_TEXT[k]}: {counts.get(k, 0)}" for k in ("critical", "high", "medium", "low"))
        ctx.console.print(f"风险分布 · Phân bố rủi ro · Risk levels: {summary}", highlight=False)
        ctx.state["classified_article_ids"] = [a.id for a, _ in rows]
