"""The admin screens in Chromium: adding a source with "fetch now" against a real site on
127.0.0.1, and a rule's dry run on a phone; no CSP violations, no sideways scrolling."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from crawlers.testserver import LocalServer
from tests import factories
from tests.browser_support import LiveWeb, log_in
from tests.crawl_site import fixture_site
from tests.web_support import PASSWORD, web_settings


def _csp_errors(messages: list[str]) -> list[str]:
    return [m for m in messages if "Content Security Policy" in m or "Refused" in m]


def test_admin_adds_a_source_after_fetching_one_page(live_web: LiveWeb, page_at: Callable[..., Any]) -> None:
    from models import Source
    from models.db import make_engine, session_scope

    page = page_at(locale="zh-CN")
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
    with LocalServer(fixture_site) as site:
        log_in(page, live_web.url, "dz-admin", PASSWORD)
        page.wait_for_url(f"{live_web.url}/")
        page.click("[data-testid=nav-admin]")
        page.click("text=信息来源")
        page.wait_for_url(f"{live_web.url}/admin/sources")
        page.click("[data-testid=add-source]")
        page.fill("input[name=key]", "nanhai-zh")
        page.fill("input[name=name]", "南海法治网")
        page.select_option("select[name=kind]", "html")
        page.fill("textarea[name=start_urls]", site.url("/zh/list_1.html"))
        page.fill("input[name=sel_links]", "ul.news a::attr(href)")
        page.fill("input[name=sel_title]", "h1.title::text")
        page.fill("input[name=sel_body]", "#article p")
        page.fill("input[name=sel_published]", "div.info::text")
        page.fill("input[name=link_pattern]", r"/zh/(a|private)/")
        page.click("[data-testid=fetch-now]")
        page.wait_for_selector("[data-testid=preview]")
        assert page.inner_text("[data-testid=preview-title]") == "琼州法院集中执行兑现案款二百万元"
        assert "通讯员 张三" in page.inner_text("[data-testid=preview-byline]")
        assert "琼州市人民法院执行局" in page.inner_text("[data-testid=preview-text]")
        assert "2026" in page.inner_text("[data-testid=preview-date]")
        engine = make_engine(live_web.db_url)
        with session_scope(engine) as db:  # fetched, not saved
            assert db.scalar(select(Source).where(Source.key == "nanhai-zh")) is None
        # the form kept what was typed; save it
        assert page.input_value("input[name=sel_links]") == "ul.news a::attr(href)"
        page.click("[data-testid=save]")
        page.wait_for_url(re.compile(r".*/admin/sources/\d+\?saved=1$"))
        with session_scope(engine) as db:
            row = db.scalar(select(Source).where(Source.key == "nanhai-zh"))
            assert row is not None and row.managed_by == "web" and row.config["selectors"]["body"] == "#article p"
        engine.dispose()
        page.goto(f"{live_web.url}/admin/sources")
        assert "南海法治网" in page.inner_text("[data-testid=sources]")
    assert not _csp_errors(console), console


def test_admin_dry_runs_a_rule_on_a_phone(live_web: LiveWeb, page_at: Callable[..., Any]) -> None:
    from alerts.rules_file import parse_rules, sync_rules
    from models import AlertRule, utcnow
    from models.db import make_engine, session_scope
    from models.enums import RiskLevel, SentimentLabel

    engine = make_engine(live_web.db_url)
    with session_scope(engine) as db:
        sync_rules(db, parse_rules({"rules": [{
            "name": "dz-negative", "severity": "high", "unit": "dz-court",
            "when": {"min_risk": "high", "sentiment": ["negative"]},
            "recipients": [{"address": "duty@dz.example.cn", "language": "zh-CN"}]}]}, web_settings()))
        now = utcnow()
        hit = factories.article(db, title="儋州法院执行干警被指暴力执法", published_at=now - timedelta(hours=5))
        factories.classification(db, hit, sentiment=SentimentLabel.NEGATIVE, risk_level=RiskLevel.HIGH,
                                 created_at=now - timedelta(hours=4))
        calm = factories.article(db, title="儋州法院开展普法宣传", published_at=now - timedelta(hours=5))
        factories.classification(db, calm, created_at=now - timedelta(hours=4))
        rule_id = db.scalar(select(AlertRule.id).where(AlertRule.name == "dz-negative"))
    engine.dispose()
    page = page_at(phone=True, locale="zh-CN")
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
    log_in(page, live_web.url, "dz-admin", PASSWORD)
    page.wait_for_url(f"{live_web.url}/")
    page.goto(f"{live_web.url}/admin/rules")
    page.click("text=dz-negative")
    page.wait_for_url(f"{live_web.url}/admin/rules/{rule_id}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.click("[data-testid=dry-run-button]")
    page.wait_for_selector("[data-testid=dry-run]")
    rows = page.inner_text("[data-testid=dry-run-rows]")
    assert "儋州法院执行干警被指暴力执法" in rows and "儋州法院开展普法宣传" not in rows
    assert "2" in page.inner_text("[data-testid=dry-run-summary]")  # of 2 pieces
    assert "未发送任何消息" in page.inner_text("[data-testid=dry-run-summary]")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert not _csp_errors(console), console


def test_admin_screens_fit_a_narrow_phone(live_web: LiveWeb, page_at: Callable[..., Any]) -> None:
    """Every admin screen at 360 px: no sideways scrolling, reachable from the Administration page."""
    page = page_at(narrow=True, locale="vi-VN")
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
    log_in(page, live_web.url, "admin", PASSWORD)
    page.wait_for_url(f"{live_web.url}/")
    page.click("[data-testid=nav-admin]")
    page.wait_for_url(f"{live_web.url}/admin")
    links = page.eval_on_selector_all("[data-testid=admin-screens] a", "els => els.map(e => e.getAttribute('href'))")
    assert {"/admin/sources", "/admin/rules", "/admin/queries", "/admin/digests", "/admin/webhooks",
            "/admin/units"} <= set(links)
    for path in ("/admin", *links, "/admin/sources/new", "/admin/rules/new", "/admin/queries/new",
                 "/admin/digests/new"):
        response = page.goto(f"{live_web.url}{path}")
        assert response is not None and response.status == 200, path
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, (path, width)
    assert not _csp_errors(console), console


def test_watch_query_is_checked_while_typing(live_web: LiveWeb, page_at: Callable[..., Any]) -> None:
    """htmx posts the query as it is typed (no inline script; the CSP holds) and shows where it breaks."""
    from models.db import make_engine, session_scope

    engine = make_engine(live_web.db_url)
    with session_scope(engine) as db:
        factories.article(db, title="儋州法院集中执行", text="儋州市人民法院开展集中执行行动。")
    engine.dispose()
    page = page_at(locale="zh-CN")
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
    log_in(page, live_web.url, "dz-admin", PASSWORD)
    page.wait_for_url(f"{live_web.url}/")
    page.goto(f"{live_web.url}/admin/queries/new")
    page.fill("textarea[name=query]", "儋州 AND (法院")
    page.wait_for_selector("[data-testid=query-error]")
    assert "mark" in page.inner_html("[data-testid=query-error]")
    page.fill("textarea[name=query]", "儋州 AND 法院")
    page.wait_for_selector("[data-testid=query-ok]")
    assert "儋州法院集中执行" in page.inner_text("#query-check")
    assert not _csp_errors(console), console
