"""In Chromium: the digest e-mail on a 360 px phone (no sideways scrolling) and at desk width; the
overview dashboard drawn under the strict CSP on a phone; a signed link that shows the dashboard to a
reader without an account until the admin revokes it, then 404."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from tests.browser_support import log_in
from tests.web_support import PASSWORD

pytestmark = pytest.mark.slow  # a browser: out of the fast lane, like tests/test_web_browser.py

NO_SIDEWAYS = "document.documentElement.scrollWidth <= window.innerWidth"


def test_the_digest_email_fits_a_360px_phone_and_a_desk(session: Session, page_at, tmp_path: Path) -> None:
    from alerts.digest.builder import build_for_definition
    from alerts.digest.periods import daily_period
    from alerts.digest.render import render_digest
    from tests.test_digest_world import DAY, NOW, VI_DEF, ZH_DEF, make_world

    make_world(session)
    for definition in (ZH_DEF, VI_DEF):
        period = daily_period(DAY, definition.local_send_time, definition.timezone)
        data = build_for_definition(session, definition, period, now=NOW)
        rendered = render_digest(data, recipients=definition.recipients, public_url="https://yuqing.example.cn")
        path = tmp_path / f"{definition.name}.html"
        path.write_text(rendered.file_html, encoding="utf-8")
        phone = page_at(phone=True)
        phone.set_viewport_size({"width": 360, "height": 740})
        phone.goto(path.as_uri())
        assert phone.evaluate(NO_SIDEWAYS), (definition.name, phone.evaluate("document.documentElement.scrollWidth"))
        # Nothing sticks out of the column either (a wide table inside a clipped box would hide text).
        widest = phone.evaluate("Math.max(...[...document.querySelectorAll('body *')]"
                                ".map(e => e.getBoundingClientRect().right))")
        assert widest <= 360.5, (definition.name, widest)
        # The four headline figures wrap two by two instead of squeezing into four slivers.
        tiles = phone.locator("div[style*='max-width:150px']")
        assert tiles.count() == 4
        tops = sorted({round(tiles.nth(i).bounding_box()["y"]) for i in range(4)})  # type: ignore[index]
        assert len(tops) == 2
        desk = page_at()
        desk.set_viewport_size({"width": 1280, "height": 900})
        desk.goto(path.as_uri())
        column = desk.evaluate("document.querySelector('table table').getBoundingClientRect().width")
        assert column == 640
        tops = sorted({round(desk.locator("div[style*='max-width:150px']").nth(i).bounding_box()["y"])  # type: ignore[index]
                       for i in range(4)})
        assert len(tops) == 1  # one row of four at desk width


def test_the_dashboard_draws_on_a_phone_under_the_csp(live_web, page_at) -> None:
    page = page_at(phone=True, locale="zh-CN")
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    log_in(page, live_web.url, "dz-leader", PASSWORD)
    page.wait_for_url(f"{live_web.url}/")
    page.goto(f"{live_web.url}/dashboard")
    page.wait_for_selector("[data-testid=chart-units] svg")
    assert "总体态势" in page.inner_text("h1")
    assert page.evaluate(NO_SIDEWAYS)
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
    page.goto(f"{live_web.url}/reports")
    assert page.evaluate(NO_SIDEWAYS)
    # The wall refreshes its body in place (as its 60 s timer does): the charts are drawn again.
    page.goto(f"{live_web.url}/dashboard/wall")
    page.wait_for_selector("[data-testid=chart-units] svg")
    page.evaluate("document.querySelector('[data-testid=kpi-pieces]').textContent = 'stale'")
    with page.expect_response(lambda r: "partial=1" in r.url):
        page.evaluate("htmx.ajax('GET', '/dashboard/wall?since=7d&partial=1', '#dash-body')")
    page.wait_for_function("document.querySelector('[data-testid=kpi-pieces]').textContent !== 'stale'")
    page.wait_for_selector("[data-testid=chart-units] svg")
    assert page.locator("[data-testid=chart-units]").count() == 1
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors


def test_a_signed_link_shows_the_dashboard_until_revoked_then_404(live_web, page_at) -> None:
    admin = page_at(phone=True, locale="zh-CN")  # an admin on a phone, at the narrowest width promised
    admin.set_viewport_size({"width": 360, "height": 780})
    log_in(admin, live_web.url, "dz-admin", PASSWORD)
    admin.wait_for_url(f"{live_web.url}/")
    admin.goto(f"{live_web.url}/admin/links")
    assert admin.evaluate(NO_SIDEWAYS)
    admin.fill("input[name=days]", "7")
    admin.fill("input[name=label]", "院长")
    admin.click("[data-testid=create-link]")
    url = admin.input_value("[data-testid=link-url]")
    assert admin.evaluate(NO_SIDEWAYS)  # the long link wraps in its field, the table stacks
    assert re.match(rf"{re.escape(live_web.url)}/s/[A-Za-z0-9_-]{{20,}}$", url)

    leader = page_at(phone=True, locale="zh-CN")  # no account, no login
    first = leader.goto(url)
    assert first is not None and first.status == 200
    leader.wait_for_selector("[data-testid=chart-units] svg")
    assert "儋州市人民法院" in leader.inner_text("main")
    assert leader.evaluate(NO_SIDEWAYS)

    admin.goto(f"{live_web.url}/admin/links")
    assert "院长" in admin.inner_text("[data-testid=links]")
    admin.on("dialog", lambda dialog: dialog.accept())
    admin.click("[data-testid=links] button.danger")
    admin.wait_for_url(f"{live_web.url}/admin/links")
    assert "已撤销" in admin.inner_text("[data-testid=links]")

    again = leader.goto(url)
    assert again is not None and again.status == 404
    assert "儋州市人民法院" not in leader.inner_text("body")
