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

from sqlalchemy.orm import Session

from presswatch.i18n import excel_time, format_excel_times
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

    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = t(lang, "status_title")[:31]
    ws.append(status_header(lang))
    for r in rows:
        ws.append(status_cells(r, lang))
    ev = wb.create_sheet(t(lang, "evidence")[:31])
    ev.append([t(lang, "registration"), "rule_key", t(lang, "unit"), t(lang, "period"), t(lang, "outlet"),
               t(lang, "title"), "URL", t(lang, "published"), t(lang, "kind"), t(lang, "adoption"),
               t(lang, "state"), t(lang, "verified"), "article_id", "story_id"])
    details = {e.registration_id: e for e in evidence(session, {i for r in rows for i in r.registration_ids})}
    z = zone(tz)
    for r in rows:
        for rid in r.registration_ids:
            e = details[rid]
            ev.append([rid, r.rule_key, e.unit_code, r.period, e.outlet_key, e.title, e.url,
                       excel_time(e.published_at, z), e.kind, e.adoption, e.state,
                       e.verified or t(lang, "not_verified"), e.article_id, e.story_id])
    rk = wb.create_sheet(t(lang, "ranking_title")[:31])
    rk.append(["rule_key", t(lang, "rank"), t(lang, "unit"), t(lang, "total"), t(lang, "pieces"),
               t(lang, "periods_met")])
    for key, ranked in rankings(rows).items():
        for x in ranked:
            rk.append([key, x.rank, x.unit_name, x.value, x.count, f"{x.periods_met}/{x.periods}"])
    for sheet in (ws, ev, rk):
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
        format_excel_times(sheet)  # times are Excel datetimes (local, to the minute), not text
    wb.save(out)
    return out


XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def table_xlsx(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    """One sheet: a title line, a bold frozen header, the rows (numbers stay numbers)."""
    import io

    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Sheet1"
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append(list(header))
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(list(row))
    ws.freeze_panes = "A3"
    ws.column_dimensions["A"].width = max(12, *(len(str(r[0])) * 2 for r in rows)) if rows else 12
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
