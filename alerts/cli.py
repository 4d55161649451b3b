"""Command-line commands of the alerts stage: thin wrappers over library functions."""

from __future__ import annotations

import typer

alerts_app = typer.Typer(help="Alert rules, evaluation and the delivery outbox.", no_args_is_help=True)


@alerts_app.command("outbox")
def outbox(
    all_: bool = typer.Option(False, "--all", help="Also list messages already sent."),
    retry: int | None = typer.Option(None, "--retry", help="Requeue a dead-lettered message by id."),
    limit: int = typer.Option(100, help="Rows to list."),
) -> None:
    """Show what is waiting to be sent, what was given up on, and why."""
    from rich.table import Table

    from alerts.delivery import disabled_reasons
    from alerts.outbox import OutboxError, requeue, summarize
    from models.db import get_engine, session_scope
    from presswatch.cli import CliError, console
    from settings import get_settings

    engine = get_engine()
    if retry is not None:
        with session_scope(engine) as session:
            try:
                row = requeue(session, retry)
            except OutboxError as exc:
                raise CliError(str(exc)) from None
            console.print(f"delivery {row.id} requeued ({row.channel} -> {row.recipient})")
        return
    disabled = disabled_reasons(get_settings())
    with session_scope(engine) as session:
        summary = summarize(session, include_sent=all_, limit=limit)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items())) or "empty"
        console.print(f"outbox: {counts}")
        for reason in disabled.values():
            console.print(f"[yellow]{reason}[/]")
        table = Table("id", "status", "channel", "recipient", "attempts", "next attempt (UTC)", "subject", "why")
        for row in summary.rows:
            why = row.last_error or ""
            if row.status == "pending" and row.channel in disabled:
                why = disabled[row.channel]
            elif row.status == "sending":
                why = "being sent (or the sender died; resent when the lease runs out)"
            elif not why and row.status == "pending":
                why = "waiting for its first attempt"
            table.add_row(
                str(row.id), str(row.status), row.channel, row.recipient[:60], str(row.attempts),
                row.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S") if row.status != "sent" else "",
                row.subject[:50], why[:120],
            )
        console.print(table)


@alerts_app.command("deliver")
def deliver() -> None:
    """Send every due message in the outbox now (the service does this on a schedule)."""
    from alerts.delivery import deliver_pending
    from models.db import get_engine
    from presswatch.cli import console
    from settings import get_settings

    stats = deliver_pending(get_engine(), get_settings())
    console.print(f"delivery: {stats}")
    for error in stats.errors:
        console.print(f"  {error}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main presswatch app."""
    app.add_typer(alerts_app, name="alerts")
