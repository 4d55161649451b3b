"""Command-line commands of the pipeline stage: thin wrappers over library functions.

``presswatch ingest FILE.jsonl`` imports pieces through the same pipeline the crawlers feed;
``presswatch stories`` lists stories with their spread, and ``presswatch stories show|merge|split|undo``
are the analysts' decisions on them (``pipeline.stories``); ``presswatch snapshots purge`` applies the
snapshot retention setting.
"""

from __future__ import annotations

from pathlib import Path

import typer

snapshots_app = typer.Typer(help="Raw page snapshots (evidence).", no_args_is_help=True)


def ingest(
    file: Path = typer.Argument(
        ..., help="JSON Lines: url, title, text or html, published_at, source, lang (optional)."
    ),
    source: str = typer.Option("import", help="Source key for lines without a 'source' field."),
    strict: bool = typer.Option(False, help="Stop at the first bad line instead of skipping it."),
) -> None:
    """Import articles from a JSON Lines file through the pipeline (idempotent: re-importing is safe)."""
    from models.db import get_engine
    from pipeline.ingest import ingest_items
    from pipeline.jsonl import JsonlError, read_jsonl
    from presswatch.console import CliError, console, err_console
    from presswatch.progress import track
    from settings import get_settings

    if not file.is_file():
        raise CliError(f"no such file: {file}")
    errors: list[JsonlError] = []

    def on_error(err: JsonlError) -> None:
        if strict:
            raise CliError(str(err))
        errors.append(err)
        err_console.print(f"[yellow]skipped[/] {err}", highlight=False, markup=True, soft_wrap=True)

    lines = sum(1 for _ in file.open("rb"))
    items = track(read_jsonl(file, default_source=source, on_error=on_error), total=lines, label=f"ingest {file.name}")
    stats = ingest_items(items, engine=get_engine(create=True), settings=get_settings())
    skipped = f"; {len(errors)} bad lines skipped" if errors else ""
    console.print(stats.summary() + skipped, highlight=False, soft_wrap=True)
    for url, reason in stats.problems[:20]:
        console.print(f"  dropped {url}: {reason}", highlight=False, markup=False, soft_wrap=True)
    if stats.seen == 0 and errors:
        raise CliError(f"no valid lines in {file} ({len(errors)} bad lines)")


stories_app = typer.Typer(
    help="Stories (an article and its reposts): list them; analysts merge, split and undo.",
    invoke_without_command=True,
)


@stories_app.callback()
def stories_cmd(
    ctx: typer.Context,
    since: str = typer.Option("7d", help="Stories seen within this window: 12h, 7d, 2w ..."),
    limit: int = typer.Option(30, min=1, help="At most this many stories, most articles first."),
    min_articles: int = typer.Option(1, min=1, help="Only stories carried by at least this many articles."),
) -> None:
    """List stories (an article and its reposts) with their outlets and spread (articles per hour)."""
    if ctx.invoked_subcommand is not None:
        return
    from models import utcnow
    from models.db import get_engine, session_scope
    from pipeline.stories import list_stories
    from presswatch.console import console, local_time, parse_since

    window = parse_since(since)
    with session_scope(get_engine(create=False)) as session:
        found = list_stories(session, since=utcnow() - window, limit=limit, min_articles=min_articles)
        if not found:
            console.print(f"no stories seen in the last {since}")
            return
        for s in found:
            console.print(
                f"#{s.story_id}  {s.title[:60]}  [{s.lang}]\n"
                f"    {_count(s.article_count, 'article')}, {_count(len(s.outlets) or 1, 'outlet')}; first "
                f"{local_time(s.first_seen_at)} by {s.first_outlet or '-'}; peak {s.peak_per_hour}/h; "
                f"last 24h {sparkline([n for _, n in s.per_hour][-24:])}"
                + (f"\n    outlets: {', '.join(s.outlets)}" if s.outlets else ""),
                highlight=False, markup=False, soft_wrap=True,
            )


def _analyst() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry): say so rather than fail
        return "analyst"


_BY = typer.Option(None, "--by", help="Who decides (recorded with the decision); default: your login name.")
_REASON = typer.Option("", "--reason", help="Why (recorded with the decision).")


@stories_app.command("show")
def stories_show(story: int = typer.Argument(..., help="Story id.")) -> None:
    """A story's articles (ids to split by) and the merges and splits decided on it."""
    from models.db import get_engine, session_scope
    from pipeline.stories import story_decisions, story_members
    from presswatch.console import CliError, console

    with session_scope(get_engine()) as session:
        members = story_members(session, story)
        decisions = story_decisions(session, story)
        if not members and not decisions:
            raise CliError(f"no story #{story}")
        for m in members:
            console.print(f"  article #{m.id}  {m.published_at:%Y-%m-%d %H:%M}  {m.title[:60]}  [{m.rule}]",
                          highlight=False, markup=False, soft_wrap=True)
        for d in decisions:
            undone = f"; undone {d.undone_at:%Y-%m-%d %H:%M}" if d.undone_at else ""
            console.print(f"  decision #{d.id}: {d.kind} #{d.other_story_id} -> #{d.story_id} "
                          f"({_count(len(d.article_ids), 'article')}) by {d.actor} {d.created_at:%Y-%m-%d %H:%M}"
                          f"{undone}: {d.reason}", highlight=False, markup=False, soft_wrap=True)


@stories_app.command("reindex")
def stories_reindex(
    since: str = typer.Option("3d", help="Stories seen within this window: 12h, 3d, 2w ..."),
) -> None:
    """Store the lookup keys of stories stored before they existed (after upgrading)."""
    from models import utcnow
    from models.db import get_engine, session_scope
    from pipeline.stories import reindex_story_keys
    from presswatch.console import console, parse_since

    with session_scope(get_engine()) as session:
        n = reindex_story_keys(session, utcnow() - parse_since(since))
    console.print(f"keys stored for {_count(n, 'story')}")


@stories_app.command("merge")
def stories_merge(
    into: int = typer.Argument(..., help="The story to keep."),
    others: list[int] = typer.Argument(..., help="Stories to merge into it."),
    by: str | None = _BY,
    reason: str = _REASON,
) -> None:
    """Merge stories into one: their articles and representatives move to INTO (undo with `undo`)."""
    from models.db import get_engine, session_scope
    from pipeline.stories import StoryDecisionError, merge_stories
    from presswatch.console import CliError, console

    try:
        with session_scope(get_engine()) as session:
            ids = merge_stories(session, into, others, actor=by or _analyst(), reason=reason)
    except StoryDecisionError as exc:
        raise CliError(str(exc)) from None
    console.print(f"merged {', '.join(f'#{o}' for o in others)} into #{into} "
                  f"(decision {', '.join(f'#{i}' for i in ids)})")


@stories_app.command("split")
def stories_split(
    story: int = typer.Argument(..., help="The story to split."),
    articles: list[int] = typer.Argument(..., help="Article ids to move to a new story (see `show`)."),
    by: str | None = _BY,
    reason: str = _REASON,
) -> None:
    """Move articles out of a story into a new one. The pipeline never merges the two again."""
    from models.db import get_engine, session_scope
    from pipeline.stories import StoryDecisionError, split_story
    from presswatch.console import CliError, console

    try:
        with session_scope(get_engine()) as session:
            new_id = split_story(session, story, articles, actor=by or _analyst(), reason=reason)
    except StoryDecisionError as exc:
        raise CliError(str(exc)) from None
    console.print(f"split {_count(len(articles), 'article')} off #{story} into new story #{new_id}")


@stories_app.command("undo")
def stories_undo(decision: int = typer.Argument(..., help="Decision id (see `show`)."), by: str | None = _BY) -> None:
    """Undo a merge or a split (the pipeline's own merges too)."""
    from models.db import get_engine, session_scope
    from pipeline.stories import StoryDecisionError, undo_decision
    from presswatch.console import CliError, console

    try:
        with session_scope(get_engine()) as session:
            undo_decision(session, decision, actor=by or _analyst())
    except StoryDecisionError as exc:
        raise CliError(str(exc)) from None
    console.print(f"undid decision #{decision}")


def _count(n: int, noun: str) -> str:
    if n == 1:
        return f"{n} {noun}"
    return f"{n} {noun[:-1]}ies" if noun.endswith("y") else f"{n} {noun}s"


_BARS = " ▁▂▃▄▅▆▇█"


def sparkline(values: list[int]) -> str:
    """Hourly counts as a bar line (the last 24 hours of the story's spread)."""
    if not values:
        return ""
    top = max(values) or 1
    return "".join(_BARS[min(8, round(v / top * 8))] if v else "·" for v in values)


@snapshots_app.command("purge")
def snapshots_purge() -> None:
    """Delete raw snapshots older than pipeline.snapshot_retention_days (0 keeps them forever) and
    snapshot files no row refers to (left by a rolled-back write)."""
    from models.db import get_engine
    from pipeline.snapshots import purge_snapshots
    from presswatch.console import console
    from settings import get_settings

    settings = get_settings()
    stats = purge_snapshots(get_engine(), settings)
    console.print(f"purged {stats.rows} snapshots ({stats.files} files) and {stats.orphans} orphan files; "
                  f"retention {settings.pipeline.snapshot_retention_days} days")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main presswatch app."""
    app.command("ingest")(ingest)
    app.add_typer(stories_app, name="stories")
    app.add_typer(snapshots_app, name="snapshots")
