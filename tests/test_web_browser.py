"""Whole flows in a real browser (Chromium via Playwright): what a user does, at desk and phone sizes."""

from __future__ import annotations

import re

from tests.browser_support import log_in
from tests.web_support import PASSWORD


def test_dz_duty_logs_in_and_sees_danzhou_not_hung_yen(live_web, page_at) -> None:
    page = page_at(locale="zh-CN")
    log_in(page, live_web.url, "dz-duty", PASSWORD)
    page.wait_for_url(f"{live_web.url}/")
    body = page.inner_text("main")
    assert "儋州市人民法院" in body and "居民称儋州法院执行干警强制腾退时暴力执法" in body
    assert "Văn Lâm" not in body
    assert "待处置预警和事件" in body  # the user's language is zh-CN
    page.click("text=退出登录")
    page.wait_for_url(re.compile(r".*/login$"))


def test_wrong_password_five_times_locks_the_account(live_web, page_at) -> None:
    page = page_at()
    for _ in range(5):
        log_in(page, live_web.url, "dz-leader", "not the right password")
        assert "Wrong username or password" in page.inner_text("[data-testid=login-error]")
    log_in(page, live_web.url, "dz-leader", PASSWORD)
    assert "locked for 15 minutes" in page.inner_text("[data-testid=login-error]")
