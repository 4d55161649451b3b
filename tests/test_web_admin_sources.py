"""/admin/sources: health, the "with errors" filter, add / edit with the registry's validation,
"fetch now" against a real HTTP server, pause / resume, scoping, the audit trail, and how rows
edited here coexist with the sources.yaml sync. On SQLite and PostgreSQL (the ``web`` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from crawlers.registry import RegistryError, parse_registry, sync_registry
from crawlers.testserver import LocalServer
from models import AuditEntry, Outlet, Source
from models.enums import SourceKind
from tests.crawl_site import fixture_site


@pytest.fixture
def site() -> Iterator[LocalServer]:
    with LocalServer(fixture_site) as server:
        yield server


def _db(web: Any) -> Session:
    session: Session = web.app.state.session_factory()
    return session


def _add_source(db: Session, key: str, unit_id: int, **kw: Any) -> Source:
    config = {"key": key, "name": key, "kind": "feed", "start_urls": [f"https://{key}.example.cn/rss.xml"]}
    row = Source(key=key, name=kw.pop("name", key), kind=SourceKind.FEED, unit_id=unit_id, config=config, **kw)
    db.add(row)
    db.flush()
    return row


@pytest.fixture
def world_sources(web: Any) -> dict[str, int]:
    db = _db(web)
    units = web.world.units
    db.add(Outlet(key="nanhai", name="南海法治网"))
    ok = _add_source(db, "dz-ok", units["dz-court"].id, name="儋州新闻", health="ok", consecutive_failures=0)
    bad = _add_source(db, "dz-bad", units["dz-exec"].id, name="儋州论坛", health="failing", consecutive_failures=4,
                      last_error="HTTP 503 at https://dz-bad.example.cn/rss.xml")
    hy = _add_source(db, "hy-news", units["hy-thads"].id, name="Báo Hưng Yên", health="failing",
                     consecutive_failures=2, last_error="timeout")
    db.commit()
    ids = {"ok": ok.id, "bad": bad.id, "hy": hy.id}
    db.close()
    return ids


def _form(base: str, **kw: str) -> dict[str, str]:
    data = {"unit": "dz-court", "key": "nanhai-zh", "name": "南海法治网", "kind": "html", "outlet": "nanhai",
            "language": "zh", "timezone": "Asia/Shanghai", "start_urls": base + "/zh/list_1.html",
            "link_pattern": r"/zh/(a|private)/", "sel_links": "ul.news a::attr(href)",
            "sel_title": "h1.title::text", "sel_body": "#article p", "sel_published": "div.info::text",
            "enabled": "1", "action": "save"}
    data.update(kw)
    return data


def test_list_shows_health_and_the_with_errors_filter(web: Any, world_sources: dict[str, int]) -> None:
    client = web.login("dz-admin")
    page = client.get("/admin/sources")
    assert page.status_code == 200
    assert "儋州新闻" in page.text and "儋州论坛" in page.text
    assert "HTTP 503 at https://dz-bad.example.cn/rss.xml" in page.text
    # failing first
    assert page.text.index("儋州论坛") < page.text.index("儋州新闻")
    assert "Báo Hưng Yên" not in page.text  # another organization's source is not listed
    errors = client.get("/admin/sources?errors=1")
    assert "儋州论坛" in errors.text and "儋州新闻" not in errors.text and "Báo Hưng Yên" not in errors.text


def test_another_organizations_source_is_not_found(web: Any, world_sources: dict[str, int]) -> None:
    client = web.login("dz-admin")
    hy = world_sources["hy"]
    assert client.get(f"/admin/sources/{hy}").status_code == 404
    assert client.post(f"/admin/sources/{hy}/enabled", data={"enabled": "0"}).status_code == 404
    assert client.post(f"/admin/sources/{hy}", data=_form("https://x.cn", key="hy-news")).status_code == 404
    db = _db(web)
    assert db.get(Source, hy).enabled is True  # type: ignore[union-attr]
    db.close()
    # an analyst is no admin: the page itself is refused
    assert web.login("dz-duty").get("/admin/sources").status_code == 403
    # the superuser sees both organizations
    everything = web.login("admin").get("/admin/sources").text
    assert "Báo Hưng Yên" in everything and "儋州论坛" in everything


def test_a_bad_selector_is_refused_with_the_registry_message(web: Any, world_sources: dict[str, int]) -> None:
    client = web.login("dz-admin")
    form = _form("https://news.example.cn", sel_links="ul.news a[[")
    response = client.post("/admin/sources/new", data=form)
    assert response.status_code == 400
    # the same words sources.yaml would give for the same entry
    with pytest.raises(RegistryError) as raised:
        parse_registry({"outlets": [{"key": "nanhai", "name": "南海法治网"}],
                        "sources": [{"key": "nanhai-zh", "name": "x", "kind": "html", "outlet": "nanhai",
                                     "start_urls": ["https://news.example.cn/"],
                                     "selectors": {"links": "ul.news a[["}}]})
    line = str(raised.value).splitlines()[-1].strip()
    assert line.startswith("source 'nanhai-zh', field selectors.links: invalid CSS selector")
    assert str(escape(line)) in response.text
    # a kind html without selectors, a bad URL
    assert client.post("/admin/sources/new", data=_form("ftp://x", sel_links="")).status_code == 400
    db = _db(web)
    assert db.scalar(select(Source).where(Source.key == "nanhai-zh")) is None
    db.close()


def test_fetch_now_shows_what_would_be_extracted_and_stores_nothing(web: Any, world_sources: dict[str, int],
                                                                    site: LocalServer) -> None:
    client = web.login("dz-admin")
    response = client.post("/admin/sources/new", data=_form(site.base_url, action="preview"))
    assert response.status_code == 200, response.text[:2000]
    text = response.text
    assert "琼州法院集中执行兑现案款二百万元" in text  # title, from the GBK article page the first link gives
    assert "通讯员 张三" in text  # byline
    assert "琼州市人民法院执行局开展集中执行行动" in text  # text start
    assert "2026-11-21 09:30" in text  # the date as found on the page
    assert site.url("/zh/a/1.html") in text
    assert "/zh/list_1.html" in site.paths() and "/zh/a/1.html" in site.paths()
    db = _db(web)
    assert db.scalar(select(Source).where(Source.key == "nanhai-zh")) is None
    db.close()
    # a page named explicitly; a robots.txt refusal is said, not a 500
    one = client.post("/admin/sources/new", data=_form(site.base_url, action="preview",
                                                       page_url=site.url("/zh/a/2.html"))).text
    assert "失信被执行人名单再添十二人" in one
    refused = client.post("/admin/sources/new", data=_form(site.base_url, action="preview",
                                                           page_url=site.url("/zh/private/x.html"))).text
    assert "blocked by robots.txt" in refused
    gone = client.post("/admin/sources/new", data=_form(site.base_url, action="preview",
                                                        page_url=site.url("/zh/a/9.html"))).text
    assert "HTTP 404" in gone


def test_save_edit_pause_resume_are_stored_and_audited(web: Any, world_sources: dict[str, int],
                                                       site: LocalServer) -> None:
    client = web.login("dz-admin")
    saved = client.post("/admin/sources/new", data=_form(site.base_url))
    assert saved.status_code == 303
    db = _db(web)
    row = db.scalar(select(Source).where(Source.key == "nanhai-zh"))
    assert row is not None and row.managed_by == "web" and row.unit_id == web.world.units["dz-court"].id
    assert row.config["selectors"]["links"] == "ul.news a::attr(href)" and row.enabled
    assert row.outlet_id is not None
    source_id = row.id
    db.close()
    # the same key again is refused
    assert client.post("/admin/sources/new", data=_form(site.base_url)).status_code == 400
    edited = client.post(f"/admin/sources/{source_id}", data=_form(site.base_url, name="南海法治网（新）",
                                                                   interval_minutes="30"))
    assert edited.status_code == 303
    assert client.post(f"/admin/sources/{source_id}/enabled", data={"enabled": "0"}).status_code == 303
    db = _db(web)
    row = db.get(Source, source_id)
    assert row is not None and row.name == "南海法治网（新）" and row.interval_minutes == 30
    assert row.enabled is False and row.config["enabled"] is False
    entries = db.scalars(select(AuditEntry).where(AuditEntry.object_type == "source",
                                                  AuditEntry.object_id == "nanhai-zh").order_by(AuditEntry.id)).all()
    assert [e.action for e in entries] == ["source.add", "source.update", "source.pause"]
    assert all(e.actor == "dz-admin" for e in entries)
    assert entries[0].before is None and entries[0].after["config"]["kind"] == "html"  # type: ignore[index]
    assert entries[1].before["name"] == "南海法治网" and entries[1].after["name"] == "南海法治网（新）"  # type: ignore[index]
    assert entries[2].before["enabled"] is True and entries[2].after["enabled"] is False  # type: ignore[index]
    db.close()
    assert "paused" in client.get("/admin/sources").text or "已暂停" in client.get("/admin/sources").text
    assert client.post(f"/admin/sources/{source_id}/enabled", data={"enabled": "1"}).status_code == 303
    # the edit form shows the stored declaration back
    form = client.get(f"/admin/sources/{source_id}").text
    assert "ul.news a::attr(href)" in form and "南海法治网（新）" in form
    # a unit outside the admin's subtree is refused
    other = client.post("/admin/sources/new", data=_form(site.base_url, key="elsewhere", unit="hy-thads"))
    assert other.status_code == 400


def test_the_file_sync_leaves_web_managed_sources_alone(web: Any, world_sources: dict[str, int]) -> None:
    client = web.login("dz-admin")
    ok = world_sources["ok"]
    assert client.post(f"/admin/sources/{ok}/enabled", data={"enabled": "0"}).status_code == 303
    db = _db(web)
    registry = parse_registry({"sources": [
        {"key": "dz-ok", "name": "renamed in the file", "kind": "feed", "start_urls": ["https://dz-ok.example.cn/a"]},
        {"key": "from-file", "name": "from the file", "kind": "feed", "start_urls": ["https://f.example.cn/rss"]},
    ]})
    sync_registry(db, registry, disable_missing=True)
    db.flush()
    paused = db.get(Source, ok)
    assert paused is not None and paused.name == "儋州新闻" and paused.enabled is False  # the web owns it
    bad = db.get(Source, world_sources["bad"])
    assert bad is not None and bad.managed_by == "file" and bad.enabled is False  # a file row no longer listed
    new = db.scalar(select(Source).where(Source.key == "from-file"))
    assert new is not None and new.managed_by == "file"
    db.rollback()
    db.close()
