"""Rich tables for quota status and rankings (shared by the CLI and the demo)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from models.enums import Measure
from quota.labels import fmt_number, t
from quota.scoring import StatusRow, rankings


def status_table(rows: Sequence[StatusRow], lang: str, title: str | None = None) -> Table:
    table = Table(title=title or t(lang, "status_title"), show_lines=False)
    for key in ("rule", "unit", "period", "done", "target", "status"):
        table.add_column(t(lang, key), justify="right" if key in ("done", "target") else "left")
    table.add_column(t(lang, "evidence"), overflow="fold", max_width=28)
    for r in rows:
        unit_word = t(lang, "points") if r.measure is Measure.POINTS else t(lang, "pieces")
        short = t(lang, "short", n=fmt_number(r.shortfall))
        state = f"[green]✔ {t(lang, 'met')}[/]" if r.met else f"[red]✘ {short}[/]"
        if r.days_left is not None:
            state += f" · {t(lang, 'days_left', n=r.days_left)}"
        ids = " ".join(f"#{i}" for i in r.registration_ids[:8]) + (" …" if len(r.registration_ids) > 8 else "")
        table.add_row(r.rule_name, r.unit_path, r.period, f"{fmt_number(r.value)} {unit_word}",
                      fmt_number(r.target), state, ids or "—")
    return table


def ranking_tables(rows: Sequence[StatusRow], lang: str, only_points: bool = True) -> list[Table]:
    out = []
    names = {r.rule_key: r.rule_name for r in rows}
    measures = {r.rule_key: r.measure for r in rows}
    for key, ranked in rankings(rows).items():
        if only_points and measures[key] is not Measure.POINTS:
            continue
        if len(ranked) < 2:
            continue
        table = Table(title=f"{t(lang, 'ranking_title')} · {names[key]}")
        for col in ("rank", "unit", "total", "pieces", "periods_met"):
            table.add_column(t(lang, col), justify="right" if col != "unit" else "left")
        for x in ranked:
            table.add_row(str(x.rank), x.unit_name, fmt_number(x.value), str(x.count), f"{x.periods_met}/{x.periods}")
        out.append(table)
    return out
