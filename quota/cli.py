"""Command-line commands of the quota stage: thin wrappers over library functions.

``presswatch units list|add|move|rename``, ``presswatch register ...``, ``presswatch quota
load|status|report|verify|propose|review|registrations``. Bad input is refused through
:class:`presswatch.console.CliError` (one line, exit 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import typer

units_app = typer.Typer(
    help="The organization's units (sections, offices, teams, townships ...).", no_args_is_help=True
)
quota_app = typer.Typer(help="Quota rules, registrations, progress, rankings and reports.", no_args_is_help=True)


@contextmanager
def _session(create: bool = True) -> Iterator[Any]:
    """A unit of work whose quota errors become one-line CLI errors (a read command passes
    ``create=False``: it never creates a database)."""
    from models.db import get_engine, session_scope
    from presswatch.console import CliError
    from quota.periods import PeriodError
    from quota.units import QuotaError

    try:
        with session_scope(get_engine(create=create)) as session:
            yield session
    except (QuotaError, PeriodError) as exc:
        raise CliError(str(exc)) from None


def _lang(lang: str | None) -> str:
    from settings import get_settings

    return lang or get_settings().alerts.default_language


def _when(text: str | None) -> datetime | None:
    """A date or date-time in the organization's time zone (quota.timezone)."""
    from presswatch.console import CliError
    from quota.periods import zone
    from settings import get_settings

    if not text:
        return None
    tz = zone(get_settings().quota.timezone)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"not a date: '{text}' (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    return value if value.tzinfo else value.replace(tzinfo=tz)


@units_app.command("list")
def units_list(history: bool = typer.Option(False, "--history", help="Also show past names and parents.")) -> None:
    """The unit tree with kinds, people and aliases."""
    from rich.table import Table
    from sqlalchemy import select

    from models import Person
    from models.base import utcnow
    from presswatch.console import console
    from quota.units import Hierarchy

    with _session(create=False) as session:
        tree = Hierarchy(session)
        now = utcnow()
        people: dict[int, list[str]] = {}
        for p in session.scalars(select(Person).where(Person.active.is_(True)).order_by(Person.name)):
            people.setdefault(p.unit_id, []).append(p.name)
        table = Table("code", "unit", "kind", "people", "aliases", *(["history"] if history else []))
        for uid in sorted(tree.units, key=lambda u: tree.path(u, now)):
            unit = tree.units[uid]
            cells = [unit.code, tree.path(uid, now), unit.kind.value, ", ".join(people.get(uid, [])),
                     ", ".join(unit.aliases)]
            if history:
                rows = tree._history.get(uid, [])
                cells.append("; ".join(
                    f"{r.valid_from.date()}→{r.valid_to.date() if r.valid_to else '…'} {r.name}"
                    f" ⊂ {tree.units[r.parent_id].code if r.parent_id else '-'}" for r in rows
                ))
            table.add_row(*cells)
        console.print(table)


@units_app.command("add")
def units_add(
    code: str, name: str,
    kind: str = typer.Option(..., help="bureau, section, office, station, court, team, township, member_unit, ..."),
    parent: str | None = typer.Option(None, help="Parent unit code or name."),
    alias: list[str] = typer.Option([], help="Another name used in bylines (repeatable)."),
    person: list[str] = typer.Option([], help="A correspondent / author of this unit (repeatable)."),
) -> None:
    """Add a unit (and its correspondents)."""
    from models import Person
    from presswatch.console import console
    from quota.units import add_unit

    with _session() as session:
        unit = add_unit(session, code, name, kind, parent=parent, aliases=alias)
        for p in person:
            session.add(Person(unit_id=unit.id, name=p))
        console.print(f"added unit {code} ({name})")


@units_app.command("rename")
def units_rename(
    code: str = typer.Argument(..., help="Unit code or name."), new_name: str = typer.Argument(...),
    effective: str | None = typer.Option(None, help="When the new name took effect (default now)."),
) -> None:
    """Rename a unit from a date on; earlier periods keep the old name."""
    from presswatch.console import console
    from quota.units import rename_unit

    with _session() as session:
        rename_unit(session, code, new_name, _when(effective))
        console.print(f"renamed {code} to {new_name}")


@units_app.command("move")
def units_move(
    code: str = typer.Argument(..., help="Unit code or name."),
    new_parent: str = typer.Argument(..., help="New parent code or name, or '-' for the top level."),
    effective: str | None = typer.Option(None, help="When the move took effect (default now)."),
) -> None:
    """Move a unit under another from a date on; earlier periods keep the old parent."""
    from presswatch.console import console
    from quota.units import move_unit

    with _session() as session:
        move_unit(session, code, None if new_parent == "-" else new_parent, _when(effective))
        console.print(f"moved {code} under {new_parent}")


def register_cmd(
    unit: str = typer.Option(..., help="Unit code or name."),
    outlet: str = typer.Option(..., help="Outlet key (as in sources.yaml / quota.yaml)."),
    date_: str = typer.Option(..., "--date", help="Publication date (YYYY-MM-DD, or with a time)."),
    url: str | None = typer.Option(None, help="The piece's URL."),
    title: str | None = typer.Option(None, help="The piece's title (if there is no URL, or as well)."),
    author: list[str] = typer.Option([], help="Author / correspondent (repeatable)."),
    kind: str = typer.Option("news", help="news, bulletin, publicity_lead, case_report, press_conference, ..."),
    adoption: str = typer.Option("none", help="standalone, combined or none (bulletins)."),
    chars: int | None = typer.Option(None, help="Length in characters (rules with a maximum)."),
    by: str = typer.Option("", help="Who registers it."),
    note: str | None = typer.Option(None),
) -> None:
    """Register a published piece; it is verified against crawled articles at once (and later)."""
    from models import Unit
    from presswatch.console import console
    from quota.registry import register
    from settings import get_settings

    when = _when(date_)
    assert when is not None
    published: date | datetime = when if "T" in date_ or " " in date_ else when.date()
    with _session() as session:
        result = register(
            session, unit=unit, outlet=outlet, published=published, url=url, title=title, authors=author,
            kind=kind, adoption=adoption, char_count=chars, registered_by=by, note=note,
            timezone=get_settings().quota.timezone,
        )
        reg = result.registration
        v = reg.verification
        unit_row = session.get(Unit, reg.unit_id)
        unit_code = unit_row.code if unit_row else unit
        console.print(f"registered #{reg.id}: {reg.title or reg.url} ({unit_code}, {outlet}, {reg.state.value})")
        if reg.verified_at:
            console.print(f"[green]verified[/] by {v.get('method')}: {v.get('detail')} (article #{reg.article_id})")
        else:
            console.print(f"[yellow]not verified yet[/]: {v.get('reason')} (checked again on every run)")
        for w in result.warnings:
            console.print(f"[yellow]warning:[/] {w}")


@quota_app.command("load")
def quota_load(path: Path = typer.Argument(None, help="Quota file (default: quota.rules_file).")) -> None:
    """Load units, people, outlets and rules from the quota file (an upsert)."""
    from presswatch.console import console
    from quota.config import load_quota, parse_quota_file
    from settings import get_settings

    s = get_settings().quota
    with _session() as session:
        counts = load_quota(session, parse_quota_file(path or Path(s.rules_file)), s.timezone,
                            get_settings().classify.taxonomy_file)
        console.print("loaded " + ", ".join(f"{n} {k}" for k, n in counts.items()))


@quota_app.command("status")
def quota_status(
    period: str | None = typer.Option(None, help="2024, 2024-Q2, 2024-05, 2024-05-H1, 2024-W07, a day; default now."),
    unit: str | None = typer.Option(None, help="Only this unit (code or name) and the units under it."),
    rule: list[str] = typer.Option([], help="Only these rule keys (repeatable)."),
    lang: str | None = typer.Option(None, help="zh-CN, vi or en (default alerts.default_language)."),
) -> None:
    """Progress per unit per rule, with the registrations behind each count, and points rankings."""
    from presswatch.console import console
    from quota.labels import t
    from quota.render import ranking_tables, status_table
    from quota.scoring import status

    language = _lang(lang)
    with _session(create=False) as session:
        rows = status(session, period, unit, rules=rule or None)
        if not rows:
            console.print(t(language, "no_rules"))
            return
        console.print(status_table(rows, language))
        for table in ranking_tables(rows, language):
            console.print(table)


@quota_app.command("report")
def quota_report(
    out: Path = typer.Option(..., help="FILE.xlsx (status, evidence, rankings) or FILE.csv (status)."),
    period: str | None = typer.Option(None, help="Period label; default the current period of each rule."),
    unit: str | None = typer.Option(None, help="Only this unit (code or name) and the units under it."),
    lang: str | None = typer.Option(None, help="zh-CN, vi or en."),
) -> None:
    """Export quota progress with the evidence behind every count."""
    from presswatch.console import console
    from quota.report import write_report
    from quota.scoring import status
    from settings import get_settings

    with _session(create=False) as session:
        rows = status(session, period, unit)
        write_report(session, rows, out, _lang(lang), get_settings().quota.timezone)
        console.print(f"wrote {out} ({len(rows)} rows)")


@quota_app.command("verify")
def quota_verify() -> None:
    """Verify registrations not verified yet against the stored crawled articles."""
    from presswatch.console import console
    from quota.registry import verify_pending

    with _session() as session:
        ok, bad = verify_pending(session)
        console.print(f"verified {ok}; still not found {bad}")


@quota_app.command("propose")
def quota_propose() -> None:
    """Propose registrations from crawled bylines / source lines and own-channel articles."""
    from presswatch.console import console
    from quota.registry import propose_from_articles

    with _session() as session:
        proposals = propose_from_articles(session)
        for p in proposals:
            console.print(f"proposed #{p.registration.id} {p.registration.title} ← {p.matched}")
        console.print(f"{len(proposals)} new proposals (state proposed: confirm with quota review ID submit)")


@quota_app.command("review")
def quota_review(
    registration_id: int,
    action: str = typer.Argument(..., help="submit, section_approve, leader_approve or reject."),
    by: str = typer.Option(..., help="Who decides."),
    note: str | None = typer.Option(None, help="Why (required to reject)."),
) -> None:
    """Move a registration along its review chain (a rejection needs --note, its reason); audited."""
    from accounts.audit import Actor
    from models.scope import system_scope
    from presswatch.console import console
    from quota.desk import review_in_scope

    with _session() as session:
        reg = review_in_scope(session, system_scope(), Actor(None, by), registration_id, action, note)
        console.print(f"registration #{reg.id} is now {reg.state.value}")


@quota_app.command("registrations")
def quota_registrations(
    unit: str | None = typer.Option(None, help="Unit code or name."), state: str | None = typer.Option(None),
    limit: int = typer.Option(50, min=1),
) -> None:
    """Registrations, newest first, with their verification."""
    from rich.table import Table
    from sqlalchemy import select

    from models import Outlet, Unit
    from models.enums import RegistrationState
    from models.scope import system_scope
    from presswatch.console import CliError, console
    from quota.desk import recent_registrations
    from quota.units import get_unit

    with _session(create=False) as session:
        try:
            wanted = RegistrationState(state) if state else None
        except ValueError:
            raise CliError(f"unknown state '{state}'") from None
        unit_id = get_unit(session, unit).id if unit else None
        rows = recent_registrations(session, system_scope(), limit, unit_id=unit_id, state=wanted,
                                    include_proposed=True)
        codes = dict(session.execute(select(Unit.id, Unit.code)).tuples().all())
        keys = dict(session.execute(select(Outlet.id, Outlet.key)).tuples().all())
        table = Table("#", "unit", "outlet", "published", "kind", "state", "verified", "title")
        for reg, _unit_name, _outlet_name in rows:
            v = reg.verification or {}
            table.add_row(str(reg.id), codes.get(reg.unit_id, ""), keys.get(reg.outlet_id or 0, ""),
                          reg.published_at.date().isoformat(), reg.kind.value, reg.state.value,
                          v.get("method", "") if reg.verified_at else f"no: {v.get('reason', '')}", reg.title)
        console.print(table)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main presswatch app."""
    app.add_typer(units_app, name="units")
    app.add_typer(quota_app, name="quota")
    app.command("register")(register_cmd)
