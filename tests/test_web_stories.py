"""The story page (/stories/{id}), analysts' merges and splits on the web, correction requests
(/corrections), risk plans (/plans) and a case's messages with the retry of a dead one: scope (another
organization's object is 404), roles (a correspondent or leader cannot change them), audit and
history under the user's name. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from classify.visibility import reindex
from models import Alert, AuditEntry, CorrectionRequest, Delivery, RiskPlan, Story, StoryDecision, WatchQuery
from models.enums import DeliveryStatus, RiskLevel, SentimentLabel
from tests import factories

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai


def _db(web: Any) -> Any:
    return web.app.state.session_factory()


def make_story(db: Any, world: Any, *, case: str | None = "dz",
               title: str = "儋州法院执行干警强制腾退引发围观") -> dict[str, Any]:
    """A story of three articles on two outlets (+ one of unknown outlet), the second one negative;
    ``case``: the world's case that names it (its organization sees it). Commits."""
    first_outlet = factories.outlet(db, name="今日儋州")
    other_outlet = factories.outlet(db, name="海南论坛")
    story = factories.story(db, title=title, first_seen_at=T0, last_seen_at=T0 + timedelta(hours=3))
    a1 = factories.article(db, title=title, text=title + "。", story_id=story.id, outlet_id=first_outlet.id,
                           published_at=T0, fetched_at=T0)
    a2 = factories.article(db, title="转：" + title, text=title + "，网友质疑暴力执法。", story_id=story.id,
                           outlet_id=other_outlet.id, published_at=T0 + timedelta(hours=2),
                           fetched_at=T0 + timedelta(hours=2), flags=["near_repost"])
    a3 = factories.article(db, title="再转：" + title, text=title + "。", story_id=story.id,
                           published_at=T0 + timedelta(hours=3), fetched_at=T0 + timedelta(hours=3))
    factories.classification(db, a1, sentiment=SentimentLabel.NEUTRAL)
    factories.classification(db, a2, sentiment=SentimentLabel.NEGATIVE, risk_level=RiskLevel.HIGH)
    story.first_article_id, story.first_outlet_id, story.article_count = a1.id, first_outlet.id, 3
    if case:
        db.get(Alert, world.cases[case].id).story_id = story.id
    db.commit()
    return {"story": story.id, "articles": [a1.id, a2.id, a3.id], "outlets": [first_outlet.id, other_outlet.id]}


def _story(web: Any, *, case: str | None = "dz", title: str = "儋州法院执行干警强制腾退引发围观") -> dict[str, Any]:
    db = _db(web)
    try:
        return make_story(db, web.world, case=case, title=title)
    finally:
        db.close()


def _audit(web: Any, action: str) -> list[AuditEntry]:
    db = _db(web)
    try:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))
    finally:
        db.close()


# --- the story page -----------------------------------------------------------------------------


def test_the_story_page_shows_spread_first_publisher_and_first_negative_framing_to_its_organization(web: Any) -> None:
    s = _story(web)
    duty = web.login("dz-duty")
    page = duty.get(f"/stories/{s['story']}")
    assert page.status_code == 200
    text = page.text
    assert "儋州法院执行干警强制腾退引发围观" in text and "今日儋州" in text and "海南论坛" in text
    # Times in the user's time zone (Asia/Shanghai by default): 01:00 UTC is 09:00.
    assert "2026-11-30 09:00" in text
    # The first negative framing: the second article, marked in the list and on the chart.
    assert f'data-testid="first-negative">首次负面表述: <a href="/articles/{s["articles"][1]}"' in text
    assert 'class="negative"' in text and "markPoint" in text
    # The timeline: four hours from the first article to the last, articles per hour and outlets so far.
    assert '"data": [1, 0, 1, 1]' in text and '"data": [1, 1, 2, 3]' in text
    for article_id in s["articles"]:
        assert f'href="/articles/{article_id}"' in text
    assert f'href="/cases/{web.world.cases["dz"].id}"' in text  # related case
    # Every piece of a visible story is visible, and links back to its story.
    article = duty.get(f"/articles/{s['articles'][2]}")
    assert article.status_code == 200 and f'href="/stories/{s["story"]}"' in article.text
    # Another organization's story, and a missing one, answer 404 alike.
    hy = web.login("hy-duty")
    assert hy.get(f"/stories/{s['story']}").status_code == 404
    assert hy.get(f"/articles/{s['articles'][2]}").status_code == 404
    assert hy.get("/stories/999999").status_code == 404
    # A leader sees the story but gets no merge / split controls.
    leader = web.login("dz-leader").get(f"/stories/{s['story']}")
    assert leader.status_code == 200 and 'action="/stories/' not in leader.text


def test_a_story_seen_through_a_watch_query_is_visible_and_crawled_text_is_escaped(web: Any) -> None:
    s = _story(web, case=None, title='儋州法院<script>alert(1)</script>')
    db = _db(web)
    db.add(WatchQuery(name="dz", query='"儋州法院"', purpose="org", unit_id=web.world.units["dz-court"].id))
    db.flush()
    reindex(db)  # what the service's stream-index job does within a minute of a watch query's change
    db.commit()
    db.close()
    page = web.login("dz-leader").get(f"/stories/{s['story']}")
    assert page.status_code == 200 and "<script>alert(1)" not in page.text and "&lt;script&gt;" in page.text
    assert web.login("hy-duty").get(f"/stories/{s['story']}").status_code == 404


def test_a_long_story_seen_only_through_a_piece_in_its_middle_is_visible_and_listed(web: Any) -> None:
    """Every piece of a story counts (classify.visibility.story_visible asks visible_condition): the
    page answers as /stream, which lists the story, and another organization still gets 404."""
    db = _db(web)
    try:
        outlet = factories.outlet(db, name="某论坛")
        story = factories.story(db, title="某地天气晴好", first_seen_at=T0, last_seen_at=T0 + timedelta(hours=5))
        now = datetime.now(UTC) - timedelta(hours=5)
        pieces = [factories.article(db, title=f"某地天气晴好 {i}", text="某地天气晴好。", story_id=story.id,
                                    outlet_id=outlet.id, published_at=now + timedelta(seconds=i))
                  for i in range(230)]
        middle = pieces[115]
        middle.text = "转发时有网友提到儋州法院。"  # only this repost names the court
        for piece in pieces:
            factories.classification(db, piece)
        story.article_count, story.first_article_id = len(pieces), pieces[0].id
        db.add(WatchQuery(name="dz", query='"儋州法院"', purpose="org", unit_id=web.world.units["dz-court"].id))
        db.flush()
        reindex(db)
        db.commit()
        story_id, first = story.id, pieces[0].id
    finally:
        db.close()
    leader = web.login("dz-leader")
    assert leader.get(f"/stories/{story_id}").status_code == 200
    assert leader.get(f"/articles/{first}").status_code == 200  # a repost of a visible story
    listed = re.search(r'data-testid="stream-count">([^<]*)<', leader.get("/stream/count?since=24h").text)
    assert listed and int(re.sub(r"\D", "", listed.group(1))) == 230  # every repost, as the page
    assert web.login("hy-duty").get(f"/stories/{story_id}").status_code == 404
    assert web.login("hy-duty").get(f"/articles/{first}").status_code == 404


def test_an_analyst_splits_and_merges_on_the_web_recorded_and_undoable(web: Any) -> None:
    s = _story(web)
    duty = web.login("dz-duty")
    # Split the two reposts off.
    answer = duty.post(f"/stories/{s['story']}/split", data={"article_ids": s["articles"][1:], "reason": "不同事件"})
    assert answer.status_code == 303
    new_id = int(answer.headers["location"].rsplit("/", 1)[1])
    assert new_id != s["story"]
    page = duty.get(f"/stories/{new_id}")
    assert page.status_code == 200 and "海南论坛" in page.text  # visible: its articles belonged to the case's story
    db = _db(web)
    (split,) = db.scalars(select(StoryDecision).where(StoryDecision.kind == "split")).all()
    assert (split.story_id, split.other_story_id, split.actor) == (s["story"], new_id, "dz-duty")
    assert split.article_ids == sorted(s["articles"][1:])
    db.close()
    (entry,) = _audit(web, "story.split")
    assert entry.actor == "dz-duty" and entry.actor_user_id == web.world.users["dz-duty"].id
    assert entry.unit_id == web.world.units["dz-court"].id and entry.note == "不同事件"
    assert "dz-duty" in duty.get(f"/stories/{s['story']}").text  # the decision, by name, on the page

    # Merge them back, then undo the merge.
    assert duty.post(f"/stories/{s['story']}/merge", data={"other": new_id, "reason": "同一事件"}).status_code == 303
    db = _db(web)
    assert db.get(Story, new_id).merged_into_id == s["story"]
    merge = db.scalars(select(StoryDecision).where(StoryDecision.kind == "merge")).one()
    db.close()
    # The merged story's page now leads to the story it was merged into.
    assert duty.get(f"/stories/{new_id}").headers["location"] == f"/stories/{s['story']}"
    assert duty.post(f"/stories/{s['story']}/undo/{merge.id}").status_code == 303
    db = _db(web)
    assert db.get(Story, new_id, populate_existing=True).merged_into_id is None
    db.close()
    assert [e.action for e in _audit(web, "story.merge") + _audit(web, "story.undo")] == ["story.merge", "story.undo"]
    # A refused decision says why and changes nothing.
    every = duty.post(f"/stories/{s['story']}/split", data={"article_ids": [s["articles"][0]]})
    assert every.status_code == 400 and "nothing would be left" in every.text
    assert duty.post(f"/stories/{s['story']}/merge", data={"other": s["story"]}).status_code == 400


def test_others_cannot_split_or_merge(web: Any) -> None:
    dz = _story(web)
    hy = _story(web, case="hy", title="Cưỡng chế thi hành án ở Văn Lâm")
    data = {"article_ids": dz["articles"][1:]}
    assert web.login("hy-duty").post(f"/stories/{dz['story']}/split", data=data).status_code == 404
    assert web.login("hy-duty").post(f"/stories/{dz['story']}/merge", data={"other": hy["story"]}).status_code == 404
    assert web.login("dz-exec1").post(f"/stories/{dz['story']}/split", data=data).status_code == 403
    assert web.login("dz-exec1").post(f"/stories/{dz['story']}/merge", data={"other": 1}).status_code == 403
    assert web.login("dz-leader").post(f"/stories/{dz['story']}/split", data=data).status_code == 403
    # An analyst cannot pull another organization's story into theirs: "no story", like a missing one.
    refused = web.login("dz-duty").post(f"/stories/{dz['story']}/merge", data={"other": hy["story"]})
    assert refused.status_code == 400 and f"no story #{hy['story']}" in refused.text
    db = _db(web)
    assert db.scalars(select(StoryDecision)).all() == []
    assert db.get(Story, hy["story"]).merged_into_id is None
    db.close()


def test_a_split_made_on_the_web_holds_when_new_reposts_arrive(web: Any, tmp_path: Path) -> None:
    from tests.test_pipeline_stories import COMMENT_1, COMMENT_2, NOTICE, _post

    db = _db(web)
    db.add(WatchQuery(name="qh", query='"琼海法院"', purpose="org", unit_id=web.world.units["dz-court"].id))
    first = _post(db, tmp_path, "r1", COMMENT_1 + NOTICE, minutes=20)
    second = _post(db, tmp_path, "r2", COMMENT_2 + NOTICE, minutes=25)
    reindex(db)  # classification indexes each piece for the watch queries (classify.visibility)
    db.commit()
    duty = web.login("dz-duty")
    assert duty.post(f"/stories/{first.story_id}/merge", data={"other": second.story_id}).status_code == 303
    again = _post(db, tmp_path, "r2b", "转发微博 " + COMMENT_2 + NOTICE, minutes=40)
    reindex(db)
    db.commit()
    assert again.story_id == first.story_id
    answer = duty.post(f"/stories/{first.story_id}/split",
                       data={"article_ids": [second.article_id, again.article_id], "reason": "两种解读"})
    assert answer.status_code == 303
    new_id = int(answer.headers["location"].rsplit("/", 1)[1])
    # New reposts: one of the split-off reading joins the new story; the original, which both carry
    # and which would merge them, does not undo the analyst's split.
    later = _post(db, tmp_path, "r2c", "已转 " + COMMENT_2 + NOTICE, minutes=50)
    bridge = _post(db, tmp_path, "orig", NOTICE, minutes=55)
    reindex(db)
    db.commit()
    assert later.story_id == new_id
    assert bridge.story_id in (first.story_id, new_id)
    assert db.get(Story, new_id, populate_existing=True).merged_into_id is None
    assert db.get(Story, first.story_id, populate_existing=True).merged_into_id is None
    kinds = [(d.kind, d.actor) for d in db.scalars(select(StoryDecision).order_by(StoryDecision.id))]
    assert kinds == [("merge", "dz-duty"), ("split", "dz-duty")]
    db.close()
    page = duty.get(f"/stories/{new_id}")
    assert page.status_code == 200 and f'href="/articles/{later.article_id}"' in page.text
    # The split-off story shares the original's text: the page offers it for a merge (an undo of sorts).
    assert f'data-testid="merge-{new_id}"' in duty.get(f"/stories/{first.story_id}").text


# --- correction requests ------------------------------------------------------------------------


def test_correction_requests_are_created_tracked_and_closed_within_the_organization(web: Any) -> None:
    s = _story(web)
    duty = web.login("dz-duty")
    form = duty.get(f"/corrections?article={s['articles'][1]}")
    assert form.status_code == 200 and 'name="article"' in form.text
    case_id = web.world.cases["dz"].id
    answer = duty.post("/corrections", data={"piece_url": "", "article": s["articles"][1], "case": case_id,
                                             "false_claim": "报道称执行干警殴打群众，与事实不符", "deadline_days": 2})
    assert answer.status_code == 303
    req_id = int(answer.headers["location"].rsplit("/", 1)[1])
    db = _db(web)
    req = db.get(CorrectionRequest, req_id)
    assert (req.unit_id, req.article_id, req.alert_id, req.outlet_id) == (
        web.world.units["dz-court"].id, s["articles"][1], case_id, s["outlets"][1])
    db.close()
    page = duty.get(f"/corrections/{req_id}")
    assert page.status_code == 200 and "已请求" in page.text and "海南论坛" in page.text
    assert f"/corrections/{req_id}" in duty.get("/corrections").text
    assert f"/corrections/{req_id}" in duty.get(f"/stories/{s['story']}").text  # related on the story page
    # Another organization: not in its list, 404 on the page and on every action.
    hy = web.login("hy-duty")
    assert f"/corrections/{req_id}" not in hy.get("/corrections").text
    assert hy.get(f"/corrections/{req_id}").status_code == 404
    assert hy.post(f"/corrections/{req_id}/close", data={"outcome": "refused"}).status_code == 404
    assert hy.post(f"/corrections/{req_id}/note", data={"note": "x"}).status_code == 404
    # hy-duty cannot file a request on dz's case or article either.
    assert hy.post("/corrections", data={"piece_url": "http://x.example/1", "false_claim": "sai",
                                         "case": case_id}).status_code == 400
    assert hy.post("/corrections", data={"false_claim": "sai", "article": s["articles"][1]}).status_code == 400
    # A leader reads but does not act.
    leader = web.login("dz-leader")
    assert leader.get(f"/corrections/{req_id}").status_code == 200
    assert leader.post(f"/corrections/{req_id}/close", data={"outcome": "refused"}).status_code == 403
    assert leader.post("/corrections", data={"piece_url": "http://x.example/2", "false_claim": "x"}).status_code == 403
    # Track, then close; "corrected" needs the link of the correction.
    assert duty.post(f"/corrections/{req_id}/note", data={"note": "已电话联系编辑"}).status_code == 303
    refused = duty.post(f"/corrections/{req_id}/close", data={"outcome": "corrected"})
    assert refused.status_code == 400 and "link" in refused.text
    assert duty.post(f"/corrections/{req_id}/close", data={"outcome": "corrected", "note": "已刊登更正",
                                                          "corrected_url": "http://x.example/c"}).status_code == 303
    page = duty.get(f"/corrections/{req_id}")
    assert "已更正" in page.text and "已电话联系编辑" in page.text and "dz-duty" in page.text
    assert duty.post(f"/corrections/{req_id}/close", data={"outcome": "refused"}).status_code == 400  # closed already
    assert [e.action for e in _audit(web, "correction.request") + _audit(web, "correction.note")
            + _audit(web, "correction.close")] == ["correction.request", "correction.note", "correction.close"]
    assert {e.actor for e in _audit(web, "correction.close")} == {"dz-duty"}
    # The case's history names it too, and its page offers to file one about the case.
    case_page = duty.get(f"/cases/{case_id}").text
    assert "correction request #" in case_page and f'href="/corrections?case={case_id}"' in case_page
    assert f'<option value="{case_id}" selected>' in duty.get(f"/corrections?case={case_id}").text


def test_a_correction_without_a_case_belongs_to_the_users_organization(web: Any) -> None:
    duty = web.login("hy-duty")
    answer = duty.post("/corrections", data={"piece_url": "https://baohungyen.example/tin/1.html",
                                             "false_claim": "Bài viết sai sự thật"})
    assert answer.status_code == 303
    req_id = int(answer.headers["location"].rsplit("/", 1)[1])
    page = duty.get(f"/corrections/{req_id}")
    assert page.status_code == 200 and "đã yêu cầu" in page.text  # the state in the user's language
    assert web.login("dz-duty").get(f"/corrections/{req_id}").status_code == 404
    assert duty.post("/corrections", data={"piece_url": "", "false_claim": "x"}).status_code == 400


# --- risk plans ---------------------------------------------------------------------------------


def test_risk_plans_are_created_and_closed_within_the_organization(web: Any) -> None:
    duty = web.login("dz-duty")
    when = (datetime.now(UTC) + timedelta(days=2)).astimezone().strftime("%Y-%m-%dT%H:%M")
    answer = duty.post("/plans", data={"name": "那大镇强制腾退", "action_at": when, "place": "那大镇",
                                       "parties": "申请执行人，被执行人", "keywords": "那大镇, 强制腾退",
                                       "before_hours": 24, "after_hours": 48, "min_risk": "low"})
    assert answer.status_code == 303
    plan_id = int(answer.headers["location"].rsplit("/", 1)[1])
    db = _db(web)
    plan = db.get(RiskPlan, plan_id)
    assert plan.unit_id == web.world.units["dz-court"].id and plan.keywords == ["那大镇", "强制腾退"]
    assert plan.parties == ["申请执行人", "被执行人"] and plan.overrides["min_risk"] == "low"
    assert plan.window_end - plan.window_start == timedelta(hours=72)
    db.close()
    page = duty.get(f"/plans/{plan_id}")
    assert page.status_code == 200 and "计划中" in page.text and "那大镇" in page.text
    assert "那大镇强制腾退" in duty.get("/plans").text
    hy = web.login("hy-duty")
    assert "那大镇强制腾退" not in hy.get("/plans").text
    assert hy.get(f"/plans/{plan_id}").status_code == 404
    assert hy.post(f"/plans/{plan_id}/close").status_code == 404
    assert web.login("dz-leader").post(f"/plans/{plan_id}/close").status_code == 403
    assert web.login("dz-exec1").post("/plans", data={"name": "x", "action_at": when, "keywords": "x"}).status_code == 403
    # A bad form says why.
    bad = duty.post("/plans", data={"name": "那大镇强制腾退", "action_at": when, "keywords": "x"})
    assert bad.status_code == 400 and "exists already" in bad.text
    assert duty.post("/plans", data={"name": "y", "action_at": "tomorrow", "keywords": "x"}).status_code == 400
    # Close it early: the window ends now, so no tighter rule or faster polling is left.
    assert duty.post(f"/plans/{plan_id}/close", data={"note": "行动取消"}).status_code == 303
    page = duty.get(f"/plans/{plan_id}")
    assert "已关闭" in page.text and "行动取消" in page.text and "dz-duty" in page.text
    db = _db(web)
    from crawlers.run import plan_poll_seconds

    assert plan_poll_seconds(db, datetime.now(UTC) + timedelta(days=2)) == {}
    db.close()
    assert [e.action for e in _audit(web, "plan.create") + _audit(web, "plan.close")] == ["plan.create", "plan.close"]
    assert duty.post(f"/plans/{plan_id}/close").status_code == 400  # closed already


# --- a case's messages --------------------------------------------------------------------------


def _messages(web: Any) -> dict[str, int]:
    from alerts.outbox import enqueue

    db = _db(web)
    case_id = web.world.cases["dz"].id
    dead = enqueue(db, idempotency_key=f"t:dead:{case_id}", channel="email", recipient="duty@dz.example",
                   language="zh-CN", subject="s", body_text="b", alert_id=case_id,
                   payload={"kind": "alert", "recipient_name": "值班员"})
    dead.status, dead.last_error, dead.attempts = DeliveryStatus.DEAD, "SMTP 550 mailbox unavailable", 8
    held = enqueue(db, idempotency_key=f"t:held:{case_id}", channel="wecom",
                   recipient="https://qyapi.example/cgi-bin/webhook/send?key=SECRET", language="zh-CN",
                   subject="s", body_text="b", alert_id=case_id, payload={"kind": "alert"},
                   not_before=datetime.now(UTC) + timedelta(hours=6), hold_reason="quiet hours until 07:00")
    db.commit()
    ids = {"dead": dead.id, "held": held.id}
    db.close()
    return ids


def test_a_cases_messages_show_where_they_stand_and_a_dead_one_can_be_retried(web: Any) -> None:
    ids = _messages(web)
    case_id = web.world.cases["dz"].id
    duty = web.login("dz-duty")
    page = duty.get(f"/cases/{case_id}").text
    assert "SMTP 550 mailbox unavailable" in page and "quiet hours until 07:00" in page and "值班员" in page
    assert "SECRET" not in page  # a webhook URL holds a key: never shown
    assert f'data-testid="retry-{ids["dead"]}"' in page and f'data-testid="retry-{ids["held"]}"' not in page
    leader = web.login("dz-leader")
    assert f'data-testid="retry-{ids["dead"]}"' not in leader.get(f"/cases/{case_id}").text
    assert leader.post(f"/cases/{case_id}/messages/{ids['dead']}/retry").status_code == 403
    assert web.login("hy-duty").post(f"/cases/{case_id}/messages/{ids['dead']}/retry").status_code == 404
    # A message of another case cannot be retried through this one.
    hy_case = web.world.cases["hy"].id
    assert web.login("hy-duty").post(f"/cases/{hy_case}/messages/{ids['dead']}/retry").status_code == 400
    assert duty.post(f"/cases/{case_id}/messages/{ids['held']}/retry").status_code == 400  # not dead
    assert duty.post(f"/cases/{case_id}/messages/{ids['dead']}/retry").status_code == 303
    db = _db(web)
    row = db.get(Delivery, ids["dead"])
    assert row.status == DeliveryStatus.PENDING and row.attempts == 0
    db.close()
    (entry,) = _audit(web, "delivery.requeue")
    assert entry.actor == "dz-duty" and entry.unit_id == web.world.units["dz-court"].id
    assert entry.before is not None and "SMTP 550" in entry.before["error"]
