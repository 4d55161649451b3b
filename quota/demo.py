"""This stage's part of ``presswatch demo``: the demo world's quotas, on what was crawled.

Loads the shipped quota file (儋州市人民法院 and its teams, Cục THADS tỉnh Hưng Yên and its
sub-departments, rules in the shapes of the seed work plans), registers a few pieces the way
staff would (one by the URL of a crawled article, one by its title, one the crawler never saw),
proposes registrations from the crawled bylines, confirms one, and prints the current period's
progress, the points ranking and the reminders that would go out.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import or_, select

from models import Article, Outlet, Unit, utcnow
from presswatch.democontext import DemoContext

TEMPLATE = Path(__file__).resolve().parents[1] / "presswatch" / "templates" / "quota.example.yaml"


def run(ctx: DemoContext) -> None:
    from models.db import session_scope
    from quota.config import load_quota, parse_quota_file
    from quota.labels import t
    from quota.notify import send_reminders
    from quota.periods import local_date
    from quota.registry import propose_from_articles, register, review
    from quota.render import ranking_tables, status_table
    from quota.scoring import status

    console = ctx.console
    tz = ctx.settings.quota.timezone
    now = utcnow()
    ctx.heading("宣传任务考核 · Chỉ tiêu tuyên truyền · Quotas: registration, rules, points")
    with session_scope(ctx.engine) as session:
        counts = load_quota(session, parse_quota_file(TEMPLATE), tz, ctx.settings.classify.taxonomy_file)
        console.print(f"载入 quota.yaml：{counts['units']} 个单位、{counts['people']} 名通讯员、"
                      f"{counts['rules']} 条考核规则 · loaded "
                      + ", ".join(f"{n} {what}" for what, n in counts.items()), highlight=False)

        today = local_date(now, tz)
        arts = list(session.scalars(
            select(Article).join(Outlet, Outlet.id == Article.outlet_id)
            .where(Outlet.key == "jinri-danzhou", Article.published_at.is_not(None),
                   # the court's own pieces (its correspondents' bylines), as staff would register
                   or_(Article.byline.like("%通讯员%"), Article.source_line.like("%儋州市人民法院%")))
            .order_by(Article.published_at.desc()).limit(2)
        ))
        console.print("\n[bold]1. 登记稿件 · Đăng ký tin bài · staff register pieces[/]")
        regs = []
        if arts:
            a = arts[0]
            regs.append(register(session, unit="dz-exec-1", outlet="jinri-danzhou", url=a.url, authors=["张三"],
                                 published=local_date(a.published_at or now, tz), kind="case_report",
                                 registered_by="张三", timezone=tz, now=now))
        if len(arts) > 1:
            b = arts[1]
            regs.append(register(session, unit="dz-exec-2", outlet="jinri-danzhou", title=b.title, authors=["李四"],
                                 published=local_date(b.published_at or now, tz), registered_by="李四",
                                 timezone=tz, now=now))
        regs.append(register(session, unit="dz-exec-2", outlet="jinri-danzhou", title="执行二队赴海口跨域执行纪实",
                             authors=["李四"], published=today - timedelta(days=1), registered_by="李四",
                             timezone=tz, now=now))
        regs.append(register(session, unit="dz-exec-1", outlet="jinri-danzhou",
                             title="执行一队本周执行工作简报", kind="bulletin", adoption="standalone",
                             char_count=1800, published=today, registered_by="张三", timezone=tz, now=now))
        for res in regs:
            r = res.registration
            v = r.verification
            seen = (f"[green]已核实 đã xác minh verified[/] ({v.get('method')}: {v.get('detail')})" if r.verified_at
                    else f"[yellow]未核实 chưa xác minh not verified[/] ({v.get('reason')})")
            console.print(f"  #{r.id} {r.title[:40]} → {seen}", highlight=False)

        console.print("\n[bold]2. 根据署名提出登记建议 · Đề xuất từ dòng nguồn · proposals from crawled bylines[/]")
        proposals = propose_from_articles(session, now=now)
        units = {u.id: u.code for u in session.scalars(select(Unit))}
        for p in proposals[:10]:
            console.print(f"  #{p.registration.id} [{units[p.registration.unit_id]}] {p.registration.title[:40]}"
                          f" ← {p.matched}", highlight=False)
        if not proposals:
            console.print("  （没有署名匹配的已抓取文章 · không có · no crawled byline names a unit）")
        else:
            console.print(f"  {len(proposals)} 条建议，状态 proposed：不会自动计入“仅限登记”的考核 · "
                          "not counted by registered-only rules until staff confirm")
            # The court's press section confirms one of the court's proposals.
            first = next((p.registration for p in proposals if units[p.registration.unit_id].startswith("dz-")),
                         proposals[0].registration)
            review(session, first.id, "submit", by="王五", note="demo: confirmed", now=now)
            console.print(f"  王五 确认了 #{first.id} → submitted", highlight=False)

        console.print("\n[bold]3. 本期完成情况 · Tiến độ kỳ này · progress in the current period[/]")
        rows = status(session, None, now=now)
        console.print(status_table([r for r in rows if not r.unit_code.startswith("hy-")], "zh-CN"))
        console.print(status_table([r for r in rows if r.unit_code.startswith("hy-")], "vi",
                                   title=t("vi", "status_title")))
        for table in ranking_tables(rows, "zh-CN"):
            console.print(table)

        console.print("\n[bold]4. 到期提醒 · Nhắc nhở · shortfall reminders (alerts outbox)[/]")
        sent = send_reminders(session, ctx.settings, now=now)
        for d in sent[:6]:
            console.print(f"  → {d.recipient}: {d.subject}", highlight=False)
        if not sent:
            console.print(f"  （本期结束前 {ctx.settings.quota.reminder_days_before_period_end} 天内才提醒 · "
                          "reminders start N days before a period ends）")
        ctx.state["quota_rows"] = len(rows)
