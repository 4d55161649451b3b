"""Sending digests through the outbox to a real SMTP server on loopback (aiosmtpd), once per period.

These tests commit for real (the sender and the outbox run their own transactions), so each works
in its own fresh SQLite file. The received bytes are parsed as a mail client would: MIME parts,
the inline chart referenced by Content-ID, RFC 2047 encoded Chinese and Vietnamese subjects.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from alerts.digest.definitions import DigestDefinition
from alerts.digest.periods import daily_period
from alerts.digest.sender import send_digest, send_due_digests
from alerts.mailbox import LocalMailbox
from models import Delivery, Digest
from models.db import make_engine, session_scope, upgrade
from settings import Settings, load_settings
from tests.test_digest_world import DAY, NOW, VI_DEF, ZH_DEF, make_world


@pytest.fixture
def mailbox() -> Iterator[LocalMailbox]:
    box = LocalMailbox().start()
    yield box
    box.stop()


@pytest.fixture
def world_engine(fresh_db_url: str) -> Iterator[Engine]:
    upgrade(fresh_db_url)
    engine = make_engine(fresh_db_url)
    with session_scope(engine) as session:
        make_world(session)
    yield engine
    engine.dispose()


def _settings(port: int, tmp_path: Path, **extra: Any) -> Settings:
    overrides: dict[str, Any] = {
        "data_dir": str(tmp_path / "var"),
        "alerts.smtp_host": "127.0.0.1",
        "alerts.smtp_port": port,
        "alerts.smtp_timeout_seconds": 5.0,
        "alerts.from_address": "presswatch@court.example.cn",
        **extra,
    }
    return load_settings(environ={}, overrides=overrides).settings


def _parts(msg: EmailMessage) -> dict[str, list[EmailMessage]]:
    out: dict[str, list[EmailMessage]] = {}
    for part in msg.walk():
        out.setdefault(part.get_content_type(), []).append(part)  # type: ignore[arg-type]
    return out


def _count(engine: Engine, model: Any) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize(
    ("definition", "subject_start", "encoded_word"),
    [
        (ZH_DEF, "每日舆情简报 2024年5月14日 | 报道总数 8", "=?utf-8?"),
        (VI_DEF, "Điểm tin báo chí hàng ngày 14/05/2024", "=?utf-8?"),
    ],
    ids=["zh-CN", "vi"],
)
def test_digest_arrives_as_multipart_email_with_inline_chart(
    world_engine: Engine, mailbox: LocalMailbox, tmp_path: Path, definition: DigestDefinition,
    subject_start: str, encoded_word: str,
) -> None:
    settings = _settings(mailbox.port, tmp_path)
    period = daily_period(DAY, definition.local_send_time, definition.timezone)
    result = send_digest(world_engine, settings, definition, period, now=NOW)
    assert result.status == "sent" and result.queued == len(definition.recipients)
    received = mailbox.wait_for(len(definition.recipients))
    assert sorted(r for m in received for r in m.rcpt_tos) == sorted(definition.recipients)

    raw = received[0].data
    raw_subject = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")  # headers are 7-bit: non-ASCII is encoded
    assert encoded_word in raw_subject.lower()
    msg = message_from_bytes(raw, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    assert str(msg["Subject"]).startswith(subject_start)
    parts = _parts(msg)
    text = parts["text/plain"][0].get_content()
    html = parts["text/html"][0].get_content()
    assert text.splitlines()[0] == (definition.title or ("每日舆情简报" if definition.language == "zh-CN"
                                                         else "Điểm tin báo chí hàng ngày"))
    assert "<html" not in text
    image = parts["image/png"][0]
    cid = str(image["Content-ID"]).strip("<>")
    assert f'src="cid:{cid}"' in html
    assert image.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
    if definition.language == "vi":
        assert "Khiếu nại đông người về cưỡng chế thi hành án ở Văn Lâm" in html
        assert "Tình trạng nguồn tin" in text
    else:
        assert "网传儋州法院执行人员强制腾房时暴力执法" in html and "处置中" in text
    # The saved browser copy and the digest record.
    assert result.html_path is not None and result.html_path.is_file()
    with session_scope(world_engine) as session:
        record = session.scalar(select(Digest).where(Digest.name == definition.name))
        assert record is not None and record.status == "sent" and record.sent_at is not None
        assert record.stats["pieces"] == result.stats["pieces"]


def test_sent_once_per_period_even_across_restarts(world_engine: Engine, mailbox: LocalMailbox, tmp_path: Path) -> None:
    settings = _settings(mailbox.port, tmp_path)
    period = daily_period(DAY, ZH_DEF.local_send_time, ZH_DEF.timezone)
    first = send_digest(world_engine, settings, ZH_DEF, period, now=NOW)
    assert first.status == "sent"
    again = send_digest(world_engine, settings, ZH_DEF, period, now=NOW)
    assert again.status == "already"
    # "Restart": a new engine on the same file, the scheduler's check running again.
    restarted = make_engine(str(world_engine.url))
    try:
        assert send_due_digests(restarted, settings, [ZH_DEF], now=NOW + timedelta(minutes=5)) == []
    finally:
        restarted.dispose()
    assert len(mailbox.wait_for(3, timeout_seconds=0.5)) == 2  # two recipients, once each
    assert _count(world_engine, Delivery) == 2 and _count(world_engine, Digest) == 1


def test_missed_send_time_is_caught_up_once_when_the_service_returns(
    world_engine: Engine, mailbox: LocalMailbox, tmp_path: Path
) -> None:
    settings = _settings(mailbox.port, tmp_path, **{"alerts.digest_catch_up_hours": 12})
    # Down at 07:30 Shanghai (23:30 UTC); back at 09:10 local: the 07:30 digest goes out now, once.
    back = datetime(2024, 5, 14, 1, 10, tzinfo=UTC)
    results = send_due_digests(world_engine, settings, [ZH_DEF], now=back)
    assert [(r.name, r.period.label, r.status) for r in results] == [("dz-daily", "2024-05-14", "sent")]
    assert send_due_digests(world_engine, settings, [ZH_DEF], now=back + timedelta(minutes=1)) == []
    assert len(mailbox.wait_for(2)) == 2
    # Before the next send time nothing is due; long after a missed one, it is not sent late.
    assert send_due_digests(world_engine, settings, [ZH_DEF], now=datetime(2024, 5, 14, 23, 0, tzinfo=UTC)) == []
    late = send_due_digests(world_engine, settings, [ZH_DEF], now=datetime(2024, 5, 15, 13, 0, tzinfo=UTC))
    assert late == []
    assert len(mailbox.wait_for(3, timeout_seconds=0.3)) == 2


def test_empty_day_sends_a_short_digest_or_nothing_as_configured(
    world_engine: Engine, mailbox: LocalMailbox, tmp_path: Path
) -> None:
    settings = _settings(mailbox.port, tmp_path)
    quiet_day = DAY + timedelta(days=30)
    period = daily_period(quiet_day, VI_DEF.local_send_time, VI_DEF.timezone)
    result = send_digest(world_engine, settings, VI_DEF, period)
    assert result.status == "sent" and result.stats["pieces"] == 0
    (msg,) = mailbox.wait_for(1)
    parsed = msg.message
    assert "Không có tin bài mới trong kỳ." in str(parsed["Subject"])
    body = parsed.get_body(("plain",))
    assert body is not None
    assert "Tất cả nguồn tin hoạt động bình thường" in body.get_content()  # type: ignore[attr-defined]

    silent = VI_DEF.model_copy(update={"name": "hy-silent", "send_when_empty": False})
    skipped = send_digest(world_engine, settings, silent, period)
    assert skipped.status == "skipped_empty" and skipped.queued == 0
    assert send_digest(world_engine, settings, silent, period).status == "already"  # decided once
    assert len(mailbox.wait_for(2, timeout_seconds=0.3)) == 1


def test_without_smtp_the_digest_waits_in_the_outbox(world_engine: Engine, tmp_path: Path) -> None:
    settings = _settings(1, tmp_path, **{"alerts.smtp_host": ""})
    period = daily_period(DAY, ZH_DEF.local_send_time, ZH_DEF.timezone)
    result = send_digest(world_engine, settings, ZH_DEF, period, now=NOW)
    assert result.status == "queued"
    with session_scope(world_engine) as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.recipient)).all()
        assert [r.recipient for r in rows] == ["leader@court.example.cn", "press@court.example.cn"]
        assert all(r.status == "pending" and r.payload["inline_images"][0]["mime"] == "image/png" for r in rows)
        assert rows[0].idempotency_key == "digest:dz-daily:20240512T2330Z:leader@court.example.cn"


def test_not_sent_late_is_said_once_not_every_minute(
    world_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The check runs every minute; a digest missed beyond the catch-up window used to be
    reported each time (68 lines in 3 minutes)."""
    import alerts.digest.sender as sender

    sender._said_late.clear()
    settings = _settings(1, tmp_path, **{"alerts.digest_catch_up_hours": 1, "alerts.smtp_host": ""})
    late = datetime(2024, 5, 15, 13, 0, tzinfo=UTC)  # the 07:30 local digest is 5.5 h overdue
    with caplog.at_level(logging.WARNING, logger="alerts.digest.sender"):
        for minute in range(5):
            assert send_due_digests(world_engine, settings, [ZH_DEF], now=late + timedelta(minutes=minute)) == []
    said = [r.getMessage() for r in caplog.records if "not sent late" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("digest dz-daily for 2024-05-15")
