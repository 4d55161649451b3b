"""Whole flows in a real browser (Chromium via Playwright): what a user does, at desk and phone sizes."""

from __future__ import annotations

import re

from tests.browser_support import log_in
from tests.web_support import PASSWORD


def test_dz_duty_logs_in_and_sees_danzhou_not_hung_yen(live_web, page_at) -> None:
    page = page_at(locale="zh-CN")
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    log_in(page, live_web.url, "dz-duty", PASSWORD)
    page.wait_for_url(f"{live_web.url}/")
    body = page.inner_text("main")
    assert "儋州市人民法院" in body and "居民称儋州法院执行干警强制腾退时暴力执法" in body
    assert "Văn Lâm" not in body
    assert "待处置预警和事件" in body  # the user's language is zh-CN
    # The vendored ECharts draws the severity chart under the strict CSP (no inline script or eval).
    page.wait_for_selector("[data-testid=severity-chart] svg")
    assert "紧急" in page.inner_text("[data-testid=severity-chart]")
    assert not [e for e in console_errors if "Content Security Policy" in e or "Refused" in e], console_errors
    page.click("text=退出登录")
    page.wait_for_url(re.compile(r".*/login$"))


def test_wrong_password_five_times_locks_the_account(live_web, page_at) -> None:
    page = page_at()
    for _ in range(5):
        log_in(page, live_web.url, "dz-leader", "not the right password")
        assert "Wrong username or password" in page.inner_text("[data-testid=login-error]")
    log_in(page, live_web.url, "dz-leader", PASSWORD)
    assert "locked for 15 minutes" in page.inner_text("[data-testid=login-error]")


def test_language_follows_the_browser_then_the_users_choice(live_web, page_at) -> None:
    page = page_at(locale="vi-VN")
    page.goto(f"{live_web.url}/login")
    assert page.inner_text("h1") == "Đăng nhập"  # Accept-Language: vi
    page.click("text=中文")
    assert page.inner_text("h1") == "登录"
    log_in(page, live_web.url, "admin", PASSWORD)  # admin's own setting is English
    page.wait_for_url(f"{live_web.url}/")
    assert "Open alerts and cases" in page.inner_text("main")
    page.goto(f"{live_web.url}/account")
    page.select_option("[data-testid=language]", "vi")
    page.click("form[action='/account'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/account\?saved=1$"))
    assert page.inner_text("h1") == "Tài khoản" and "Đã lưu." in page.inner_text("main")
    page.goto(f"{live_web.url}/")
    assert "Cảnh báo và vụ việc đang mở" in page.inner_text("main")
    # Dates follow the language too (vi: HH:mm dd/MM/yyyy).
    assert re.search(r"\d{2}:\d{2} \d{2}/\d{2}/\d{4}", page.inner_text("[data-testid=cases]"))


def test_phone_viewport_has_no_sideways_scrolling(live_web, page_at) -> None:
    page = page_at(narrow=True, locale="zh-CN")
    log_in(page, live_web.url, "admin", PASSWORD)
    page.wait_for_url(f"{live_web.url}/")
    paths = ("/", "/inbox", "/account", "/admin/users", "/admin/audit", f"/cases/{live_web.world.cases['dz'].id}")
    for path in paths:
        page.goto(f"{live_web.url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, (path, width)
        assert page.is_visible("text=Log out") or page.is_visible("text=退出登录")
    # The organization switcher is reachable on a phone and narrows the view.
    page.goto(f"{live_web.url}/")
    page.select_option("#org-switch", label="Cục Thi hành án dân sự tỉnh Hưng Yên")
    page.wait_for_load_state("load")
    page.wait_for_function("document.querySelector('[data-testid=looking-at]').innerText.includes('Hưng Yên')")
    main = page.inner_text("main")
    assert "Văn Lâm" in main and "儋州法院执行干警" not in main


def test_a_form_posted_from_another_site_is_refused(live_web, page_at) -> None:
    """A page on another origin auto-fills a form aimed at /account; the browser posts it with the
    user's cookie (same site: 127.0.0.1 on another port) and the app refuses it."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    evil_html = (f'<html><body><form method="post" action="{live_web.url}/account">'
                 '<input name="language" value="vi"><button id="go" type="submit">win a prize</button>'
                 '</form></body></html>').encode()

    class Evil(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(evil_html)

        def log_message(self, *args: object) -> None:
            pass

    evil = ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        page = page_at()
        log_in(page, live_web.url, "dz-duty", PASSWORD)
        page.wait_for_url(f"{live_web.url}/")
        page.goto(f"http://127.0.0.1:{evil.server_address[1]}/")
        with page.expect_response(f"{live_web.url}/account") as answer:
            page.click("#go")
        assert answer.value.status == 403
        page.goto(f"{live_web.url}/account")
        assert page.input_value("[data-testid=language]") == "zh-CN"  # unchanged
        # The same change from our own page goes through.
        page.select_option("[data-testid=language]", "vi")
        page.click("form[action='/account'] button[type=submit]")
        page.wait_for_url(re.compile(r".*saved=1$"))
        assert page.input_value("[data-testid=language]") == "vi"
    finally:
        evil.shutdown()
