"""Command-line commands of the digest: thin wrappers over library functions.

- ``presswatch digest list``: the definitions and their next send time.
- ``presswatch digest preview [--date D] [--lang vi] [--name N] --out FILE.html``: build and save
  (HTML, and the plain-text part beside it) without sending.
- ``presswatch digest send NAME [--date D]``: queue it in the outbox (once per period) and deliver.
- ``presswatch report weekly|monthly|quarterly|yearly|custom --month 2024-05 --out report.xlsx|.pdf``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from alerts.digest.definitions import DigestDefinition
    from settings import Settings

digest_app = typer.Typer(help="Daily press digests (每日舆情简报 / Điểm tin báo chí hàng ngày): preview and send.",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main presswatch app."""
    app.add_typer(digest_app, name="digest")
    app.command("report")(report)


def _parse_date(value: str | None) -> date | None:
    from presswatch.console import CliError

    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CliError(f"--date must be YYYY-MM-DD, got {value!r}") from None


def _definitions(settings: Settings) -> list[DigestDefinition]:
    from alerts.digest.definitions import DigestError, all_definitions
    from models.db import get_engine, session_scope
    from presswatch.console import CliError

    try:
        with session_scope(get_engine(create=False)) as session:
            return all_definitions(session, settings.alerts.digests_file)
    except DigestError as exc:
        raise CliError(str(exc)) from None


def _pick(settings: Settings, name: str | None, lang: str | None) -> DigestDefinition:
    """The named definition, else the first one in the file (in ``lang`` if given), else a catch-all."""
    from alerts.digest.definitions import LANGUAGES, DigestDefinition, DigestError, find_definition
    from presswatch.console import CliError

    if lang and lang not in LANGUAGES:
        raise CliError(f"--lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    definitions = _definitions(settings)
    if name:
        try:
            definition = find_definition(definitions, name)
        except DigestError as exc:
            raise CliError(str(exc)) from None
    else:
        matching = [d for d in definitions if not lang or d.language == lang]
        definition = matching[0] if matching else DigestDefinition(
            name="preview", language=lang or settings.alerts.default_language,
            timezone="Asia/Ho_Chi_Minh" if lang == "vi" else settings.scheduler.timezone,
        )
    if lang and lang != definition.language:
        definition = definition.model_copy(update={"language": lang, "title": ""})
    return definition


@digest_app.command("list")
def list_digests() -> None:
    """List the digest definitions and when each is sent next."""
    from rich.table import Table

    from alerts.digest.periods import daily_period, latest_due_day
    from presswatch.console import console
    from settings import get_settings

    settings = get_settings()
    definitions = _definitions(settings)
    if not definitions:
        console.print(f"no digests defined in {settings.alerts.digests_file} (presswatch init writes a sample)")
        return
    table = Table("name", "language", "send at", "next period", "recipients", "sections")
    now = datetime.now(UTC)
    for d in definitions:
        due = latest_due_day(now, d.local_send_time, d.timezone)
        nxt = daily_period(date.fromordinal(due.toordinal() + 1), d.local_send_time, d.timezone)
        table.add_row(d.name, d.language, f"{d.send_time} {d.timezone}", nxt.label, ", ".join(d.recipients),
                      ", ".join(d.sections))
    console.print(table)


@digest_app.command("preview")
def preview(
    out: Path = typer.Option(Path("digest-preview.html"), "--out", "-o", help="HTML file to write (.txt beside it)."),
    date_: str | None = typer.Option(
        None, "--date", help="Digest of this local date (YYYY-MM-DD); default: the last 24 h."
    ),
    lang: str | None = typer.Option(None, "--lang", help="zh-CN, vi or en (default: the definition's)."),
    name: str | None = typer.Option(None, "--name", help="Digest definition (default: the first in digests.yaml)."),
) -> None:
    """Build a digest and save it as HTML you can open in a browser; nothing is sent."""
    from alerts.digest.builder import build_for_definition
    from alerts.digest.periods import daily_period, rolling_period
    from alerts.digest.render import render_digest
    from models.db import get_engine, session_scope
    from presswatch.console import console
    from settings import get_settings

    settings = get_settings()
    definition = _pick(settings, name, lang)
    day = _parse_date(date_)
    now = datetime.now(UTC)
    period = (
        daily_period(day, definition.local_send_time, definition.timezone) if day
        else rolling_period(now, definition.timezone)
    )
    with session_scope(get_engine(create=False)) as session:
        data = build_for_definition(session, definition, period, now=now)
    rendered = render_digest(data, font_file=settings.alerts.digest_font_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(rendered.file_html, encoding="utf-8")
    text_path = out.with_suffix(".txt")
    text_path.write_text(rendered.text, encoding="utf-8")
    console.print(rendered.subject, highlight=False, soft_wrap=True)
    console.print(f"wrote {out} and {text_path}", soft_wrap=True)


@digest_app.command("send")
def send(
    name: str = typer.Argument(..., help="Digest definition name."),
    date_: str | None = typer.Option(None, "--date", help="Digest of this local date; default: the latest due one."),
) -> None:
    """Queue the digest in the outbox (once per period) and deliver it now."""
    from alerts.delivery import disabled_reasons
    from alerts.digest.definitions import DigestError, find_definition
    from alerts.digest.periods import daily_period
    from alerts.digest.sender import due_period, send_digest
    from models.db import get_engine
    from presswatch.console import EXIT_NOT_SENT, CliError, console
    from settings import get_settings

    settings = get_settings()
    try:
        definition = find_definition(_definitions(settings), name)
    except DigestError as exc:
        raise CliError(str(exc)) from None
    day = _parse_date(date_)
    period = (
        daily_period(day, definition.local_send_time, definition.timezone) if day
        else due_period(definition, datetime.now(UTC))
    )
    reason = disabled_reasons(settings).get("email")
    if reason and definition.recipients:
        console.print(f"[yellow]{reason}[/]: the digest is queued and goes out once email is configured")
    try:
        result = send_digest(get_engine(create=False), settings, definition, period)
    except DigestError as exc:
        raise CliError(str(exc)) from None
    messages = {
        "sent": f"sent to {result.queued} recipient(s)",
        "queued": f"queued for {result.queued} recipient(s) (delivery pending; see presswatch alerts outbox)",
        "already": "already built for this period: not sent again",
        "skipped_empty": "no coverage in this period and send_when_empty is off: not sent",
        "built": "no recipients: saved only",
    }
    console.print(f"{definition.name} {period.label}: {messages.get(result.status, result.status)}",
                  highlight=False, soft_wrap=True)
    if result.html_path:
        console.print(f"HTML: {result.html_path}", soft_wrap=True)
    if result.status == "queued":  # delivery was tried and the message is still not sent
        raise typer.Exit(EXIT_NOT_SENT)


def report(
    kind: str = typer.Argument(..., help="weekly, monthly, quarterly, yearly or custom"),
    out: Path = typer.Option(..., "--out", "-o", help="report.xlsx or report.pdf"),
    month: str | None = typer.Option(None, "--month", help="2024-05 (monthly; or a month in the quarter)"),
    week: str | None = typer.Option(None, "--week", help="2024-W20 or a date in the week (weekly)"),
    quarter: str | None = typer.Option(None, "--quarter", help="2024-Q2 (quarterly)"),
    year: str | None = typer.Option(None, "--year", help="2024 (yearly)"),
    period_: str | None = typer.Option(
        None, "--period", help="Any kind: 2024-W20 / 2024-05 / 2024-Q2 / 2024 / START..END"
    ),
    lang: str | None = typer.Option(None, "--lang", help="zh-CN, vi or en"),
    name: str | None = typer.Option(None, "--name", help="Take scope and language from this digest definition."),
) -> None:
    """Periodic report (周报/月报/季报/年报 · báo cáo tuần/tháng/quý/năm) as XLSX or PDF."""
    from alerts.digest.periods import PeriodError, report_period
    from alerts.digest.reports import build_report, export_pdf, export_xlsx
    from models.db import get_engine, session_scope
    from presswatch.console import CliError, console
    from settings import get_settings

    if kind not in ("weekly", "monthly", "quarterly", "yearly", "custom"):
        raise CliError(f"report kind must be weekly, monthly, quarterly, yearly or custom, got {kind!r}")
    value = period_ or {"weekly": week, "monthly": month, "quarterly": quarter or month, "yearly": year}.get(kind)
    if not value:
        flag = {"weekly": "--week", "monthly": "--month", "quarterly": "--quarter", "yearly": "--year"}.get(
            kind, "--period"
        )
        raise CliError(f"say which period: {flag} (or --period)")
    suffix = out.suffix.lower()
    if suffix not in (".xlsx", ".pdf"):
        raise CliError(f"--out must end in .xlsx or .pdf, got {out.name!r}")
    settings = get_settings()
    definition = _pick(settings, name, lang)
    try:
        period = report_period(kind, value, definition.timezone)
    except PeriodError as exc:
        raise CliError(str(exc)) from None
    with session_scope(get_engine(create=False)) as session:
        data = build_report(session, definition, period)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".xlsx":
        export_xlsx(data, out)
    else:
        export_pdf(data, out, font_file=settings.alerts.digest_font_file)
    h = data.headline
    console.print(f"{data.title} {period.label}: {h.pieces} pieces, {h.negative} negative, {h.high_risk} high risk",
                  highlight=False, soft_wrap=True)
    console.print(f"wrote {out}", soft_wrap=True)
