"""/admin/queries: the live syntax check (htmx partial) with the position of the problem, hits of
the last 7 days, add / edit with audit, scoping. On SQLite and PostgreSQL (the ``web`` fixture)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from classify.watch_admin import check_query
from models import AuditEntry, WatchQuery, utcnow
from tests import factories


def _db(web: Any) -> Session:
    session: Session = web.app.state.session_factory()
    return session


@pytest.fixture
def world_queries(web: Any) -> dict[str, int]:
    db = _db(web)
    units = web.world.units
    dz = WatchQuery(name="dz-org", query="儋州 AND 法院", purpose="org", unit_id=units["dz-court"].id)
    hy = WatchQuery(name="hy-org", query="Hưng Yên", purpose="org", unit_id=units["hy-thads"].id)
    db.add_all([dz, hy])
    factories.article(db, title="儋州法院集中执行", text="儋州市人民法院开展集中执行行动。")
    factories.article(db, title="儋州法院普法", text="儋州法院进社区。")
    factories.article(db, title="儋州法院旧闻", text="儋州法院十天前的消息。", stored_at=utcnow() - timedelta(days=10))
    factories.article(db, title="海口新闻", text="与本院无关。")
    db.commit()
    ids = {"dz": dz.id, "hy": hy.id}
    db.close()
    return ids


def test_check_says_where_the_syntax_breaks() -> None:
    bad = check_query("儋州 AND (法院")
    assert not bad.ok and bad.position is not None and bad.reason
    assert check_query("儋州 AND 法院").ok


def test_live_check_and_hits(web: Any, world_queries: dict[str, int]) -> None:
    client = web.login("dz-admin")
    listing = client.get("/admin/queries")
    assert listing.status_code == 200
    assert "dz-org" in listing.text and "hy-org" not in listing.text
    row = listing.text.split('data-query="dz-org"')[1].split("</tr>")[0]
    assert ">2</td>" in row  # two pieces in the last 7 days, not the 10-day-old one
    broken = client.post("/admin/queries/check", data={"query": "儋州 AND (法院"})
    assert broken.status_code == 200 and 'data-testid="query-error"' in broken.text
    assert "<mark>" in broken.text and "<html" not in broken.text  # a partial for htmx
    good = client.post("/admin/queries/check", data={"query": "儋州 AND 法院"}).text
    assert 'data-testid="query-ok"' in good and "儋州法院集中执行" in good and "儋州法院旧闻" not in good
    assert "海口新闻" not in good
    assert web.login("dz-duty").post("/admin/queries/check", data={"query": "x"}).status_code == 403


def test_save_validates_audits_and_is_scoped(web: Any, world_queries: dict[str, int]) -> None:
    client = web.login("dz-admin")
    assert client.get(f"/admin/queries/{world_queries['hy']}").status_code == 404
    assert client.post(f"/admin/queries/{world_queries['hy']}",
                       data={"name": "hy-org", "query": "x", "unit": "dz-court", "enabled": "1"}).status_code == 404
    bad = client.post("/admin/queries/new", data={"name": "dz-officials", "query": "院长 OR (", "unit": "dz-court",
                                                  "purpose": "official", "enabled": "1"})
    assert bad.status_code == 400
    other = client.post("/admin/queries/new", data={"name": "dz-officials", "query": "院长", "unit": "hy-thads",
                                                    "purpose": "official", "enabled": "1"})
    assert other.status_code == 400
    saved = client.post("/admin/queries/new", data={"name": "dz-officials", "query": "院长 OR 执行局长",
                                                    "unit": "dz-court", "purpose": "official", "enabled": "1"})
    assert saved.status_code == 303
    edited = client.post(f"/admin/queries/{world_queries['dz']}", data={
        "name": "dz-org", "query": "儋州 AND (法院 OR 执行局)", "unit": "dz-court", "purpose": "org", "enabled": "1"})
    assert edited.status_code == 303
    db = _db(web)
    assert db.scalar(select(WatchQuery.query).where(WatchQuery.name == "dz-org")) == "儋州 AND (法院 OR 执行局)"
    entries = db.scalars(select(AuditEntry).where(AuditEntry.object_type == "watch_query")
                         .order_by(AuditEntry.id)).all()
    assert [(e.action, e.object_id, e.actor) for e in entries] == [
        ("watch_query.add", "dz-officials", "dz-admin"), ("watch_query.update", "dz-org", "dz-admin")]
    assert entries[1].before["query"] == "儋州 AND 法院"  # type: ignore[index]
    db.close()
