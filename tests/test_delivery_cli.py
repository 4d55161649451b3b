"""``presswatch alerts outbox`` shows what waits and why; ``--retry`` requeues a dead message."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from alerts.outbox import enqueue
from models import Delivery
from models.db import session_scope
from models.enums import DeliveryStatus
from presswatch.cli import app
from tests.delivery_support import clean_outbox  # noqa: F401 (a fixture, used through pytestmark)

pytestmark = pytest.mark.usefixtures("clean_outbox")


def test_outbox_lists_pending_and_dead_with_reasons(engine: Engine, db_url: str, tmp_path: Path) -> None:
    with session_scope(engine) as session:
        enqueue(session, idempotency_key="cli-1", channel="email", recipient="duty@court.example.cn",
                language="zh-CN", subject="【舆情预警】儋州法院", body_text="x")
        dead = enqueue(session, idempotency_key="cli-2", channel="wecom", recipient="http://127.0.0.1:9/hook",
                       language="zh-CN", subject="预警", body_text="x")
        dead.status = DeliveryStatus.DEAD
        dead.last_error = "refused: wecom refused the message: 93000 invalid webhook url"
        dead_id = dead.id
    from presswatch.cli import console

    console.width = 250  # rich tables: no cell wrapping in the captured output
    runner = CliRunner()
    result = runner.invoke(app, ["--set", f"db.url={db_url}", "alerts", "outbox"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "email channel disabled: no SMTP host" in result.output
    assert "pending 1" in result.output and "dead 1" in result.output
    assert "93000" in result.output
    result = runner.invoke(app, ["--set", f"db.url={db_url}", "alerts", "outbox", "--retry", str(dead_id)])
    assert result.exit_code == 0, result.output
    with session_scope(engine) as session:
        row = session.get(Delivery, dead_id)
        assert row is not None and row.status == DeliveryStatus.PENDING and row.attempts == 0
    result = runner.invoke(app, ["--set", f"db.url={db_url}", "alerts", "outbox", "--retry", str(dead_id)])
    assert result.exit_code != 0
