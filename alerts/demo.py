"""This stage's part of ``presswatch demo``: alerts on the demo's classified articles, delivered to a
real SMTP server on loopback, and the resulting cases.

It loads the sample rules (``alert_rules.example.yaml``), evaluates what the classify step stored,
starts an aiosmtpd mailbox on 127.0.0.1, delivers through the outbox, and prints what the duty
officers received: the Chinese officer of 儋州市人民法院 and the Vietnamese officer of Cục THADS
Hưng Yên. If the earlier steps stored no classified articles (a stage not built yet), it says so
and uses a small built-in fixture of the same demo story instead.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from presswatch.democontext import DemoContext

EXAMPLE_RULES = Path(__file__).resolve().parents[1] / "presswatch" / "templates" / "alert_rules.example.yaml"

FIXTURE = [
    # (outlet key, outlet name, tier, lang, title, text, risk, sentiment, story)
    ("jinri-danzhou", "今日儋州", "prefecture", "zh", "居民称儋州法院执行干警强制腾退时暴力执法",
     "多名居民反映，儋州市人民法院执行干警在那大镇一处强制腾退现场推搡群众，有老人受伤。", "high", "negative", "A"),
    ("fazhi-shibao", "法制时报", "provincial", "zh", "【转载】居民称儋州法院执行干警强制腾退时暴力执法",
     "多名居民反映，儋州市人民法院执行干警在那大镇一处强制腾退现场推搡群众，有老人受伤。", "high", "negative", "A"),
    ("weibo-danzhou", "儋州发布 微博", "own_channel", "zh", "儋州法院回应：已成立调查组",
     "针对网传儋州法院执行干警暴力执法一事，儋州市人民法院已成立调查组。", "medium", "neutral", "B"),
    ("bao-hungyen", "Báo Hưng Yên", "provincial", "vi", "Khiếu nại đông người về cưỡng chế thi hành án ở Văn Lâm",
     "Nhiều hộ dân tại huyện Văn Lâm phản ánh việc cưỡng chế thi hành án dân sự chưa đúng quy định.", "high",
     "negative", "C"),
]


def _has_classifications(session: Session) -> bool:
    from models import Classification

    return bool(session.scalar(select(func.count()).select_from(Classification)
                               .where(Classification.is_current.is_(True))))


def _seed_fixture(session: Session) -> None:
    from models import Article, Classification, Outlet, Source, Story, utcnow
    from models.enums import OutletTier, RiskLevel, SentimentLabel, SourceKind

    now = utcnow()
    stories: dict[str, Story] = {}
    for n, (key, name, tier, lang, title, text, risk, sentiment, story_key) in enumerate(FIXTURE):
        outlet = session.scalar(select(Outlet).where(Outlet.key == key)) or Outlet(
            key=key, name=name, tier=OutletTier(tier), language=lang)
        session.add(outlet)
        session.flush()
        source = session.scalar(select(Source).where(Source.key == key)) or Source(
            key=key, name=name, kind=SourceKind.FEED, outlet_id=outlet.id, language=lang)
        session.add(source)
        story = stories.get(story_key)
        if story is None:
            story = stories[story_key] = Story(title=title, lang=lang)
            session.add(story)
        session.flush()
        url = f"http://127.0.0.1/demo-fixture/{n}.html"
        article = Article(url=url, canonical_url=url, url_hash=hashlib.sha256(url.encode()).hexdigest(),
                          title=title, text=text, lang=lang, source_id=source.id, outlet_id=outlet.id,
                          story_id=story.id, published_at=now - timedelta(minutes=30 - n), fetched_at=now)
        session.add(article)
        session.flush()
        session.add(Classification(
            article_id=article.id, model_version="alerts-demo-fixture", lang=lang, topics=[],
            sentiment=SentimentLabel(sentiment), risk_level=RiskLevel(risk), risk_score=0.8,
            reasons={"matched_terms": ["暴力执法", "强制腾退"] if lang == "zh"
                     else ["khiếu nại đông người", "cưỡng chế"]},
            mentions_org=True,
        ))


def _excerpt(text: str, lines: int = 18) -> str:
    kept = [line for line in text.splitlines() if line.strip()][:lines]
    return "\n".join("    " + line[:110] for line in kept)


def run(ctx: DemoContext) -> None:
    from alerts.delivery import deliver_pending
    from alerts.engine import evaluate_new
    from alerts.mailbox import LocalMailbox
    from classify.reasons import risk_label
    from models import Alert, Delivery
    from models.db import session_scope
    from presswatch.console import local_time

    tz = ctx.settings.scheduler.timezone

    console = ctx.console
    ctx.heading("预警与处置 · Cảnh báo và xử lý · Alerts and cases")
    rules_file = ctx.workdir / "alert_rules.yaml"
    rules_file.write_text(EXAMPLE_RULES.read_text(encoding="utf-8"), encoding="utf-8")
    with session_scope(ctx.engine) as session:
        if not _has_classifications(session):
            console.print("（分类步骤未产生数据，使用内置示例报道 · chưa có dữ liệu phân loại, dùng bài mẫu · "
                          "no classified articles from earlier steps: using the built-in alert fixture）")
            _seed_fixture(session)

    box = LocalMailbox().start()
    ctx.cleanups.append(box.stop)
    alerts_settings = ctx.settings.alerts.model_copy(update={
        "rules_file": str(rules_file), "smtp_host": box.host, "smtp_port": box.port,
        "from_address": "presswatch@dz-court.example.cn",
    })
    settings = ctx.settings.model_copy(update={"alerts": alerts_settings})

    stats = evaluate_new(ctx.engine, settings)
    console.print(f"规则评估 · Đánh giá quy tắc · Rules evaluated: {stats}", highlight=False)
    first = deliver_pending(ctx.engine, settings)
    console.print(f"投递 · Gửi · Delivery: {first}", highlight=False)
    # Messages held back (quiet hours, or merged alerts waiting for their window to close) are due
    # later; the demo looks ahead to their time instead of waiting.
    with session_scope(ctx.engine) as session:
        held = session.execute(select(Delivery.recipient, Delivery.next_attempt_at, Delivery.payload)
                               .where(Delivery.status == "pending")).all()
    sent = first.sent
    if held:
        for recipient, due, payload in held:
            why = "合并发送 · gộp · merged" if (payload or {}).get("kind") == "alert-batch" else \
                "免打扰时段 · giờ yên lặng · quiet hours"
            console.print(f"  {recipient}: {why} → {local_time(due, 'zh-CN', tz)}", highlight=False)
        later = deliver_pending(ctx.engine, settings, now=max(d for _r, d, _p in held) + timedelta(seconds=1))
        console.print(f"  … {local_time(max(d for _r, d, _p in held), 'zh-CN', tz)}: {later}", highlight=False)
        sent += later.sent
    received = box.wait_for(sent, timeout_seconds=5)
    console.print(f"本机 SMTP 邮箱 {box.host}:{box.port} 收到 {len(received)} 封邮件 · "
                  f"hộp thư nhận {len(received)} thư · the loopback mailbox holds {len(received)} messages",
                  highlight=False)
    shown: set[str] = set()
    for message in received:
        msg = message.message
        lang = str(msg.get("Content-Language", ""))
        if message.rcpt_tos[0] in shown:
            continue
        shown.add(message.rcpt_tos[0])
        body = msg.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        console.print(f"\n[bold]→ {', '.join(message.rcpt_tos)} ({lang})[/]", highlight=False)
        console.print(f"  Subject: {msg['Subject']}", markup=False, highlight=False)
        console.print(_excerpt(str(text)), markup=False, highlight=False)

    with session_scope(ctx.engine) as session:
        from rich.table import Table

        alerts = session.scalars(select(Alert).order_by(Alert.id)).all()
        table = Table("案件 / case", "级别 / mức", "状态 / state", "标题 / tiêu đề", "传播 / spread",
                      f"时限 / deadline ({tz})")
        for a in alerts:
            table.add_row(f"#{a.id}", risk_label(str(a.severity), "zh-CN"), str(a.state), a.title[:36],
                          str((a.reason or {}).get("article_count", 1)), local_time(a.deadline_at, "zh-CN", tz))
        console.print(table)
        pending = session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status != "sent")) or 0
        console.print(f"待发送 · chờ gửi · still in the outbox: {pending}; "
                      "处置：presswatch cases ack|assign|respond|resolve|dismiss <id>", highlight=False)
        ctx.state["alerts"] = {"alert_ids": [a.id for a in alerts], "mailbox_messages": len(received)}
