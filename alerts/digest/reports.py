"""Periodic reports (weekly, monthly, quarterly) for going up the hierarchy, as XLSX and PDF.

A report is the digest's content over a longer period, with longer lists, the pieces per day of
the whole period and a breakdown by outlet (:func:`build_report` reuses the digest builder and its
indexed reads). Exporters:

- XLSX with openpyxl: one sheet per section, localized headers, real hyperlinks, frozen headers;
- PDF with fpdf2 (pure Python): the chart and the tables, in the font from
  :mod:`alerts.digest.fonts` embedded as a subset, so Chinese and Vietnamese render in any viewer.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from alerts.digest.builder import DigestData, build_digest
from alerts.digest.definitions import DigestDefinition, Limits
from alerts.digest.i18n import fmt_date, fmt_datetime, fmt_percent, strings
from alerts.digest.periods import Period, local_days
from alerts.digest.render import app_link, safe_url, summary_sentence
from models.enums import RISK_LEVELS_DESC
from presswatch.i18n import excel_time, format_excel_times

REPORT_LIMITS = Limits(flagged=50, stories=20, topics=30, own_pieces=500)


def build_report(session: Session, definition: DigestDefinition, period: Period) -> DigestData:
    t = strings(definition.language)
    return build_digest(
        session, period=period, scope=definition.scope, language=definition.language, name=definition.name,
        title=t[f"report_{period.kind}"] if f"report_{period.kind}" in t else t["report_custom"],
        limits=REPORT_LIMITS, chart_days=len(local_days(period)), with_outlets=True,
    )


def _period_text(data: DigestData) -> str:
    last = data.period.local_end()
    first = data.period.local_start()
    from datetime import timedelta

    return f"{fmt_date(first.date(), data.language)} – {fmt_date((last - timedelta(seconds=1)).date(), data.language)}"


def _summary_rows(data: DigestData) -> list[tuple[str, Any]]:
    t = strings(data.language)
    h = data.headline
    return [
        (t["period"], f"{data.period.label} ({_period_text(data)})"),
        (t["pieces"], h.pieces),
        (t["previous"], h.previous_pieces),
        (t["negative"], h.negative),
        (t["negative_share"], fmt_percent(h.negative_share)),
        (t["high_risk"], h.high_risk),
        *[(f"{t['risk_counts']} · {t[f'risk_{level}']}", h.risk_counts.get(level, 0))
          for level in RISK_LEVELS_DESC],
        (t["outlets"], h.outlets),
        (t["stories"], h.stories),
        (t["own_pieces_count"], h.own_pieces),
        (t["source_health"], t["sources_ok"].format(n=data.sources_total) if data.sources_healthy
         else t["sources_problems"].format(n=len(data.source_problems))),
    ]


def _flagged_rows(data: DigestData) -> list[list[Any]]:
    t = strings(data.language)
    return [
        [
            excel_time(i.published), i.outlet,
            f"[{t['late']}] {i.title}" if i.late else i.title,  # published in the previous period
            t.get(f"risk_{i.risk}", i.risk), t.get(f"sentiment_{i.sentiment}", i.sentiment),
            t[f"case_{i.case_state}"] if i.case_state else t["no_case"], "；".join(i.reasons), i.extract, i.url,
        ]
        for i in data.flagged
    ]


def export_xlsx(data: DigestData, path: Path) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    t = strings(data.language)
    wb = Workbook()
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="E8EAF6")

    def sheet(
        title: str, header: list[str], rows: list[list[Any]], widths: list[int], url_col: int | None = None,
        percent_col: int | None = None,
    ) -> None:
        ws = wb.create_sheet(title[:31])
        ws.append(header)
        for cell in ws[1]:
            cell.font, cell.fill = bold, head_fill
        for row in rows:
            ws.append(row)
            if url_col is not None and row[url_col]:
                cell = ws.cell(row=ws.max_row, column=url_col + 1)
                cell.hyperlink = str(row[url_col])
                cell.style = "Hyperlink"
            if percent_col is not None and isinstance(row[percent_col], float):
                ws.cell(row=ws.max_row, column=percent_col + 1).number_format = "0.0%"
        for n, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(n)].width = width
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(len(header))}{max(ws.max_row, 1)}"
        format_excel_times(ws)  # times are Excel datetimes (local, to the minute), not text

    summary = wb.active
    assert summary is not None
    summary.title = t["summary"][:31]
    summary.append([f"{data.organization} · {data.title}" if data.organization else data.title])
    summary["A1"].font = Font(bold=True, size=14)
    summary.append([t["overview"], summary_sentence(data)])
    for key, value in _summary_rows(data):
        summary.append([key, value])
    summary.column_dimensions["A"].width = 24
    summary.column_dimensions["B"].width = 60
    for row in summary.iter_rows(min_row=2):
        row[1].alignment = Alignment(horizontal="left", wrap_text=True, vertical="top")

    sheet(t["daily_series"], [t["day"], t["pieces"], t["negative"], t["negative_share"]],
          [[p.day, p.pieces, p.negative, p.negative_share] for p in data.series],
          [14, 10, 10, 12], percent_col=3)
    sheet(t["flagged"], [t["time"], t["outlet"], t["title"], t["risk"], t["sentiment"], t["case_state"], t["why"],
                         t["extract"], t["url"]], _flagged_rows(data), [20, 18, 50, 12, 10, 12, 40, 60, 40], url_col=8)
    sheet(t["top_stories"], [t["title"], t["outlets"], t["articles_n"], t["risk"], t["sentiment"], t["url"]],
          [[s.title, s.outlets, s.articles, t.get(f"risk_{s.risk}", s.risk),
            t.get(f"sentiment_{s.sentiment}", s.sentiment), s.url] for s in data.stories],
          [50, 10, 10, 12, 10, 40], url_col=5)
    sheet(t["topics"], [t["topic"], t["count"], t["negative"]],
          [[r.name, r.count, r.negative] for r in data.topics], [30, 10, 10])
    sheet(t["top_outlets"], [t["outlet"], t["pieces"], t["negative"]],
          [[name, n, neg] for name, n, neg in data.outlet_counts], [30, 10, 10])
    sheet(t["own_pieces"], [t["time"], t["unit"], t["outlet"], t["title"], t["state"], t["url"]],
          [[excel_time(p.published), p.unit, p.outlet, p.title, t.get(f"reg_{p.state}", p.state),
            p.url] for p in data.own_pieces], [20, 24, 18, 50, 12, 40], url_col=5)
    sheet(t["source_health"], [t["source_key"], t["outlet"], t["state"], t["last_success"], t["last_error"]],
          [[s.key, s.name, t["failures"].format(n=s.consecutive_failures),
            excel_time(s.last_success) if s.last_success else t["never"], s.last_error]
           for s in data.source_problems], [18, 24, 18, 20, 50])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def export_pdf(data: DigestData, path: Path, font_file: str = "", public_url: str | None = None) -> Path:
    """The report as an A4 PDF a court president reads: the organization and title, a summary
    sentence, the figures, the chart, then the tables (headings never left alone at a page's foot,
    rows never split, header rows repeated), page numbers, and every title a link (to its page in
    the web app when ``web.public_url`` is set, else to the original)."""
    from fpdf import FPDF, FontFace
    from fpdf.enums import XPos, YPos

    from alerts.digest.chart import render_chart
    from alerts.digest.fonts import cjk_font_path
    from alerts.digest.render import _public_url

    # fontTools logs every subsetting step at INFO; that is noise in a report command's output.
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    t = strings(data.language)
    base = _public_url() if public_url is None else public_url

    class ReportPDF(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("body", size=8)
            self.set_text_color(117, 117, 117)
            left = f"{data.organization} · {data.title} {data.period.label}" if data.organization else \
                f"{data.title} {data.period.label}"
            self.cell(self.epw / 2, 6, left, align="L")
            self.cell(self.epw / 2, 6, t["page"].format(n=self.page_no(), total="{nb}"), align="R")

    pdf = ReportPDF(orientation="portrait", unit="mm", format="A4")
    pdf.alias_nb_pages("{nb}")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_font("body", fname=str(cjk_font_path(font_file)))
    full_title = f"{data.organization} {data.title}" if data.organization not in data.title else data.title
    pdf.set_title(f"{full_title} {data.period.label}")
    pdf.set_author(data.organization or "presswatch")
    pdf.set_lang(data.language)
    pdf.set_creator("presswatch")
    pdf.add_page()
    width = pdf.epw
    # One regular face only (a bold CJK face would double the package size): headings use colour.
    head_style = FontFace(emphasis=None, color=(26, 35, 126), fill_color=(232, 234, 246))
    link_style = FontFace(emphasis="UNDERLINE", color=(13, 71, 161))

    def heading(text: str, room: float = 30) -> None:
        # A heading with its table's header and first rows, or on the next page: never alone at the foot.
        if pdf.will_page_break(room):
            pdf.add_page()
        pdf.ln(3)
        pdf.set_font("body", size=13)
        pdf.set_text_color(26, 35, 126)
        pdf.cell(width, 8, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(33, 33, 33)
        pdf.set_font("body", size=9)

    def table(header: list[str], rows: list[list[Any]], widths: tuple[int, ...],
              links: list[str] | None = None, link_col: int = 0) -> None:
        if not rows:
            pdf.multi_cell(width, 5, "–", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            return
        with pdf.table(col_widths=widths, line_height=5, first_row_as_headings=True, headings_style=head_style,
                       text_align="LEFT", repeat_headings=1) as tbl:
            tbl.row(header)
            for n, values in enumerate(rows):
                row = tbl.row()
                for col, value in enumerate(values):
                    url = links[n] if links and col == link_col else ""
                    if url:
                        row.cell(str(value), link=url, style=link_style)
                    else:
                        row.cell(str(value))

    if data.organization and data.organization not in data.title:
        pdf.set_font("body", size=12)
        pdf.set_text_color(97, 97, 97)
        pdf.cell(width, 7, data.organization, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(26, 35, 126)
    pdf.set_font("body", size=18)
    pdf.multi_cell(width, 10, data.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(33, 33, 33)
    pdf.set_font("body", size=10)
    pdf.cell(width, 6, f"{t['period']}: {data.period.label} ({_period_text(data)})", new_x=XPos.LMARGIN,
             new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font("body", size=11)
    pdf.set_fill_color(245, 247, 255)
    pdf.multi_cell(width, 6.5, f"{t['overview']}: {summary_sentence(data)}", fill=True, padding=2,
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    heading(t["headline"])
    table([t["summary"], ""], [[k, str(v)] for k, v in _summary_rows(data)[1:]], (60, 120))
    if data.channels:
        heading(t["by_channel"])
        table([t["by_channel"], t["pieces"], t["negative"], t["negative_share"]],
              [[t[f"channel_{k}"], n, neg, fmt_percent(neg / n if n else None)]
               for k, (n, neg) in data.channels.items()], (90, 30, 30, 30))

    if data.series:
        heading(t["daily_series"], room=75)
        png = render_chart(data.series, data.language, font_file, title=t["daily_series"])
        pdf.image(io.BytesIO(png), w=width)

    heading(t["flagged"])
    table([t["time"], t["outlet"], t["title"], t["risk"], t["case_state"]],
          [[fmt_datetime(r[0], data.language) if r[0] else "", r[1], r[2], f"{r[3]} / {r[4]}", r[5]]
           for r in _flagged_rows(data)], (30, 28, 72, 28, 22),
          links=[app_link(base, i.article_id) or safe_url(i.url) for i in data.flagged], link_col=2)
    heading(t["top_stories"])
    table([t["title"], t["outlets"], t["articles_n"], t["risk"]],
          [[s.title, str(s.outlets), str(s.articles), t.get(f"risk_{s.risk}", s.risk)] for s in data.stories],
          (110, 20, 20, 30), links=[app_link(base, s.article_id) or safe_url(s.url) for s in data.stories])
    heading(t["topics"])
    table([t["topic"], t["count"], t["negative"]], [[r.name, str(r.count), str(r.negative)] for r in data.topics],
          (120, 30, 30))
    heading(t["top_outlets"])
    table([t["outlet"], t["pieces"], t["negative"]],
          [[name, str(n), str(neg)] for name, n, neg in data.outlet_counts[:30]], (120, 30, 30))
    heading(t["own_pieces"])
    table([t["time"], t["unit"], t["outlet"], t["title"]],
          [[fmt_datetime(p.published, data.language), p.unit, p.outlet, p.title] for p in data.own_pieces],
          (32, 36, 30, 82), links=[safe_url(p.url) for p in data.own_pieces], link_col=3)
    heading(t["source_health"])
    if data.source_problems:
        table([t["outlet"], t["state"], t["last_success"]],
              [[s.name, t["failures"].format(n=s.consecutive_failures),
                fmt_datetime(s.last_success, data.language) if s.last_success else t["never"]]
               for s in data.source_problems], (70, 50, 60))
    else:
        pdf.multi_cell(width, 5, t["sources_ok"].format(n=data.sources_total), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path
