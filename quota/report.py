"""Quota exports: XLSX (status, the pieces behind every count, rankings), CSV (status rows), and
the XLSX of a rule's announcement table (attached to the announcement email).

Every status row carries the registration ids behind its figure; the XLSX evidence sheet lists
each of those registrations (outlet, title, URL, local publication time, verification) so a count
in the report can be checked piece by piece.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from presswatch.i18n import excel_time, format_excel_times, gettext
from quota.labels import fmt_number, t
from quota.periods import zone
from quota.scoring import StatusRow, evidence, rankings
from quota.units import QuotaError


def status_header(lang: str) -> list[str]:
    return [t(lang, k) for k in ("rule", "unit", "period", "done", "target", "status")] + [
        "rule_key", "unit_code", "count", "points", t(lang, "evidence"),
    ]


def status_cells(row: StatusRow, lang: str) -> list[object]:
    state = t(lang, "met") if row.met else t(lang, "short", n=fmt_number(row.shortfall))
    return [
        row.rule_name, row.unit_path, row.period, row.value, row.target, state,
        row.rule_key, row.unit_code, row.count, row.points, " ".join(str(i) for i in row.registration_ids),
    ]


def write_report(session: Session, rows: Sequence[StatusRow], out: Path, lang: str, tz: str) -> Path:
    suffix = out.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise QuotaError(f"report file must end in .xlsx or .csv, not '{out.name}'")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        with out.open("w", encoding="utf-8-sig", newline="") as fh:  # BOM: Excel opens Chinese CSV correctly
            writer = csv.writer(fh)
            writer.writerow(status_header(lang))
            for r in rows:
                writer.writerow(status_cells(r, lang))
        return out

    wb = _report_workbook(session, rows, lang, tz)
    wb.save(out)
    return out


def _label(lang: str, value: str) -> str:
    """An enum value (piece kind, adoption, review state, verification method) as the reader's word."""
    return gettext(lang, value)


def _finish_sheet(sheet: Any, header_row: int = 1) -> None:
    """Bold frozen header with an autofilter over the table, dates and times as Excel values, widths."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = f"A{header_row + 1}"
    last = f"{get_column_letter(sheet.max_column)}{max(sheet.max_row, header_row)}"
    sheet.auto_filter.ref = f"A{header_row}:{last}"
    for col in sheet.iter_cols(min_row=header_row, max_row=min(sheet.max_row, header_row + 200)):
        width = max((len(str(c.value)) for c in col if c.value is not None), default=0)
        sheet.column_dimensions[col[0].column_letter].width = min(60, max(10, width * 1.6))
    format_excel_times(sheet)  # times are Excel datetimes (local, to the minute), dates dates, never text


def _report_workbook(session: Session, rows: Sequence[StatusRow], lang: str, tz: str) -> Any:
    """The quota report: status (a row per rule, unit and period with the period's first and last
    day as dates), the evidence (every registration behind a figure, kinds, adoptions, review states
    and verification as words), the rankings; headers in ``lang``, each sheet with an autofilter."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = t(lang, "status_title")[:31]
    ws.append([t(lang, k) for k in ("rule", "unit", "period", "from", "to", "done", "target", "status",
                                    "days_left_col", "count", "points_col", "rule_key", "unit_code", "evidence")])
    for r in rows:
        state = t(lang, "met") if r.met else t(lang, "short", n=fmt_number(r.shortfall))
        ws.append([r.rule_name, r.unit_path, r.period, r.window.start, r.window.last_day, r.value, r.target, state,
                   r.days_left, r.count, r.points, r.rule_key, r.unit_code,
                   " ".join(str(i) for i in r.registration_ids)])
    ev = wb.create_sheet(t(lang, "evidence")[:31])
    ev.append([t(lang, k) for k in ("registration", "rule_key", "unit_code", "period", "outlet", "title", "address",
                                    "published", "kind", "adoption", "state", "verified", "article", "story")])
    details = {e.registration_id: e for e in evidence(session, {i for r in rows for i in r.registration_ids})}
    z = zone(tz)
    for r in rows:
        for rid in r.registration_ids:
            e = details[rid]
            ev.append([rid, r.rule_key, e.unit_code, r.period, e.outlet_key, e.title, e.url,
                       excel_time(e.published_at, z), _label(lang, e.kind), _label(lang, e.adoption),
                       _label(lang, e.state), _label(lang, e.verified) if e.verified else t(lang, "not_verified"),
                       e.article_id, e.story_id])
    rk = wb.create_sheet(t(lang, "ranking_title")[:31])
    rk.append([t(lang, k) for k in ("rule", "rank", "unit", "total", "pieces", "periods_met", "rule_key")])
    names = {r.rule_key: r.rule_name for r in rows}
    for key, ranked in rankings(rows).items():
        for x in ranked:
            rk.append([names[key], x.rank, x.unit_name, x.value, x.count, f"{x.periods_met}/{x.periods}", key])
    for sheet in (ws, ev, rk):
        _finish_sheet(sheet)
    return wb


XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def table_xlsx(title: str, header: Sequence[str], rows: Sequence[Sequence[object]], sheet: str = "Sheet1") -> bytes:
    """One sheet: a title line, a bold frozen header with an autofilter, the rows (numbers stay numbers,
    dates and times Excel dates)."""
    import io

    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet[:31]  # the tab's name, in the reader's language too
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append(list(header))
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(list(row))
    ws.freeze_panes = "A3"
    if rows:  # filter and sort the table under its title line
        ws.auto_filter.ref = f"A2:{get_column_letter(ws.max_column)}{ws.max_row}"
    format_excel_times(ws)
    ws.column_dimensions["A"].width = max(12, *(len(str(r[0])) * 2 for r in rows)) if rows else 12
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
