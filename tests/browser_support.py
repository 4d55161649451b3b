"""Browser-test fixtures: Playwright driving Debian's Chromium (/usr/bin/chromium; Playwright's own
browser download is not reachable here) against the web app served by uvicorn on loopback.

``live_web`` serves a freshly migrated SQLite database holding the two-organization test world
(tests/web_support.py); ``browser`` is one Chromium per test session; ``page_at`` opens a new page
(desktop, the 390x844 phone viewport with ``phone=True``, or the narrowest promised phone, 360x740, with
``narrow=True``). Tests skip, saying why, when Chromium is
missing (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("PRESSWATCH_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]
PHONE = {"width": 390, "height": 844}
# The narrowest phone the pages promise to fit (an older Android at 360 CSS pixels).
NARROW_PHONE = {"width": 360, "height": 740}


@dataclass
class LiveWeb:
    url: str
    app: Any
    world: Any
    db_url: str


@pytest.fixture
def live_web(tmp_path: Path) -> Iterator[LiveWeb]:
    from models.db import make_engine, session_scope, upgrade
    from presswatch.web import create_app
    from tests.web_support import build_world, serve, web_settings

    db_url = f"sqlite:///{tmp_path / 'web.db'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    with session_scope(engine) as db:
        world = build_world(db)
    app = create_app(web_settings(**{"db.url": db_url}), engine)
    with serve(app) as url:
        yield LiveWeb(url=url, app=app, world=world, db_url=db_url)
    engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page_at(browser: Any) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []

    def open_page(phone: bool = False, locale: str = "en-US", narrow: bool = False) -> Any:
        kw: dict[str, Any] = {"locale": locale}
        if phone or narrow:
            kw.update(viewport=NARROW_PHONE if narrow else PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
        context = browser.new_context(**kw)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def log_in(page: Any, base_url: str, username: str, password: str) -> Any:
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    return page
