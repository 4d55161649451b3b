"""The alert inbox and the case workflow in the web app (issue 16's duty-officer path).

Route tests run on SQLite and PostgreSQL through the real login form; the browser test acts at a
phone's 390 x 844 viewport. Every action is the same ``alerts.cases`` function the CLI calls, under
the logged-in user's name."""

from __future__ import annotations

import re

from sqlalchemy import select

from alerts.render import case_link, render_alerts
from models import Alert, AlertEvent, AuditEntry, Label
from models.enums import CaseState
from tests.browser_support import log_in
from tests.web_support import PASSWORD


def _case(web, key: str) -> Alert:
    db = web.app.state.session_factory()
    try:
        return db.get(Alert, web.world.cases[key].id)
    finally:
        db.close()


def test_the_inbox_lists_the_scopes_alerts_critical_first_and_the_badge_counts_unacknowledged(web) -> None:
    dz, hy = web.world.cases["dz"], web.world.cases["hy"]
    duty = web.login("dz-duty")
    page = duty.get("/inbox")
    assert page.status_code == 200
    assert dz.title in page.text and hy.title not in page.text
    assert 'data-testid="inbox-badge"' in page.text  # the header of every page
    assert re.search(r'data-testid="inbox-badge"[^>]*>1<', duty.get("/").text)
    viet = web.login("hy-duty").get("/inbox")
    assert hy.title in viet.text and dz.title not in viet.text
    assert "Hộp cảnh báo" in viet.text  # hy-duty reads Vietnamese
    # The list and the badge refresh by themselves (htmx every 15 s) from these partials.
    assert dz.title in duty.get("/inbox/list").text
    assert ">1<" in duty.get("/inbox/badge").text


def test_acknowledge_from_the_case_page_names_the_officer(web) -> None:
    dz = web.world.cases["dz"]
    duty = web.login("dz-duty")
    answer = duty.post(f"/cases/{dz.id}/ack", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/cases/{dz.id}"
    case = _case(web, "dz")
    assert case.state == CaseState.ACKNOWLEDGED and case.assignee == "dz-duty"
    page = duty.get(f"/cases/{dz.id}").text
    assert "dz-duty" in page and "签收" in page  # the history names the person, in their language
    assert duty.get("/inbox/badge").text.strip() == ""  # nothing unacknowledged left
    db = web.app.state.session_factory()
    events = db.scalars(select(AlertEvent).where(AlertEvent.alert_id == dz.id)).all()
    audited = db.scalars(select(AuditEntry).where(AuditEntry.object_id == str(dz.id))).all()
    db.close()
    assert [(e.actor, e.action) for e in events][-1] == ("dz-duty", "ack")
    assert any(a.actor == "dz-duty" for a in audited)


def test_another_organizations_case_cannot_be_acted_on(web) -> None:
    dz = web.world.cases["dz"]
    for path in ("ack", "resolve", "dismiss", "note"):
        assert web.login("hy-duty").post(f"/cases/{dz.id}/{path}", data={"note": "x"}).status_code == 404
    assert _case(web, "dz").state == CaseState.NEW
    # A leader reads the case but does not triage it; a correspondent of a child unit does not see it.
    leader = web.login("dz-leader")
    assert leader.get(f"/cases/{dz.id}").status_code == 200
    assert 'data-testid="ack"' not in leader.get(f"/cases/{dz.id}").text
    assert leader.post(f"/cases/{dz.id}/ack").status_code == 403
    assert web.login("dz-exec1").post(f"/cases/{dz.id}/ack").status_code == 404


def test_assign_only_to_people_of_the_organization(web) -> None:
    dz = web.world.cases["dz"]
    duty = web.login("dz-duty")
    page = duty.get(f"/cases/{dz.id}").text
    assert 'value="dz-admin"' in page and 'value="hy-duty"' not in page
    refused = duty.post(f"/cases/{dz.id}/assign", data={"assignee": "hy-duty"})
    assert refused.status_code == 400 and "请选择本单位的人员" in refused.text
    refused = duty.post(f"/cases/{dz.id}/assign", data={"assignee": "someone typed freely"})
    assert refused.status_code == 400
    assert duty.post(f"/cases/{dz.id}/assign", data={"assignee": "dz-admin"}, follow_redirects=False).status_code == 303
    assert _case(web, "dz").assignee == "dz-admin"


def test_respond_note_resolve_and_a_refused_transition(web) -> None:
    dz = web.world.cases["dz"]
    duty = web.login("dz-duty")
    duty.post(f"/cases/{dz.id}/respond", data={"response_line": "已核实，正依法处置，结果将及时公布。"})
    duty.post(f"/cases/{dz.id}/note", data={"note": "已联系发帖人"})
    assert duty.post(f"/cases/{dz.id}/note", data={"note": "  "}).status_code == 400
    case = _case(web, "dz")
    assert case.state == CaseState.RESPONDING and case.response_line.startswith("已核实")
    assert duty.post(f"/cases/{dz.id}/resolve", data={"note": "处置完毕"}, follow_redirects=False).status_code == 303
    assert _case(web, "dz").state == CaseState.RESOLVED
    again = duty.post(f"/cases/{dz.id}/resolve")
    assert again.status_code == 400 and 'data-testid="case-error"' in again.text
    assert duty.post(f"/cases/{dz.id}/reopen", follow_redirects=False).status_code == 303


def test_dismissing_as_a_false_alarm_stores_a_label_with_the_user(web) -> None:
    hy = web.world.cases["hy"]
    db = web.app.state.session_factory()
    from tests.factories import article as make_article

    article = make_article(db, title=hy.title)
    row = db.get(Alert, hy.id)
    row.article_id = article.id
    row.reason = {"article_ids": [article.id]}
    db.commit()
    db.close()
    viet = web.login("hy-duty")
    answer = viet.post(f"/cases/{hy.id}/dismiss", data={"note": "không liên quan", "sentiment": "neutral"},
                       follow_redirects=False)
    assert answer.status_code == 303
    db = web.app.state.session_factory()
    labels = db.scalars(select(Label).where(Label.article_id == article.id)).all()
    db.close()
    assert {(lb.task, lb.label, lb.author) for lb in labels} == {("risk", "low", "hy-duty"),
                                                                ("sentiment", "neutral", "hy-duty")}
    assert _case(web, "hy").state == CaseState.DISMISSED


def test_the_alert_message_links_to_the_case_page() -> None:
    assert case_link("https://yuqing.example.cn/", 42) == "https://yuqing.example.cn/cases/42"
    assert case_link("", 42) == "" and case_link("javascript:alert(1)", 42) == ""

    class FakeAlert:
        id, kind, severity, title, reason, deadline_at = 7, "story", "critical", "标题", {}, None

    linked = render_alerts([FakeAlert()], "zh-CN", public_url="https://yuqing.example.cn")
    assert "https://yuqing.example.cn/cases/7" in linked.text and 'href="https://yuqing.example.cn/cases/7"' in linked.html
    assert "presswatch cases ack" not in linked.text
    plain = render_alerts([FakeAlert()], "zh-CN", public_url="")
    assert "presswatch cases ack 7" in plain.text  # no web app configured: the CLI is the way


def test_phone_from_the_alert_link_to_an_acknowledged_case(live_web, page_at) -> None:
    """The duty officer taps the link in the alert e-mail on a phone, logs in, acknowledges."""
    case = live_web.world.cases["dz"]
    link = case_link(live_web.url, case.id)
    page = page_at(phone=True, locale="zh-CN")
    page.goto(link)
    page.wait_for_url(re.compile(r".*/login\?next="))
    page.fill("input[name=username]", "dz-duty")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(link)
    assert page.inner_text("[data-testid=case-title]") == case.title
    page.click("[data-testid=ack]")
    page.wait_for_function("document.querySelector('[data-testid=case-state]').innerText === '已确认'")
    assert "dz-duty" in page.inner_text("[data-testid=history]")
    # Usable at phone width: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # The inbox, in the officer's language, no longer counts it as unacknowledged.
    page.goto(f"{live_web.url}/inbox")
    assert case.title in page.inner_text("[data-testid=inbox-open]")
    assert page.query_selector("[data-testid=inbox-badge]") is None


def test_hy_duty_sees_the_inbox_in_vietnamese_and_no_chinese_case(live_web, page_at) -> None:
    page = page_at(phone=True, locale="vi-VN")
    log_in(page, live_web.url, "hy-duty", PASSWORD)
    page.wait_for_url(f"{live_web.url}/")
    page.click("[data-testid=nav-inbox]")
    page.wait_for_url(f"{live_web.url}/inbox")
    text = page.inner_text("main")
    assert "Hộp cảnh báo" in text and live_web.world.cases["hy"].title in text
    assert live_web.world.cases["dz"].title not in text
