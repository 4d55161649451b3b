"""What leaves the building: the digest e-mail's opening summary, channel breakdown and links into the
web app; the monthly PDF (organization in the title, summary, page numbers, clickable links) read
back with pypdf; the XLSX (real dates, labels, localized headers, autofilter). SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from alerts.digest.builder import build_for_definition
from alerts.digest.periods import daily_period, report_period
from alerts.digest.render import render_digest
from alerts.digest.reports import build_report, export_pdf, export_xlsx
from tests.test_digest_world import DAY, NOW, VI_DEF, ZH_DEF, make_world

APP = "https://yuqing.example.cn"


def _daily(session: Session, definition=ZH_DEF):  # type: ignore[no-untyped-def]
    period = daily_period(DAY, definition.local_send_time, definition.timezone)
    data = build_for_definition(session, definition, period, now=NOW)
    return data, render_digest(data, recipients=definition.recipients, with_chart=False, public_url=APP)


def test_the_email_opens_with_a_summary_built_from_the_figures(session: Session) -> None:
    make_world(session)
    data, zh = _daily(session)
    h = data.headline
    first = zh.text.split("== ")[0]
    assert f"总体态势: 本期共监测到 {h.outlets} 家媒体的 {h.pieces} 篇报道（上期 {h.previous_pieces} 篇）" in first
    assert f"需关注 {data.flagged_total} 条" in first
    assert 'data-summary="1"' in zh.html and zh.html.index("总体态势") < zh.html.index("核心数据")
    _data, vi = _daily(session, VI_DEF)
    assert "Tình hình chung: Trong kỳ có" in vi.text.split("== ")[0]


def test_the_email_breaks_coverage_down_by_channel(session: Session) -> None:
    make_world(session)
    data, zh = _daily(session)
    assert set(data.channels) == {"news", "social", "own"}
    assert sum(n for n, _neg in data.channels.values()) == data.headline.pieces
    # The world's 儋州法院 WeChat account is an own channel (tier own_channel), the rest are news media.
    assert data.channels["own"][0] > 0
    for label in ("新闻媒体", "社交媒体", "自有渠道"):
        assert label in zh.html and label in zh.text


def test_each_item_links_to_its_page_in_the_web_app(session: Session) -> None:
    make_world(session)
    data, zh = _daily(session)
    for item in data.flagged:
        assert f'href="{APP}/articles/{item.article_id}"' in zh.html
        assert f"{APP}/articles/{item.article_id}" in zh.text
    # No public URL configured: the original is linked, never a relative or broken address.
    plain = render_digest(data, recipients=[], with_chart=False, public_url="")
    assert "/articles/" not in plain.html
    assert all(h.startswith("https://") for h in re.findall(r'href="([^"]+)"', plain.html))


@pytest.fixture
def monthly(session: Session):  # type: ignore[no-untyped-def]
    make_world(session)
    return build_report(session, ZH_DEF, report_period("monthly", "2024-05", ZH_DEF.timezone))


def test_the_monthly_pdf_has_the_organization_a_summary_page_numbers_and_links(monthly, tmp_path: Path) -> None:
    from pypdf import PdfReader

    path = export_pdf(monthly, tmp_path / "report.pdf", public_url=APP)
    reader = PdfReader(str(path))
    assert reader.metadata is not None and reader.metadata.title == "儋州市人民法院 舆情月报 2024-05"
    # pypdf reads fpdf2's two-byte glyph ids with a NUL before each character: dropped with the spaces.
    pages = [re.sub(r"[\s\x00]+", "", page.extract_text()) for page in reader.pages]
    assert len(pages) >= 2
    assert pages[0].startswith("儋州市人民法院舆情月报")
    assert "总体态势:本期共监测到" in pages[0]
    for n, text in enumerate(pages, start=1):
        assert f"第{n}页，共{len(pages)}页" in text
    links = [annot.get_object()["/A"]["/URI"] for page in reader.pages for annot in page.get("/Annots") or []
             if "/A" in annot.get_object()]
    assert f"{APP}/articles/{monthly.flagged[0].article_id}" in links
    assert all(link.startswith(("https://", "http://")) for link in links)


def test_the_chart_legend_sits_outside_the_bars(monthly) -> None:
    """The legend is drawn above the plot area: no bar pixel can be under it."""
    from matplotlib.figure import Figure

    import alerts.digest.chart as chart

    captured: list[Figure] = []
    original = Figure.savefig

    def keep(self: Figure, *args, **kwargs):  # type: ignore[no-untyped-def]
        captured.append(self)
        return original(self, *args, **kwargs)

    Figure.savefig = keep  # type: ignore[method-assign]
    try:
        chart.render_chart(monthly.series, "zh-CN")
    finally:
        Figure.savefig = original  # type: ignore[method-assign]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = captured[0]
    ax = fig.axes[0]
    renderer = FigureCanvasAgg(fig).get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    plot = ax.get_window_extent(renderer)
    assert legend.y0 >= plot.y1 - 1  # above the axes, not over them


def test_the_xlsx_has_real_dates_labels_localized_headers_and_filters(monthly, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    wb = load_workbook(export_xlsx(monthly, tmp_path / "report.xlsx"))
    series = wb["每日报道量"] if "每日报道量" in wb.sheetnames else wb.worksheets[1]
    assert series.auto_filter.ref and series.auto_filter.ref.startswith("A1:D")
    assert isinstance(series["A2"].value, (date,)) and series["A2"].number_format != "General"
    share = next(c for c in series["D"][1:] if c.value is not None)
    # A number formatted as a percentage, not text.
    assert isinstance(share.value, (int, float)) and 0 <= share.value <= 1 and share.number_format == "0.0%"
    for ws in wb.worksheets[1:]:
        assert ws.auto_filter.ref, ws.title
        headers = [c.value for c in ws[1]]
        assert not any(h in ("key", "error", "risk", "sentiment") for h in headers), headers
    flagged = wb.worksheets[2]
    values = {c.value for row in flagged.iter_rows(min_row=2) for c in row}
    assert not values & {"high", "critical", "negative", "responding"}  # labels, not stored values
    summary = wb.worksheets[0]
    assert summary["A1"].value.startswith("儋州市人民法院")
    assert summary["A2"].value == "总体态势"
    stream = io.BytesIO()
    wb.save(stream)


def test_a_daily_digest_record_downloads_as_pdf_and_xlsx_built_from_its_definition(session: Session) -> None:
    """A daily digest has no saved PDF or XLSX: the report centre builds them from its definition."""
    from openpyxl import load_workbook
    from pypdf import PdfReader

    from alerts.digest import centre
    from alerts.digest.sender import definition_unit_id
    from models import Digest

    make_world(session)
    period = daily_period(DAY, ZH_DEF.local_send_time, ZH_DEF.timezone)
    record = Digest(name=ZH_DEF.name, language="zh-CN", period_start=period.start, period_end=period.end,
                    status="sent", stats={}, html_path=None, unit_id=definition_unit_id(session, ZH_DEF))
    session.add(record)
    session.flush()
    assert centre.record_period(record, ZH_DEF) == period
    pdf = centre.export(session, record, "pdf", [ZH_DEF])
    text = re.sub(r"[\s\x00]+", "", "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))
    assert text.startswith("儋州市人民法院每日舆情简报") and "第1页" in text
    wb = load_workbook(io.BytesIO(centre.export(session, record, "xlsx", [ZH_DEF])))
    assert wb.worksheets[0]["A1"].value == "儋州市人民法院 · 每日舆情简报"
    # Its definition gone (renamed or removed): not found, never a 500.
    with pytest.raises(centre.ReportNotFound):
        centre.export(session, record, "pdf", [VI_DEF])
