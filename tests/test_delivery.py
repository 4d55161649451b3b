"""The outbox and its delivery against a real SMTP server on loopback (aiosmtpd).

The server is down, refuses, is slow, drops the connection mid-message, and the sending process
is killed between "server accepted" and "we recorded it": nothing is lost, nothing is marked sent
that the server did not accept, and nothing reaches the mailbox twice except the one recognisable
in-doubt resend after a crash (same Message-ID, marked as such).
"""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
import textwrap
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from alerts.delivery import deliver_pending
from alerts.mailbox import Behaviour, LocalMailbox, free_port
from alerts.outbox import OutboxError, enqueue, message_id_for, requeue
from models import Delivery, utcnow
from models.db import session_scope
from models.enums import DeliveryStatus
from tests.conftest import subprocess_env
from tests.delivery_support import (
    WebhookReceiver,
    clean_outbox,  # noqa: F401 (a fixture, used through pytestmark)
    make_tls_files,
    server_tls_context,
    settings_for,
)

pytestmark = pytest.mark.usefixtures("clean_outbox")

PNG_1PX = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
    )
).decode()


def _enqueue(engine: Engine, key: str, **kw: object) -> int:
    fields: dict[str, object] = {
        "channel": "email", "recipient": "duty@court.example.cn", "language": "zh-CN",
        "subject": "【舆情预警】测试", "body_text": "正文", "body_html": None,
    }
    fields.update(kw)
    with session_scope(engine) as session:
        row = enqueue(session, idempotency_key=key, **fields)  # type: ignore[arg-type]
        return row.id


def _row(engine: Engine, row_id: int) -> Delivery:
    with session_scope(engine) as session:
        row = session.get(Delivery, row_id)
        assert row is not None
        session.expunge(row)
        return row


@pytest.fixture
def mailbox() -> LocalMailbox:
    box = LocalMailbox().start()
    yield box  # type: ignore[misc]
    box.stop()


def test_enqueue_is_idempotent_on_the_key(session: Session) -> None:
    first = enqueue(session, idempotency_key="alert:1:zh", channel="email", recipient="a@court.example.cn",
                    language="zh-CN", subject="一", body_text="x")
    again = enqueue(session, idempotency_key="alert:1:zh", channel="email", recipient="a@court.example.cn",
                    language="zh-CN", subject="二 (changed)", body_text="y")
    assert again.id == first.id
    assert again.subject == "一"
    assert first.message_id == message_id_for("alert:1:zh")
    assert session.scalar(select(Delivery.id).where(Delivery.idempotency_key == "alert:1:zh")) == first.id
    assert len(session.scalars(select(Delivery).where(Delivery.idempotency_key == "alert:1:zh")).all()) == 1


def test_enqueue_belongs_to_the_callers_transaction(engine: Engine) -> None:
    """A message queued in a transaction that rolls back is not queued: on SQLite the insert's
    savepoint used to open a transaction of its own when it was the first write, and its release
    committed the message whatever the caller did next."""
    key = f"rollback-{uuid.uuid4().hex}"
    with Session(engine) as s:
        s.scalar(select(func.count()).select_from(Delivery))  # reads first, as the quota reminders do
        enqueue(s, idempotency_key=key, channel="email", recipient="a@court.example.cn", language="zh-CN",
                subject="一", body_text="x")
        s.rollback()
    with Session(engine) as s:
        assert s.scalar(select(Delivery.id).where(Delivery.idempotency_key == key)) is None
        enqueue(s, idempotency_key=key, channel="email", recipient="a@court.example.cn", language="zh-CN",
                subject="一", body_text="x")
        s.commit()
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Delivery).where(Delivery.idempotency_key == key)) == 1
        s.execute(delete(Delivery).where(Delivery.idempotency_key == key))
        s.commit()


def test_enqueue_refuses_header_injection_and_unknown_channels(session: Session) -> None:
    with pytest.raises(OutboxError, match="recipient"):
        enqueue(session, idempotency_key="k1", channel="email", recipient="a@x.cn\r\nBcc: evil@x.cn",
                language="en", subject="s", body_text="b")
    with pytest.raises(OutboxError, match="unknown channel"):
        enqueue(session, idempotency_key="k2", channel="pigeon", recipient="a@x.cn", language="en",
                subject="s", body_text="b")
    row = enqueue(session, idempotency_key="k3", channel="email", recipient="a@x.cn", language="en",
                  subject="Hi\r\nBcc: evil@example.com\r\n\r\nbody" + "长" * 5000, body_text="b")
    assert "\n" not in row.subject and "\r" not in row.subject
    assert len(row.subject) <= 250


def test_email_is_multipart_with_inline_image_and_attachment(engine: Engine, mailbox: LocalMailbox) -> None:
    settings = settings_for(mailbox.port)
    row_id = _enqueue(
        engine, "digest:daily:2026-11-21:zh", subject="每日舆情简报 2026-11-21",
        body_text="今日共监测到 12 篇报道。", body_html='<p>今日共监测到 <b>12</b> 篇报道。<img src="cid:chart1"></p>',
        payload={
            "inline_images": [{"cid": "chart1", "mime": "image/png", "data_b64": PNG_1PX}],
            "attachments": [{"filename": "简报.csv", "mime": "text/csv",
                             "data_b64": base64.b64encode("标题,来源\n".encode()).decode()}],
        },
    )
    stats = deliver_pending(engine, settings)
    assert (stats.claimed, stats.sent, stats.retried, stats.dead) == (1, 1, 0, 0)
    [received] = mailbox.wait_for(1)
    msg = received.message
    assert msg["Subject"] == "每日舆情简报 2026-11-21"
    assert msg["Message-ID"] == message_id_for("digest:daily:2026-11-21:zh")
    assert received.rcpt_tos == ["duty@court.example.cn"]
    assert msg.get_content_type() == "multipart/mixed"
    types = [part.get_content_type() for part in msg.walk()]
    assert "text/plain" in types and "text/html" in types and "multipart/related" in types
    image = next(p for p in msg.walk() if p.get_content_type() == "image/png")
    assert image["Content-ID"] == "<chart1>"
    attachment = next(p for p in msg.walk() if p.get_filename() == "简报.csv")
    assert attachment.get_content().startswith("标题,来源")
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None and "12 篇" in body.get_content()
    row = _row(engine, row_id)
    assert row.status == DeliveryStatus.SENT and row.attempts == 1 and row.sent_at is not None
    # A second run sends nothing more.
    assert deliver_pending(engine, settings).claimed == 0
    assert len(mailbox.wait_for(2, timeout_seconds=0.3)) == 1


def test_disabled_email_channel_keeps_messages_waiting_and_says_why_once(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    import alerts.channels

    alerts.channels._announced.clear()
    row_id = _enqueue(engine, "k-disabled")
    settings = settings_for(None)
    with caplog.at_level(logging.WARNING, logger="alerts.channels"):
        first = deliver_pending(engine, settings)
        second = deliver_pending(engine, settings)
    assert first.claimed == 0 and first.waiting_disabled == 1 and second.waiting_disabled == 1
    messages = [r.getMessage() for r in caplog.records if "email channel disabled" in r.getMessage()]
    assert messages == ["email channel disabled: no SMTP host (set alerts.smtp_host)"]
    row = _row(engine, row_id)
    assert row.status == DeliveryStatus.PENDING and row.attempts == 0


def test_server_down_then_up_retries_with_backoff_and_sends_once(engine: Engine) -> None:
    port = free_port()
    settings = settings_for(port)
    row_id = _enqueue(engine, "k-down")
    t0 = utcnow()
    stats = deliver_pending(engine, settings, now=t0)
    assert (stats.sent, stats.retried) == (0, 1)
    row = _row(engine, row_id)
    assert row.status == DeliveryStatus.PENDING and row.attempts == 1
    assert "cannot reach SMTP server" in (row.last_error or "")
    assert abs((row.next_attempt_at - t0).total_seconds() - 30) < 1
    # Not due yet: nothing is attempted.
    assert deliver_pending(engine, settings, now=t0 + timedelta(seconds=10)).claimed == 0
    # Second failure doubles the delay.
    deliver_pending(engine, settings, now=t0 + timedelta(seconds=31))
    row = _row(engine, row_id)
    assert row.attempts == 2
    assert abs((row.next_attempt_at - (t0 + timedelta(seconds=31))).total_seconds() - 60) < 1
    with LocalMailbox(port=port) as box:
        stats = deliver_pending(engine, settings, now=t0 + timedelta(seconds=95))
        assert stats.sent == 1
        assert box.message_ids() == [message_id_for("k-down")]
        assert deliver_pending(engine, settings, now=t0 + timedelta(hours=5)).claimed == 0
    assert _row(engine, row_id).status == DeliveryStatus.SENT


def test_permanent_refusal_dead_letters_with_reason_and_can_be_requeued(
    engine: Engine, mailbox: LocalMailbox
) -> None:
    settings = settings_for(mailbox.port)
    mailbox.behaviour = Behaviour(refuse_rcpt="550 5.1.1 <duty@court.example.cn>: no such user")
    row_id = _enqueue(engine, "k-550")
    stats = deliver_pending(engine, settings)
    assert stats.dead == 1
    row = _row(engine, row_id)
    assert row.status == DeliveryStatus.DEAD
    assert "recipient refused: 550" in (row.last_error or "")
    assert mailbox.messages == []
    # The operator fixes the mailbox and requeues: it goes out once.
    mailbox.behaviour = Behaviour()
    with session_scope(engine) as session:
        requeue(session, row_id)
    assert deliver_pending(engine, settings).sent == 1
    assert mailbox.message_ids() == [message_id_for("k-550")]


def test_temporary_refusal_is_retried(engine: Engine, mailbox: LocalMailbox) -> None:
    settings = settings_for(mailbox.port)
    mailbox.behaviour = Behaviour(refuse_data="451 4.3.0 mailbox busy, try later")
    row_id = _enqueue(engine, "k-451")
    t0 = utcnow()
    assert deliver_pending(engine, settings, now=t0).retried == 1
    assert "451" in (_row(engine, row_id).last_error or "")
    mailbox.behaviour = Behaviour()
    assert deliver_pending(engine, settings, now=t0 + timedelta(minutes=1)).sent == 1
    assert mailbox.message_ids() == [message_id_for("k-451")]


def test_slow_server_times_out_then_succeeds_once(engine: Engine, mailbox: LocalMailbox) -> None:
    settings = settings_for(mailbox.port, smtp_timeout_seconds=0.5)
    mailbox.behaviour = Behaviour(ehlo_delay_seconds=1.5)
    row_id = _enqueue(engine, "k-slow")
    t0 = utcnow()
    stats = deliver_pending(engine, settings, now=t0)
    assert stats.retried == 1
    assert "timed out" in (_row(engine, row_id).last_error or "")
    # Slow, but within the timeout: accepted on the next attempt.
    mailbox.behaviour = Behaviour(data_delay_seconds=0.2)
    assert deliver_pending(engine, settings, now=t0 + timedelta(minutes=1)).sent == 1
    assert mailbox.message_ids() == [message_id_for("k-slow")]


def test_connection_dropped_mid_message_is_retried_and_nothing_doubles(
    engine: Engine, mailbox: LocalMailbox
) -> None:
    settings = settings_for(mailbox.port)
    mailbox.behaviour = Behaviour(drop_on_data=2)
    ids = [_enqueue(engine, f"k-drop-{n}", recipient=f"officer{n}@court.example.cn") for n in range(3)]
    t0 = utcnow()
    first = deliver_pending(engine, settings, now=t0)
    assert first.claimed == 3 and first.sent + first.retried == 3 and first.retried >= 1
    assert mailbox.dropped == 2
    deliver_pending(engine, settings, now=t0 + timedelta(minutes=2))
    deliver_pending(engine, settings, now=t0 + timedelta(minutes=5))
    assert all(_row(engine, i).status == DeliveryStatus.SENT for i in ids)
    got = mailbox.message_ids()
    assert sorted(got) == sorted(message_id_for(f"k-drop-{n}") for n in range(3))


def test_gives_up_after_max_attempts(engine: Engine) -> None:
    settings = settings_for(free_port(), max_attempts=3)
    row_id = _enqueue(engine, "k-max")
    now = utcnow()
    for _ in range(3):
        deliver_pending(engine, settings, now=now)
        now += timedelta(hours=2)
    row = _row(engine, row_id)
    assert row.status == DeliveryStatus.DEAD and row.attempts == 3
    assert (row.last_error or "").startswith("gave up after 3 attempts")
    assert deliver_pending(engine, settings, now=now + timedelta(days=1)).claimed == 0


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import alerts.delivery as d
    from models.db import make_engine
    from settings import load_settings

    settings = load_settings(environ={}, overrides={
        "alerts.smtp_host": "127.0.0.1", "alerts.smtp_port": sys.argv[2],
        "alerts.from_address": "presswatch@court.example.cn"}).settings

    def crash(*args, **kwargs):
        os._exit(137)  # killed after the server accepted, before the outcome is committed

    d._settle = crash
    d.deliver_pending(make_engine(sys.argv[1]), settings)
    """
)


def test_crash_between_send_and_commit_resends_once_with_the_same_message_id(
    engine: Engine, db_url: str, mailbox: LocalMailbox, tmp_path: Path
) -> None:
    row_id = _enqueue(engine, "k-crash")
    script = tmp_path / "crash.py"
    script.write_text(CRASH_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), db_url, str(mailbox.port)], env=subprocess_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 137, proc.stderr
    assert len(mailbox.wait_for(1)) == 1
    row = _row(engine, row_id)
    assert row.status == DeliveryStatus.SENDING and row.attempts == 1  # in doubt, not lost

    assert row.handed_over_at is not None and row.claimed_by is not None

    settings = settings_for(mailbox.port)
    # The sender ran on this host and its process is gone: the next run takes the row back at
    # once (no waiting for the lease) and, its data having been handed over, resends it in doubt.
    later = utcnow()
    stats = deliver_pending(engine, settings, now=later)
    assert stats.taken_back == 1 and stats.in_doubt == 1 and stats.sent == 1
    received = mailbox.wait_for(2)
    assert [m.message_id for m in received] == [message_id_for("k-crash")] * 2
    assert received[0].message["X-Presswatch-Resent"] is None
    assert received[1].message["X-Presswatch-Resent"].startswith("in-doubt")
    assert _row(engine, row_id).status == DeliveryStatus.SENT
    assert deliver_pending(engine, settings, now=later + timedelta(days=1)).claimed == 0
    assert len(mailbox.wait_for(3, timeout_seconds=0.3)) == 2


def test_starttls_with_auth(engine: Engine, tmp_path: Path) -> None:
    cert, key = make_tls_files(tmp_path)
    box = LocalMailbox(tls_context=server_tls_context(cert, key), auth={"press": "s3cret"}).start()
    try:
        settings = settings_for(box.port, smtp_security="starttls", smtp_ca_file=str(cert),
                                smtp_username="press", smtp_password="s3cret")
        _enqueue(engine, "k-starttls")
        assert deliver_pending(engine, settings).sent == 1
        assert box.message_ids() == [message_id_for("k-starttls")]
        # Wrong password: retried, not lost, and the error names what to check.
        bad = settings_for(box.port, smtp_security="starttls", smtp_ca_file=str(cert),
                           smtp_username="press", smtp_password="wrong")
        row_id = _enqueue(engine, "k-badauth")
        assert deliver_pending(engine, bad).retried == 1
        assert "authentication failed" in (_row(engine, row_id).last_error or "")
    finally:
        box.stop()


def test_implicit_tls_with_auth(engine: Engine, tmp_path: Path) -> None:
    cert, key = make_tls_files(tmp_path)
    box = LocalMailbox(tls_context=server_tls_context(cert, key), implicit_tls=True, auth={"press": "pw"}).start()
    try:
        settings = settings_for(box.port, smtp_security="ssl", smtp_ca_file=str(cert),
                                smtp_username="press", smtp_password="pw")
        _enqueue(engine, "k-ssl")
        assert deliver_pending(engine, settings).sent == 1
        assert box.message_ids() == [message_id_for("k-ssl")]
        # An untrusted certificate is a failure to retry, never a silent downgrade.
        untrusted = settings_for(box.port, smtp_security="ssl", smtp_username="press", smtp_password="pw")
        row_id = _enqueue(engine, "k-ssl-untrusted")
        assert deliver_pending(engine, untrusted).retried == 1
        assert "CERTIFICATE_VERIFY_FAILED" in (_row(engine, row_id).last_error or "")
    finally:
        box.stop()


def test_hostile_subject_cannot_inject_headers(engine: Engine, mailbox: LocalMailbox) -> None:
    settings = settings_for(mailbox.port)
    _enqueue(engine, "k-hostile", subject="法院\r\nBcc: victim@evil.example\r\nX-Evil: 1\n" + "长" * 3000)
    assert deliver_pending(engine, settings).sent == 1
    [received] = mailbox.wait_for(1)
    msg = received.message
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert received.rcpt_tos == ["duty@court.example.cn"]
    assert len(str(msg["Subject"])) <= 250


@pytest.mark.parametrize(
    ("kind", "path"),
    [("wecom", ("text", "content")), ("dingtalk", ("text", "content")), ("feishu", ("content", "text")),
     ("slack", ("text",)), ("json", ("text",))],
)
def test_webhooks_post_the_documented_shape_through_the_outbox(
    engine: Engine, kind: str, path: tuple[str, ...]
) -> None:
    receiver = WebhookReceiver(answer={"errcode": 0, "errmsg": "ok"} if kind != "feishu" else {"code": 0}).start()
    try:
        settings = settings_for(None)
        row_id = _enqueue(engine, f"k-hook-{kind}", channel=kind, recipient=receiver.url(f"/{kind}?key=abc"),
                          subject="【舆情预警】儋州法院 <script>", body_text="原因：暴力执法")
        stats = deliver_pending(engine, settings)
        assert stats.sent == 1, stats.errors
        [request] = receiver.requests
        assert request["path"] == f"/{kind}?key=abc"
        assert request["headers"]["Idempotency-Key"] == f"k-hook-{kind}"
        node = request["json"]
        for step in path:
            node = node[step]
        assert "暴力执法" in node
        if kind == "slack":
            assert "&lt;script&gt;" in node and "<script>" not in node
        assert _row(engine, row_id).status == DeliveryStatus.SENT
    finally:
        receiver.stop()


def test_signed_robots_get_a_fresh_signature_their_service_accepts(engine: Engine, tmp_path: Path) -> None:
    """DingTalk 加签, Feishu 签名校验 and the generic JSON HMAC, verified the way each receiver does."""
    import hashlib
    import hmac
    import time
    from urllib.parse import parse_qs, urlsplit

    receiver = WebhookReceiver(answer={"errcode": 0, "code": 0}).start()
    secrets = {"dingtalk": "SECdz0123456789abcdef", "feishu": "fs-secret-8f3a", "json": "json-secret-42"}
    urls = {kind: receiver.url(f"/{kind}?access_token=t-{kind}") for kind in secrets}
    unsigned = receiver.url("/wecom?key=plain")
    secrets_file = tmp_path / "webhook_secrets.yaml"
    secrets_file.write_text("".join(f'"{urls[k]}": "{v}"\n' for k, v in secrets.items()), encoding="utf-8")
    try:
        settings = settings_for(None, webhook_secrets_file=str(secrets_file))
        for kind, url in urls.items():
            _enqueue(engine, f"k-signed-{kind}", channel=kind, recipient=url, subject="【舆情预警】", body_text="正文")
        _enqueue(engine, "k-unsigned-wecom", channel="wecom", recipient=unsigned)
        before = time.time()
        stats = deliver_pending(engine, settings)
        assert stats.sent == 4, stats.errors
        got = {r["path"].split("?")[0].strip("/"): r for r in receiver.requests}

        ding = parse_qs(urlsplit(got["dingtalk"]["path"]).query)
        ts, secret = ding["timestamp"][0], secrets["dingtalk"]
        assert ding["access_token"] == ["t-dingtalk"] and abs(int(ts) / 1000 - before) < 60
        expected = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest())
        assert ding["sign"] == [expected.decode()]

        feishu = got["feishu"]["json"]
        ts, secret = feishu["timestamp"], secrets["feishu"]
        expected = base64.b64encode(hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest())
        assert feishu["sign"] == expected.decode() and feishu["content"]["text"].startswith("【舆情预警】")

        generic = got["json"]
        ts = generic["headers"]["X-Presswatch-Timestamp"]
        mac = hmac.new(secrets["json"].encode(), ts.encode() + b"." + generic["body"], hashlib.sha256).hexdigest()
        assert generic["headers"]["X-Presswatch-Signature"] == f"sha256={mac}"

        assert "timestamp" not in got["wecom"]["path"] and "X-Presswatch-Signature" not in got["wecom"]["headers"]
    finally:
        receiver.stop()


def test_a_broken_webhook_secrets_file_holds_webhooks_and_says_why(engine: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "secrets.yaml"
    bad.write_text("- just a list\n", encoding="utf-8")
    row_id = _enqueue(engine, "k-held-dingtalk", channel="dingtalk", recipient="https://oapi.example.cn/robot/send")
    for path, why in ((bad, "expected a mapping"), (tmp_path / "missing.yaml", "does not exist")):
        stats = deliver_pending(engine, settings_for(None, webhook_secrets_file=str(path)))
        assert stats.waiting_disabled == 1 and stats.sent == 0
        from alerts.delivery import disabled_reasons

        reasons = disabled_reasons(settings_for(None, webhook_secrets_file=str(path)))
        assert why in reasons["dingtalk"] and str(path) in reasons["dingtalk"]
    assert _row(engine, row_id).status == DeliveryStatus.PENDING


def test_webhook_errors_retry_or_dead_letter(engine: Engine) -> None:
    receiver = WebhookReceiver(status=503).start()
    try:
        settings = settings_for(None)
        busy = _enqueue(engine, "k-hook-503", channel="json", recipient=receiver.url())
        t0 = utcnow()
        assert deliver_pending(engine, settings, now=t0).retried == 1
        assert "HTTP 503" in (_row(engine, busy).last_error or "")
        # WeCom answers 200 with an error code: that is a refusal, not a success.
        receiver.status, receiver.answer = 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
        bad = _enqueue(engine, "k-hook-wecom-bad", channel="wecom", recipient=receiver.url())
        stats = deliver_pending(engine, settings, now=t0 + timedelta(minutes=1))
        assert _row(engine, bad).status == DeliveryStatus.DEAD
        assert "93000" in (_row(engine, bad).last_error or "")
        # The generic JSON receiver is fine now (no errcode check for it): the retry goes out once.
        assert _row(engine, busy).status == DeliveryStatus.SENT
        assert stats.sent == 1
        assert sum(1 for r in receiver.requests if r["headers"]["Idempotency-Key"] == "k-hook-503") == 2
    finally:
        receiver.stop()
    down = _enqueue(engine, "k-hook-down", channel="dingtalk", recipient=f"http://127.0.0.1:{free_port()}/x")
    assert deliver_pending(engine, settings_for(None), now=utcnow() + timedelta(hours=1)).retried == 1
    assert "cannot reach dingtalk webhook" in (_row(engine, down).last_error or "")
