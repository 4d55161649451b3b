"""/register, /review and /quota in the web app (issue 17), on SQLite and PostgreSQL: registering by
URL (verified at once from the crawl), the wrong-outlet refusal shown on the page, the review chain
with its audit, the board's roll-up, the leader's read-only view, the XLSX export, and that Hưng Yên
users see nothing of 儋州 (units, ranks, counts)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Alert, AlertEvent, AuditEntry, Outlet, Person, Registration, Unit, utcnow
from models.enums import AlertKind, CaseState, RegistrationState, RiskLevel
from quota.config import load_quota, parse_quota_data
from quota.periods import local_date
from tests import factories

QUOTA: dict[str, Any] = {
    "units": [
        {"code": "dz-exec-2", "name": "执行二队", "kind": "team", "parent": "dz-exec"},
    ],
    "outlets": [
        {"key": "jinri-danzhou", "name": "今日儋州", "tier": "prefecture", "domains": ["jrdz.example.cn"]},
        {"key": "dz-wechat", "name": "儋州法院微信公众号", "tier": "own_channel", "unit": "dz-court"},
        {"key": "baohungyen", "name": "Báo Hưng Yên", "tier": "provincial", "domains": ["baohungyen.example.vn"]},
    ],
    "rules": [
        {"key": "teams", "name": "执行各队每月稿件", "unit_kind": "team", "under": "dz-exec", "target": 2,
         "period": "month"},
        {"key": "court-approved", "name": "法院领导审核稿件", "unit": "dz-court", "include_subunits": True,
         "target": 1, "period": "quarter", "review_required": True},
        {"key": "vanlam", "name": "Tin bài Văn Lâm hằng quý", "unit": "hy-vanlam", "target": 3, "period": "quarter"},
    ],
}
URL = "https://jrdz.example.cn/c/77.html"
TITLE = "儋州法院执行一队开展夜间集中执行行动"


def setup_quota(web: Any) -> dict[str, Any]:
    """Load the quota rules into the web world and crawl one 今日儋州 article (published a minute ago)."""
    db: Session = web.app.state.session_factory()
    try:
        load_quota(db, parse_quota_data(QUOTA), "Asia/Shanghai")
        outlet = db.scalar(select(Outlet).where(Outlet.key == "jinri-danzhou"))
        assert outlet is not None
        art = factories.article(db, outlet_id=outlet.id, url=URL, title=TITLE,
                                published_at=utcnow() - timedelta(minutes=1), text=TITLE + "。执行干警依法开展工作。")
        ids = {"article": art.id, "outlet": outlet.id,
               "wechat": db.scalar(select(Outlet.id).where(Outlet.key == "dz-wechat")),
               "exec2": db.scalar(select(Unit.id).where(Unit.code == "dz-exec-2"))}
        db.commit()
        return ids
    finally:
        db.close()


def _db(web: Any) -> Session:
    return web.app.state.session_factory()


def test_correspondent_registers_a_url_verified_at_once_and_counted_on_the_board(web: Any) -> None:
    ids = setup_quota(web)
    client = web.login("dz-exec1")
    page = client.get("/register")
    assert page.status_code == 200
    assert "执行各队每月稿件" in page.text and "天" in page.text  # progress with days left, in zh-CN
    assert "尚未被采集" in page.text  # the rule for unverified pieces is stated
    response = client.post("/register", data={"url": URL})
    assert response.status_code == 303, response.text[:2000]
    done = client.get(response.headers["location"])
    assert 'data-testid="verified"' in done.text and "网址匹配" in done.text and TITLE in done.text
    db = _db(web)
    try:
        reg = db.scalar(select(Registration).where(Registration.url == URL))
        assert reg is not None and reg.article_id == ids["article"] and reg.outlet_id == ids["outlet"]
        assert reg.unit_id == web.world.units["dz-exec-1"].id and reg.registered_by == "dz-exec1"
        audit = db.scalar(select(AuditEntry).where(AuditEntry.action == "quota.register"))
        assert audit is not None and audit.actor == "dz-exec1" and audit.object_id == str(reg.id)
    finally:
        db.close()
    board = client.get("/quota")
    assert board.status_code == 200
    cell = board.text.split('data-testid="cell-dz-exec-1-teams"', 1)[1].split("</a>", 1)[0]
    assert ">1 / 2" in cell
    # A correspondent sees their own unit only: not the other team.
    assert "执行二队" not in board.text


def test_a_piece_crawled_on_another_outlet_is_refused_with_the_reason(web: Any) -> None:
    ids = setup_quota(web)
    client = web.login("dz-exec1")
    response = client.post("/register", data={"url": URL, "outlet_id": str(ids["wechat"])})
    assert response.status_code == 422
    error = response.text.split('data-testid="register-error"', 1)[1].split("</p>", 1)[0]
    assert "今日儋州" in error and "儋州法院微信公众号" in error
    db = _db(web)
    try:
        assert db.scalar(select(Registration.id).where(Registration.url == URL)) is None
    finally:
        db.close()
    # Only http(s) addresses are kept (they become links on the pages).
    script = client.post("/register", data={"url": "javascript:alert(1)//", "outlet_id": str(ids["outlet"]),
                                            "published": local_date(utcnow(), "Asia/Shanghai").isoformat()})
    assert script.status_code == 422 and "不是有效网址" in script.text
    # Not crawled and no outlet known for the host: the page asks for the outlet.
    unknown = client.post("/register", data={"url": "https://unknown.example.org/a.html"})
    assert unknown.status_code == 422 and "选择" in unknown.text


def test_piece_not_online_waits_for_verification_and_counts_provisionally(web: Any) -> None:
    ids = setup_quota(web)
    client = web.login("dz-exec1")
    # The board seen before the registration (quota.board keeps it while the data are unchanged) ...
    before = client.get("/quota").text.split('data-testid="cell-dz-exec-1-teams"', 1)[1].split("</a>", 1)[0]
    assert ">0 / 2" in before
    today = local_date(utcnow(), "Asia/Shanghai").isoformat()
    response = client.post("/register", data={"title": "执行一队微信推送：拒执罪典型案例", "outlet_id": str(ids["wechat"]),
                                               "published": today, "kind": "case_report"})
    assert response.status_code == 303, response.text[:2000]
    done = client.get(response.headers["location"])
    assert 'data-testid="waiting"' in done.text
    # ... is computed afresh after it.
    board = client.get("/quota")
    cell = board.text.split('data-testid="cell-dz-exec-1-teams"', 1)[1].split("</a>", 1)[0]
    assert ">1 / 2" in cell


def test_leader_sees_the_rolled_up_board_and_ranking_but_cannot_register(web: Any) -> None:
    ids = setup_quota(web)
    web.login("dz-exec1").post("/register", data={"url": URL})
    leader = web.login("dz-leader")
    board = leader.get("/quota")
    assert board.status_code == 200
    for name in ("执行一队", "执行二队", "排名"):
        assert name in board.text
    assert "<form method=\"post\"" not in board.text.split("<main>", 1)[1]  # read-only: no changing forms
    assert leader.get("/register").status_code == 403
    refused = leader.post("/register", data={"url": URL, "unit_id": str(ids["exec2"])})
    assert refused.status_code == 403
    # Roll-up: the board narrowed to 执行局 (no rule of its own) shows its teams.
    db = _db(web)
    try:
        exec_id = web.world.units["dz-exec"].id
    finally:
        db.close()
    sub = leader.get(f"/quota?unit={exec_id}")
    assert sub.status_code == 200 and "执行一队" in sub.text and "执行二队" in sub.text
    ranking = sub.text.split('data-testid="rankings"', 1)[1]
    assert ranking.index("执行一队") < ranking.index("执行二队")  # 1 piece ranks above 0


def test_hung_yen_sees_nothing_of_danzhou(web: Any) -> None:
    ids = setup_quota(web)
    web.login("dz-exec1").post("/register", data={"url": URL})
    hy = web.login("hy-duty")
    board = hy.get("/quota")
    assert board.status_code == 200
    for word in ("执行", "儋州", "今日儋州"):
        assert word not in board.text
    assert "Tin bài Văn Lâm hằng quý" in board.text
    assert hy.get(f"/quota?unit={web.world.units['dz-exec-1'].id}").status_code == 404
    assert hy.get(f"/quota/cell?unit={web.world.units['dz-exec-1'].id}&rule=teams").status_code == 404
    xlsx = hy.get("/quota.xlsx")
    assert xlsx.status_code == 200
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(xlsx.content))
    text = " ".join(str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value)
    assert "执行" not in text and "儋州" not in text
    db = _db(web)
    try:
        reg_id = db.scalar(select(Registration.id).where(Registration.url == URL))
    finally:
        db.close()
    assert hy.post(f"/review/{reg_id}", data={"action": "reject", "note": "x"}).status_code == 404
    # 儋州's own channel is not offered to Hưng Yên.
    assert "儋州法院微信公众号" not in web.login("hy-duty").get("/quota").text
    assert ids["wechat"]


def test_review_chain_section_then_leader_with_reasons_and_audit(web: Any) -> None:
    setup_quota(web)
    exec1 = web.login("dz-exec1")
    exec1.post("/register", data={"url": URL})
    db = _db(web)
    try:
        reg_id = db.scalar(select(Registration.id).where(Registration.url == URL))
    finally:
        db.close()
    # The court's rule counts only leader-approved pieces: the section reviewer sees it waiting.
    duty = web.login("dz-duty")
    home = duty.get("/")
    assert f"#{reg_id}" in home.text.split('data-testid="waiting"', 1)[1]
    leader = web.login("dz-leader")
    assert f"approve-{reg_id}" not in leader.get("/review").text  # not the leader's step yet
    # The leader cannot approve before the section did; the correspondent cannot approve at all.
    assert leader.post(f"/review/{reg_id}", data={"action": "leader_approve"}).status_code == 422
    assert exec1.post(f"/review/{reg_id}", data={"action": "section_approve"}).status_code == 403
    assert duty.post(f"/review/{reg_id}", data={"action": "section_approve"}).status_code == 303
    assert f"#{reg_id}" in leader.get("/").text.split('data-testid="waiting"', 1)[1]
    assert duty.post(f"/review/{reg_id}", data={"action": "leader_approve"}).status_code == 403
    assert leader.post(f"/review/{reg_id}", data={"action": "leader_approve"}).status_code == 303
    # A rejection needs its reason.
    assert duty.post(f"/review/{reg_id}", data={"action": "reject", "note": " "}).status_code == 422
    assert duty.post(f"/review/{reg_id}", data={"action": "reject", "note": "重复报送"}).status_code == 303
    db = _db(web)
    try:
        reg = db.get(Registration, reg_id)
        assert reg is not None and reg.state is RegistrationState.REJECTED
        assert [h["state"] for h in reg.review_history][-3:] == ["section_approved", "leader_approved", "rejected"]
        assert reg.review_history[-1]["by"] == "dz-duty" and reg.review_history[-1]["note"] == "重复报送"
        actions = [(a.action, a.actor) for a in db.scalars(select(AuditEntry).where(
            AuditEntry.object_type == "registration", AuditEntry.object_id == str(reg_id)).order_by(AuditEntry.id))]
        assert actions == [("quota.register", "dz-exec1"), ("quota.review.section_approve", "dz-duty"),
                           ("quota.review.leader_approve", "dz-leader"), ("quota.review.reject", "dz-duty")]
    finally:
        db.close()
    assert "重复报送" in exec1.get("/register").text


def test_board_period_picker_export_and_response_times(web: Any) -> None:
    setup_quota(web)
    web.login("dz-exec1").post("/register", data={"url": URL})
    # An alert of 儋州 acknowledged after 30 minutes and resolved after 2 hours, raised this month.
    db = _db(web)
    try:
        case = db.get(Alert, web.world.cases["dz"].id)
        assert case is not None
        raised = utcnow() - timedelta(hours=3)
        case.created_at = raised
        case.state = CaseState.RESOLVED
        case.resolved_at = raised + timedelta(hours=2)
        db.add(AlertEvent(alert_id=case.id, at=raised + timedelta(minutes=30), actor="dz-duty", action="ack",
                          from_state="new", to_state="acknowledged"))
        db.add(Alert(dedupe_key="test:dz:late", kind=AlertKind.STORY, severity=RiskLevel.CRITICAL, title="另一个",
                     state=CaseState.NEW, unit_id=web.world.units["dz-court"].id))
        db.commit()
    finally:
        db.close()
    leader = web.login("dz-leader")
    for period in ("week", "half_month", "month", "quarter", "year"):
        assert leader.get(f"/quota?period={period}").status_code == 200
    bad = leader.get("/quota?period=month&label=2024-13")
    assert bad.status_code == 200 and "2024-13" in bad.text.split('role="alert"', 1)[1]
    board = leader.get("/quota?period=month")
    times = board.text.split('data-testid="response-times"', 1)[1]
    assert "紧急" in times and ">30<" in times.replace(" ", "") and ">120<" in times.replace(" ", "")
    xlsx = leader.get("/quota.xlsx?period=month")
    assert xlsx.status_code == 200
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(xlsx.content))
    ws = wb.worksheets[0]
    header = [c.value for c in ws[1]]
    assert header[:3] == ["单位", "考核项目", "统计时段"]
    assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:")
    first = [c.value for c in ws[2]]
    assert hasattr(first[3], "year")  # a real date, not text
    pieces = wb.worksheets[1]
    published = [row[6].value for row in pieces.iter_rows(min_row=2) if row[5].value == URL]
    assert published and isinstance(published[0], datetime)
    responses = wb.worksheets[3]
    assert any(row[2].value == "紧急" and row[5].value == 30 for row in responses.iter_rows(min_row=2))


def test_a_large_board_pages_its_units_and_shows_the_top_of_each_ranking(web: Any, monkeypatch: Any) -> None:
    import presswatch.web.routes.quota as routes

    setup_quota(web)
    web.login("dz-exec1").post("/register", data={"url": URL})
    monkeypatch.setattr(routes, "BOARD_PAGE_UNITS", 1)
    monkeypatch.setattr(routes, "RANKING_TOP", 1)
    leader = web.login("dz-leader")
    first = leader.get("/quota?period=month")
    rows = [u for u in ("dz-court", "dz-exec-1", "dz-exec-2") if f'data-unit="{u}"' in first.text]
    assert len(rows) == 1 and 'data-testid="board-pager"' in first.text
    second = leader.get("/quota?period=month&p=2")
    assert second.status_code == 200 and f'data-unit="{rows[0]}"' not in second.text
    assert "data-unit=" in second.text
    ranking = first.text.split('data-testid="rankings"', 1)[1]
    assert "执行一队" in ranking and "执行二队" not in ranking  # top 1 of the teams' rule
    assert leader.get("/quota?period=month&p=99").status_code == 200  # clamped to the last page


def test_a_correspondent_cannot_register_on_another_organizations_own_channel(web: Any) -> None:
    from models import Grant, Role, User
    from tests.web_support import password_hash

    ids = setup_quota(web)
    db = _db(web)
    try:
        wechat_url = "https://mp.weixin.qq.com/s/dzfy-2026-12"
        factories.article(db, outlet_id=ids["wechat"], url=wechat_url, title="儋州法院公众号推送",
                          published_at=utcnow() - timedelta(minutes=5), text="儋州法院公众号推送。")
        user = User(username="hy-corr", display_name="hy-corr", password_hash=password_hash(), language="vi",
                    password_changed_at=utcnow())
        db.add(user)
        db.flush()
        db.add(Grant(user_id=user.id, unit_id=web.world.units["hy-vanlam"].id, role=Role.CORRESPONDENT,
                     granted_by="test"))
        db.commit()
    finally:
        db.close()
    hy = web.login("hy-corr")
    page = hy.get("/register")
    # Shared media are offered to everyone; 儋州's own channel is not offered to Hưng Yên.
    assert page.status_code == 200 and "Báo Hưng Yên" in page.text and "儋州法院微信公众号" not in page.text
    refused = hy.post("/register", data={"url": wechat_url})
    assert refused.status_code == 422
    assert "không được đăng ký" in refused.text.split('data-testid="register-error"', 1)[1].split("</p>", 1)[0]
    assert hy.post("/register", data={"url": URL, "outlet_id": str(ids["wechat"])}).status_code == 422
    assert "儋州法院微信公众号" not in hy.post("/register", data={"url": wechat_url}).text


def test_a_correspondent_confirms_a_proposal_from_a_byline_but_cannot_reject(web: Any) -> None:
    from quota.registry import propose_from_articles

    setup_quota(web)
    db = _db(web)
    try:
        outlet = db.scalar(select(Outlet).where(Outlet.key == "jinri-danzhou"))
        assert outlet is not None
        db.add(Person(unit_id=web.world.units["dz-exec-1"].id, name="张三"))
        factories.article(db, outlet_id=outlet.id, url="https://jrdz.example.cn/c/78.html", title="执行一队走访失信被执行人",
                          published_at=utcnow() - timedelta(minutes=3), byline="来源：儋州市人民法院 通讯员 张三",
                          text="执行一队走访失信被执行人。")
        proposals = propose_from_articles(db)
        db.commit()
        reg_id = next(p.registration.id for p in proposals
                      if p.registration.unit_id == web.world.units["dz-exec-1"].id)
    finally:
        db.close()
    exec1 = web.login("dz-exec1")
    assert f"#{reg_id}" in exec1.get("/").text.split('data-testid="waiting"', 1)[1]
    review = exec1.get("/review").text
    assert f'data-testid="approve-{reg_id}"' in review and 'value="reject"' not in review
    assert exec1.post(f"/review/{reg_id}", data={"action": "reject", "note": "不是我们的"}).status_code == 403
    assert exec1.post(f"/review/{reg_id}", data={"action": "submit"}).status_code == 303
    db = _db(web)
    try:
        reg = db.get(Registration, reg_id)
        assert reg is not None and reg.state is RegistrationState.SUBMITTED
    finally:
        db.close()


def test_the_boards_figures_are_quota_status_figures_for_the_same_period(web: Any) -> None:
    """Every cell of /quota (month and quarter, all units as the admin sees them) shows what
    ``quota status`` gives for that period: the sum over the rule's periods in it of done and target."""
    import re

    from quota.registry import register
    from quota.scoring import status

    setup_quota(web)
    web.login("dz-exec1").post("/register", data={"url": URL})
    today = local_date(utcnow(), "Asia/Shanghai")
    first = today.replace(day=1)
    db = _db(web)
    try:
        for unit, outlet, day, title in (
            ("dz-exec-2", "jinri-danzhou", first, "执行二队报道一"),
            ("dz-exec-2", "jinri-danzhou", today, "执行二队报道二"),
            ("dz-exec-1", "dz-wechat", first, "执行一队公众号文章"),
            ("dz-court", "dz-wechat", today, "法院公众号文章"),
            ("hy-vanlam", "baohungyen", first, "Tin Văn Lâm"),
        ):
            register(db, unit=unit, outlet=outlet, published=day, title=title, char_count=800)
        db.commit()
        labels = {"month": f"{today:%Y-%m}", "quarter": f"{today.year}-Q{(today.month - 1) // 3 + 1}"}
        expected: dict[str, dict[tuple[str, str], tuple[float, float]]] = {}
        for kind, label in labels.items():
            sums: dict[tuple[str, str], tuple[float, float]] = {}
            for r in status(db, label, store=False):
                done, target = sums.get((r.unit_code, r.rule_key), (0.0, 0.0))
                sums[(r.unit_code, r.rule_key)] = (done + r.value, target + r.target)
            expected[kind] = sums
        db.rollback()
    finally:
        db.close()
    assert expected["month"][("dz-exec-2", "teams")] == (2.0, 2.0)  # the data is not empty
    assert expected["quarter"][("hy-vanlam", "vanlam")][0] == 1.0
    admin = web.login("admin")
    for kind, label in labels.items():
        page = admin.get(f"/quota?period={kind}&label={label}")
        assert page.status_code == 200
        shown = {(u, k): (float(d), float(t)) for u, k, d, t in re.findall(
            r'data-testid="cell-([^"]+?)-(teams|court-approved|vanlam)">([\d.]+) / ([\d.]+)<', page.text)}
        assert shown == expected[kind], kind
