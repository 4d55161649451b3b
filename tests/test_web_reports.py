"""The report centre (/reports), the overview dashboard (/dashboard and its wall) and read-only signed
links (/admin/links, /s/{token}): scope, 404s across organizations, resending through the outbox,
links shown until revoked or expired, at most 30 days, one audit entry per view. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from alerts import outbox
from models import Alert, AuditEntry, Delivery, Digest, Grant, Role, SharedLink
from models.enums import DeliveryStatus, OutletChannel, OutletTier, RiskLevel, SentimentLabel
from tests import factories


def _db(web):  # type: ignore[no-untyped-def]
    return web.app.state.session_factory()


def _coverage(web) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Pieces named by each organization's case: 3 for 儋州 (2 negative, one on its own WeChat
    account), 1 for Hưng Yên; plus one piece nobody's case names."""
    db = _db(web)
    try:
        now = datetime.now(UTC) - timedelta(hours=1)
        news = factories.outlet(db, name="今日儋州", tier=OutletTier.PREFECTURE)
        own = factories.outlet(db, name="儋州法院微信公众号", tier=OutletTier.OWN_CHANNEL, channel=OutletChannel.WECHAT,
                               unit_id=web.world.units["dz-court"].id)
        vn = factories.outlet(db, name="Báo Hưng Yên", tier=OutletTier.PROVINCIAL, language="vi")
        story = factories.story(db, title="儋州法院强制腾退引发关注", outlet_count=2, article_count=2)
        a1 = factories.article(db, title="儋州法院强制腾退", outlet_id=news.id, story_id=story.id, published_at=now)
        a2 = factories.article(db, title="儋州法院强制腾退（转载）", outlet_id=news.id, story_id=story.id, published_at=now)
        a3 = factories.article(db, title="儋州法院发布执行公告", outlet_id=own.id, published_at=now)
        a4 = factories.article(db, title="Cưỡng chế thi hành án ở Văn Lâm", outlet_id=vn.id, lang="vi", published_at=now)
        a5 = factories.article(db, title="无关报道", outlet_id=news.id, published_at=now)
        story.first_article_id = a1.id
        for art, sentiment, risk in ((a1, SentimentLabel.NEGATIVE, RiskLevel.HIGH),
                                     (a2, SentimentLabel.NEGATIVE, RiskLevel.MEDIUM),
                                     (a3, SentimentLabel.POSITIVE, RiskLevel.LOW),
                                     (a4, SentimentLabel.NEGATIVE, RiskLevel.CRITICAL),
                                     (a5, SentimentLabel.NEUTRAL, RiskLevel.LOW)):
            factories.classification(db, art, sentiment=sentiment, risk_level=risk,
                                     topics=[{"name": "enforcement", "score": 0.9}])
        db.get(Alert, web.world.cases["dz"].id).story_id = story.id
        db.get(Alert, web.world.cases["hy"].id).article_id = a4.id
        db.commit()
        return {"a1": a1.id, "a4": a4.id, "own": own.id, "news": news.id}
    finally:
        db.close()


def _charts(html: str) -> dict[str, dict]:  # type: ignore[type-arg]
    found = {}
    for name, raw in re.findall(r'data-testid="chart-(\w+)"[^>]*data-echarts=\'([^\']*)\'', html):
        found[name] = json.loads(raw.replace("&#39;", "'").replace("&amp;", "&").replace("&lt;", "<")
                                 .replace("&gt;", ">").replace("&#34;", '"').replace("&quot;", '"'))
    return found


def _kpi(html: str, name: str) -> str:
    match = re.search(rf'data-testid="kpi-{name}">([^<]*)<', html)
    assert match, name
    return match.group(1)


# -- dashboard ---------------------------------------------------------------------------------------

def test_the_dashboard_counts_the_scopes_coverage_only(web) -> None:
    _coverage(web)
    leader = web.login("dz-leader").get("/dashboard")
    assert leader.status_code == 200
    assert _kpi(leader.text, "pieces") == "3"  # the case's story (2) and the court's own channel (1)
    assert "Cưỡng chế" not in leader.text and "无关报道" not in leader.text
    assert "儋州法院强制腾退引发关注" in leader.text  # the top story by spread
    viet = web.login("hy-duty").get("/dashboard")
    assert _kpi(viet.text, "pieces") == "1" and "儋州" not in viet.text.split('data-testid="kpis"')[1]
    assert _kpi(web.login("admin").get("/dashboard").text, "pieces") == "5"
    # A correspondent registers pieces; the overview is for readers of the organization.
    assert web.login("dz-exec1").get("/dashboard").status_code == 403


def test_a_click_on_a_chart_opens_the_stream_filtered_to_it(web) -> None:
    _coverage(web)
    html = web.login("dz-leader").get("/dashboard?since=30d").text
    charts = _charts(html)
    risk_items = charts["risk"]["series"][0]["data"]
    assert [urlsplit(i["url"]).path for i in risk_items] == ["/stream"] * 4
    # The 30 days are whole local days, opened by date on the stream.
    first_day, last_day = (datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=d)
                           for d in (29, 0))
    days = {"from": [first_day.isoformat()], "to": [last_day.isoformat()]}
    assert parse_qs(urlsplit(risk_items[1]["url"]).query) == {**days, "risk": ["high"]}
    # Topics are shown by their label and link by their key.
    topic = charts["topics"]
    assert topic["yAxis"]["data"] == ["执行工作"]
    assert parse_qs(urlsplit(topic["series"][0]["data"][0]["url"]).query)["topic"] == ["enforcement"]
    negative = charts["sentiment"]["series"][0]["data"][0]
    assert parse_qs(urlsplit(negative["url"]).query) == {**days, "sentiment": ["negative"]}
    day = charts["volume"]["series"][0]["data"][-1]
    query = parse_qs(urlsplit(day["url"]).query)
    assert query["from"] == query["to"] and len(query["from"][0]) == 10
    unit = charts["units"]["series"][0]["data"][0]
    assert parse_qs(urlsplit(unit["url"]).query)["unit"] == [str(web.world.units["dz-court"].id)]
    # An unknown window falls back to the default instead of failing.
    assert web.login("dz-leader").get("/dashboard?since=99y").status_code == 200


def test_the_wall_refreshes_itself_and_its_refresh_is_the_body_only(web) -> None:
    _coverage(web)
    leader = web.login("dz-leader")
    wall = leader.get("/dashboard/wall?since=24h")
    assert wall.status_code == 200
    assert 'hx-trigger="every 60s"' in wall.text and "/dashboard/wall?since=24h&amp;partial=1" in wall.text
    assert "data-fullscreen" in wall.text and 'class="wall"' in wall.text
    body = leader.get("/dashboard/wall?since=24h&partial=1", headers={"HX-Request": "true"})
    assert body.status_code == 200 and "<html" not in body.text and 'data-testid="kpis"' in body.text


# -- report centre -------------------------------------------------------------------------------------

def _record(web, code: str, name: str, tmp_path: Path, recipients: tuple[str, ...] = ("leader@court.example.cn",),
            ) -> int:  # type: ignore[no-untyped-def]
    db = _db(web)
    try:
        start = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
        html = tmp_path / f"{name}.html"
        html.write_text(f"<html><body><p>{name} 总体态势</p></body></html>", encoding="utf-8")
        (tmp_path / f"{name}.pdf").write_bytes(b"%PDF-1.4 saved report")
        digest = Digest(name=name, language="zh-CN", period_start=start, period_end=start + timedelta(days=1),
                        status="sent", stats={}, html_path=str(html), unit_id=web.world.units[code].id)
        db.add(digest)
        db.flush()
        for recipient in recipients:
            row = outbox.enqueue(db, idempotency_key=f"digest:{name}:{recipient}", channel="email",
                                 recipient=recipient, language="zh-CN", subject=f"{name} 舆情日报",
                                 body_text="text", body_html="<p>html</p>", digest_id=digest.id)
            row.status = DeliveryStatus.SENT
            row.sent_at = start + timedelta(days=1)
        db.commit()
        return digest.id
    finally:
        db.close()


def test_the_report_centre_lists_the_scopes_records_and_who_received_them(web, tmp_path) -> None:
    dz = _record(web, "dz-court", "dz-daily", tmp_path, ("leader@court.example.cn", "press@court.example.cn"))
    hy = _record(web, "hy-thads", "hy-daily", tmp_path)
    leader = web.login("dz-leader")
    centre = leader.get("/reports").text
    assert "dz-daily" in centre and "hy-daily" not in centre
    page = leader.get(f"/reports/{dz}")
    assert page.status_code == 200
    assert "leader@court.example.cn" in page.text and "press@court.example.cn" in page.text
    assert "儋州市人民法院" in page.text  # the organization the record belongs to
    view = leader.get(f"/reports/{dz}/view")
    assert view.status_code == 200 and "dz-daily 总体态势" in view.text
    assert "script-src" not in view.headers["content-security-policy"]  # no script at all in the frame
    pdf = leader.get(f"/reports/{dz}/download.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and "attachment" in pdf.headers[
        "content-disposition"]
    # Another organization's record answers 404 everywhere, like one that does not exist.
    viet = web.login("hy-duty")
    for path in (f"/reports/{dz}", f"/reports/{dz}/view", f"/reports/{dz}/download.pdf",
                 f"/reports/{dz}/download.xlsx", "/reports/999999"):
        assert viet.get(path).status_code == 404, path
    assert viet.post(f"/reports/{dz}/resend").status_code == 404
    assert viet.get(f"/reports/{hy}").status_code == 200
    assert leader.get(f"/reports/{dz}/download.exe").status_code == 404


def test_resend_goes_through_the_outbox_and_is_audited(web, tmp_path) -> None:
    dz = _record(web, "dz-court", "dz-daily", tmp_path, ("leader@court.example.cn", "press@court.example.cn"))
    # A leader reads reports; resending is for the people who run them.
    assert web.login("dz-leader").post(f"/reports/{dz}/resend").status_code == 403
    duty = web.login("dz-duty")
    answer = duty.post(f"/reports/{dz}/resend")
    assert answer.status_code == 303 and answer.headers["location"] == f"/reports/{dz}?resent=2"
    db = _db(web)
    try:
        rows = db.scalars(select(Delivery).where(Delivery.digest_id == dz).order_by(Delivery.id)).all()
        assert len(rows) == 4
        copies = [r for r in rows if (r.payload or {}).get("resend_of")]
        assert {c.recipient for c in copies} == {"leader@court.example.cn", "press@court.example.cn"}
        assert all(c.status == DeliveryStatus.PENDING and c.subject == "dz-daily 舆情日报" for c in copies)
        assert len({c.message_id for c in rows}) == 4  # each copy is its own message
        entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "report.resend"))
        assert entry is not None and entry.actor == "dz-duty" and entry.object_id == str(dz)
        first = rows[0].id
    finally:
        db.close()
    # One recipient only.
    assert duty.post(f"/reports/{dz}/resend", data={"delivery_id": str(first)}).headers["location"].endswith(
        "resent=1")
    assert "resent" in duty.get(f"/reports/{dz}?resent=1").text


# -- signed links ----------------------------------------------------------------------------------------

def _create(client, **form: str):  # type: ignore[no-untyped-def]
    answer = client.post("/admin/links", data={"kind": "dashboard", "days": "7", "language": "zh-CN", **form})
    match = re.search(r'/s/([A-Za-z0-9_-]{20,})"', answer.text)
    return answer, (match.group(1) if match else None)


def _views(web, link_token_hash: str | None = None) -> int:  # type: ignore[no-untyped-def]
    db = _db(web)
    try:
        return int(db.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "link.view")) or 0)
    finally:
        db.close()


def test_a_signed_link_shows_the_dashboard_until_revoked_then_404(web) -> None:
    _coverage(web)
    admin = web.login("dz-admin")
    answer, token = _create(admin, unit_id=str(web.world.units["dz-court"].id), label="院长")
    assert answer.status_code == 200 and token
    db = _db(web)
    try:
        link = db.scalar(select(SharedLink))
        assert link is not None and token not in (link.token_hash, link.label)  # only the hash is stored
        link_id = link.id
    finally:
        db.close()
    reader = web.anonymous()
    first = reader.get(f"/s/{token}")
    assert first.status_code == 200 and _kpi(first.text, "pieces") == "3"
    assert "Cưỡng chế" not in first.text and "/stream?" not in first.text  # read-only: no clicks into the app
    assert first.headers["x-robots-tag"].startswith("noindex")
    assert reader.get(f"/s/{token}/wall").status_code == 200
    # The wall's own refreshes are not new views; each opened page is one audit entry.
    assert reader.get(f"/s/{token}/wall?partial=1", headers={"HX-Request": "true"}).status_code == 200
    assert _views(web) == 2
    assert "院长" in admin.get("/admin/links").text
    # Another organization's admin cannot see or revoke it (404, like a link that does not exist).
    assert web.login("hy-duty").post(f"/admin/links/{link_id}/revoke").status_code == 403  # not an admin
    db = _db(web)
    try:
        db.add(Grant(user_id=web.world.users["hy-duty"].id, unit_id=web.world.units["hy-thads"].id,
                     role=Role.ADMIN, granted_by="test"))
        db.commit()
    finally:
        db.close()
    hy_admin = web.login("hy-duty")
    assert "院长" not in hy_admin.get("/admin/links").text
    assert hy_admin.post(f"/admin/links/{link_id}/revoke").status_code == 404
    assert reader.get(f"/s/{token}").status_code == 200
    assert admin.post(f"/admin/links/{link_id}/revoke").status_code == 303
    for path in (f"/s/{token}", f"/s/{token}/wall", f"/s/{token}/view"):
        assert reader.get(path).status_code == 404, path
    assert reader.get("/s/not-a-token").status_code == 404
    assert _views(web) == 3  # the two above and the check that the other admin changed nothing; none after revoking
    db = _db(web)
    try:
        actions = set(db.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "shared_link")))
        assert {"link.create", "link.view", "link.revoke"} <= actions
    finally:
        db.close()


def test_a_link_expires_after_at_most_30_days_and_is_404_once_expired(web) -> None:
    admin = web.login("dz-admin")
    unit = str(web.world.units["dz-court"].id)
    refused, token = _create(admin, unit_id=unit, days="31")
    assert refused.status_code == 400 and token is None
    assert "30" in refused.text
    _answer, token = _create(admin, unit_id=unit, days="30")
    assert token and web.anonymous().get(f"/s/{token}").status_code == 200
    db = _db(web)
    try:
        link = db.scalar(select(SharedLink))
        assert link is not None
        link.expires_at = datetime.now(UTC) - timedelta(minutes=1)
        db.commit()
    finally:
        db.close()
    assert web.anonymous().get(f"/s/{token}").status_code == 404


def test_a_link_is_limited_to_the_admins_own_subtree(web, tmp_path) -> None:
    admin = web.login("dz-admin")
    other, token = _create(admin, unit_id=str(web.world.units["hy-thads"].id))
    assert other.status_code == 400 and token is None
    hy_report = _record(web, "hy-thads", "hy-daily", tmp_path)
    refused, token = _create(admin, kind="report", digest_id=str(hy_report),
                             unit_id=str(web.world.units["dz-court"].id))
    assert refused.status_code == 400 and token is None
    # Admin pages are for admins.
    assert web.login("dz-leader").get("/admin/links").status_code == 403


def test_a_signed_link_to_a_report_shows_it_and_its_files(web, tmp_path) -> None:
    dz = _record(web, "dz-court", "dz-monthly", tmp_path)
    admin = web.login("dz-admin")
    answer, token = _create(admin, kind="report", digest_id=str(dz), unit_id=str(web.world.units["dz-court"].id))
    assert answer.status_code == 200 and token
    reader = web.anonymous()
    page = reader.get(f"/s/{token}")
    assert page.status_code == 200 and f"/s/{token}/download.pdf" in page.text
    assert "dz-monthly 总体态势" in reader.get(f"/s/{token}/view").text
    assert reader.get(f"/s/{token}/download.pdf").content.startswith(b"%PDF")
    assert reader.get(f"/s/{token}/wall").status_code == 404  # a report link is not a dashboard link
    assert _views(web) == 2  # the page and the download


def test_quota_reports_are_in_the_centre_of_their_unit_and_resent_through_the_outbox(web) -> None:
    import base64

    db = _db(web)
    try:
        ids = []
        for email in ("exec1@court.example.cn", "chief@court.example.cn"):
            row = outbox.enqueue(
                db, idempotency_key=f"quota-report:2026-11:dz-exec-1:{email}", channel="email", recipient=email,
                language="zh-CN", subject="执行一队 2026-11 宣传考核结果", body_text="执行一队：本月完成 3 篇，目标 4 篇。",
                payload={"kind": "quota_report", "period": "2026-11", "unit": "dz-exec-1", "rows": [],
                         "attachments": [{"filename": "dz-2026-11.xlsx", "mime": "application/octet-stream",
                                          "data_b64": base64.b64encode(b"xlsx bytes").decode()}]})
            ids.append(row.id)
        db.commit()
    finally:
        db.close()
    leader = web.login("dz-leader")
    assert "执行一队 2026-11 宣传考核结果" in leader.get("/reports").text
    page = leader.get(f"/reports/messages/{ids[0]}")
    assert page.status_code == 200 and "本月完成 3 篇" in page.text and "chief@court.example.cn" in page.text
    assert leader.get(f"/reports/messages/{ids[0]}/attachment/0").content == b"xlsx bytes"
    assert leader.post(f"/reports/messages/{ids[0]}/resend").status_code == 403
    viet = web.login("hy-duty")
    assert "宣传考核结果" not in viet.get("/reports").text
    for path in (f"/reports/messages/{ids[0]}", f"/reports/messages/{ids[0]}/attachment/0"):
        assert viet.get(path).status_code == 404
    assert viet.post(f"/reports/messages/{ids[0]}/resend").status_code == 404
    duty = web.login("dz-duty")
    assert duty.post(f"/reports/messages/{ids[1]}/resend", data={"one": "1"}).status_code == 303
    db = _db(web)
    try:
        copies = db.scalars(select(Delivery).where(Delivery.idempotency_key.startswith("resend:"))).all()
        assert [c.recipient for c in copies] == ["chief@court.example.cn"]
        assert copies[0].status == DeliveryStatus.PENDING and copies[0].subject == "执行一队 2026-11 宣传考核结果"
        assert db.scalar(select(AuditEntry).where(AuditEntry.action == "report.resend",
                                                  AuditEntry.object_type == "quota_message")) is not None
    finally:
        db.close()
    # The resent copy is listed with its message.
    assert duty.get(f"/reports/messages/{ids[0]}").text.count("chief@court.example.cn") == 2


def _stream_count(client, url: str) -> int:  # type: ignore[no-untyped-def]
    answer = client.get(url.replace("/stream?", "/stream/count?", 1))
    assert answer.status_code == 200, url
    shown = re.search(r'data-testid="stream-count">([^<]*)<', answer.text)
    assert shown and shown.group(1), (url, answer.text)
    return int(re.sub(r"\D", "", shown.group(1)))


def test_every_chart_figure_is_the_count_the_stream_shows_when_clicked(web) -> None:
    """One decision of who sees a piece (classify.visibility.visible_condition): the dashboard counts
    what /stream lists, including pieces seen only through a watch query, for each organization."""
    from classify.visibility import reindex
    from models import WatchQuery

    _coverage(web)
    db = _db(web)
    try:
        units = web.world.units
        now = datetime.now(UTC) - timedelta(hours=2)
        paper = factories.outlet(db, name="海南日报", tier=OutletTier.PROVINCIAL)
        weibo = factories.outlet(db, name="某微博号", channel=OutletChannel.WEIBO)
        vn = factories.outlet(db, name="Báo Văn Lâm", tier=OutletTier.COUNTY, language="vi")
        watched = [  # seen only because a watch query of the organization matches them
            (paper, "儋州法院召开执行工作座谈会", "zh", SentimentLabel.NEUTRAL, RiskLevel.LOW, "legal_publicity"),
            (weibo, "网友吐槽儋州法院执行慢", "zh", SentimentLabel.NEGATIVE, RiskLevel.HIGH, "enforcement"),
            (vn, "Hưng Yên tổ chức hội nghị thi hành án", "vi", SentimentLabel.POSITIVE, RiskLevel.MEDIUM, "thads"),
        ]
        # Within "the last 7 x 24 hours" but before the first of the dashboard's 7 whole local days.
        local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
        since_midnight = local - local.replace(hour=0, minute=0, second=0, microsecond=0)
        early = datetime.now(UTC) - timedelta(days=7) + since_midnight / 2
        watched.append((paper, "儋州法院一周前的通报", "zh", SentimentLabel.NEUTRAL, RiskLevel.LOW, "legal_publicity",
                        early))
        for outlet, title, lang, sentiment, risk, topic, *at in watched:
            art = factories.article(db, title=title, text=title, outlet_id=outlet.id, lang=lang,
                                    published_at=at[0] if at else now)
            factories.classification(db, art, sentiment=sentiment, risk_level=risk,
                                     topics=[{"name": topic, "score": 0.8}])
        db.add_all([WatchQuery(name="dz-org", query='"儋州法院"', purpose="org", unit_id=units["dz-court"].id),
                    WatchQuery(name="hy-org", query='"Hưng Yên"', purpose="org", unit_id=units["hy-thads"].id)])
        db.flush()
        reindex(db)  # the stream-index job
        db.commit()
    finally:
        db.close()

    # 儋州: the case's story (2), its own channel (1) and 2 pieces matched by its watch query only
    # (+ 1 a week ago). Hưng Yên: its case's piece and the one its watch query matches. The operator:
    # all 8 (+ 1).
    for user, pieces, week_ago in (("dz-leader", 5, 1), ("dz-duty", 5, 1), ("hy-duty", 2, 0), ("admin", 8, 1)):
        client = web.login(user)
        # "The last 7 days" of the stream reach back 7 x 24 hours, before the dashboard's first whole day.
        assert _stream_count(client, "/stream?since=7d") == pieces + week_ago, user
        for since in ("24h", "7d"):
            html = client.get(f"/dashboard?since={since}").text
            assert _kpi(html, "pieces") == str(pieces), (user, since)
            charts = _charts(html)
            bars = charts["volume"]["series"][0]["data"]
            first, last = parse_qs(urlsplit(bars[0]["url"]).query), parse_qs(urlsplit(bars[-1]["url"]).query)
            window = "since=24h" if since == "24h" else f"from={first['from'][0]}&to={last['to'][0]}"
            assert _stream_count(client, f"/stream?{window}") == pieces, (user, since)
            clicked = [item for name in ("risk", "sentiment", "channels", "topics", "outlets")
                       for item in charts[name]["series"][0]["data"]]
            if since != "24h":  # pieces per day (an hour's bar opens the whole 24 hours: no hour filter)
                clicked += charts["volume"]["series"][0]["data"]
            assert sum(1 for item in clicked if item.get("value")) >= 6
            for item in clicked:
                assert "url" in item, (user, item)
                assert _stream_count(client, item["url"]) == (item["value"] or 0), (user, item)
