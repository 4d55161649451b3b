"""``presswatch demo``: the whole product on the bundled demo source, offline, on the embedded store.

Each stage adds its part as ``<stage>.demo:run(ctx)``; they run in data-flow order and share
``ctx.state`` (e.g. the crawler's local demo site URL). The demo works in its own folder so it
never touches a real deployment's database.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console

from presswatch.democontext import DemoContext

DEMO_STEPS = (
    ("crawl", "crawlers.demo:run"),
    ("pipeline", "pipeline.demo:run"),
    ("classify", "classify.demo:run"),
    ("alerts", "alerts.demo:run"),
    # Quota registration before the digest, so the digest's "own pieces" section shows what the
    # units registered today.
    ("quota", "quota.demo:run"),
    ("digest", "alerts.digest.demo:run"),
)


def run_demo(workdir: Path, console: Console | None = None, fresh: bool = True) -> DemoContext:
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
