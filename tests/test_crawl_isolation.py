"""A module in the user's working folder never replaces ours in a crawl child process.

``presswatch run`` crawls in a child process; started as ``python -m crawlers.engine`` it put the
working folder first on ``sys.path``, so a ``settings.py`` there (a Django project, a notebook
folder) made every crawl fail. The crawl here is real: a child process fetches a local feed.
"""

from __future__ import annotations

from pathlib import Path

from crawlers.registry import parse_registry, sync_registry
from crawlers.run import crawl
from crawlers.testserver import LocalServer
from models.db import make_engine, session_scope, upgrade
from presswatch.items import RawItem
from presswatch.processes import python_child
from settings import load_settings
from tests.crawl_site import fixture_registry, fixture_site

SHADOWS = {
    "settings.py": "raise SystemExit('the user folder settings.py was imported')\n",
    "models.py": "raise SystemExit('the user folder models.py was imported')\n",
    "pipeline/__init__.py": "raise SystemExit('the user folder pipeline/ was imported')\n",
    "crawlers/__init__.py": "raise SystemExit('the user folder crawlers/ was imported')\n",
}


def _plant_shadows(folder: Path) -> None:
    for name, text in SHADOWS.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_a_crawl_child_ignores_settings_models_and_pipeline_in_the_working_folder(tmp_path: Path) -> None:
    # conftest's autouse fixture has chdir'd into tmp_path: this is the user's working folder.
    assert Path.cwd().resolve() == tmp_path.resolve()
    _plant_shadows(tmp_path)
    url = f"sqlite:///{tmp_path / 'db' / 'crawl.db'}"
    upgrade(url)
    engine = make_engine(url)
    settings = load_settings(environ={}, overrides={
        "crawl.download_delay_seconds": 0, "crawl.fetch_timeout_seconds": 5, "crawl.retry_times": 0,
    }).settings
    with LocalServer(fixture_site) as server:
        registry = fixture_registry(server.base_url)
        registry["sources"] = [s for s in registry["sources"] if s["key"] == "rss"]
        with session_scope(engine) as session:
            sync_registry(session, parse_registry(registry))
        items: list[RawItem] = []
        reports = crawl(engine, settings, sink=items.extend, keys=["rss"], isolate=True)
    engine.dispose()
    (report,) = reports
    assert report.status == "ok", report.reason
    assert len(items) >= 2 and all(i.source_key == "rss" for i in items)


def test_the_child_command_keeps_the_working_folder_off_sys_path(tmp_path: Path) -> None:
    argv, env = python_child("crawlers.engine", environ={"PYTHONPATH": f":.:{tmp_path}:/elsewhere"})
    assert argv[1:3] == ["-P", "-m"]
    entries = env["PYTHONPATH"].split(":")
    assert "" not in entries and "." not in entries and str(tmp_path) not in entries
    assert "/elsewhere" in entries and env["PYTHONSAFEPATH"] == "1"
