"""``presswatch demo``: the whole product on the bundled demo source, offline, on the embedded store.

Each stage adds its part as ``<stage>.demo:run(ctx)``; they run in data-flow order and share
``ctx.state`` (e.g. the crawler's local demo site URL). The demo works in its own folder so it
never touches a real deployment's database.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from rich.console import Console

from presswatch.democontext import DemoContext

DEMO_STEPS = (
    # The organization tree and the web app's accounts first: alert rules name their unit.
    ("accounts", "accounts.demo:run"),
    ("crawl", "crawlers.demo:run"),
    ("pipeline", "pipeline.demo:run"),
    ("classify", "classify.demo:run"),
    ("alerts", "alerts.demo:run"),
    # Quota registration before the digest, so the digest's "own pieces" section shows what the
    # units registered today.
    ("quota", "quota.demo:run"),
    ("digest", "alerts.digest.demo:run"),
)


def run_demo(workdir: Path, console: Console | None = None, fresh: bool = True, public_url: str = "") -> DemoContext:
    from models.db import ensure_schema, make_engine
    from presswatch.service import resolve
    from settings import load_settings

    console = console or Console()
    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{workdir / 'presswatch.db'}"
    settings = load_settings(
        environ={},
        overrides={
            "data_dir": str(workdir),
            "db.url": db_url,
            "pipeline.snapshot_dir": str(workdir / "snapshots"),
            "web.public_url": public_url,
        },
    ).settings
    engine = make_engine(db_url)
    ensure_schema(engine)
    ctx = DemoContext(workdir=workdir, settings=settings, engine=engine, console=console)
    console.print(f"presswatch demo in [bold]{workdir}[/] (database {db_url})")
    try:
        for _name, ref in DEMO_STEPS:
            resolve(ref)(ctx)
    finally:
        for cleanup in reversed(ctx.cleanups):
            cleanup()
    return ctx


def serve_demo(ctx: DemoContext, bind: str = "127.0.0.1:8000", console: Console | None = None,
               stop: threading.Event | None = None) -> None:
    """Serve the web app on the demo's database (the next free port if ``bind``'s is taken), print the
    URL and the demo accounts, and keep serving until Ctrl-C (or ``stop`` is set, for tests)."""
    from accounts.demo import DEMO_PASSWORD, DEMO_USERS
    from presswatch.web.server import start_in_thread

    console = console or ctx.console
    running = start_in_thread(ctx.settings, ctx.engine, bind=bind, find_free_port=True)
    ctx.heading("Web app · 网页端 · Ứng dụng web")
    console.print(f"open [bold]{running.url}/[/] and log in (password for every account: {DEMO_PASSWORD})",
                  highlight=False)
    for username, _name, language, superuser, role in DEMO_USERS:
        what = "superuser" if superuser else f"{role[1]} on {role[0]}" if role else ""
        console.print(f"  {username:<10} {what:<28} {language}", highlight=False)
    console.print(f"web app serving at {running.url}/ (Ctrl-C to stop)", highlight=False)
    stop = stop or threading.Event()
    try:
        while not stop.wait(0.5):
            if not running.thread.is_alive():
                break
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        running.stop()
