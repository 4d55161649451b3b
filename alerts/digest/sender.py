"""Send a digest once per period: a digest record, the outbox, and catching up a missed send time.

Exactly-once works in two layers. The ``digests`` table has a unique (name, period_start): the
record is written in the same transaction as the outbox rows, so either both exist or neither
does, and a restart finds the record and does not build the digest again. Each outbox row has
the idempotency key ``digest:<name>:<period start>:<recipient>``, so even a second writer that
raced past the record check cannot queue a second email. The outbox (``alerts.outbox``) sends
over SMTP and marks a row sent only after the server accepted it; this module never talks SMTP.

The service calls :func:`send_due_digests` every ``alerts.digest_check_interval_seconds``: for
each definition it takes the most recent local send time at or before now; if that digest has no
record yet and the send time is less than ``alerts.digest_catch_up_hours`` ago, it is sent (so a
send time missed while the service was down is caught up once when it comes back; older ones are
logged and left alone rather than flooding inboxes with stale news).

A definition's ``reports: [monthly, quarterly, yearly]`` are sent the same way
(:func:`send_due_reports`): on the first local day of a period, at the definition's send time, the
report of the period just ended goes to the same recipients in the same language, as an email
(the report's content, rendered like a digest) with the XLSX and the PDF attached. Its record is
named ``<digest>:<kind>`` (``dz-daily:monthly``) with the report period's start, so it is sent once,
caught up within the same window after a restart, and never sent late beyond it.
"""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.digest.builder import DigestData, build_for_definition
from alerts.digest.definitions import DigestDefinition, DigestError
from alerts.digest.periods import Period, daily_period, due_report_period, latest_due_day
from alerts.digest.render import RenderedDigest, render_digest
from models import Delivery, Digest
from models.db import session_scope
from models.enums import DeliveryStatus
from models.scope import default_unit_id
from settings import Settings

log = logging.getLogger(__name__)


@dataclass
class SendResult:
    name: str
    period: Period
    status: str  # queued / sent / skipped_empty / already / built (no recipients)
    digest_id: int | None = None
    html_path: Path | None = None
    queued: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    subject: str = ""


def output_dir(settings: Settings) -> Path:
    return Path(settings.alerts.digest_output_dir or Path(settings.data_dir) / "digests")


def save_html(rendered: RenderedDigest, directory: Path, stem: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}.html"
    path.write_text(rendered.file_html, encoding="utf-8")
    (directory / f"{stem}.txt").write_text(rendered.text, encoding="utf-8")
    return path


def idempotency_key(name: str, period: Period, recipient: str) -> str:
    return f"digest:{name}:{period.start.astimezone(UTC):%Y%m%dT%H%MZ}:{recipient.lower()}"


def definition_unit_id(session: Session, definition: DigestDefinition) -> int | None:
    """The organization a definition's digests belong to (who sees them in the report centre): the
    first unit its scope names (by code), else the installation's single root unit."""
    from models import Unit

    for code in definition.scope.units:
        unit_id = session.scalar(select(Unit.id).where(Unit.code == code))
        if unit_id is not None:
            return int(unit_id)
    return default_unit_id(session)


def _record(session: Session, name: str, period: Period) -> Digest | None:
    return session.scalar(select(Digest).where(Digest.name == name, Digest.period_start == period.start))


def build_and_render(
    session: Session, settings: Settings, definition: DigestDefinition, period: Period, now: datetime | None = None
) -> tuple[DigestData, RenderedDigest]:
    data = build_for_definition(session, definition, period, now=now)
    rendered = render_digest(data, recipients=definition.recipients, font_file=settings.alerts.digest_font_file)
    return data, rendered


def queue_digest(
    engine: Engine, settings: Settings, definition: DigestDefinition, period: Period, *, now: datetime | None = None
) -> SendResult:
    """Build, save and queue one digest for ``period`` unless its record already exists."""
    from alerts import outbox

    if period.end > (now or datetime.now(UTC)):
        raise DigestError(
            f"the {definition.name} digest of {period.label} is due at {period.local_end():%Y-%m-%d %H:%M %Z}; "
            "sending it early would block the real one (use digest preview to look at it now)"
        )
    stem = re.sub(r"[^\w.-]+", "-", f"{definition.name}-{period.label}")
    try:
        with session_scope(engine) as session:
            existing = _record(session, definition.name, period)
            if existing is not None:
                return SendResult(definition.name, period, "already", existing.id,
                                  Path(existing.html_path) if existing.html_path else None, stats=existing.stats)
            data, rendered = build_and_render(session, settings, definition, period, now)
            html_path = save_html(rendered, output_dir(settings), stem)
            if data.empty and not definition.send_when_empty:
                status = "skipped_empty"
            elif not definition.recipients:
                status = "built"
            else:
                status = "queued"
            record = Digest(
                name=definition.name, language=definition.language, period_start=period.start,
                period_end=period.end, status=status, stats=rendered.stats, html_path=str(html_path),
                unit_id=definition_unit_id(session, definition),
            )
            session.add(record)
            session.flush()  # the unique (name, period_start) decides a race here
            queued = 0
            if status == "queued":
                payload = {"inline_images": rendered.inline_images(), "digest": definition.name}
                for recipient in definition.recipients:
                    outbox.enqueue(
                        session, idempotency_key=idempotency_key(definition.name, period, recipient), channel="email",
                        recipient=recipient, language=definition.language, subject=rendered.subject,
                        body_text=rendered.text, body_html=rendered.html, payload=payload, digest_id=record.id,
                    )
                    queued += 1
            return SendResult(
                definition.name, period, status, record.id, html_path, queued, rendered.stats, rendered.subject
            )
    except IntegrityError:
        log.info("digest %s for %s was recorded by another worker", definition.name, period.label)
        with session_scope(engine) as session:
            existing = _record(session, definition.name, period)
            return SendResult(definition.name, period, "already", existing.id if existing else None)


XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def report_record_name(definition: DigestDefinition, kind: str) -> str:
    return f"{definition.name}:{kind}"


def queue_report(
    engine: Engine, settings: Settings, definition: DigestDefinition, period: Period, *, now: datetime | None = None
) -> SendResult:
    """Build the report of ``period`` (XLSX, PDF, HTML) and queue it by email unless already recorded."""
    from alerts import outbox
    from alerts.digest.reports import build_report, export_pdf, export_xlsx

    name = report_record_name(definition, period.kind)
    if period.end > (now or datetime.now(UTC)):
        raise DigestError(f"the {name} report of {period.label} is not over until "
                          f"{period.local_end():%Y-%m-%d %H:%M %Z}")
    stem = re.sub(r"[^\w.-]+", "-", f"{definition.name}-{period.kind}-{period.label}")
    directory = output_dir(settings) / "reports"
    try:
        with session_scope(engine) as session:
            existing = _record(session, name, period)
            if existing is not None:
                return SendResult(name, period, "already", existing.id,
                                  Path(existing.html_path) if existing.html_path else None, stats=existing.stats)
            data = build_report(session, definition, period)
            rendered = render_digest(data, recipients=definition.recipients,
                                     font_file=settings.alerts.digest_font_file)
            html_path = save_html(rendered, directory, stem)
            files = [
                (export_xlsx(data, directory / f"{stem}.xlsx"), XLSX_MIME),
                (export_pdf(data, directory / f"{stem}.pdf", font_file=settings.alerts.digest_font_file),
                 "application/pdf"),
            ]
            if data.empty and not definition.send_when_empty:
                status = "skipped_empty"
            elif not definition.recipients:
                status = "built"
            else:
                status = "queued"
            record = Digest(
                name=name, language=definition.language, period_start=period.start, period_end=period.end,
                status=status, stats=rendered.stats, html_path=str(html_path),
                unit_id=definition_unit_id(session, definition),
            )
            session.add(record)
            session.flush()  # the unique (name, period_start) decides a race here
            queued = 0
            if status == "queued":
                payload = {
                    "inline_images": rendered.inline_images(), "digest": name, "report": period.kind,
                    "attachments": [
                        {"filename": path.name, "mime": mime, "data_b64": base64.b64encode(path.read_bytes()).decode()}
                        for path, mime in files
                    ],
                }
                for recipient in definition.recipients:
                    outbox.enqueue(
                        session, idempotency_key=idempotency_key(name, period, recipient), channel="email",
                        recipient=recipient, language=definition.language, subject=rendered.subject,
                        body_text=rendered.text, body_html=rendered.html, payload=payload, digest_id=record.id,
                    )
                    queued += 1
            return SendResult(name, period, status, record.id, html_path, queued, rendered.stats, rendered.subject)
    except IntegrityError:
        log.info("report %s for %s was recorded by another worker", name, period.label)
        with session_scope(engine) as session:
            existing = _record(session, name, period)
            return SendResult(name, period, "already", existing.id if existing else None)


def refresh_status(engine: Engine, digest_id: int) -> str:
    """Mark the digest sent once every one of its outbox rows was accepted by the server."""
    with session_scope(engine) as session:
        record = session.get(Digest, digest_id)
        if record is None:
            return "missing"
        statuses = session.scalars(select(Delivery.status).where(Delivery.digest_id == digest_id)).all()
        if record.status == "queued" and statuses and all(s == DeliveryStatus.SENT for s in statuses):
            record.status = "sent"
            record.sent_at = datetime.now(UTC)
        return record.status


def _deliver(engine: Engine, settings: Settings, result: SendResult) -> SendResult:
    if result.status in ("queued", "already") and result.digest_id is not None:
        from alerts.delivery import deliver_pending

        deliver_pending(engine, settings)
        new_status = refresh_status(engine, result.digest_id)
        if result.status == "queued":
            result.status = "sent" if new_status == "sent" else "queued"
    return result


def send_digest(
    engine: Engine,
    settings: Settings,
    definition: DigestDefinition,
    period: Period,
    *,
    now: datetime | None = None,
    deliver: bool = True,
) -> SendResult:
    """Queue the digest (once) and ask the outbox to deliver what is pending."""
    result = queue_digest(engine, settings, definition, period, now=now)
    return _deliver(engine, settings, result) if deliver else result


def send_report(
    engine: Engine,
    settings: Settings,
    definition: DigestDefinition,
    period: Period,
    *,
    now: datetime | None = None,
    deliver: bool = True,
) -> SendResult:
    """Queue the report of ``period`` (once) and ask the outbox to deliver what is pending."""
    result = queue_report(engine, settings, definition, period, now=now)
    return _deliver(engine, settings, result) if deliver else result


def due_period(definition: DigestDefinition, now: datetime) -> Period:
    """The period of the most recent send time at or before ``now``."""
    day = latest_due_day(now, definition.local_send_time, definition.timezone)
    return daily_period(day, definition.local_send_time, definition.timezone)


# (kind, name, period) already reported as "not sent late" by this process: the check runs every
# minute, and the same sentence 60 times an hour buries everything else in the log.
_said_late: set[tuple[str, str, str]] = set()


def _first_time(key: tuple[str, str, str]) -> bool:
    if key in _said_late:
        return False
    _said_late.add(key)
    return True


def send_due_digests(
    engine: Engine, settings: Settings, definitions: list[DigestDefinition], *, now: datetime | None = None
) -> list[SendResult]:
    """Send every digest whose send time has come and that has no record yet (catch-up included)."""
    now = now or datetime.now(UTC)
    window = timedelta(hours=settings.alerts.digest_catch_up_hours)
    results = []
    for definition in definitions:
        if not definition.enabled:
            continue
        period = due_period(definition, now)
        with session_scope(engine) as session:
            if _record(session, definition.name, period) is not None:
                continue
        if now - period.end > window:
            if _first_time(("digest", definition.name, period.label)):
                log.warning(
                    "digest %s for %s was due at %s, more than %s h ago; not sent late",
                    definition.name, period.label, period.local_end().isoformat(),
                    settings.alerts.digest_catch_up_hours,
                )
            continue
        try:
            result = send_digest(engine, settings, definition, period, now=now)
        except DigestError as exc:
            log.error("digest %s: %s", definition.name, exc)
            continue
        log.info("digest %s for %s: %s (%d queued)", definition.name, period.label, result.status, result.queued)
        results.append(result)
    results.extend(send_due_reports(engine, settings, definitions, now=now))
    return results


def send_due_reports(
    engine: Engine, settings: Settings, definitions: list[DigestDefinition], *, now: datetime | None = None
) -> list[SendResult]:
    """Send each definition's monthly/quarterly/yearly report of the period just ended, once.

    Due on the first local day of the next period at the send time; caught up within
    ``alerts.digest_catch_up_hours`` like the daily digest, and not sent later than that.
    """
    now = now or datetime.now(UTC)
    window = timedelta(hours=settings.alerts.digest_catch_up_hours)
    results = []
    for definition in definitions:
        if not definition.enabled:
            continue
        for kind in definition.reports:
            period, due_at = due_report_period(kind, now, definition.local_send_time, definition.timezone)
            name = report_record_name(definition, kind)
            with session_scope(engine) as session:
                if _record(session, name, period) is not None:
                    continue
            if now - due_at > window:
                # Said loudly once, on the day it was missed; after that only at debug level.
                loud = now - due_at <= window + timedelta(days=1) and _first_time(("report", name, period.label))
                level = logging.WARNING if loud else logging.DEBUG
                log.log(level, "report %s for %s was due at %s, more than %s h ago; not sent late", name,
                        period.label, due_at.astimezone(definition.tz).isoformat(),
                        settings.alerts.digest_catch_up_hours)
                continue
            try:
                result = send_report(engine, settings, definition, period, now=now)
            except DigestError as exc:
                log.error("report %s: %s", name, exc)
                continue
            log.info("report %s for %s: %s (%d queued)", name, period.label, result.status, result.queued)
            results.append(result)
    return results
