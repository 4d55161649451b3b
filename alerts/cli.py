"""Command-line commands of the alerts stage: thin wrappers over library functions."""

from __future__ import annotations

import typer
from rich.markup import escape as esc  # crawled text is shown literally, never as rich markup

alerts_app = typer.Typer(help="Alert rules, evaluation and the delivery outbox.", no_args_is_help=True)


@alerts_app.command("outbox")
def outbox(
    all_: bool = typer.Option(False, "--all", help="Also list messages already sent."),
    retry: int | None = typer.Option(None, "--retry", help="Requeue a dead-lettered message by id."),
    retry_dead: bool = typer.Option(False, "--retry-dead", help="Requeue every dead-lettered message."),
    since: str | None = typer.Option(None, "--since", help="With --retry-dead: only those last tried within "
                                     "this long (30m, 12h, 3d)."),
    limit: int = typer.Option(100, help="Rows to list."),
) -> None:
    """Show what is waiting to be sent, what was given up on, and why."""
    from rich.table import Table

    from alerts.delivery import disabled_reasons
    from alerts.outbox import OutboxError, describe_state, requeue, requeue_dead, summarize
    from models import utcnow
    from models.db import get_engine, session_scope
    from presswatch.console import CliError, cli_language, console, local_time, parse_since
    from presswatch.i18n import Translator

    _ = Translator(cli_language())
    engine = get_engine(create=False)
    if since is not None and not retry_dead:
        raise CliError("--since goes with --retry-dead")
    if retry is not None:
        with session_scope(engine) as session:
            try:
                row = requeue(session, retry)
            except OutboxError as exc:
                raise CliError(str(exc)) from None
            console.print(f"delivery {row.id} requeued ({row.channel} -> {row.recipient})")
        return
    if retry_dead:
        cutoff = utcnow() - parse_since(since) if since else None
        with session_scope(engine) as session:
            rows = requeue_dead(session, since=cutoff)
            console.print(f"{len(rows)} dead-lettered message(s) requeued"
                          + (f" (last tried within {since})" if since else ""))
            for row in rows:
                console.print(f"  #{row.id} {row.channel} -> {esc(row.recipient[:60])}: {esc(row.subject[:60])}",
                              highlight=False)
        return
    from settings import get_settings

    disabled = disabled_reasons(get_settings())
    now = utcnow()
    with session_scope(engine) as session:
        summary = summarize(session, include_sent=all_, limit=limit)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items())) or "empty"
        console.print(f"outbox: {counts}")
        dead = summary.counts.get("dead", 0)
        if dead:
            console.print(f"[red]{dead} message(s) could not be delivered: fix the cause, then "
                          "`presswatch alerts outbox --retry-dead`[/]")
        for reason in disabled.values():
            console.print(f"[yellow]{reason}[/]")
        table = Table(_("ID"), _("Status"), _("Channel"), _("Recipient"), _("Attempts"), _("Next attempt"),
                      _("Subject"), _("Why"))
        for row in summary.rows:
            why = describe_state(row, now, disabled)
            table.add_row(
                str(row.id), str(row.status), row.channel, esc(row.recipient[:60]), str(row.attempts),
                local_time(row.next_attempt_at) if row.status != "sent" else "",
                esc(row.subject[:50]), esc(why[:160]),
            )
        console.print(table)


@alerts_app.command("deliver")
def deliver() -> None:
    """Send every due message in the outbox now (the service does this on a schedule).

    Exits 4 when a message could not be sent (a failed attempt, dead-lettered, or waiting on a
    disabled channel), so cron and monitoring can tell."""
    from alerts.delivery import deliver_pending
    from models.db import get_engine
    from presswatch.console import EXIT_NOT_SENT, console
    from settings import get_settings

    stats = deliver_pending(get_engine(create=False), get_settings())
    console.print(f"delivery: {stats}")
    for error in stats.errors:
        console.print(f"  {error}", highlight=False)
    if stats.retried or stats.dead or stats.waiting_disabled:
        raise typer.Exit(EXIT_NOT_SENT)


def _load_rules_or_fail(session: object) -> None:
    from alerts.rules import RulesError
    from alerts.rules_file import ensure_rules_loaded
    from presswatch.console import CliError
    from settings import get_settings

    try:
        ensure_rules_loaded(session, get_settings())  # type: ignore[arg-type]
    except RulesError as exc:
        raise CliError(str(exc)) from None


def _condition_value(key: str, value: object, language: str) -> str:
    """A rule condition as written in the rules file (keys, since that is what one edits), topics
    with their label: ``thads (Civil judgment enforcement (THADS))``; lists joined, never a repr."""
    from classify.taxonomy import topic_label

    values = list(value) if isinstance(value, list | tuple | set) else [value]
    if key == "topics":
        return ", ".join(f"{v} ({topic_label(str(v), language)})" for v in values)
    return ", ".join(str(v) for v in values)


@alerts_app.command("rules")
def rules_cmd(show_origins: bool = typer.Option(False, "--origins", help="Say where each value came from.")) -> None:
    """List the alert rules in effect (after the rule > group > global > default cascade)."""
    from rich.table import Table

    from alerts.rules import active_rules
    from models.db import get_engine, session_scope
    from presswatch.console import cli_language, console
    from settings import get_settings

    settings = get_settings()
    lang = cli_language()
    with session_scope(get_engine(create=False)) as session:
        _load_rules_or_fail(session)
        rules = active_rules(session)
        if not rules:
            console.print(f"no alert rules (rules file {settings.alerts.rules_file} not found or empty; "
                          "`presswatch init` writes an example)")
            return
        table = Table("rule", "group", "severity", "conditions", "recipients", "options")
        for rule in rules:
            conditions = "; ".join(f"{k}={_condition_value(k, v, lang)}" for k, v in rule.conditions.items()
                                   if k != "watch_query_texts")
            recipients = "\n".join(f"{r.name} <{r.address[:40]}> {r.language} {r.channel}" for r in rule.recipients)
            keys = ("quiet_hours", "rate_limit_per_hour", "merge_window_minutes", "timezone")
            options = "; ".join(f"{k}={rule.options.get(k)}" for k in keys)
            if show_origins:
                from models import AlertRule

                row = session.get(AlertRule, rule.id)
                origins = (row.options or {}).get("origins", {}) if row else {}
                options += "\n" + "; ".join(f"{k}<-{v}" for k, v in origins.items())
            table.add_row(rule.name, rule.group or "", rule.severity, conditions, recipients, options)
        console.print(table)


@alerts_app.command("test")
def test_cmd(
    rule: str = typer.Argument(..., help="Rule name."),
    since: str = typer.Option("7d", "--since", help="How far back: 30m, 12h, 7d, 2w."),
    show_all: bool = typer.Option(False, "--all", help="Also list the pieces it would NOT fire on, and why."),
) -> None:
    """Dry run: what RULE would have fired on among pieces classified since --since (sends nothing)."""
    from rich.table import Table

    from alerts.render import decision_lines
    from alerts.rules import dry_run, rule_by_name
    from classify.reasons import risk_label, sentiment_label
    from models import utcnow
    from models.db import get_engine, session_scope
    from presswatch.console import CliError, cli_language, console, parse_since
    from presswatch.i18n import Translator

    lang = cli_language()
    _ = Translator(lang)
    window = parse_since(since)
    with session_scope(get_engine()) as session:
        _load_rules_or_fail(session)
        spec = rule_by_name(session, rule)
        if spec is None:
            raise CliError(f"no rule named {rule!r} (see `presswatch alerts rules`)")
        result = dry_run(session, spec, since=utcnow() - window, keep_misses=show_all)
        table = Table(_("Fires"), _("Article"), _("Risk"), _("Sentiment"), _("Source"), _("Title"), _("Why"))
        for row in result.rows:
            item, decision = row.item, row.decision
            why = "; ".join(decision_lines(decision.parts, lang)) if decision.fire else decision.reason
            table.add_row("✔" if decision.fire else "✘", str(item.article_id),
                          risk_label(item.risk_level, lang), sentiment_label(item.sentiment, lang),
                          esc(item.source_key), esc(item.title[:40]), esc(why[:100]))
        console.print(table)
        console.print(f"rule {rule}: would fire on {len(result.fired)} of {result.evaluated} pieces classified in "
                      f"the last {since} ({result.alerts} alerts, one per story); nothing was sent")


@alerts_app.command("precision")
def precision_cmd(days: int = typer.Option(30, "--days", min=1, help="Alerts raised in the last N days.")) -> None:
    """Each rule's precision from analysts' feedback (confirmed vs false alarms; see alerts.precision)."""
    from rich.table import Table

    from alerts.precision import rule_precision
    from models.db import get_engine, session_scope
    from models.scope import system_scope
    from presswatch.console import console

    with session_scope(get_engine(create=False)) as session:
        found = sorted(rule_precision(session, system_scope(), days).values(), key=lambda p: p.rule)
        table = Table("rule", "alerts", "confirmed", "false alarms", "not judged", "precision")
        for p in found:
            table.add_row(esc(p.rule), str(p.raised), str(p.confirmed), str(p.false_alarms), str(p.unjudged),
                          "-" if p.precision is None else f"{p.precision:.0%}")
        console.print(table)
        console.print(f"alerts raised in the last {days} days; precision = confirmed / (confirmed + false alarms)")


@alerts_app.command("evaluate")
def evaluate_cmd() -> None:
    """Evaluate newly classified pieces now (the service does this after each classify batch)."""
    from alerts.engine import evaluate_new
    from models.db import get_engine, session_scope
    from presswatch.console import console
    from settings import get_settings

    with session_scope(get_engine()) as session:
        _load_rules_or_fail(session)
    stats = evaluate_new(get_engine(), get_settings())
    console.print(f"alerts: {stats}")


@alerts_app.command("plan-add")
def plan_add(
    name: str = typer.Argument(..., help="Plan name, e.g. 那大镇某小区强制腾退."),
    action_at: str = typer.Option(..., "--at", help="Action time, ISO 8601 with offset: 2026-11-25T09:00+08:00."),
    keyword: list[str] = typer.Option([], "--keyword", "-k", help="Keyword to watch (repeatable)."),
    place: str = typer.Option("", "--place"),
    party: list[str] = typer.Option([], "--party", help="A party to the case (repeatable)."),
    before_hours: float = typer.Option(24, "--before-hours"),
    after_hours: float = typer.Option(72, "--after-hours"),
    min_risk: str = typer.Option("medium", "--min-risk", help="Threshold while the window is open."),
    poll: list[str] = typer.Option([], "--poll", help="SOURCE=MINUTES or SOURCE=30s: poll a source faster "
                                   "(repeatable)."),
) -> None:
    """Record a risk plan (三同步): a tighter monitoring window around a planned high-risk action."""
    from datetime import datetime

    from alerts.plans import PlanError, create_plan
    from models.db import get_engine, session_scope
    from presswatch.console import CliError, console, local_time

    try:
        when = datetime.fromisoformat(action_at)
        pairs = [(k, v.strip()) for k, _, v in (p.partition("=") for p in poll)]
        polls = {k: int(v) for k, v in pairs if not v.endswith("s")}
        poll_seconds = {k: int(v[:-1]) for k, v in pairs if v.endswith("s")}
    except ValueError as exc:
        raise CliError(f"bad --at or --poll: {exc}") from None
    with session_scope(get_engine()) as session:
        try:
            plan = create_plan(session, name=name, action_at=when, keywords=keyword, place=place, parties=party,
                               before_hours=before_hours, after_hours=after_hours,
                               overrides={"min_risk": min_risk, "poll_minutes": polls,
                                          **({"poll_seconds": poll_seconds} if poll_seconds else {})})
        except PlanError as exc:
            raise CliError(str(exc)) from None
        console.print(f"risk plan #{plan.id} {plan.name}: window {local_time(plan.window_start)} - "
                      f"{local_time(plan.window_end)}")


@alerts_app.command("plans")
def plans_list() -> None:
    """Risk plans and their monitoring windows."""
    from rich.table import Table
    from sqlalchemy import select

    from alerts.plans import refresh_states
    from models import RiskPlan, utcnow
    from models.db import get_engine, session_scope
    from presswatch.console import console, local_time

    with session_scope(get_engine(create=False)) as session:
        refresh_states(session, utcnow())
        table = Table("id", "plan", "state", "action", "window", "keywords", "tighter rules")
        for plan in session.scalars(select(RiskPlan).order_by(RiskPlan.action_at)):
            table.add_row(str(plan.id), plan.name, plan.state, local_time(plan.action_at),
                          f"{local_time(plan.window_start)} - {local_time(plan.window_end)}",
                          ", ".join(plan.keywords or []), f"min_risk {(plan.overrides or {}).get('min_risk')}")
        console.print(table)


cases_app = typer.Typer(help="Alert cases: acknowledge, assign, respond, resolve, dismiss.", no_args_is_help=True)
corrections_app = typer.Typer(help="Correction requests (cải chính) to outlets.", no_args_is_help=True)


def _actor(actor: str | None) -> str:
    import getpass

    return actor or getpass.getuser()


def _case_action(func: str, case_id: int, **kwargs: object) -> None:
    import alerts.cases as cases
    from accounts.users import AccountError, acting_user
    from models.db import get_engine, session_scope
    from presswatch.console import CliError, console

    with session_scope(get_engine()) as session:
        try:
            target = cases.get_case(session, case_id)
            kwargs["actor"] = acting_user(session, str(kwargs["actor"]), target.unit_id)
            alert = getattr(cases, func)(session, case_id, **kwargs)
        except cases.CaseError as exc:
            raise CliError(str(exc)) from None
        except AccountError as exc:
            raise CliError(f"--as: {exc}") from None
        console.print(f"case #{alert.id}: {alert.state}; assignee {alert.assignee or '-'}")


@cases_app.command("list")
def cases_list(
    all_: bool = typer.Option(False, "--all", help="Include resolved and dismissed cases."),
    limit: int = typer.Option(50),
) -> None:
    """Open cases, newest first, with their deadlines."""
    from rich.table import Table

    from alerts.cases import list_cases
    from classify.reasons import risk_label
    from models import utcnow
    from models.db import get_engine, session_scope
    from presswatch.console import cli_language, console, local_time
    from presswatch.i18n import Translator

    lang = cli_language()
    _ = Translator(lang)

    with session_scope(get_engine(create=False)) as session:
        rows = list_cases(session, states=None if all_ else ("new", "acknowledged", "responding"),  # type: ignore[arg-type]
                          limit=limit)
        table = Table(_("Case"), _("State"), _("Severity"), _("Kind"), _("Title"), _("Assignee"), _("Deadline"),
                      _("Spread"))
        now = utcnow()
        overdue = _("overdue")
        for a in rows:
            late = a.deadline_at is not None and a.deadline_at < now and a.state in ("new", "acknowledged")
            deadline = local_time(a.deadline_at, lang)
            table.add_row(f"#{a.id}", str(a.state), risk_label(str(a.severity), lang), str(a.kind), esc(a.title[:40]),
                          esc(a.assignee or ""),
                          f"[red]{deadline} {overdue}[/]" if late else deadline,
                          str((a.reason or {}).get("article_count", "")))
        console.print(table)
        if not rows:
            console.print("no open cases" if not all_ else "no cases")


@cases_app.command("show")
def cases_show(case_id: int) -> None:
    """A case with its reasons and full history."""
    from alerts.cases import CaseError, get_case, history
    from alerts.render import why_lines
    from models.db import get_engine, session_scope
    from presswatch.console import CliError, cli_language, console, local_time

    lang = cli_language()

    with session_scope(get_engine(create=False)) as session:
        try:
            a = get_case(session, case_id)
            events = history(session, case_id)
        except CaseError as exc:
            raise CliError(str(exc)) from None
        console.print(f"[bold]case #{a.id}[/] {a.kind} {a.severity} {a.state}", highlight=False)
        console.print(f"title: {a.title[:200]}", highlight=False, markup=False)
        console.print(f"assignee: {a.assignee or '-'}; deadline: {local_time(a.deadline_at, lang) or '-'}; "
                      f"escalation level {a.escalation_level}")
        if a.response_line:
            console.print(f"response line (应对口径): {a.response_line}", markup=False)
        for line in why_lines(a.reason or {}, lang):
            console.print(f"  why: {line}", markup=False, highlight=False)
        outlets = (a.reason or {}).get("outlets") or []
        if outlets:
            console.print(f"outlets: {', '.join(outlets)}", markup=False)
        for e in events:
            move = f" {e.from_state or ''}->{e.to_state}" if e.to_state else ""
            console.print(f"  {local_time(e.at, lang)} {e.actor}: {e.action}{move} {e.note or ''}", markup=False,
                          highlight=False)


@cases_app.command("ack")
def cases_ack(case_id: int, note: str = typer.Option(None, "--note"), actor: str = typer.Option(None, "--as")) -> None:
    """Acknowledge a new case (it is yours unless assigned to someone else)."""
    _case_action("acknowledge", case_id, actor=_actor(actor), note=note)


@cases_app.command("assign")
def cases_assign(case_id: int, assignee: str, actor: str = typer.Option(None, "--as")) -> None:
    """Give a case to someone."""
    _case_action("assign", case_id, assignee=assignee, actor=_actor(actor))


@cases_app.command("respond")
def cases_respond(case_id: int, response_line: str, actor: str = typer.Option(None, "--as")) -> None:
    """Record the agreed response line (应对口径); the case moves to 'responding'."""
    _case_action("set_response_line", case_id, text=response_line, actor=_actor(actor))


@cases_app.command("note")
def cases_note(case_id: int, text: str, actor: str = typer.Option(None, "--as")) -> None:
    """Add a note to the case history."""
    _case_action("add_note", case_id, text=text, actor=_actor(actor))


@cases_app.command("resolve")
def cases_resolve(
    case_id: int, note: str = typer.Option(None, "--note"), actor: str = typer.Option(None, "--as")
) -> None:
    """Close a case as handled."""
    _case_action("resolve", case_id, actor=_actor(actor), note=note)


@cases_app.command("dismiss")
def cases_dismiss(
    case_id: int,
    note: str = typer.Option(None, "--note", help="Why it is a false alarm."),
    sentiment: str = typer.Option(None, "--sentiment", help="The correct sentiment, for the classifier."),
    actor: str = typer.Option(None, "--as"),
) -> None:
    """Close a case as a false alarm; the classifier learns from it (labels)."""
    _case_action("dismiss", case_id, actor=_actor(actor), note=note, sentiment=sentiment)


@cases_app.command("reopen")
def cases_reopen(
    case_id: int, note: str = typer.Option(None, "--note"), actor: str = typer.Option(None, "--as")
) -> None:
    """Reopen a resolved or dismissed case."""
    _case_action("reopen", case_id, actor=_actor(actor), note=note)


@corrections_app.command("list")
def corrections_list(all_: bool = typer.Option(False, "--all")) -> None:
    """Correction requests and where they stand."""
    from rich.table import Table

    from alerts.cases import list_corrections
    from models import utcnow
    from models.db import get_engine, session_scope
    from models.scope import system_scope
    from presswatch.console import cli_language, console, local_time
    from presswatch.i18n import Translator

    lang = cli_language()
    _ = Translator(lang)

    with session_scope(get_engine(create=False)) as session:
        overdue = _("overdue")
        table = Table(_("ID"), _("Outlet"), _("State"), _("Requested"), _("Deadline"), _("Piece"),
                      _("Outcome / correction"))
        now = utcnow()
        # The same list as the web's /corrections (open ones first), for the whole installation.
        for req, outlet in list_corrections(session, system_scope(), open_only=not all_, limit=10_000):
            late = req.state == "requested" and req.deadline_at is not None and req.deadline_at < now
            table.add_row(str(req.id), outlet.name if outlet else "",
                          str(req.state) + (f" ({overdue})" if late else ""),
                          local_time(req.requested_at, lang), local_time(req.deadline_at, lang),
                          (req.piece_url or "")[:50],
                          req.corrected_url or req.outcome or "")
        console.print(table)


@corrections_app.command("request")
def corrections_request(
    piece_url: str = typer.Argument(..., help="The piece with the false information."),
    false_claim: str = typer.Option(..., "--claim", help="What is false."),
    outlet: str = typer.Option(None, "--outlet", help="Outlet key."),
    case: int = typer.Option(None, "--case", help="The alert case it belongs to."),
    article: int = typer.Option(None, "--article", help="The stored article (default: looked up by the URL)."),
    deadline_days: float = typer.Option(3, "--deadline-days"),
    actor: str = typer.Option(None, "--as"),
) -> None:
    """Record a correction request sent to an outlet (linked to the stored piece and its outlet)."""
    from alerts.cases import CaseError, request_correction
    from models import Outlet
    from models.db import get_engine, session_scope
    from presswatch.console import CliError, console, local_time

    with session_scope(get_engine()) as session:
        try:
            req = request_correction(session, outlet_key=outlet, piece_url=piece_url, false_claim=false_claim,
                                     actor=_actor(actor), article_id=article, alert_id=case,
                                     deadline_days=deadline_days)
        except CaseError as exc:
            raise CliError(str(exc)) from None
        piece = f"stored article #{req.article_id}" if req.article_id else "piece not crawled yet"
        row = session.get(Outlet, req.outlet_id) if req.outlet_id else None
        source = {"given": "--outlet", "article": "from the article", "case": f"from case #{case}"}
        how = source.get(str((req.history or [{}])[0].get("outlet_from")), "")
        who = f"outlet {row.name} ({how})" if row else "outlet unknown (give --outlet)"
        console.print(f"correction request #{req.id} recorded; {piece}; {esc(who)}; "
                      f"deadline {local_time(req.deadline_at)}", highlight=False)


@corrections_app.command("close")
def corrections_close(
    req_id: int,
    outcome: str = typer.Argument(..., help="corrected / refused / no_response"),
    corrected_url: str = typer.Option(None, "--corrected-url"),
    note: str = typer.Option(None, "--note"),
    actor: str = typer.Option(None, "--as"),
) -> None:
    """Record how a correction request ended."""
    from alerts.cases import CaseError, close_correction
    from models.db import get_engine, session_scope
    from presswatch.console import CliError, console

    with session_scope(get_engine()) as session:
        try:
            req = close_correction(session, req_id, outcome=outcome, actor=_actor(actor),
                                   corrected_url=corrected_url, note=note)
        except (CaseError, ValueError) as exc:
            raise CliError(str(exc)) from None
        console.print(f"correction request #{req.id}: {req.state}")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main presswatch app."""
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(cases_app, name="cases")
    app.add_typer(corrections_app, name="corrections")
