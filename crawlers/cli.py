"""Command-line commands of the crawlers stage: thin wrappers over library functions.

``presswatch sources list|add|check|serve-demo``, ``presswatch crawl [--source KEY] [--due]`` and
``presswatch import``. Scrapy is imported inside the commands so ``presswatch --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

sources_app = typer.Typer(help="The source registry (sources.yaml) and each source's health.", no_args_is_help=True)


def _registry_path() -> Path:
    from settings import get_settings

    return Path(get_settings().crawl.sources_file)


def _load_and_sync(create: bool = False) -> None:
    from crawlers.registry import RegistryError, load_registry, sync_registry
    from models.db import get_engine, session_scope
    from presswatch.console import CliError

    try:
        registry = load_registry(_registry_path())
    except RegistryError as exc:
        raise CliError(str(exc)) from None
    with session_scope(get_engine(create=create)) as session:
        sync_registry(session, registry, disable_missing=True)


@sources_app.command("list")
def sources_list() -> None:
    """List the registered sources (sources.yaml, synced into the database)."""
    from rich.table import Table
    from sqlalchemy import select

    from models import Outlet, Source
    from models.db import get_engine, session_scope
    from presswatch.console import console

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
    from presswatch.console import console, local_time

    _load_and_sync()
    console.print(f"{_registry_path()}: valid")
    table = Table("key", "health", "last success", "failures in a row", "last items", "reason", title="health")
    colours = {"ok": "green", "warning": "yellow", "failing": "red"}
    with session_scope(get_engine()) as session:
        for row in session.scalars(select(Source).where(Source.enabled.is_(True)).order_by(Source.key)):
            colour = colours.get(row.health, "white")
            table.add_row(
                row.key, f"[{colour}]{row.health}[/]",
                local_time(row.last_success_at) if row.last_success_at else "never",
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
    from presswatch.console import CliError, console

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
    _load_and_sync(create=True)
    console.print(f"added source {key} ({kind}) to {path}")


@sources_app.command("serve-demo")
def sources_serve_demo(port: int = typer.Option(8765, help="Port on 127.0.0.1.")) -> None:
    """Serve the bundled demo site (the sample sources.yaml points at it) until Ctrl-C."""
    import time

    from crawlers.demo_site import start_demo_site
    from presswatch.console import console

    server = start_demo_site(port=port)
    console.print(f"demo site on {server.base_url} (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


STATUS_LABELS = {
    "ok": "正常 / bình thường / ok",
    "empty": "无内容 / không có gì / empty",
    "failed": "失败 / lỗi / failed",
}


def _skipped_line(skipped: dict[str, int]) -> str:
    return "; ".join(f"skipped: {reason} ({n})" for reason, n in sorted(skipped.items()))


def _print_reports(reports: list[Any], title: str, sink: Any) -> None:
    """The run's summary: per source, what the pipeline did with its items (not what was fetched),
    and why entries were skipped; then exit ``EXIT_SOURCE_FAILED`` if a source failed or some of its
    items could not be stored."""
    from rich.markup import escape
    from rich.table import Table

    from crawlers.run import PipelineSink
    from presswatch.console import EXIT_SOURCE_FAILED, console

    stored_here = isinstance(sink, PipelineSink)
    columns = ["stored", "updated", "duplicate", "dropped", "errors"] if stored_here else ["written"]
    table = Table("source", "status", *columns, "health", "reason", title=title)
    failed = []
    for r in reports:
        if stored_here:
            tally = sink.tally(r.key)
            dropped = str(tally.dropped) + (f" ({tally.top_reasons()})" if tally.dropped else "")
            counts = [str(tally.stored), str(tally.updated), str(tally.duplicate), dropped, str(tally.errors)]
            if tally.errors:
                failed.append(r.key)
        else:
            counts = [str(r.items_new)]
        if r.status == "failed":
            failed.append(r.key)
        table.add_row(escape(r.key), STATUS_LABELS.get(r.status, r.status), *counts, r.health,
                      escape(r.reason or _skipped_line(r.skipped)))
    console.print(table)
    if failed:
        raise typer.Exit(EXIT_SOURCE_FAILED)


def _sink(out: Path | None) -> Any:
    from models.db import get_engine
    from presswatch.console import CliError
    from settings import get_settings

    if out is not None:
        from crawlers.sinks import JsonlSink

        return JsonlSink(out)
    try:
        from crawlers.run import pipeline_sink

        return pipeline_sink(get_engine(create=True), get_settings())
    except ImportError as exc:
        raise CliError(f"the pipeline is not installed ({exc}); use --out FILE.jsonl to keep raw items") from None


def crawl_command(
    source: list[str] = typer.Option([], "--source", "-s", help="Only this source (repeatable)."),
    due: bool = typer.Option(False, "--due", help="Only sources whose interval has passed."),
    out: Path | None = typer.Option(None, "--out", help="Write raw items to this JSONL file instead of storing."),
) -> None:
    """Crawl the registered sources once (all enabled ones, or --source KEY) and store what is new."""
    from crawlers.run import crawl
    from models.db import get_engine
    from presswatch.console import CliError
    from settings import get_settings

    _load_and_sync(create=True)
    sink = _sink(out)
    try:
        reports = crawl(get_engine(create=True), get_settings(), sink=sink, keys=source or None, due_only=due,
                        isolate=False)
    except KeyError as exc:
        raise CliError(f"unknown source: {exc.args[0]} (see presswatch sources list)") from None
    finally:
        if hasattr(sink, "close"):
            sink.close()
    _print_reports(reports, "crawl", sink)


def import_command(
    files: list[Path] = typer.Argument(None, help="A URL list (.txt), CSV or JSONL archive (url,title,text,...)."),
    url: list[str] = typer.Option([], "--url", help="A link to fetch (repeatable)."),
    text: str = typer.Option("", "--text", help="Pasted text of a piece (use - to read standard input)."),
    title: str = typer.Option("", "--title", help="Title of the pasted text."),
    page_url: str = typer.Option("", "--page-url", help="Where the pasted text was seen, if known."),
    source: str = typer.Option("manual-import", "--source", help="Import source key to file the pieces under."),
    language: str = typer.Option("zh", "--lang", help="zh or vi"),
    out: Path | None = typer.Option(None, "--out", help="Write raw items to this JSONL file instead of storing."),
) -> None:
    """Import pieces seen elsewhere (a WeChat article, a forwarded link): URLs, CSV/JSONL, pasted text."""
    import sys

    from crawlers.imports import ImportError_, read_import_file
    from crawlers.run import run_import
    from models.db import get_engine
    from presswatch.console import CliError
    from settings import get_settings

    urls, rows = list(url), []
    try:
        for path in files or []:
            batch = read_import_file(path)
            urls += batch.urls
            rows += batch.rows
    except ImportError_ as exc:
        raise CliError(str(exc)) from None
    if text:
        pasted = sys.stdin.read() if text == "-" else text
        row = {"text": pasted, "title": title}
        if page_url:
            row["url"] = page_url
        rows.append({k: v for k, v in row.items() if v})
    if not urls and not rows:
        raise CliError("nothing to import: give a file, --url or --text")
    sink = _sink(out)
    try:
        reports = run_import(get_engine(create=True), get_settings(), sink=sink, source_key=source, urls=urls,
                             rows=rows, language=language, isolate=False)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    finally:
        if hasattr(sink, "close"):
            sink.close()
    _print_reports(reports, "import", sink)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main presswatch app."""
    app.add_typer(sources_app, name="sources")
    app.command("crawl")(crawl_command)
    app.command("import")(import_command)
