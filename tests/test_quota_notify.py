"""Shortfall reminders and period reports go through the alerts outbox, once per period."""

from __future__ import annotations

import base64
import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Delivery
from quota.notify import due_reports, send_period_reports, send_reminders
from quota.registry import register
from settings import load_settings
from tests.test_quota_rules import ANTI_GANG, load

SH = ZoneInfo("Asia/Shanghai")


def world(session: Session) -> None:
    data = {**ANTI_GANG, "units": [{**ANTI_GANG["units"][0], "contacts": [{"email": "sh@ag.example.cn"}]}]}  # type: ignore[dict-item]
    data["units"][0]["children"] = [
        {**c, "contacts": [{"email": f"{c['code']}@ag.example.cn", "language": "zh-CN"}]} if c["code"] == "ag-t1" else c
        for c in ANTI_GANG["units"][0]["children"]  # type: ignore[index]
    ]
    load(session, data)


def test_reminders_before_period_end_once_per_period(session: Session) -> None:
    world(session)
    settings = load_settings(environ={}, overrides={"quota.reminder_days_before_period_end": 2}).settings
    # Wednesday 5 June 2024: the week ends Sunday (4 days left) -> no weekly reminder yet;
    # the half month ends on the 15th -> none either.
    assert send_reminders(session, settings, now=datetime(2024, 6, 5, 9, tzinfo=SH)) == []
    # Saturday 8 June: 1 day left in the week; the townships are short.
    sat = datetime(2024, 6, 8, 9, tzinfo=SH)
    register(session, unit="ag-t2", outlet="ag-bulletin", title="五道江镇简报", published=date(2024, 6, 3),
             kind="bulletin", adoption="standalone", char_count=900, now=sat)
    sent = send_reminders(session, settings, now=sat)
    by_recipient = sorted((d.recipient, d.idempotency_key) for d in sent)
    # ag-t1 has its own contact; ag-t2 met the weekly rule; ag-m1 (half-month, 7 days left) is not due.
    assert by_recipient == [("ag-t1@ag.example.cn", "quota-reminder:town-weekly:ag-t1:2024-W23:ag-t1@ag.example.cn")]
    d = sent[0]
    assert d.channel == "email" and d.language == "zh-CN"
    assert d.subject == "【提醒】二道江乡「各乡镇每周至少报送一条简报信息」2024-W23 还差 1 篇，剩 1 天"
    assert "目标 1，目前完成 0" in d.body_text
    again = send_reminders(session, settings, now=datetime(2024, 6, 8, 18, tzinfo=SH))
    assert [x.id for x in again] == [d.id]
    assert session.scalar(select(func.count()).select_from(Delivery)) == 1


def test_monthly_and_quarterly_reports_with_ranking(session: Session) -> None:
    world(session)
    settings = load_settings(environ={}).settings
    assert due_reports(settings, datetime(2024, 7, 1, 9, tzinfo=SH)) == ["2024-06", "2024-Q2"]
    assert due_reports(settings, datetime(2024, 8, 3, 9, tzinfo=SH)) == ["2024-07"]
    for day, adoption in ((date(2024, 4, 2), "standalone"), (date(2024, 6, 20), "combined")):
        register(session, unit="ag-t1", outlet="ag-bulletin", title=f"二道江乡简报 {day}", published=day,
                 kind="bulletin", adoption=adoption, char_count=900, now=datetime(2024, 6, 30, tzinfo=SH))
    sent = send_period_reports(session, settings, now=datetime(2024, 7, 1, 9, tzinfo=SH))
    keys = sorted(d.idempotency_key for d in sent)
    # ag-t1 reports to itself; ag-t2 and ag-m1 have no contacts: the office (parent) hears.
    assert "quota-report:2024-Q2:ag-t1:ag-t1@ag.example.cn" in keys
    assert "quota-report:2024-Q2:ag-t2:sh@ag.example.cn" in keys
    assert "quota-report:2024-06:ag-m1:sh@ag.example.cn" in keys
    q2 = next(d for d in sent if d.idempotency_key == "quota-report:2024-Q2:ag-t1:ag-t1@ag.example.cn")
    assert "信息采用积分 · 2024-Q2: 13/30" in q2.body_text and "名次 1/2" in q2.body_text
    assert len(send_period_reports(session, settings, now=datetime(2024, 7, 2, 9, tzinfo=SH))) == len(sent)
    assert session.scalar(select(func.count()).select_from(Delivery)) == len(sent)


def test_announce_to_office_gets_one_table_of_every_unit(session: Session) -> None:
    import pytest

    from quota.units import QuotaError

    data = {**ANTI_GANG, "units": [{
        **ANTI_GANG["units"][0], "contacts": [{"email": "office@ag.example.cn", "language": "zh-CN"}],  # type: ignore[index]
        "children": [*ANTI_GANG["units"][0]["children"],  # type: ignore[index]
                     {"code": "ag-m2", "name": "区检察院", "kind": "member_unit"},
                     {"code": "ag-m3", "name": "区法院", "kind": "member_unit"}],
    }], "rules": [*ANTI_GANG["rules"],  # type: ignore[misc]
                  {"key": "members-monthly", "name": "成员单位每月信息采用积分", "unit_kind": "member_unit",
                   "piece_kind": "bulletin", "measure": "points", "weights": {"standalone": 10, "combined": 3},
                   "target": 10, "period": "month", "announce_to": "ag"}]}
    bad = {**data, "rules": [{**data["rules"][-1], "announce_to": "no-such-office"}]}  # type: ignore[index]
    with pytest.raises(QuotaError, match="rule members-monthly announce_to: unknown unit 'no-such-office'"):
        load_quota_file(session, bad)
    load_quota_file(session, data)
    settings = load_settings(environ={}).settings
    day = datetime(2024, 5, 31, tzinfo=SH)
    for d, adoption in ((date(2024, 5, 6), "standalone"), (date(2024, 5, 20), "combined")):
        register(session, unit="ag-m1", outlet="ag-bulletin", title=f"公安分局简报 {d}", published=d,
                 kind="bulletin", adoption=adoption, char_count=900, now=day)
    first_of_june = datetime(2024, 6, 1, 9, tzinfo=SH)
    sent = [d for d in send_period_reports(session, settings, now=first_of_june) if d.payload["kind"] == "quota_announcement"]
    assert [(d.recipient, d.idempotency_key) for d in sent] == [
        ("office@ag.example.cn", "quota-announce:members-monthly:2024-05:office@ag.example.cn")]
    d = sent[0]
    assert d.subject == "「成员单位每月信息采用积分」2024-05 各单位信息报送采用情况通报"
    lines = d.body_text.splitlines()
    assert "单位 | 报送 | 单独刊发 | 综合采用 | 分 | 达标 | 名次" in lines
    table = lines[lines.index("单位 | 报送 | 单独刊发 | 综合采用 | 分 | 达标 | 名次") + 2:]
    assert table[:3] == [
        "区公安分局 | 2 | 1 | 1 | 13 | 是 | 1",
        "区检察院 | 0 | 0 | 0 | 0 | 否 | 2",
        "区法院 | 0 | 0 | 0 | 0 | 否 | 2",
    ]
    assert [(r["unit"], r["rank"]) for r in d.payload["rows"]] == [("ag-m1", 1), ("ag-m2", 2), ("ag-m3", 2)]
    # The same table as a spreadsheet, for the office's own 通报 document.
    [xlsx] = d.payload["attachments"]
    assert xlsx["filename"] == "members-monthly-2024-05.xlsx" and xlsx["mime"].endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(base64.b64decode(xlsx["data_b64"]))).active
    assert sheet is not None
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert "成员单位每月信息采用积分" in str(cells[0][0])
    assert cells[1] == ["单位", "报送", "单独刊发", "综合采用", "分", "达标", "名次"]
    assert cells[2:5] == [["区公安分局", 2, 1, 1, 13, "是", 1], ["区检察院", 0, 0, 0, 0, "否", 2],
                          ["区法院", 0, 0, 0, 0, "否", 2]]
    assert sheet.auto_filter.ref == f"A2:G{sheet.max_row}"  # the table under the title line filters and sorts
    assert sheet.title == "积分排名"  # the tab too is in the reader's language
    # A second run (the same day, or the next) sends nothing new.
    before = session.scalar(select(func.count()).select_from(Delivery))
    send_period_reports(session, settings, now=datetime(2024, 6, 2, 9, tzinfo=SH))
    assert session.scalar(select(func.count()).select_from(Delivery)) == before
    assert session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.idempotency_key.like("quota-announce:%"))) == 1


def test_announce_table_in_vietnamese_and_the_quarterly_ranking(session: Session) -> None:
    data = {**ANTI_GANG, "units": [{
        **ANTI_GANG["units"][0], "contacts": [{"email": "vanphong@ag.example.vn", "language": "vi"}],  # type: ignore[index]
        "children": [*ANTI_GANG["units"][0]["children"],  # type: ignore[index]
                     {"code": "ag-m2", "name": "Viện kiểm sát", "kind": "member_unit"}],
    }], "rules": [*ANTI_GANG["rules"],  # type: ignore[misc]
                  {"key": "members-monthly", "name": "Điểm tin của đơn vị thành viên", "unit_kind": "member_unit",
                   "piece_kind": "bulletin", "measure": "points", "weights": {"standalone": 10, "combined": 3},
                   "target": 10, "period": "month", "announce_to": "ag"}]}
    load_quota_file(session, data)
    settings = load_settings(environ={}).settings
    for d, unit in ((date(2024, 4, 8), "ag-m2"), (date(2024, 5, 6), "ag-m1"), (date(2024, 6, 3), "ag-m1")):
        register(session, unit=unit, outlet="ag-bulletin", title=f"bản tin {unit} {d}", published=d,
                 kind="bulletin", adoption="standalone", char_count=900, now=datetime(2024, 6, 30, tzinfo=SH))
    sent = [d for d in send_period_reports(session, settings, now=datetime(2024, 7, 1, 9, tzinfo=SH))
            if d.payload["kind"] == "quota_announcement"]
    by_key = {d.idempotency_key: d for d in sent}
    quarter = by_key["quota-announce:members-monthly:2024-Q2:vanphong@ag.example.vn"]
    assert "quota-announce:members-monthly:2024-06:vanphong@ag.example.vn" in by_key
    assert quarter.language == "vi"
    assert quarter.subject == ("Thông báo tình hình gửi và sử dụng tin bài của các đơn vị kỳ 2024-Q2"
                               " — «Điểm tin của đơn vị thành viên»")
    assert "Đăng riêng" in quarter.body_text and "单位" not in quarter.body_text
    # The quarter ranks the whole quarter: 20 points (two standalone issues) before 10.
    assert [(r["unit"], r["rank"]) for r in quarter.payload["rows"]] == [("ag-m1", 1), ("ag-m2", 2)]


def load_quota_file(session: Session, data: dict[str, object]) -> None:
    from quota.config import load_quota, parse_quota_data

    load_quota(session, parse_quota_data(data), "Asia/Shanghai")
