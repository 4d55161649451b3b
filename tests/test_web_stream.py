"""/stream: the coverage stream an analyst triages from. Filters, scope (another organization's
pieces are neither listed nor counted), free-text errors at their position, cursor pages that stay
stable while pieces arrive, saved searches shared inside the organization only, bulk actions (read,
tag, export, open a case) and the XLSX. SQLite and PostgreSQL (the ``web`` fixture)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from classify.stream import decode_cursor, parse_params, query_stream
from classify.visibility import index_articles
from models import Alert, ArticleTag, SavedSearch, StreamRead, WatchQuery
from models.enums import OutletChannel, OutletTier, RiskLevel, SentimentLabel, SourceKind
from models.scope import system_scope
from tests import factories

HOSTILE = '<script>alert("x")</script>'


@dataclass
class Coverage:
    ids: dict[str, int] = field(default_factory=dict)
    watch: dict[str, int] = field(default_factory=dict)
    outlets: dict[str, int] = field(default_factory=dict)


def _coverage(web) -> Coverage:
    """Pieces for both organizations, classified and indexed as the pipeline would."""
    db = web.app.state.session_factory()
    cov = Coverage()
    try:
        units = web.world.units
        for key, unit, query in (("dz", "dz-court", '"儋州法院"'), ("hy", "hy-thads", '"Hưng Yên"')):
            row = WatchQuery(name=f"{key}-org-{id(web)}", query=query, purpose="org", unit_id=units[unit].id)
            db.add(row)
            db.flush()
            cov.watch[key] = row.id
        paper = factories.outlet(db, name="儋州日报", tier=OutletTier.PREFECTURE, channel=OutletChannel.NEWSPAPER)
        weibo = factories.outlet(db, name="某微博号", tier=OutletTier.OTHER, channel=OutletChannel.WEIBO)
        own = factories.outlet(db, name="儋州法院微信", tier=OutletTier.OWN_CHANNEL, channel=OutletChannel.WECHAT)
        vn = factories.outlet(db, name="Báo Hưng Yên", tier=OutletTier.PROVINCIAL, language="vi")
        feed = factories.source(db, kind=SourceKind.FEED, outlet_id=vn.id)
        cov.outlets = {"paper": paper.id, "weibo": weibo.id, "own": own.id, "vn": vn.id}
        now = datetime.now(UTC)
        story = factories.story(db, title="腾退", article_count=2, outlet_count=2)
        spec = [
            # key, title, outlet, story, lang, sentiment, risk, topics, hours ago, source
            ("dz1", "儋州法院执行局强制腾退引发争议" + HOSTILE, paper, story, "zh", "negative", "high",
             ["enforcement"], 1, None),
            ("dz2", "儋州法院发布执行悬赏公告", own, None, "zh", "positive", "low", ["legal_publicity"], 2, None),
            ("dz3", "转发：儋州法院强制腾退现场视频", weibo, story, "zh", "negative", "critical", ["enforcement"], 3,
             None),
            ("dz_old", "儋州法院召开新闻发布会", paper, None, "zh", "neutral", "low", ["press_relations"], 24 * 5, None),
            ("hy1", "Cưỡng chế thi hành án ở Hưng Yên gây bức xúc", vn, None, "vi", "negative", "high", ["thads"], 2,
             feed),
            ("other", "某地天气晴好", paper, None, "zh", "neutral", "low", [], 1, None),
        ]
        articles = []
        for key, title, outlet, st, lang, sentiment, risk, topics, hours, source in spec:
            art = factories.article(db, title=title, text=title + "。正文。", outlet_id=outlet.id, lang=lang,
                                    story_id=st.id if st else None, source_id=source.id if source else None,
                                    published_at=now - timedelta(hours=hours))
            factories.classification(db, art, sentiment=SentimentLabel(sentiment), risk_level=RiskLevel(risk),
                                     topics=[{"name": t, "score": 0.9} for t in topics])
            cov.ids[key] = art.id
            articles.append(art)
        index_articles(db, articles)
        db.commit()
    finally:
        db.close()
    return cov


def _listed(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'class="stream-item[^"]*" data-id="(\d+)"', html)]


def _count(client, qs: str = "") -> str:
    """The count the list fetches after it shows (/stream/count with the same parameters)."""
    html = client.get("/stream/count" + qs).text
    found = re.search(r'data-testid="stream-count">([^<]*)<', html)
    return found.group(1).strip() if found else ""


def test_filters_narrow_the_stream(web) -> None:
    cov = _coverage(web)
    duty = web.login("dz-duty")
    ids = cov.ids

    def listed(qs: str = "") -> list[int]:
        answer = duty.get("/stream" + qs)
        assert answer.status_code == 200, answer.text[:500]
        return _listed(answer.text)

    page = duty.get("/stream")
    assert listed() == [ids["dz1"], ids["dz2"], ids["dz3"]]  # newest first; 24 h; watched pieces only
    assert _count(duty) == "共 3 篇"
    assert HOSTILE not in page.text and "&lt;script&gt;" in page.text  # crawled text escaped
    assert 'href="/stream"' in page.text  # the header links here
    assert set(listed("?sentiment=negative")) == {ids["dz1"], ids["dz3"]}
    assert set(listed("?risk=high")) == {ids["dz1"], ids["dz3"]}  # high or above
    assert listed("?risk=critical") == [ids["dz3"]]
    assert listed("?channel=social") == [ids["dz3"]]
    assert listed("?channel=own") == [ids["dz2"]]
    assert listed("?channel=news") == [ids["dz1"]]
    assert listed("?tier=own_channel") == [ids["dz2"]]
    assert listed(f"?outlet={cov.outlets['paper']}") == [ids["dz1"]]
    assert set(listed("?topic=enforcement")) == {ids["dz1"], ids["dz3"]}
    assert listed("?since=7d") == [ids["dz1"], ids["dz2"], ids["dz3"], ids["dz_old"]]
    today = datetime.now(UTC).date()
    assert ids["dz_old"] in listed(f"?from={(today - timedelta(days=6)).isoformat()}&to={today.isoformat()}")
    assert listed("?lang=vi") == []
    assert len(listed("?lang=zh")) == 3
    assert len(listed(f"?query={cov.watch['dz']}")) == 3
    assert listed(f"?unit={web.world.units['dz-exec'].id}") == []  # the watch query is the court's
    assert set(listed("?q=腾退")) == {ids["dz1"], ids["dz3"]}
    assert listed("?q=腾退 AND -转发") == [ids["dz1"]]
    assert listed("?sort=risk&since=7d")[:2] == [ids["dz3"], ids["dz1"]]  # critical, then high
    assert listed("?sort=spread")[:2] == [ids["dz1"], ids["dz3"]]  # the two-piece story first
    folded = duty.get("/stream?stories=1")
    assert len(_listed(folded.text)) == 2 and 'data-testid="stream-folded"' in folded.text  # reposts folded
    assert _count(duty, "?stories=1") == "共 3 篇"  # pieces, not stories
    # htmx asks for the list alone
    partial = duty.get("/stream?sentiment=negative", headers={"HX-Request": "true"})
    assert "<html" not in partial.text and set(_listed(partial.text)) == {ids["dz1"], ids["dz3"]}
    assert 'data-testid="bulk-case"' in partial.text  # the analyst's actions stay after a filter
    assert 'data-testid="bulk-case"' not in web.login("dz-leader").get(
        "/stream", headers={"HX-Request": "true"}).text


def test_channels_are_counted_as_the_dashboard_counts_them(web) -> None:
    from alerts.digest.builder import channel_of
    from classify.stream import channel_expr
    from models import Article, Outlet

    _coverage(web)
    db = web.app.state.session_factory()
    rows = db.execute(select(channel_expr(), Outlet.tier, Outlet.channel).select_from(Article)
                      .join(Outlet, Outlet.id == Article.outlet_id)).all()
    db.close()
    assert {c for c, _, _ in rows} == {"news", "social", "own"}
    assert all(c == channel_of(str(tier), str(channel)) for c, tier, channel in rows)


def test_another_organization_sees_neither_the_pieces_nor_their_count(web) -> None:
    cov = _coverage(web)
    hy = web.login("hy-duty")
    page = hy.get("/stream")
    assert page.status_code == 200
    assert _listed(page.text) == [cov.ids["hy1"]]
    assert _count(hy) == "1 tin bài"
    assert "儋州" not in page.text
    assert _listed(hy.get("/stream?q=儋州").text) == []
    assert _count(hy, "?q=儋州&since=30d") == "0 tin bài"
    assert _count(hy, f"?unit={web.world.units['dz-court'].id}") == "1 tin bài"  # the unknown unit narrows nothing
    # Another organization's unit or watch query is "unknown", and filters nothing in.
    for qs in (f"?unit={web.world.units['dz-court'].id}", f"?query={cov.watch['dz']}"):
        answer = hy.get("/stream" + qs)
        assert answer.status_code == 200 and 'data-testid="stream-error"' in answer.text
        assert "儋州" not in answer.text
    # The Vietnamese channel / feed filter works for them
    assert _listed(hy.get("/stream?channel=feed").text) == [cov.ids["hy1"]]
    # A superuser sees both
    admin_ids = set(_listed(web.login("admin").get("/stream").text))
    assert {cov.ids["dz1"], cov.ids["hy1"], cov.ids["other"]} <= admin_ids


def test_an_alert_makes_its_story_visible_without_a_watch_query(web) -> None:
    cov = _coverage(web)
    db = web.app.state.session_factory()
    hy_case = db.get(Alert, web.world.cases["hy"].id)
    hy_case.article_id = cov.ids["other"]
    db.commit()
    db.close()
    assert cov.ids["other"] in _listed(web.login("hy-duty").get("/stream").text)
    assert cov.ids["other"] not in _listed(web.login("dz-duty").get("/stream").text)


def test_bad_values_are_reported_on_the_page_with_the_query_position(web) -> None:
    _coverage(web)
    duty = web.login("dz-duty")
    answer = duty.get("/stream", params={"q": "执行 AND (暴力"})
    assert answer.status_code == 200
    assert 'data-testid="stream-q-error"' in answer.text
    # the error names the position (1-based for people: the end, after 10 characters) and marks it
    error = re.search(r'data-param="q">(.*?)</div>', answer.text, re.S).group(1)
    assert "11" in error
    assert re.search(r"<code>执行 AND \(暴力<mark> </mark></code>", answer.text)
    assert _listed(answer.text) == [] and _count(duty, "?q=执行 AND (暴力") == ""  # nothing instead of everything
    for qs in ("?since=2h", "?risk=extreme", "?sentiment=angry", "?channel=tv", "?from=2024-13-01",
               "?topic=nope", "?outlet=abc", "?sort=random", "?cursor=garbage", "?lang=<b>"):
        answer = duty.get("/stream" + qs)
        assert answer.status_code == 200, qs
        assert 'data-testid="stream-error"' in answer.text, qs
        assert "<b>" not in answer.text


def test_the_query_function_reports_syntax_errors_at_their_position(session) -> None:
    parsed = parse_params(session, system_scope(), {"q": '儋州 AND "未闭合'}, "Asia/Shanghai")
    (error,) = parsed.errors
    assert error.param == "q" and error.position == 7 and parsed.filter.q is None  # the opening quote
    parsed = parse_params(session, system_scope(), {"since": "7d", "risk": "high", "q": "执行"}, "Asia/Shanghai")
    assert parsed.errors == () and parsed.filter.risk == "high" and parsed.parsed_query is not None
    assert parsed.filter.to_params() == {"since": "7d", "risk": "high", "q": "执行"}


def test_cursor_pages_stay_stable_while_pieces_arrive(web) -> None:
    cov = _coverage(web)
    db = web.app.state.session_factory()
    try:
        now = datetime.now(UTC)
        made = []
        for i in range(7):
            made.append(factories.article(db, title=f"儋州法院动态 {i}", text="儋州法院", published_at=now - timedelta(
                minutes=10 * i)))
        index_articles(db, made)
        db.commit()
        from models import User
        from models.scope import scope_for_user

        user = db.scalar(select(User).where(User.username == "dz-duty"))
        scope = scope_for_user(db, user)
        f = parse_params(db, scope, {}, "UTC").filter
        first = query_stream(db, scope, f, limit=4, user_id=user.id)
        assert len(first.items) == 4 and first.next_cursor
        # New pieces arrive (newer, and one as old as the first page's end) between the two requests.
        late = [factories.article(db, title="儋州法院 最新", text="儋州法院", published_at=now + timedelta(minutes=1)),
                factories.article(db, title="儋州法院 同时", text="儋州法院", published_at=first.items[-1].published_at)]
        index_articles(db, late)
        db.commit()
        seen = [i.article_id for i in first.items]
        cursor = decode_cursor(first.next_cursor, f)
        while cursor is not None:
            page = query_stream(db, scope, f, cursor=cursor, limit=4, user_id=user.id)
            seen += [i.article_id for i in page.items]
            cursor = decode_cursor(page.next_cursor, f) if page.next_cursor else None
        expected = {a.id for a in made} | {cov.ids[k] for k in ("dz1", "dz2", "dz3")}
        assert len(seen) == len(set(seen))  # nothing twice
        assert expected <= set(seen)  # nothing listed before the arrivals was skipped
        assert late[0].id not in seen  # newer than page one: it belongs to a fresh first page
    finally:
        db.close()
    # Over HTTP: the "More" link carries an opaque cursor; following it lists the rest, no repeats.
    duty = web.login("dz-duty")
    html = duty.get("/stream?sort=risk").text
    assert 'data-testid="stream-more"' not in html  # 12 rows fit one page of 50


@pytest.mark.parametrize("params, expected", [
    ({"sort": "risk"}, ["dz3", "dz1", "dz2"]),  # critical, high, low
    ({"stories": "1"}, ["dz1", "dz2"]),  # dz3 is a repost in dz1's story: folded into it
    ({"stories": "1", "sort": "risk"}, ["dz3", "dz2"]),  # the story's riskiest piece stands for it
    ({"sort": "spread", "since": "7d"}, ["dz1", "dz3", "dz2", "dz_old"]),
])
def test_one_row_pages_in_every_sort(web, params: dict[str, str], expected: list[str]) -> None:
    """Pages of one row follow the cursor through every sort without repeating a piece or a story."""
    cov = _coverage(web)
    db = web.app.state.session_factory()
    try:
        from models import User
        from models.scope import scope_for_user

        user = db.scalar(select(User).where(User.username == "dz-duty"))
        scope = scope_for_user(db, user)
        f = parse_params(db, scope, params, "UTC").filter
        seen, folded, cursor = [], {}, None
        for _ in range(10):
            page = query_stream(db, scope, f, cursor=cursor, limit=1, user_id=user.id)
            seen += [i.article_id for i in page.items]
            folded.update({i.article_id: i.folded for i in page.items})
            if page.next_cursor is None:
                break
            cursor = decode_cursor(page.next_cursor, f)
        assert seen == [cov.ids[k] for k in expected]
        if "stories" in params:
            assert folded[seen[0]] == 2  # the story's two pieces
    finally:
        db.close()


def test_more_link_follows_the_cursor(web) -> None:
    _coverage(web)
    db = web.app.state.session_factory()
    now = datetime.now(UTC)
    made = [factories.article(db, title=f"儋州法院 {i}", text="x", published_at=now - timedelta(minutes=i))
            for i in range(55)]
    index_articles(db, made)
    db.commit()
    db.close()
    duty = web.login("dz-duty")
    html = duty.get("/stream").text
    first = _listed(html)
    assert len(first) == 50
    more = re.search(r'data-testid="stream-more"', html) and re.search(r'<li class="more"><a href="([^"]+)"', html)
    assert more
    url = more.group(1).replace("&amp;", "&")
    assert "cursor" in parse_qs(urlparse(url).query)
    rest = duty.get(url, headers={"HX-Request": "true"})
    second = _listed(rest.text)
    assert "<ul" not in rest.text and len(second) == 55 + 3 - 50 and not set(first) & set(second)


def test_saved_searches_are_shared_inside_the_organization_only(web) -> None:
    _coverage(web)
    duty = web.login("dz-duty")
    answer = duty.post("/stream/searches", data={"name": "负面高风险", "shared": "1",
                                                 "back": "sentiment=negative&risk=high&cursor=zzz"})
    assert answer.status_code == 303
    duty.post("/stream/searches", data={"name": "我的私人", "back": "since=7d"})
    unnamed = duty.post("/stream/searches", data={"name": "  ", "back": "since=7d"})
    assert unnamed.status_code == 422 and "请为检索命名" in unnamed.text
    db = web.app.state.session_factory()
    shared = db.scalar(select(SavedSearch).where(SavedSearch.name == "负面高风险"))
    private = db.scalar(select(SavedSearch).where(SavedSearch.name == "我的私人"))
    assert shared.params == {"sentiment": "negative", "risk": "high"}  # no cursor kept
    assert shared.unit_id == web.world.units["dz-court"].id and shared.shared
    db.close()
    leader = web.login("dz-leader")
    page = leader.get("/stream").text
    assert "负面高风险" in page and "我的私人" not in page
    opened = leader.get(f"/stream?saved={shared.id}")
    assert opened.status_code == 303 and "sentiment=negative" in opened.headers["location"]
    assert leader.get(f"/stream?saved={private.id}").status_code == 404
    hy = web.login("hy-duty")
    assert "负面高风险" not in hy.get("/stream").text
    assert hy.get(f"/stream?saved={shared.id}").status_code == 404
    # only the owner deletes it
    assert leader.post(f"/stream/searches/{shared.id}/delete").status_code == 404
    assert duty.post(f"/stream/searches/{shared.id}/delete").status_code == 303
    assert "负面高风险" not in leader.get("/stream").text


def test_mark_read_and_unread_state_per_user(web) -> None:
    cov = _coverage(web)
    duty = web.login("dz-duty")
    ids = cov.ids
    page = duty.get("/stream").text
    assert f'class="stream-item sev-high unread" data-id="{ids["dz1"]}"' in page
    answer = duty.post("/stream/bulk", data={"action": "read", "ids": [ids["dz1"], ids["hy1"]], "back": "risk=low"})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/stream?risk=low")
    page = duty.get("/stream").text
    assert f'class="stream-item sev-high" data-id="{ids["dz1"]}"' in page
    assert ids["dz1"] not in _listed(duty.get("/stream?unread=1").text)
    # the keyboard's "e" posts one id and gets 204
    assert duty.post("/stream/bulk", data={"action": "read", "ids": [ids["dz2"]], "js": "1"}).status_code == 204
    db = web.app.state.session_factory()
    reads = {(r.user_id, r.article_id) for r in db.scalars(select(StreamRead))}
    db.close()
    duty_id = web.world.users["dz-duty"].id
    assert reads == {(duty_id, ids["dz1"]), (duty_id, ids["dz2"])}  # hy1 is not theirs to mark
    # another user's state is their own
    assert f'class="stream-item sev-high unread" data-id="{ids["dz1"]}"' in web.login("dz-leader").get("/stream").text
    assert duty.post("/stream/read-all", data={"back": ""}).status_code == 303
    assert _listed(duty.get("/stream?unread=1").text) == []


def test_tags_belong_to_the_organization(web) -> None:
    cov = _coverage(web)
    duty = web.login("dz-duty")
    answer = duty.post("/stream/bulk", data={"action": "tag", "tag": "跟进", "ids": [cov.ids["dz1"], cov.ids["dz2"],
                                                                                   cov.ids["hy1"]]})
    assert answer.status_code == 303
    assert set(_listed(duty.get("/stream?tag=跟进").text)) == {cov.ids["dz1"], cov.ids["dz2"]}
    hy = web.login("hy-duty")
    assert hy.post("/stream/bulk", data={"action": "tag", "tag": "跟进", "ids": [cov.ids["hy1"]]}).status_code == 303
    assert _listed(hy.get("/stream?tag=跟进").text) == [cov.ids["hy1"]]
    db = web.app.state.session_factory()
    tags = {(t.article_id, t.unit_id) for t in db.scalars(select(ArticleTag))}
    db.close()
    assert tags == {(cov.ids["dz1"], web.world.units["dz-court"].id), (cov.ids["dz2"], web.world.units["dz-court"].id),
                    (cov.ids["hy1"], web.world.units["hy-thads"].id)}
    assert web.login("dz-leader").post("/stream/bulk", data={"action": "tag", "tag": "x",
                                                              "ids": [cov.ids["dz1"]]}).status_code == 403
    assert duty.post("/stream/bulk", data={"action": "tag", "tag": "two words",
                                           "ids": [cov.ids["dz1"]]}).status_code == 422


def test_open_a_case_from_selected_pieces(web) -> None:
    cov = _coverage(web)
    duty = web.login("dz-duty")
    answer = duty.post("/stream/bulk", data={"action": "case", "ids": [cov.ids["dz3"], cov.ids["dz1"]]})
    assert answer.status_code == 303
    case_id = int(answer.headers["location"].rsplit("/", 1)[1])
    db = web.app.state.session_factory()
    case = db.get(Alert, case_id)
    assert case.unit_id == web.world.units["dz-court"].id and str(case.severity) == "critical"
    assert case.article_id == cov.ids["dz3"] and case.reason["article_ids"] == [cov.ids["dz3"], cov.ids["dz1"]]
    db.close()
    page = duty.get(f"/cases/{case_id}")
    assert page.status_code == 200 and "dz-duty" in page.text
    assert web.login("hy-duty").get(f"/cases/{case_id}").status_code == 404
    # pieces another organization does not see: nothing to open
    assert web.login("hy-duty").post("/stream/bulk", data={"action": "case",
                                                            "ids": [cov.ids["dz1"]]}).status_code == 404
    assert web.login("dz-leader").post("/stream/bulk", data={"action": "case",
                                                              "ids": [cov.ids["dz1"]]}).status_code == 403


def test_a_case_or_tag_never_names_a_piece_only_another_of_the_users_organizations_sees(web) -> None:
    from models import Grant, Role

    cov = _coverage(web)
    db = web.app.state.session_factory()
    db.add(Grant(user_id=web.world.users["dz-duty"].id, unit_id=web.world.units["hy-thads"].id,
                 role=Role.ANALYST, granted_by="test"))
    db.commit()
    db.close()
    duty = web.login("dz-duty")  # acts for 儋州 (the first grant), also sees Hưng Yên
    duty.post("/switch", data={"unit_id": "", "next": "/stream"})  # looking at both organizations
    assert cov.ids["hy1"] in _listed(duty.get("/stream").text)
    assert duty.post("/stream/bulk", data={"action": "case", "ids": [cov.ids["hy1"]]}).status_code == 404
    answer = duty.post("/stream/bulk", data={"action": "case", "ids": [cov.ids["hy1"], cov.ids["dz1"]]})
    db = web.app.state.session_factory()
    case = db.get(Alert, int(answer.headers["location"].rsplit("/", 1)[1]))
    assert case.unit_id == web.world.units["dz-court"].id and case.reason["article_ids"] == [cov.ids["dz1"]]
    duty.post("/stream/bulk", data={"action": "tag", "tag": "跟进", "ids": [cov.ids["hy1"], cov.ids["dz1"]]})
    assert {t.article_id for t in db.scalars(select(ArticleTag))} == {cov.ids["dz1"]}
    db.close()


def test_export_is_a_real_spreadsheet_in_the_users_language(web) -> None:
    from openpyxl import load_workbook

    cov = _coverage(web)
    duty = web.login("dz-duty")
    answer = duty.post("/stream/bulk", data={"action": "export", "ids": [cov.ids["dz1"], cov.ids["hy1"]]})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(answer.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0].startswith("发布时间") and "标题" in rows[0] and "风险" in rows[0]
    assert len(rows) == 2  # hy1 is not theirs
    published, title = rows[1][0], rows[1][1]
    assert isinstance(published, datetime) and "儋州法院执行局强制腾退" in title
    assert "高" in rows[1] and "负面" in rows[1]  # labels, not enum values
    assert rows[1][3:6] == ("地市级", "新闻媒体", "中文")  # tier, channel, language named in the user's language
    assert sheet.auto_filter.ref and sheet.auto_filter.ref.startswith("A1:")
    # Nothing selected: the current filter's pieces
    whole = duty.post("/stream/bulk", data={"action": "export", "back": "sentiment=negative"})
    rows = list(load_workbook(io.BytesIO(whole.content)).active.iter_rows(values_only=True))
    assert len(rows) == 3
    hy_rows = list(load_workbook(io.BytesIO(web.login("hy-duty").post(
        "/stream/bulk", data={"action": "export"}).content)).active.iter_rows(values_only=True))
    assert rows[0] != hy_rows[0] and len(hy_rows) == 2 and "Hưng Yên" in hy_rows[1][1]


@pytest.mark.parametrize("qs", ["", "?stories=1&sort=risk", "?sort=spread&since=30d"])
def test_pages_render_for_every_sort(web, qs: str) -> None:
    _coverage(web)
    assert web.login("dz-duty").get("/stream" + qs).status_code == 200


def test_outlet_filter_rejects_unknown(web) -> None:
    _coverage(web)
    answer = web.login("dz-duty").get("/stream?outlet=999999")
    assert 'data-param="outlet"' in answer.text
