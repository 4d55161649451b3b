"""The digest's demo step on its own: saves zh-CN and vi HTML and mails them to the demo mailbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from alerts.digest import demo
from alerts.mailbox import LocalMailbox
from models.db import make_engine, session_scope, upgrade
from presswatch.demo import DemoContext
from settings import load_settings
from tests import factories


@pytest.fixture
def ctx(tmp_path: Path) -> DemoContext:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        o = factories.outlet(session, key="jinri-danzhou", name="今日儋州")
        s = factories.source(session, key="jinri-danzhou", name="今日儋州", outlet_id=o.id, health="ok")
        a = factories.article(session, title="居民称儋州法院执行干警暴力执法", text="有居民发帖。法院已核查。",
                              outlet_id=o.id, source_id=s.id)
        from models.enums import RiskLevel, SentimentLabel

        factories.classification(session, a, sentiment=SentimentLabel.NEGATIVE, risk_level=RiskLevel.HIGH)
    settings = load_settings(environ={}, overrides={"data_dir": str(tmp_path)}).settings
    console = Console(record=True, width=200)
    return DemoContext(workdir=tmp_path, settings=settings, engine=engine, console=console)


def test_demo_step_saves_and_sends_through_the_alerts_mailbox(ctx: DemoContext) -> None:
    box = LocalMailbox().start()
    ctx.cleanups.append(box.stop)  # as the alerts step leaves it
    try:
        demo.run(ctx)
        received = box.wait_for(3)
    finally:
        box.stop()
    out = ctx.console.export_text()  # type: ignore[attr-defined]
    assert "报道总数 1" in out and "高风险 1" in out
    assert sorted(r for m in received for r in m.rcpt_tos) == [
        "lanhdao@thads.example.vn", "leader@court.example.cn", "press@court.example.cn"
    ]
    assert "the demo mailbox received 3 email(s)" in out
    files = sorted(p.name for p in (ctx.workdir / "digests").glob("*.html"))
    assert len(files) == 2 and files[0].startswith("dz-daily-") and files[1].startswith("hy-daily-")


def test_demo_step_without_a_mailbox_says_where_the_html_is(ctx: DemoContext) -> None:
    demo.run(ctx)
    out = ctx.console.export_text()  # type: ignore[attr-defined]
    assert "open the HTML files above in a browser" in out
    assert (ctx.workdir / "digests" / "dz-daily-today.html").is_file()
    assert ctx.state["digest_html"]
