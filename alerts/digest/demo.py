"""This stage's part of ``presswatch demo``: today's digest in Chinese and Vietnamese, and this
week's reports (XLSX and PDF) under ``<workdir>/reports``.

Builds the two sample digests (``digests.example.yaml``: 儋州法院 in zh-CN, Cục THADS Hưng Yên in
vi) over the last 24 hours of what the crawl, pipeline and classify steps stored, saves them as
HTML under the demo folder, and sends them through the outbox to the demo SMTP server when the
alerts step left one running (a :class:`alerts.mailbox.LocalMailbox` in ``ctx.state``, or an
SMTP host in the demo settings). Otherwise it says where the HTML files are.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from presswatch.democontext import DemoContext

EXAMPLE = Path(__file__).resolve().parents[2] / "presswatch" / "templates" / "digests.example.yaml"


def _demo_mailbox(ctx: DemoContext) -> Any:
    """The alerts step's loopback mailbox: in ``ctx.state``, or the owner of a registered cleanup."""
    from alerts.mailbox import LocalMailbox

    candidates = [*ctx.state.values(), *(getattr(c, "__self__", None) for c in ctx.cleanups)]
    for value in candidates:
        if isinstance(value, LocalMailbox) and value._controller is not None:  # still running
            return value
    return None


def run(ctx: DemoContext) -> None:
    from alerts.digest.definitions import load_definitions
    from alerts.digest.i18n import fmt_percent
    from alerts.digest.periods import rolling_period
    from alerts.digest.sender import queue_digest, refresh_status

    ctx.heading("Digest · 每日舆情简报 · Điểm tin báo chí hàng ngày")
    mailbox = _demo_mailbox(ctx)
    alerts_update: dict[str, Any] = {"digest_output_dir": str(ctx.workdir / "digests")}
    if mailbox is not None:
        alerts_update.update({"smtp_host": mailbox.host, "smtp_port": mailbox.port, "smtp_security": "none"})
    settings = ctx.settings.model_copy(update={"alerts": ctx.settings.alerts.model_copy(update=alerts_update)})
    can_send = bool(settings.alerts.smtp_host)

    now = datetime.now(UTC)
    sent_ids: list[int] = []
    html_path: Path | None
    for definition in load_definitions(EXAMPLE):
        period = rolling_period(now, definition.timezone)
        result = queue_digest(ctx.engine, settings, definition, period, now=now) if can_send else None
        if result is None:
            # No SMTP server in this demo run: build and save only (no outbox rows that would wait forever).
            from alerts.digest.sender import build_and_render, save_html
            from models.db import session_scope

            with session_scope(ctx.engine) as session:
                _data, rendered = build_and_render(session, settings, definition, period, now)
            html_path = save_html(rendered, Path(settings.alerts.digest_output_dir), f"{definition.name}-today")
            stats, subject = rendered.stats, rendered.subject
        else:
            html_path, stats, subject = result.html_path, result.stats, result.subject
            if result.digest_id is not None:
                sent_ids.append(result.digest_id)
        ctx.console.print(
            f"[bold]{definition.title}[/] ({definition.language}, {period.local_start():%m-%d %H:%M}–"
            f"{period.local_end():%m-%d %H:%M} {definition.timezone})"
        )
        ctx.console.print(f"  {subject}", highlight=False)
        ctx.console.print(
            f"  pieces {stats['pieces']} (previous 24 h: {stats['previous_pieces']}) · negative "
            f"{fmt_percent(stats['negative_share'])} · high/critical risk {stats['high_risk']} · "
            f"outlets {stats['outlets']} · flagged {stats['flagged']} · own pieces {stats['own_pieces']} · "
            f"source problems {stats['source_problems']}",
            highlight=False,
        )
        ctx.console.print(f"  HTML: {html_path}", soft_wrap=True, highlight=False)
    if can_send and sent_ids:
        from alerts.delivery import deliver_pending

        before = len(mailbox.messages) if mailbox is not None else 0
        stats_ = deliver_pending(ctx.engine, settings)
        states = [refresh_status(ctx.engine, digest_id) for digest_id in sent_ids]
        ctx.console.print(
            f"sent through the outbox to {settings.alerts.smtp_host}:{settings.alerts.smtp_port}: "
            f"{stats_.sent} message(s) accepted; digests {', '.join(states)}",
            highlight=False,
        )
        if mailbox is not None:
            arrived = mailbox.wait_for(before + stats_.sent)[before:]
            # The outbox also carries what earlier steps queued (the quota step's reminders).
            ctx.console.print(f"收件箱 · hộp thư · the demo mailbox received {len(arrived)} email(s):")
            for received in arrived:
                ctx.console.print(f"  → {', '.join(received.rcpt_tos)}: {received.message['Subject']}", highlight=False)
    elif not can_send:
        ctx.console.print("no demo SMTP server from the alerts step: open the HTML files above in a browser")
    ctx.state["digest_html"] = sorted(str(p) for p in Path(settings.alerts.digest_output_dir).glob("*.html"))
    ctx.state["reports"] = _reports(ctx, settings, now)


def _reports(ctx: DemoContext, settings: Any, now: datetime) -> list[str]:
    """This week's report of each sample digest, as XLSX and PDF (what goes up the hierarchy)."""
    from alerts.digest.definitions import load_definitions
    from alerts.digest.periods import report_period
    from alerts.digest.reports import build_report, export_pdf, export_xlsx
    from models.db import session_scope
    from presswatch.i18n import to_local

    out_dir = ctx.workdir / "reports"
    written: list[str] = []
    for definition in load_definitions(EXAMPLE):
        today = to_local(now, definition.timezone).date().isoformat()
        period = report_period("weekly", today, definition.timezone)
        with session_scope(ctx.engine) as session:
            data = build_report(session, definition, period)
        base = out_dir / f"{definition.name}-{period.label}"
        xlsx = export_xlsx(data, base.with_suffix(".xlsx"))
        pdf = export_pdf(data, base.with_suffix(".pdf"), settings.alerts.digest_font_file)
        written += [str(xlsx), str(pdf)]
        ctx.console.print(f"报告 · báo cáo · report {data.title} {period.label}: {xlsx.name}, {pdf.name}",
                          highlight=False)
    return written
