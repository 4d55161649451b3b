"""The alerts step of ``presswatch demo`` works on its own (built-in fixture when nothing is classified):
the duty officers' emails land in the loopback mailbox in Chinese and Vietnamese."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from presswatch.demo import DemoContext


def test_alerts_demo_step_delivers_zh_and_vi(tmp_path: Path) -> None:
    from alerts.demo import run
    from models.db import ensure_schema, make_engine
    from settings import load_settings

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    settings = load_settings(environ={}, overrides={"db.url": url, "data_dir": str(tmp_path)}).settings
    engine = make_engine(url)
    ensure_schema(engine)
    out = io.StringIO()
    ctx = DemoContext(workdir=tmp_path, settings=settings, engine=engine,
                      console=Console(file=out, width=160, force_terminal=False))
    try:
        run(ctx)
    finally:
        for cleanup in reversed(ctx.cleanups):
            cleanup()
    text = out.getvalue()
    assert "Subject: 【舆情预警·高】居民称儋州法院执行干警强制腾退时暴力执法" in text
    assert "Subject: [Cảnh báo dư luận · Cao] Khiếu nại đông người" in text
    assert "风险等级高（规则阈值：中）" in text and "Lý do cảnh báo" in text
    assert ctx.state["alerts"]["mailbox_messages"] == 2
    assert "still in the outbox: 0" in text
