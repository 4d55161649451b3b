"""Exit codes cron and monitoring rely on: a message that could not be sent is not a success.

``alerts deliver`` and ``digest send`` exit 4 (``EXIT_NOT_SENT``) when a message could not go out,
0 when everything was sent; crawl and import exit 3 on a failed source (tests/test_crawl_cli_output.py).
Mail goes to a real aiosmtpd mailbox on loopback, or to a closed port.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from alerts.mailbox import LocalMailbox, free_port
from alerts.outbox import enqueue
from models.db import session_scope
from presswatch.cli import app
from presswatch.console import EXIT_NOT_SENT, EXIT_OK
from tests.delivery_support import clean_outbox  # noqa: F401 (a fixture, used through pytestmark)

runner = CliRunner()


def _smtp(port: int) -> list[str]:
    return ["--set", "alerts.smtp_host=127.0.0.1", "--set", f"alerts.smtp_port={port}",
            "--set", "alerts.smtp_timeout_seconds=2", "--set", "alerts.from_address=presswatch@court.example.cn"]


@pytest.mark.usefixtures("clean_outbox")
def test_alerts_deliver_exits_4_when_a_message_could_not_be_sent(engine: Engine, db_url: str) -> None:
    with session_scope(engine) as session:
        enqueue(session, idempotency_key="exit-1", channel="email", recipient="duty@court.example.cn",
                language="zh-CN", subject="【舆情预警】", body_text="x")
    refused = runner.invoke(app, ["--set", f"db.url={db_url}", *_smtp(free_port()), "alerts", "deliver"])
    assert refused.exit_code == EXIT_NOT_SENT, refused.output
    assert "retry scheduled 1" in refused.output
    with session_scope(engine) as session:  # due again now, and the mailbox is up this time
        from sqlalchemy import update

        from models import Delivery, utcnow

        session.execute(update(Delivery).values(next_attempt_at=utcnow()))
    with LocalMailbox() as box:
        sent = runner.invoke(app, ["--set", f"db.url={db_url}", *_smtp(box.port), "alerts", "deliver"])
        assert sent.exit_code == EXIT_OK, sent.output
        assert "sent 1" in sent.output and len(box.wait_for(1)) == 1


def test_digest_send_exits_4_when_the_mail_server_refuses_and_0_once_sent(world_db: Path) -> None:
    refused = runner.invoke(app, [*_smtp(free_port()), "digest", "send", "dz-daily", "--date", "2024-05-14"])
    assert refused.exit_code == EXIT_NOT_SENT, refused.output
    assert "queued for 2 recipient(s)" in refused.output
    with LocalMailbox() as box:
        sent = runner.invoke(app, [*_smtp(box.port), "digest", "send", "dz-daily", "--date", "2024-05-15"])
        assert sent.exit_code == EXIT_OK, sent.output
        assert "sent to 2 recipient(s)" in sent.output and len(box.wait_for(2)) == 2
