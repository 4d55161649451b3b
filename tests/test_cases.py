"""The case workflow: states, assignee, response line, dismissal feeding the classifier, SLA
escalation, audit history, correction requests, and the CLI."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from alerts import cases
from alerts.engine import evaluate_pending
from models import Alert, Article, CorrectionRequest, Delivery, Label
from models.db import session_scope
from models.enums import CaseState, CorrectionState, RiskLevel
from presswatch.cli import app
from tests import factories
from tests.test_alerts_engine import NOON, RULES, SETTINGS, load, piece


def rules_with_escalation() -> dict[str, Any]:
    doc = dict(RULES)
    doc["groups"] = {"dz": {**RULES["groups"]["dz"], "options": {"escalation": [
        {"name": "科长", "address": "kezhang@dz-court.example.cn", "language": "zh-CN"},
        {"name": "Phó Cục trưởng", "address": "pct@hy.example.vn", "language": "vi"},
    ]}}}
    return doc


def raise_one(session: Session) -> Alert:
    load(session, rules_with_escalation())
    art = piece(session, story=factories.story(session))
    evaluate_pending(session, SETTINGS, now=NOON)
    alert = session.scalars(select(Alert)).one()
    assert alert.article_id == art.id
    return alert


def test_full_workflow_with_history(session: Session) -> None:
    alert = raise_one(session)
    cases.acknowledge(session, alert.id, actor="王五")
    assert alert.state == CaseState.ACKNOWLEDGED and alert.assignee == "王五"
    cases.assign(session, alert.id, "张三", actor="王五")
    cases.set_response_line(session, alert.id, "已成立调查组，依法依规处理，并将及时公布结果。", actor="张三")
    assert alert.state == CaseState.RESPONDING and alert.response_line.startswith("已成立调查组")
    cases.add_note(session, alert.id, "已联系今日儋州编辑部", actor="张三")
    cases.resolve(session, alert.id, actor="张三", note="已发布情况通报")
    assert alert.state == CaseState.RESOLVED and alert.resolved_at is not None
    with pytest.raises(cases.CaseError, match="is resolved"):
        cases.acknowledge(session, alert.id, actor="王五")
    events = [(e.actor, e.action, e.from_state, e.to_state) for e in cases.history(session, alert.id)]
    assert events == [
        ("system", "raised", None, "new"),
        ("王五", "ack", "new", "acknowledged"),
        ("王五", "assign", None, None),
        ("张三", "respond", "acknowledged", "responding"),
        ("张三", "note", None, None),
        ("张三", "resolve", "responding", "resolved"),
    ]
    # The same actions are in the audit log, filed under the case's organization, with before/after.
    from models import AuditEntry

    audit = [(e.actor, e.action, e.object_id, e.before, e.after)
             for e in session.scalars(select(AuditEntry).where(AuditEntry.object_type == "case").order_by(AuditEntry.id))]
    assert audit == [
        ("王五", "case.ack", str(alert.id), {"state": "new"}, {"state": "acknowledged"}),
        ("王五", "case.assign", str(alert.id), {"assignee": "王五"}, {"assignee": "张三"}),
        ("张三", "case.respond", str(alert.id), {"state": "acknowledged"}, {"state": "responding"}),
        ("张三", "case.resolve", str(alert.id), {"state": "responding"}, {"state": "resolved"}),
    ]


def test_dismissal_as_false_alarm_feeds_the_classifier(session: Session) -> None:
    alert = raise_one(session)
    cases.dismiss(session, alert.id, actor="王五", note="报道的是外省法院", sentiment="neutral")
    assert alert.state == CaseState.DISMISSED
    labels = session.scalars(select(Label).where(Label.article_id == alert.article_id)).all()
    assert {(lab.task, lab.label) for lab in labels} == {("risk", "low"), ("sentiment", "neutral")}
    assert all(lab.author == "王五" for lab in labels)
    # presswatch train reads them: the default risk model learns the piece as not hostile ("0").
    from classify.service import stored_labels
    from classify.training import _stored

    stored = [lab for lab in stored_labels(session) if lab.article_id == alert.article_id]
    assert {(lab.task, lab.label) for lab in stored} == {("risk", "low"), ("sentiment", "neutral")}
    assert [e.label for e in _stored(stored, "risk")] == ["0"]
    assert [e.label for e in _stored(stored, "sentiment")] == ["neutral"]
    cases.reopen(session, alert.id, actor="王五", note="误判")
    assert alert.state == CaseState.NEW and alert.resolved_at is None


def test_overdue_case_escalates_along_the_chain(session: Session) -> None:
    alert = raise_one(session)
    before = session.scalar(select(Delivery.id).order_by(Delivery.id.desc()))
    assert cases.escalate_overdue(session, now=NOON + timedelta(minutes=30)).escalated == 0
    late = NOON + timedelta(minutes=121)
    assert cases.escalate_overdue(session, now=late).escalated == 1
    assert alert.assignee == "科长" and alert.escalation_level == 1
    assert alert.deadline_at == late + timedelta(minutes=120)
    [mail] = session.scalars(select(Delivery).where(Delivery.id > before)).all()
    assert mail.recipient == "kezhang@dz-court.example.cn"
    assert "已超过处置时限" in mail.body_text and "已超过处置时限" in (mail.body_html or "")
    # Second level, in Vietnamese; then nobody is left.
    later = late + timedelta(minutes=121)
    assert cases.escalate_overdue(session, now=later).escalated == 1
    vi = session.scalars(select(Delivery).order_by(Delivery.id.desc())).first()
    assert vi is not None and vi.language == "vi" and "quá hạn" in vi.body_text
    stats = cases.escalate_overdue(session, now=later + timedelta(hours=3))
    assert (stats.escalated, stats.exhausted) == (0, 1)
    # An acknowledged-and-responding case is not escalated.
    other = raise_one_more(session)
    cases.set_response_line(session, other.id, "口径", actor="王五")
    assert cases.escalate_overdue(session, now=later + timedelta(days=1)).escalated == 0


def raise_one_more(session: Session) -> Alert:
    piece(session, title="儋州法院另一起投诉", story=factories.story(session), risk=RiskLevel.HIGH)
    stats = evaluate_pending(session, SETTINGS, now=NOON)
    return session.get(Alert, stats.alert_ids[-1])  # type: ignore[return-value]


def test_correction_request_lifecycle(session: Session) -> None:
    alert = raise_one(session)
    factories.outlet(session, key="jinri-danzhou", name="今日儋州")
    req = cases.request_correction(session, outlet_key="jinri-danzhou", piece_url="http://jinri.example/a.html",
                                   false_claim="报道称执行干警殴打群众，与事实不符", actor="王五", alert_id=alert.id,
                                   now=NOON)
    assert req.state == CorrectionState.REQUESTED and req.deadline_at == NOON + timedelta(days=3)
    assert cases.overdue_corrections(session, NOON + timedelta(days=4)) == [req]
    with pytest.raises(cases.CaseError, match="link"):
        cases.close_correction(session, req.id, outcome="corrected", actor="王五")
    cases.close_correction(session, req.id, outcome="corrected", actor="王五",
                           corrected_url="http://jinri.example/a-corrected.html", note="已刊登更正")
    assert req.state == CorrectionState.CORRECTED and [h["action"] for h in req.history] == ["requested", "corrected"]
    assert "correction_requested" in [e.action for e in cases.history(session, alert.id)]
    with pytest.raises(cases.CaseError, match="no outlet"):
        cases.request_correction(session, outlet_key="nope", piece_url="x", false_claim="y", actor="a")


def test_cases_cli(fresh_db_url: str) -> None:
    from models.db import make_engine, upgrade

    upgrade(fresh_db_url)
    engine = make_engine(fresh_db_url)
    db_url = fresh_db_url
    try:
        with session_scope(engine) as session:
            alert = raise_one(session)
            alert_id = alert.id
            stored_url = session.get(Article, alert.article_id).url  # type: ignore[union-attr]
            factories.outlet(session, key=f"o-{alert_id}-cli", name="法制时报")
        from presswatch.cli import console

        console.width = 250
        runner = CliRunner()
        base = ["--set", f"db.url={db_url}"]

        def run(*args: str) -> str:
            result = runner.invoke(app, [*base, *args], catch_exceptions=False)
            assert result.exit_code == 0, result.output
            return result.output

        assert f"#{alert_id}" in run("cases", "list")
        assert "acknowledged" in run("cases", "ack", str(alert_id), "--as", "王五")
        run("cases", "assign", str(alert_id), "张三", "--as", "王五")
        assert "responding" in run("cases", "respond", str(alert_id), "依法处理，及时通报", "--as", "张三")
        run("cases", "note", str(alert_id), "已电话沟通", "--as", "张三")
        shown = run("cases", "show", str(alert_id))
        assert "依法处理，及时通报" in shown and "王五: ack" in shown and "why:" in shown
        assert "resolved" in run("cases", "resolve", str(alert_id), "--as", "张三")
        assert f"#{alert_id}" not in run("cases", "list") and f"#{alert_id}" in run("cases", "list", "--all")
        bad = runner.invoke(app, [*base, "cases", "ack", str(alert_id)])
        assert bad.exit_code != 0
        out = run("corrections", "request", "http://fz.example/1.html", "--claim", "不实", "--outlet",
                  f"o-{alert_id}-cli", "--case", str(alert_id), "--as", "王五")
        assert "correction request #" in out and "piece not crawled yet" in out and "outlet 法制时报 (--outlet)" in out
        linked = run("corrections", "request", stored_url + "?utm_source=share", "--claim", "不实", "--as", "王五")
        assert f"stored article #{alert.article_id}" in linked and "outlet 今日儋州 (from the article)" in linked
        req_id = out.split("#", 1)[1].split()[0]
        assert "法制时报" in run("corrections", "list")
        assert "refused" in run("corrections", "close", req_id, "refused", "--note", "编辑部拒绝")
        with session_scope(engine) as session:
            assert session.get(CorrectionRequest, int(req_id)).state == CorrectionState.REFUSED  # type: ignore[union-attr]
    finally:
        engine.dispose()


def test_cli_case_actions_are_recorded_under_a_real_account(fresh_db_url: str) -> None:
    """Once the installation has accounts, `--as 院长` is refused: the history names real people,
    who may act only on their organization's cases (the same rule as the web app)."""
    from models import Grant, Role, Unit, User
    from models.db import make_engine, upgrade
    from models.enums import UnitKind

    upgrade(fresh_db_url)
    engine = make_engine(fresh_db_url)
    try:
        with session_scope(engine) as session:
            alert = raise_one(session)
            dz = Unit(code="dz-court-cli", name="儋州市人民法院", kind=UnitKind.COURT)
            hy = Unit(code="hy-thads-cli", name="Cục THADS tỉnh Hưng Yên", kind=UnitKind.DEPARTMENT)
            session.add_all([dz, hy])
            session.flush()
            alert.unit_id = dz.id
            for username, unit in (("dz-duty", dz), ("hy-duty", hy)):
                user = User(username=username, display_name=username, password_hash="x", language="zh-CN")
                session.add(user)
                session.flush()
                session.add(Grant(user_id=user.id, unit_id=unit.id, role=Role.ANALYST, granted_by="test"))
            alert_id = alert.id
        runner = CliRunner()
        base = ["--set", f"db.url={fresh_db_url}"]
        typed = runner.invoke(app, [*base, "cases", "ack", str(alert_id), "--as", "院长"])
        assert typed.exit_code != 0 and "院长" in str(typed.exception)
        other = runner.invoke(app, [*base, "cases", "ack", str(alert_id), "--as", "hy-duty"])
        assert other.exit_code != 0 and "may not act here" in str(other.exception)
        ok = runner.invoke(app, [*base, "cases", "ack", str(alert_id), "--as", "dz-duty"])
        assert ok.exit_code == 0, ok.output
        with session_scope(engine) as session:
            events = cases.history(session, alert_id)
            assert [e.actor for e in events if e.action == "ack"] == ["dz-duty"]
    finally:
        engine.dispose()


def test_correction_request_links_the_stored_article_and_its_outlet(session: Session) -> None:
    paper = factories.outlet(session, key="jinri-dz", name="今日儋州")
    stored = factories.article(session, url="https://www.jinri.example/news/7.html", outlet_id=paper.id)
    # The URL as shared: tracking parameters, a fragment, an upper-case host: same canonical URL.
    req = cases.request_correction(session, outlet_key=None, actor="王五", false_claim="不实",
                                   piece_url="https://WWW.jinri.example/news/7.html?utm_source=wx&spm=1#top")
    assert (req.article_id, req.outlet_id) == (stored.id, paper.id)
    assert req.history[0]["outlet_from"] == "article"
    # A mobile URL, through the host map a source declares.
    factories.source(session, outlet_id=paper.id, config={"host_map": {"m.jinri.example": "www.jinri.example"}})
    mobile = cases.request_correction(session, outlet_key=None, actor="王五", false_claim="不实",
                                      piece_url="https://m.jinri.example/news/7.html")
    assert mobile.article_id == stored.id
    # Not crawled yet: accepted, no article; the outlet comes from the case if there is one.
    alert = raise_one(session)
    later = cases.request_correction(session, outlet_key=None, actor="王五", false_claim="不实",
                                     piece_url="https://www.jinri.example/news/8.html", alert_id=alert.id)
    case_outlet = session.get(Article, alert.article_id).outlet_id  # type: ignore[union-attr]
    assert later.article_id is None and later.outlet_id == case_outlet and later.history[0]["outlet_from"] == "case"
    # An explicit outlet wins; a print edition (no URL) is accepted unlinked.
    other = factories.outlet(session, key="fzsb", name="法制时报")
    given = cases.request_correction(session, outlet_key="fzsb", actor="王五", false_claim="不实",
                                     piece_url="https://www.jinri.example/news/7.html")
    assert (given.article_id, given.outlet_id) == (stored.id, other.id)
    printed = cases.request_correction(session, outlet_key="fzsb", actor="王五", false_claim="不实",
                                       piece_url="法制时报 2026-11-20 第3版")
    assert printed.article_id is None
    with pytest.raises(cases.CaseError, match="no article"):
        cases.request_correction(session, outlet_key=None, actor="王五", false_claim="x", piece_url="y",
                                 article_id=10**9)
    with pytest.raises(cases.CaseError, match="no case"):
        cases.request_correction(session, outlet_key=None, actor="王五", false_claim="x", piece_url="y",
                                 alert_id=10**9)


def overdue_mail(session: Session) -> list[Delivery]:
    return list(session.scalars(select(Delivery).where(Delivery.idempotency_key.like("correction-overdue:%"))
                                .order_by(Delivery.id)))


def test_overdue_correction_sends_one_message_in_the_recipients_language(session: Session) -> None:
    from alerts.jobs import sla_check

    load(session)  # no escalation list: the rule's three recipients answer for the case
    piece(session, story=factories.story(session))
    evaluate_pending(session, SETTINGS, now=NOON)
    alert = session.scalars(select(Alert)).one()
    req = cases.request_correction(session, outlet_key=None, piece_url="http://jinri.example/a.html",
                                   false_claim="报道称执行干警殴打群众", actor="王五", alert_id=alert.id, now=NOON)
    assert req.outlet_id is not None
    _, before = sla_check(session, NOON + timedelta(days=2))
    assert before.overdue == [] and overdue_mail(session) == []
    late = NOON + timedelta(days=3, minutes=1)
    _, first = sla_check(session, late)
    _, second = sla_check(session, late + timedelta(minutes=1))
    assert (first.overdue, first.messages) == ([req.id], 3) and (second.overdue, second.messages) == ([], 0)
    mails = {m.language: m for m in overdue_mail(session)}
    assert set(mails) == {"zh-CN", "vi", "en"}
    assert mails["zh-CN"].recipient == "wangwu@dz-court.example.cn"
    assert "更正请求逾期" in mails["zh-CN"].subject and "今日儋州" in mails["zh-CN"].subject
    assert "尚未刊登更正" in mails["zh-CN"].body_text and "报道称执行干警殴打群众" in mails["zh-CN"].body_text
    assert "Cải chính quá hạn" in mails["vi"].subject and "chưa đăng cải chính" in mails["vi"].body_text
    assert mails["en"].channel == "wecom" and "Correction overdue" in mails["en"].subject
    assert all(m.idempotency_key.startswith(f"correction-overdue:{req.id}:") for m in mails.values())
    assert [h["action"] for h in req.history] == ["requested", "overdue"]
    assert "correction_overdue" in [e.action for e in cases.history(session, alert.id)]


def test_overdue_correction_goes_to_the_assignee(session: Session) -> None:
    from alerts.jobs import sla_check

    alert = raise_one(session)
    cases.assign(session, alert.id, "Nguyễn Văn An", actor="王五")
    cases.set_response_line(session, alert.id, "Đã xác minh", actor="Nguyễn Văn An")  # responding: no escalation
    req = cases.request_correction(session, outlet_key=None, piece_url="http://jinri.example/b.html",
                                   false_claim="không đúng sự thật", actor="王五", alert_id=alert.id, now=NOON)
    for minutes in (0, 1):
        sla_check(session, NOON + timedelta(days=4, minutes=minutes))
    [mail] = overdue_mail(session)
    assert (mail.recipient, mail.language) == ("an@hy.example.vn", "vi")
    assert f"#{req.id}" in mail.subject and "quá hạn" in mail.body_text


def test_escalated_case_hands_the_overdue_correction_to_the_escalation(session: Session) -> None:
    from alerts.jobs import sla_check

    alert = raise_one(session)
    cases.request_correction(session, outlet_key=None, piece_url="http://jinri.example/c.html",
                             false_claim="不实", actor="王五", alert_id=alert.id, now=NOON)
    sla_check(session, NOON + timedelta(days=4))  # the case escalates to 科长 and the request is overdue
    assert alert.assignee == "科长"
    [mail] = overdue_mail(session)
    assert (mail.recipient, mail.language) == ("kezhang@dz-court.example.cn", "zh-CN")


def notice(session: Session, outlet_id: int, title: str, text: str, at: Any) -> Article:
    from pipeline.normalize import match_form

    return factories.article(session, title=title, text=text, outlet_id=outlet_id, stored_at=at,
                             match_text=match_form(title) + "\n" + match_form(text))


def test_a_published_correction_closes_the_request(session: Session) -> None:
    from alerts.jobs import sla_check

    alert = raise_one(session)
    original = session.get(Article, alert.article_id)
    assert original is not None and original.outlet_id is not None
    req = cases.request_correction(session, outlet_key=None, piece_url=original.url, false_claim="不实",
                                   actor="王五", alert_id=alert.id, now=NOON)
    assert req.outlet_id == original.outlet_id
    other = factories.outlet(session, name="别家媒体")
    title_named = f"本报11月20日刊发的《{original.title}》一文有误，特此更正。"
    notice(session, other.id, "更正声明", title_named, NOON + timedelta(hours=5))  # another outlet
    notice(session, original.outlet_id, "更正", "本报另一篇报道有误，特此更正。", NOON + timedelta(hours=5))
    notice(session, original.outlet_id, "更正声明", title_named, NOON - timedelta(hours=1))  # before the request
    notice(session, original.outlet_id, "儋州法院回应", title_named.replace("更正", "说明"), NOON + timedelta(hours=6))
    assert cases.detect_published_corrections(session) == []
    fix = notice(session, original.outlet_id, "更正声明", title_named, NOON + timedelta(days=1))
    _, result = sla_check(session, NOON + timedelta(days=4))  # past the deadline, but corrected: no message
    assert result.published == [req.id] and result.overdue == [] and overdue_mail(session) == []
    assert req.state == CorrectionState.CORRECTED and req.corrected_url == fix.url
    assert req.history[-1]["action"] == "correction_published"
    assert "correction_published" in [e.action for e in cases.history(session, alert.id)]


def test_a_vietnamese_correction_naming_the_link_closes_the_request(session: Session) -> None:
    paper = factories.outlet(session, key="bao-hy", name="Báo Hưng Yên")
    url = "https://baohungyen.example/tin-1.html"
    req = cases.request_correction(session, outlet_key="bao-hy", piece_url=url, false_claim="sai sự thật",
                                   actor="An", now=NOON)
    assert req.article_id is None  # the original was never crawled: its link is what the notice names
    notice(session, paper.id, "CẢI CHÍNH", f"Bài viết tại {url} có thông tin chưa chính xác.",
           NOON + timedelta(hours=2))
    assert cases.detect_published_corrections(session) == [req.id]
