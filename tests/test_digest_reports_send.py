"""Scheduled monthly, quarterly and yearly reports: emailed once with the XLSX (and PDF) attached.

Each test commits for real in a database of its own, on SQLite and (with
PRESSWATCH_TEST_POSTGRES_URL) on PostgreSQL, and delivers to a loopback SMTP server.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, select

from alerts.digest.sender import send_due_digests
from alerts.mailbox import LocalMailbox
from models import Delivery, Digest
from models.db import make_engine, session_scope, upgrade
from tests.test_digest_send import _settings
from tests.test_digest_world import VI_DEF, ZH_DEF, make_world

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# 2025-01-01 08:00 Asia/Shanghai: half an hour after dz-daily's 07:30 send time.
NEW_YEAR = datetime(2025, 1, 1, 0, 0, tzinfo=UTC)
REPORTS_DEF = ZH_DEF.model_copy(update={"reports": ["monthly", "quarterly", "yearly"]})


@pytest.fixture
def mailbox() -> Iterator[LocalMailbox]:
    box = LocalMailbox().start()
    yield box
    box.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def report_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database of its own holding the digest test world, per backend."""
    from tests.conftest import POSTGRES_URL, _create_pg_database, _drop_pg_database

    name = ""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'reports.db'}"
    elif not POSTGRES_URL:
        pytest.skip("PRESSWATCH_TEST_POSTGRES_URL is not set")
    else:
        url, name = _create_pg_database(POSTGRES_URL)
    try:
        upgrade(url)
        engine = make_engine(url)
        with session_scope(engine) as session:
            make_world(session)
        yield engine
        engine.dispose()
    finally:
        if name:
            from models.db import engine_for

            engine_for.cache_clear()
            _drop_pg_database(POSTGRES_URL, name)


def _records(engine: Engine) -> list[tuple[str, str, datetime, datetime]]:
    with session_scope(engine) as session:
        rows = session.scalars(select(Digest)).all()
        return sorted((r.name, r.status, r.period_start, r.period_end) for r in rows)


def _deliveries(engine: Engine) -> int:
    with session_scope(engine) as session:
        return len(session.scalars(select(Delivery)).all())


def test_new_year_sends_last_month_quarter_and_year_once(
    report_engine: Engine, mailbox: LocalMailbox, tmp_path: Path
) -> None:
    settings = _settings(mailbox.port, tmp_path)
    results = send_due_digests(report_engine, settings, [REPORTS_DEF], now=NEW_YEAR)
    assert [(r.name, r.period.label, r.status, r.queued) for r in results] == [
        ("dz-daily", "2025-01-01", "sent", 2),
        ("dz-daily:monthly", "2024-12", "sent", 2),
        ("dz-daily:quarterly", "2024-Q4", "sent", 2),
        ("dz-daily:yearly", "2024", "sent", 2),
    ]
    shanghai_midnight = datetime(2024, 12, 31, 16, tzinfo=UTC)
    assert _records(report_engine) == [
        ("dz-daily", "sent", datetime(2024, 12, 30, 23, 30, tzinfo=UTC), datetime(2024, 12, 31, 23, 30, tzinfo=UTC)),
        ("dz-daily:monthly", "sent", datetime(2024, 11, 30, 16, tzinfo=UTC), shanghai_midnight),
        ("dz-daily:quarterly", "sent", datetime(2024, 9, 30, 16, tzinfo=UTC), shanghai_midnight),
        ("dz-daily:yearly", "sent", datetime(2023, 12, 31, 16, tzinfo=UTC), shanghai_midnight),
    ]

    received = mailbox.wait_for(8)
    assert len(received) == 8  # the daily digest and three reports, to two recipients each
    reports: dict[str, list[EmailMessage]] = {}
    for msg in received:
        parsed = msg.message
        subject = str(parsed["Subject"])
        if subject.startswith("舆情"):
            reports.setdefault(subject.split(" |")[0], []).append(parsed)
    assert sorted(reports) == ["舆情季报 2024-Q4", "舆情年报 2024", "舆情月报 2024-12"]
    assert all(len(copies) == 2 for copies in reports.values())
    for title, (parsed, _) in reports.items():
        attachments = {a.get_filename(): a for a in parsed.iter_attachments()}
        names = sorted(attachments)
        assert [n.rsplit(".", 1)[1] for n in names] == ["pdf", "xlsx"], title
        xlsx = next(a for a in attachments.values() if a.get_content_type() == XLSX)
        workbook = load_workbook(io.BytesIO(xlsx.get_content()))
        summary = {row[0]: row[1] for row in workbook["概况"].iter_rows(min_row=2, values_only=True)}
        label = title.split(" ")[1]
        assert str(summary["统计时段"]).startswith(f"{label} (")
        pdf = next(a for a in attachments.values() if a.get_content_type() == "application/pdf")
        assert pdf.get_content().startswith(b"%PDF-")
        body = parsed.get_body(("html",))
        assert body is not None and f"<title>{title} | " in body.get_content()  # type: ignore[attr-defined]
    # The year's report counts the May coverage; December and Q4 are quiet.
    year_xlsx = next(a for a in reports["舆情年报 2024"][0].iter_attachments() if a.get_content_type() == XLSX)
    year = {r[0]: r[1] for r in load_workbook(io.BytesIO(year_xlsx.get_content()))["概况"].iter_rows(
        min_row=2, values_only=True)}
    assert year["报道总数"] == 21

    # Again at once, and after a "restart" later that day: nothing new is queued.
    assert send_due_digests(report_engine, settings, [REPORTS_DEF], now=NEW_YEAR + timedelta(minutes=1)) == []
    restarted = make_engine(str(report_engine.url.render_as_string(hide_password=False)))
    try:
        assert send_due_digests(restarted, settings, [REPORTS_DEF], now=NEW_YEAR + timedelta(hours=3)) == []
    finally:
        restarted.dispose()
    assert _deliveries(report_engine) == 8
    # The next day only the daily digest goes out.
    next_day = send_due_digests(report_engine, settings, [REPORTS_DEF], now=NEW_YEAR + timedelta(days=1))
    assert [(r.name, r.period.label) for r in next_day] == [("dz-daily", "2025-01-02")]
    assert _deliveries(report_engine) == 10
    with session_scope(report_engine) as session:
        keys = sorted(session.scalars(select(Delivery.idempotency_key).where(
            Delivery.idempotency_key.like("digest:dz-daily:yearly:%"))))
    assert keys == ["digest:dz-daily:yearly:20231231T1600Z:leader@court.example.cn",
                    "digest:dz-daily:yearly:20231231T1600Z:press@court.example.cn"]


def test_reports_wait_for_the_send_time_and_are_not_sent_late(
    report_engine: Engine, mailbox: LocalMailbox, tmp_path: Path
) -> None:
    settings = _settings(mailbox.port, tmp_path, **{"alerts.digest_catch_up_hours": 12})
    vi_def = VI_DEF.model_copy(update={"reports": ["yearly"], "recipients": []})
    # 2025-01-01 06:59 in Hanoi: the 2024 report is not due yet (and 2023's is long past).
    assert send_due_digests(report_engine, settings, [vi_def], now=datetime(2024, 12, 31, 23, 59, tzinfo=UTC)) == []
    # Down until 18:00 local on the 1st: within the 12-hour window, caught up once (no recipients:
    # built and saved only).
    caught = send_due_digests(report_engine, settings, [vi_def], now=datetime(2025, 1, 1, 11, 0, tzinfo=UTC))
    assert [(r.name, r.period.label, r.status) for r in caught] == [
        ("hy-daily", "2025-01-01", "built"), ("hy-daily:yearly", "2024", "built"),
    ]
    yearly = caught[1]
    assert (yearly.period.start, yearly.period.end) == (datetime(2023, 12, 31, 17, tzinfo=UTC),
                                                         datetime(2024, 12, 31, 17, tzinfo=UTC))
    assert yearly.html_path is not None and yearly.html_path.name == "hy-daily-yearly-2024.html"
    assert yearly.html_path.with_suffix(".xlsx").is_file() and yearly.html_path.with_suffix(".pdf").is_file()
    assert send_due_digests(report_engine, settings, [vi_def], now=datetime(2025, 1, 1, 11, 5, tzinfo=UTC)) == []
    # Another digest whose service was down until 20:00 local: 13 hours late, beyond the window.
    late_def = vi_def.model_copy(update={"name": "hy-late"})
    assert send_due_digests(report_engine, settings, [late_def], now=datetime(2025, 1, 1, 13, 0, tzinfo=UTC)) == []
    assert [name for name, *_ in _records(report_engine)] == ["hy-daily", "hy-daily:yearly"]
    assert _deliveries(report_engine) == 0
