"""The ``presswatch`` command: one entry point, each subcommand a few lines around a library function.

Global options set the settings layers (``--config``, ``--set group.key=value``); stages add their
own commands through ``<stage>.cli:register(app)``. Expected failures (bad config, unreachable
database) print one clear line and exit 2; they never print a traceback.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

import settings as settings_mod
from presswatch import __version__
from presswatch.console import CliError, console, err_console

app = typer.Typer(
    name="presswatch",
    help="Media monitoring and public-opinion watch for court and justice press offices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema and migrations.", no_args_is_help=True)
config_app = typer.Typer(help="Effective settings.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")

TEMPLATES = Path(__file__).parent / "templates"


def _parse_overrides(pairs: list[str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise settings_mod.ConfigError(f"--set expects group.key=value, got '{pair}'")
        overrides[key.strip()] = value
    return overrides


OWN_LOGGERS = ("presswatch", "crawlers", "pipeline", "classify", "alerts", "quota", "models", "accounts")


def _configure_logging(verbose: int) -> None:
    """By default a command prints its result and warnings only; -v adds our own INFO lines, -vv
    debug from us and from libraries (alembic, scrapy, trafilatura, aiosmtpd ...). Progress lines
    (``presswatch.progress``) stay on when not on a terminal: they are the progress display there."""
    logging.basicConfig(
        level=logging.DEBUG if verbose >= 2 else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    own_level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(own_level)
    if not verbose and not sys.stderr.isatty():
        logging.getLogger("presswatch.progress").setLevel(logging.INFO)


def _print_version(value: bool) -> None:
    if value:
        console.print(f"presswatch {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    config: Path | None = typer.Option(None, "--config", "-c", help="Config file (default ./presswatch.toml)."),
    set_: list[str] = typer.Option([], "--set", help="Override a setting: group.key=value (repeatable)."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output (-vv for debug)."),
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", is_eager=True, callback=lambda v: _print_version(v)
    ),
) -> None:
    _configure_logging(verbose)
    settings_mod.configure(config, _parse_overrides(set_))
    settings_mod.get_loaded_settings()  # fail early, with the key named, on bad config


@app.command()
def init(
    directory: Path = typer.Argument(Path("."), help="Where to write the config and sample files."),
    force: bool = typer.Option(False, help="Overwrite existing files."),
    admin_username: str = typer.Option("admin", help="The first web app user (a superuser), if none exists."),
    admin_password_file: Path | None = typer.Option(
        None, help="File whose first line is the first admin's password ('-': stdin); else asked on the terminal."
    ),
) -> None:
    """Write a commented example config and sample sources/rules files, create the database and the
    first admin of the web app."""
    from accounts.cli import ensure_first_admin
    from models.db import get_engine

    directory.mkdir(parents=True, exist_ok=True)
    for template in sorted(TEMPLATES.glob("*.example.*")):
        target = directory / template.name.replace(".example", "")
        if target.exists() and not force:
            console.print(f"kept     {target} (exists; --force to overwrite)")
            continue
        shutil.copyfile(template, target)
        console.print(f"wrote    {target}")
    engine = get_engine(create=True)
    console.print(f"database {engine.url.render_as_string(hide_password=True)} is at the latest schema")
    console.print(ensure_first_admin(admin_username, admin_password_file))


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from models.db import absolute_sqlite_url, current_revision, engine_for, upgrade

    # Not get_engine(): that would migrate to head before we could ask for another revision.
    engine = engine_for(absolute_sqlite_url(settings_mod.get_settings().db.url))
    upgrade(engine.url.render_as_string(hide_password=False), revision, engine=engine)
    console.print(f"database at revision {current_revision(engine)}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database and the newest one this code knows."""
    from models.db import absolute_sqlite_url, current_revision, engine_for, head_revision

    engine = engine_for(absolute_sqlite_url(settings_mod.get_settings().db.url))
    console.print(f"database: {current_revision(engine) or '(empty)'}; code: {head_revision()}")


@config_app.command("show")
def config_show(all_: bool = typer.Option(False, "--all", help="Also list settings left at default.")) -> None:
    """Print the effective settings (secrets masked) and where each non-default value came from."""
    loaded = settings_mod.get_loaded_settings()
    about = settings_mod.descriptions()
    columns = ("setting", "value", "from", "what it does") if all_ else ("setting", "value", "from")
    table = Table(*columns, title=f"config file: {loaded.config_file or '(none)'}")
    for key, value, origin in settings_mod.describe(loaded):
        if all_:
            table.add_row(key, value, origin, about.get(key, ""))
        elif origin != "default":
            table.add_row(key, value, origin)
    console.print(table)
    if not all_:
        console.print("(settings at their defaults are hidden; --all lists every one)")


@config_app.command("export")
def config_export(
    org: str = typer.Option(..., "--org", help="The organization: a unit code (its whole subtree is exported)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write here instead of printing."),
) -> None:
    """Write an organization's sources, alert rules, watch queries, digests and quota rules as YAML."""
    import yaml

    from accounts.orgconfig import ConfigError, export_config
    from models.db import get_engine, session_scope

    with session_scope(get_engine(create=False)) as session:
        try:
            data = export_config(session, settings_mod.get_settings(), org)
        except ConfigError as exc:
            raise CliError(str(exc)) from None
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    counts = ", ".join(f"{len(data[k])} {k}" for k in ("sources", "rules", "watch_queries", "digests", "quota_rules"))
    console.print(f"wrote {output}: {counts}", soft_wrap=True)


@config_app.command("import")
def config_import(
    path: Path = typer.Argument(..., help="A file written by `presswatch config export` (or by hand)."),
    org: str = typer.Option(None, "--org", help="Refuse entries outside this organization (default: the file's)."),
    apply: bool = typer.Option(False, "--apply", help="Write the changes (without it: a dry run showing them)."),
) -> None:
    """Load an organization's configuration with each file's own validation; shows the changes first."""
    from accounts.orgconfig import ConfigError, apply_import, plan_import
    from models.db import get_engine, session_scope
    from presswatch.yamlfile import read_yaml

    settings = settings_mod.get_settings()
    data = read_yaml(path, CliError)
    with session_scope(get_engine(create=False)) as session:
        try:
            plan = plan_import(session, settings, data, org_code=org)
        except ConfigError as exc:
            raise CliError(str(exc)) from None
        for change in plan.changes:
            for line in change.lines():
                console.print(line, markup=False, highlight=False, soft_wrap=True)
        same = len(plan.changes) - len(plan.pending)
        if not apply:
            console.print(f"dry run: {len(plan.pending)} to add or change, {same} unchanged; nothing written "
                          "(--apply writes them)")
            session.rollback()
            return
        counts = apply_import(session, settings, plan)
    console.print("imported " + ", ".join(f"{n} {k}" for k, n in counts.items()))


@app.command()
def run(
    no_web: bool = typer.Option(False, "--no-web", help="Only the scheduler (the web app: `presswatch web`)."),
) -> None:
    """Run the service: crawl, classify, alert, send digests and quota reminders on schedule, and
    serve the web app (settings web.enabled, web.bind)."""
    from models.db import get_engine
    from presswatch.service import run_service

    # A service's log is its output: our INFO lines (jobs run, service started/stopped) by default.
    for name in OWN_LOGGERS:
        own = logging.getLogger(name)
        if own.level > logging.INFO:
            own.setLevel(logging.INFO)
    engine = get_engine(create=True)  # create or migrate the database before the jobs start
    settings = settings_mod.get_settings()
    web = None
    if settings.web.enabled and not no_web:
        from presswatch.web.server import BindError, start_in_thread

        try:
            web = start_in_thread(settings, engine, log_level="info")
        except BindError as exc:
            raise CliError(f"{exc} (settings web.bind; or run --no-web)") from None
        console.print(f"web app at {settings.web.public_url or web.url}")
    try:
        run_service(settings)
    finally:
        if web is not None:
            web.stop()


@app.command()
def web(
    bind: str | None = typer.Option(None, help="host:port (default: settings web.bind)."),
    workers: int | None = typer.Option(None, help="uvicorn worker processes (default: settings web.workers)."),
) -> None:
    """Serve the web app only (production: several of these behind a reverse proxy, `run --no-web`)."""
    from models.db import get_engine
    from presswatch.web.server import BindError, serve_forever, settings_environment

    get_engine(create=True)  # migrate once here, not in every worker
    loaded = settings_mod.get_loaded_settings()
    flags = settings_mod.command_line_overrides()
    try:
        serve_forever(loaded.settings, bind, workers,
                      settings_env=settings_environment(str(loaded.config_file) if loaded.config_file else None, flags))
    except BindError as exc:
        raise CliError(str(exc)) from None


@app.command()
def demo(
    workdir: Path = typer.Option(Path("var/demo"), help="Folder for the demo's own database and outputs."),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Serve the web app afterwards until Ctrl-C."),
    bind: str = typer.Option("127.0.0.1:8000", help="Where to serve it (the next free port if taken)."),
) -> None:
    """Run the whole product on the bundled demo source, offline, and show each stage's result; then
    serve the web app with the demo accounts until Ctrl-C."""
    from presswatch.demo import run_demo, serve_demo

    public_url = ""
    if serve:
        # Choose the port first, so the demo's alert e-mails link to the case pages it will serve.
        from presswatch.web.server import next_free_port, parse_bind

        host, port = parse_bind(bind)
        port = next_free_port(host, port)
        bind, public_url = f"{host}:{port}", f"http://{f'[{host}]' if ':' in host else host}:{port}"
        settings_mod.add_overrides({"web.public_url": public_url})
    ctx = run_demo(workdir, console=console, public_url=public_url)
    if serve:
        serve_demo(ctx, bind, console=console)


def _register_stages() -> None:
    import accounts.cli
    import alerts.cli
    import alerts.digest.cli
    import classify.cli
    import crawlers.cli
    import pipeline.cli
    import quota.cli

    for module in (crawlers.cli, pipeline.cli, classify.cli, alerts.cli, alerts.digest.cli, quota.cli, accounts.cli):
        module.register(app)


_register_stages()


def main() -> None:
    from models.db import DatabaseError
    from presswatch.wiring import wire

    wire()  # e.g. a source failing in `presswatch crawl` raises its alert, as in the service
    try:
        app()
    except (settings_mod.ConfigError, CliError, DatabaseError) as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    except Exception as exc:
        from sqlalchemy.exc import DBAPIError

        if isinstance(exc, DBAPIError) and isinstance(exc.orig, Exception) and \
                type(exc.orig).__name__ == "OperationalError":
            from models.db import absolute_sqlite_url, connect_error

            loaded = settings_mod.get_loaded_settings()
            line = connect_error(absolute_sqlite_url(loaded.settings.db.url), loaded.origins.get("db.url", "default"),
                                 exc)
            err_console.print(f"[red]error:[/] {line}", highlight=False)
            sys.exit(2)
        raise


if __name__ == "__main__":
    # Run through the importable module, not this __main__ copy: stage commands raise
    # presswatch.cli.CliError, which must be the class main() catches.
    from presswatch.cli import main as _main_entry

    _main_entry()
