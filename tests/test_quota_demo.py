"""The quota demo step on a database holding crawled demo-world articles."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from sqlalchemy import func, select

from models import Delivery, Outlet, Registration, utcnow
from models.db import ensure_schema, make_engine, session_scope
from models.enums import OutletTier, RegistrationState
from presswatch.demo import DemoContext
from settings import load_settings
from tests import factories


def test_demo_registers_proposes_and_prints_status(tmp_path: Path, fresh_db_url: str) -> None:
    engine = make_engine(fresh_db_url)
    ensure_schema(engine)
    now = utcnow()
    with session_scope(engine) as session:
        jrdz = factories.outlet(session, key="jinri-danzhou", name="今日儋州", tier=OutletTier.PREFECTURE)
        bhy = factories.outlet(session, key="bao-hungyen", name="Báo Hưng Yên", tier=OutletTier.PROVINCIAL)
        a1 = factories.article(session, outlet_id=jrdz.id, url="http://127.0.0.1:8765/jrdz/content/a1.html",
                          title="儋州法院公布一批失信被执行人名单", byline="来源：儋州市人民法院 通讯员 张三",
                          published_at=now - timedelta(seconds=1))  # same week as "now"
        factories.classification(session, a1, topics=[{"name": "defaulter_blacklist", "score": 0.8}])
        factories.article(session, outlet_id=jrdz.id, url="http://127.0.0.1:8765/jrdz/content/a2.html",
                          title="执行二队成功执结一起劳动报酬案", byline="通讯员 李四",
                          published_at=now - timedelta(hours=30))
        factories.article(session, outlet_id=bhy.id, url="http://127.0.0.1:8765/bhy/1.html",
                          title="Văn Lâm đẩy mạnh thi hành án", source_line="Nguồn: Chi cục THADS huyện Văn Lâm",
                          lang="vi", published_at=now - timedelta(hours=5))
    out = io.StringIO()
    ctx = DemoContext(workdir=tmp_path, settings=load_settings(environ={}).settings, engine=engine,
                      console=Console(file=out, width=200))
    from quota.demo import run

    run(ctx)
    text = out.getvalue()
    assert "已核实 đã xác minh verified (url" in text and "(title: title「执行二队成功执结一起劳动报酬案」" in text
    assert "未核实 chưa xác minh not verified" in text
    # The two 今日儋州 pieces were registered by staff first, so only the Vietnamese one is proposed.
    assert "← Chi cục THADS huyện Văn Lâm" in text and "← 张三" not in text
    assert "王五 确认了" in text
    # The deadbeat case (registered by 执行一队, classified 失信被执行人) counts for the court.
    deadbeat = [line for line in text.splitlines() if "每周公开报道老赖" in line]
    assert len(deadbeat) == 1 and "✔ 已完成" in deadbeat[0] and "#1" in deadbeat[0]
    assert "宣传任务完成情况" in text and "Tình hình thực hiện chỉ tiêu tuyên truyền" in text
    with session_scope(engine) as session:
        proposed = session.scalars(select(Registration).where(Registration.registered_by == "presswatch")).all()
        assert len(proposed) == 1 and proposed[0].state is RegistrationState.SUBMITTED
        assert [h["state"] for h in proposed[0].review_history] == ["proposed", "submitted"]
        assert session.scalar(select(func.count()).select_from(Outlet)) == 6
        assert session.scalar(select(func.count()).select_from(Delivery)) >= 0
    assert ctx.state["quota_rows"] > 0
