"""Command-line commands of the crawlers stage: thin wrappers over library functions.

``presswatch sources list|add|check|serve-demo``, ``presswatch crawl [--source KEY] [--due]`` and
``presswatch import``. Scrapy is imported inside the commands so ``presswatch --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

sources_app = typer.Typer(help="The source registry (sources.yaml) and each source's health.", no_args_is_help=True)


def _registry_path() -> Path:
    from settings import get_settings

    return Path(get_settings().crawl.sources_file)


def _load_and_sync() -> None:
    from crawlers.registry import RegistryError, load_registry, sync_registry
    from models.db import get_engine, session_scope
    from presswatch.cli import CliError

    try:
        registry = load_registry(_registry_path())
    except RegistryError as exc:
        raise CliError(str(exc)) from None
    with session_scope(get_engine()) as session:
        sync_registry(session, registry, disable_missing=True)


@sources_app.command("list")
def sources_list() -> None:
    """List the registered sources (sources.yaml, synced into the database)."""
    from rich.table import Table
    from sqlalchemy import select

    from models import Outlet, Source
    from models.db import get_engine, session_scope
    from presswatch.cli import console

    _load_and_sync()
    table = Table("key", "kind", "outlet", "lang", "enabled", "every", "start URL", title="sources")
    with session_scope(get_engine()) as session:
        for row, outlet in session.execute(select(Source, Outlet).outerjoin(Outlet).order_by(Source.key)):
            urls = row.config.get("start_urls") or [row.config.get("path", "")]
            table.add_row(row.key, row.kind.value, outlet.name if outlet else "-", row.language,
                          "yes" if row.enabled else "no",
                          f"{row.interval_minutes} min" if row.interval_minutes else "default", urls[0])
    console.print(table)


@sources_app.command("check")
def sources_check() -> None:
    """Validate sources.yaml (selectors included) and show each source's health."""
    from rich.table import Table
    from sqlalchemy import select

    from models import Source
    from models.db import get_engine, session_scope
    from presswatch.cli import console

    _load_and_sync()
    console.print(f"{_registry_path()}: valid")
    table = Table("key", "health", "last success", "failures in a row", "last items", "reason", title="health")
    colours = {"ok": "green", "warning": "yellow", "failing": "red"}
    with session_scope(get_engine()) as session:
        for row in session.scalars(select(Source).where(Source.enabled.is_(True)).order_by(Source.key)):
            colour = colours.get(row.health, "white")
            table.add_row(
                row.key, f"[{colour}]{row.health}[/]",
                row.last_success_at.strftime("%Y-%m-%d %H:%M UTC") if row.last_success_at else "never",
                str(row.consecutive_failures), "-" if row.last_item_count is None else str(row.last_item_count),
                row.last_error or "",
            )
    console.print(table)


@sources_app.command("add")
def sources_add(
    key: str = typer.Argument(..., help="Source key (lower case, e.g. hainan-daily)."),
    url: list[str] = typer.Option(..., "--url", help="Start URL (repeatable)."),
    kind: str = typer.Option("feed", help="feed / html / sitemap / json_api / import"),
    name: str = typer.Option("", help="Display name (default: the key)."),
    language: str = typer.Option("zh", help="zh or vi"),
    outlet: str = typer.Option("", help="Outlet key declared under outlets (optional)."),
    links: str = typer.Option("", help="html: CSS/XPath selector of article links."),
) -> None:
    """Append a source to sources.yaml (validated first; the file is left untouched if invalid)."""
    import yaml

    from crawlers.registry import RegistryError, load_registry, parse_registry
    from presswatch.cli import CliError, console

    path = _registry_path()
    try:
        registry = load_registry(path)
    except RegistryError as exc:
        raise CliError(str(exc)) from None
    if any(s.key == key for s in registry.sources):
        raise CliError(f"{path}: source {key!r} already exists")
    entry: dict[str, object] = {"key": key, "name": name or key, "kind": kind, "language": language, "start_urls": url}
    if outlet:
        entry["outlet"] = outlet
    if links:
        entry["selectors"] = {"links": links}
    raw = registry.model_dump(mode="json", exclude_none=True)
    raw["sources"].append(entry)
    try:
        parse_registry(raw, str(path))
    except RegistryError as exc:
        raise CliError(str(exc)) from None
    # Append text rather than re-dumping, so the file's comments survive.
    block = yaml.safe_dump([entry], allow_unicode=True, sort_keys=False, default_flow_style=False)
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text += "\n"
    if "sources:" not in text:
        text += "sources:\n"
    text += "\n" + "".join("  " + line + "\n" for line in block.splitlines())
    path.write_text(text, encoding="utf-8")
    load_registry(path)  # the appended text must read back as the same declaration
    _load_and_sync()
    console.print(f"added source {key} ({kind}) to {path}")


@sources_app.command("serve-demo")
def sources_serve_demo(port: int = typer.Option(8765, help="Port on 127.0.0.1.")) -> None:
    """Serve the bundled demo site (the sample sources.yaml points at it) until Ctrl-C."""
    import time

    from crawlers.demo_site import start_demo_site
    from presswatch.cli import console

    server = start_demo_site(port=port)
    console.print(f"demo site on {server.base_url} (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main presswatch app."""
    app.add_typer(sources_app, name="sources")
