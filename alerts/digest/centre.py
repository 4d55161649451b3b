"""The report centre: digests and periodic reports sent and scheduled, who received what, the files,
and resending one through the outbox.

Every function takes the reader's :class:`models.scope.Scope`: a digest record belongs to the unit
of its definition (``sender.definition_unit_id``) and is "not found" outside the scope. The web
page (``/reports``) and a signed link (``accounts.links``) read through these functions only.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.audit import Actor, record
from alerts import outbox
from alerts.digest.content import DigestData
from alerts.digest.definitions import DigestDefinition
from alerts.digest.periods import CALENDAR_MONTHS, Period, calendar_period, due_report_period
from models import Delivery, Digest, utcnow
from models.enums import DeliveryStatus
from models.scope import Scope

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CALENDAR_KINDS: tuple[str, ...] = tuple(CALENDAR_MONTHS)
FORMATS = {"pdf": "application/pdf", "xlsx": XLSX_MIME}


class ReportNotFound(LookupError):
    """No such digest record in the scope (the two are not told apart)."""


class ResendRefused(ValueError):
    """The record cannot be resent (nothing was ever queued for it)."""


@dataclass
class RecordRow:
    digest: Digest
    kind: str  # daily / monthly / quarterly / yearly
    recipients: int
    delivered: int
    failed: int


@dataclass
class Scheduled:
    name: str
    kind: str
    next_at: datetime  # UTC
    timezone: str
    recipients: list[str] = field(default_factory=list)
    language: str = "zh-CN"
    unit_id: int | None = None


def record_kind(digest: Digest) -> str:
    """``dz-daily`` is a daily digest, ``dz-daily:monthly`` the definition's monthly report."""
    return digest.name.split(":", 1)[1] if ":" in digest.name else "daily"


def definition_name(digest: Digest) -> str:
    return digest.name.split(":", 1)[0]


def list_records(session: Session, scope: Scope, *, kind: str = "", limit: int = 100) -> list[RecordRow]:
    """The scope's digest and report records, newest period first, with their delivery counts."""
    stmt = select(Digest).where(scope.where(Digest.unit_id)).order_by(Digest.period_start.desc(), Digest.id.desc())
    if kind == "daily":
        stmt = stmt.where(~Digest.name.contains(":"))
    elif kind:
        stmt = stmt.where(Digest.name.endswith(f":{kind}"))
    digests = list(session.scalars(stmt.limit(limit)))
    counts: dict[int, Counter[str]] = {d.id: Counter() for d in digests}
    if digests:
        rows = session.execute(
            select(Delivery.digest_id, Delivery.status, func.count())
            .where(Delivery.digest_id.in_([d.id for d in digests]))
            .group_by(Delivery.digest_id, Delivery.status)
        )
        for digest_id, status, n in rows:
            counts[int(digest_id or 0)][str(status)] += int(n)
    return [
        RecordRow(digest=d, kind=record_kind(d), recipients=sum(counts[d.id].values()),
                  delivered=counts[d.id][DeliveryStatus.SENT.value],
                  failed=counts[d.id][DeliveryStatus.DEAD.value] + counts[d.id][DeliveryStatus.CANCELLED.value])
        for d in digests
    ]


def get_record(session: Session, scope: Scope, digest_id: int) -> Digest:
    digest = session.get(Digest, digest_id)
    if digest is None or not scope.contains(digest.unit_id):
        raise ReportNotFound(digest_id)
    return digest


def deliveries_of(session: Session, digest: Digest) -> list[Delivery]:
    """Who received what: every outbox row of the record (resends included), oldest first."""
    return list(session.scalars(select(Delivery).where(Delivery.digest_id == digest.id).order_by(Delivery.id)))


def scheduled(session: Session, scope: Scope, definitions: Sequence[DigestDefinition],
              now: datetime | None = None) -> list[Scheduled]:
    """The next send of every enabled definition (and of its periodic reports) the scope may see."""
    from alerts.digest.periods import daily_period
    from alerts.digest.sender import definition_unit_id, due_period

    now = now or datetime.now(UTC)
    out: list[Scheduled] = []
    for definition in definitions:
        if not definition.enabled:
            continue
        unit_id = definition_unit_id(session, definition)
        if not scope.contains(unit_id) or (scope.visible_ids is not None and unit_id not in scope.visible_ids):
            continue
        last = due_period(definition, now)
        local_day = last.end.astimezone(definition.tz).date() + timedelta(days=1)
        upcoming = daily_period(local_day, definition.local_send_time, definition.timezone)
        common = {"timezone": definition.timezone, "recipients": list(definition.recipients),
                  "language": definition.language, "unit_id": unit_id}
        out.append(Scheduled(definition.name, "daily", upcoming.end, **common))  # type: ignore[arg-type]
        for kind in definition.reports:
            _period, due_at = due_report_period(kind, now, definition.local_send_time, definition.timezone)
            current = calendar_period(kind, due_at.astimezone(definition.tz).date(), definition.timezone)
            next_due = datetime.combine(current.local_end().date(), definition.local_send_time,
                                        tzinfo=definition.tz).astimezone(UTC)
            out.append(Scheduled(f"{definition.name}:{kind}", kind, next_due, **common))  # type: ignore[arg-type]
    out.sort(key=lambda s: (s.next_at, s.name))
    return out


def record_period(digest: Digest, definition: DigestDefinition | None) -> Period:
    """The period a record covers, as the builder takes it (label in the definition's time zone)."""
    tz = definition.timezone if definition is not None else "UTC"
    kind = record_kind(digest)
    if kind in CALENDAR_MONTHS:
        return calendar_period(kind, digest.period_start.astimezone(definition.tz if definition else UTC).date(), tz)
    local_end = digest.period_end.astimezone(definition.tz if definition else UTC)
    return Period(kind, local_end.date().isoformat(), digest.period_start, digest.period_end, tz)


def find_definition(definitions: Sequence[DigestDefinition], digest: Digest) -> DigestDefinition | None:
    name = definition_name(digest)
    return next((d for d in definitions if d.name == name), None)


def stored_file(digest: Digest, fmt: str) -> Path | None:
    """The file saved when the record was built (reports keep their XLSX and PDF beside the HTML)."""
    if not digest.html_path:
        return None
    path = Path(digest.html_path).with_suffix(f".{fmt}" if fmt != "html" else ".html")
    return path if path.is_file() else None


def file_name(digest: Digest, fmt: str) -> str:
    return re.sub(r"[^\w.-]+", "-", f"{digest.name}-{digest.period_start:%Y%m%d}") + f".{fmt}"


def export(session: Session, digest: Digest, fmt: str, definitions: Sequence[DigestDefinition], *,
           font_file: str = "", organization: str = "") -> bytes:
    """The record as PDF or XLSX: the file saved when it was sent if there is one, else built now from
    its definition over the same period (a daily digest has no saved PDF/XLSX)."""
    if fmt not in FORMATS:
        raise ReportNotFound(fmt)
    saved = stored_file(digest, fmt)
    if saved is not None:
        return saved.read_bytes()
    from alerts.digest.reports import export_pdf, export_xlsx

    data = rebuild(session, digest, definitions)
    if organization:
        data.organization = organization
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"report.{fmt}"
        if fmt == "pdf":
            export_pdf(data, path, font_file=font_file)
        else:
            export_xlsx(data, path)
        return path.read_bytes()


def rebuild(session: Session, digest: Digest, definitions: Sequence[DigestDefinition]) -> DigestData:
    """The record's content built again from its definition over the same period."""
    from alerts.digest.builder import build_for_definition
    from alerts.digest.reports import build_report

    definition = find_definition(definitions, digest)
    if definition is None:
        raise ReportNotFound(digest.name)
    period = record_period(digest, definition)
    if record_kind(digest) == "daily":
        return build_for_definition(session, definition, period)
    return build_report(session, definition, period)


def view_html(session: Session, digest: Digest, definitions: Sequence[DigestDefinition], *,
              font_file: str = "") -> str:
    """The record as a browser page when its saved file is gone: built again and rendered."""
    from alerts.digest.render import render_digest

    definition = find_definition(definitions, digest)
    data = rebuild(session, digest, definitions)
    return render_digest(data, recipients=definition.recipients if definition else [], font_file=font_file).file_html


def resend(session: Session, actor: Actor, scope: Scope, digest_id: int, *, delivery_id: int | None = None,
           now: datetime | None = None) -> list[Delivery]:
    """Queue the record's message again through the outbox: to one recipient (``delivery_id``) or to
    everyone it went to. Each copy is a new outbox row (its own idempotency key and Message-ID), so
    the outbox's retries and dead-lettering apply to it as to any message; audited."""
    digest = get_record(session, scope, digest_id)
    if not scope.can("configure", digest.unit_id):
        raise ReportNotFound(digest_id)
    rows = deliveries_of(session, digest)
    if delivery_id is not None:
        rows = [r for r in rows if r.id == delivery_id]
        if not rows:
            raise ReportNotFound(delivery_id)
    else:
        # The first message to each recipient (resends of it are copies of the same content).
        firsts: dict[str, Delivery] = {}
        for row in rows:
            firsts.setdefault(row.recipient.lower(), row)
        rows = list(firsts.values())
    if not rows:
        raise ResendRefused(digest_id)
    now = now or utcnow()
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f")
    queued: list[Delivery] = []
    for row in rows:
        copy = outbox.enqueue(
            session, idempotency_key=f"resend:{row.id}:{stamp}", channel=row.channel, recipient=row.recipient,
            language=row.language, subject=row.subject, body_text=row.body_text, body_html=row.body_html,
            payload={**(row.payload or {}), "resend_of": row.id}, digest_id=digest.id,
        )
        queued.append(copy)
    if digest.status == "sent":
        digest.status = "queued"
    record(session, actor, "report.resend", unit_id=digest.unit_id, object_type="digest", object_id=digest.id,
           after={"deliveries": [d.id for d in queued], "recipients": [d.recipient for d in queued]},
           note=digest.name)
    return queued


# -- quota reports and announcements (quota/notify.py): outbox messages without a digest record --------

QUOTA_PREFIXES = {"quota-report": "quota_report", "quota-announce": "quota_announcement"}


@dataclass
class QuotaMessage:
    """One quota report (a unit's results) or announcement (a rule's table) and everyone it went to."""

    group: str  # the idempotency key without the recipient
    kind: str  # quota_report / quota_announcement
    period: str
    about: str  # unit code (report) or rule key (announcement)
    unit_id: int | None
    subject: str
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def first(self) -> Delivery:
        return self.deliveries[0]


def _quota_owner(session: Session, payload: dict[str, object]) -> int | None:
    from models import QuotaRule, Unit

    if payload.get("kind") == "quota_report":
        return session.scalar(select(Unit.id).where(Unit.code == str(payload.get("unit") or "")))
    return session.scalar(select(QuotaRule.announce_unit_id).where(QuotaRule.key == str(payload.get("rule") or "")))


def _quota_rows(session: Session, *conditions: Any, limit: int) -> list[Delivery]:
    from sqlalchemy.orm import defer

    return list(session.scalars(
        select(Delivery).options(defer(Delivery.body_text), defer(Delivery.body_html))
        .where(Delivery.digest_id.is_(None), Delivery.alert_id.is_(None), *conditions)
        .order_by(Delivery.id.desc()).limit(limit)
    ))


def _group(session: Session, scope: Scope, rows: Sequence[Delivery]) -> list[QuotaMessage]:
    """Quota messages (originals grouped by their key without the recipient, with their resends)
    the scope may see, newest first."""
    by_id = {r.id: r for r in rows}
    groups: dict[str, QuotaMessage] = {}
    owners: dict[tuple[str, str], int | None] = {}
    for row in sorted(rows, key=lambda r: r.id):
        payload = row.payload or {}
        original = by_id.get(int(str(payload.get("resend_of")))) if payload.get("resend_of") else row
        if original is None or original.idempotency_key.split(":", 1)[0] not in QUOTA_PREFIXES:
            continue
        group = original.idempotency_key.rsplit(":", 1)[0]
        if group not in groups:
            opayload = original.payload or {}
            about = str(opayload.get("unit") or opayload.get("rule") or "")
            kind = str(opayload.get("kind") or QUOTA_PREFIXES[group.split(":", 1)[0]])
            if (kind, about) not in owners:
                owners[(kind, about)] = _quota_owner(session, opayload)
            groups[group] = QuotaMessage(group=group, kind=kind, period=str(opayload.get("period") or ""),
                                         about=about, unit_id=owners[(kind, about)], subject=original.subject)
        groups[group].deliveries.append(row)
    visible = [g for g in groups.values() if scope.contains(g.unit_id)
               and (scope.visible_ids is None or g.unit_id in scope.visible_ids)]
    visible.sort(key=lambda g: -max(d.id for d in g.deliveries))
    return visible


def quota_messages(session: Session, scope: Scope, *, limit: int = 100) -> list[QuotaMessage]:
    """The quota reports and announcements sent to the scope's units, newest first (resends included
    in their message's recipients). Reads the newest few hundred outbox rows of those kinds, without
    their bodies."""
    from sqlalchemy import or_

    rows = _quota_rows(session, or_(*[Delivery.idempotency_key.startswith(f"{p}:") for p in QUOTA_PREFIXES],
                                     Delivery.idempotency_key.startswith("resend:")), limit=limit * 10)
    return _group(session, scope, rows)[:limit]


def get_quota_message(session: Session, scope: Scope, delivery_id: int) -> QuotaMessage:
    """The quota message ``delivery_id`` belongs to (an original or a resend of one)."""
    row = session.get(Delivery, delivery_id)
    if row is not None and (row.payload or {}).get("resend_of"):
        row = session.get(Delivery, int(str((row.payload or {})["resend_of"])))
    if row is None or row.digest_id is not None or row.idempotency_key.split(":", 1)[0] not in QUOTA_PREFIXES:
        raise ReportNotFound(delivery_id)
    group = row.idempotency_key.rsplit(":", 1)[0]
    originals = _quota_rows(session, Delivery.idempotency_key.startswith(f"{group}:", autoescape=True), limit=1000)
    ids = {r.id for r in originals}
    resends = [r for r in _quota_rows(session, Delivery.idempotency_key.startswith("resend:"), limit=5000)
               if int(str((r.payload or {}).get("resend_of") or 0)) in ids]
    for message in _group(session, scope, [*originals, *resends]):
        if message.group == group:
            return message
    raise ReportNotFound(delivery_id)


def quota_attachment(message: QuotaMessage, index: int) -> tuple[str, str, bytes]:
    """(file name, mime type, bytes) of the message's ``index``-th attachment (an announcement's XLSX)."""
    import base64

    files = (message.first.payload or {}).get("attachments") or []
    if not (0 <= index < len(files)):
        raise ReportNotFound(index)
    f = files[index]
    return str(f["filename"]), str(f["mime"]), base64.b64decode(f["data_b64"])


def resend_quota_message(session: Session, actor: Actor, scope: Scope, delivery_id: int, *,
                         one: bool = False, now: datetime | None = None) -> list[Delivery]:
    """Queue a quota message again (to the recipient of ``delivery_id`` only when ``one``, else to all
    its original recipients) as new outbox rows; audited as report.resend."""
    message = get_quota_message(session, scope, delivery_id)
    if not scope.can("configure", message.unit_id):
        raise ReportNotFound(delivery_id)
    originals = [d for d in message.deliveries if not (d.payload or {}).get("resend_of")]
    targets = [d for d in originals if d.id == delivery_id] if one else originals
    if not targets:
        raise ReportNotFound(delivery_id)
    stamp = (now or utcnow()).astimezone(UTC).strftime("%Y%m%dT%H%M%S%f")
    queued = [
        outbox.enqueue(session, idempotency_key=f"resend:{d.id}:{stamp}", channel=d.channel, recipient=d.recipient,
                       language=d.language, subject=d.subject, body_text=d.body_text, body_html=d.body_html,
                       payload={**(d.payload or {}), "resend_of": d.id})
        for d in targets
    ]
    record(session, actor, "report.resend", unit_id=message.unit_id, object_type="quota_message",
           object_id=message.first.id, after={"deliveries": [d.id for d in queued],
                                              "recipients": [d.recipient for d in queued]}, note=message.group)
    return queued
