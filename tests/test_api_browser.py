"""The API key flow in a real browser (Chromium): a Hưng Yên duty officer on a 360 px phone creates a
read-only key in /account, copies it once, uses it, and revokes it; the API reference page reads
well at phone width under the strict CSP."""

from __future__ import annotations

import re

import httpx

from tests.browser_support import log_in
from tests.web_support import PASSWORD


def test_a_key_is_created_used_and_revoked_from_the_account_page_on_a_phone(live_web, page_at) -> None:
    page = page_at(narrow=True, locale="vi-VN")
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    log_in(page, live_web.url, "hy-duty", PASSWORD)
    page.wait_for_url(f"{live_web.url}/")
    page.goto(f"{live_web.url}/account")
    assert "Khóa API" in page.inner_text("#api-keys")
    page.fill("#api-keys input[name=name]", "bảng trực ban")
    page.check("#api-keys input[name=read_only]")
    page.select_option("#api-keys select[name=unit_id]", label="Cục Thi hành án dân sự tỉnh Hưng Yên")
    page.click("#api-keys button:has-text('Tạo khóa')")
    shown = page.inner_text("[data-testid=new-api-key]")
    key = re.search(r"pw_[0-9a-f]{8}_\S+", shown)
    assert key is not None and "chỉ hiển thị một lần" in shown
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # the long key wraps

    api = httpx.Client(base_url=f"{live_web.url}/api/v1", headers={"Authorization": f"Bearer {key.group(0)}"})
    cases = api.get("/cases").json()["items"]
    assert [c["title"] for c in cases] == ["Khiếu nại đông người về cưỡng chế thi hành án ở Văn Lâm"]
    assert api.post(f"/cases/{cases[0]['id']}/ack", json={}).status_code == 403  # read-only

    page.goto(f"{live_web.url}/account")
    prefix = key.group(0).split("_")[1]
    row = page.locator("#api-keys tr", has_text=prefix)
    assert "chỉ đọc" in row.inner_text() and key.group(0) not in page.content()
    row.locator("button").click()
    page.wait_for_url(re.compile(r".*/account\?revoked=1$"))
    assert "đã thu hồi" in page.locator("#api-keys tr", has_text=prefix).inner_text()
    assert api.get("/cases").status_code == 401

    page.goto(f"{live_web.url}/api/v1/docs")
    assert "GET /api/v1/cases" in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert not [e for e in console_errors if "Content Security Policy" in e or "Refused" in e], console_errors
    api.close()
