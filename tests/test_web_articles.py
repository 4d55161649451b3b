"""The article page: visible to the organization it concerns only, crawled text inert, the snapshot
served as text, and analysts' feedback stored as labels under their names. SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from classify.visibility import reindex
from models import Alert, Label, WatchQuery
from presswatch.web.routes.articles import highlight
from tests import factories

HOSTILE = '儋州法院执行局强制腾退。<script>alert("x")</script><img src=x onerror=alert(1)>'


def _world_article(web, *, case: str | None = None, text: str = HOSTILE) -> int:
    from pipeline.snapshots import store_snapshot
    from tests.web_support import web_settings

    db = web.app.state.session_factory()
    try:
        snap = store_snapshot(db, f"<html><body>{text}</body></html>".encode(), settings=web_settings(),
                              content_type="text/html", encoding="utf-8")
        article = factories.article(db, title="网传儋州法院执行干警强制腾退", text=text, snapshot_id=snap)
        if case:
            alert = db.get(Alert, web.world.cases[case].id)
            alert.article_id = article.id
        db.commit()
        return article.id
    finally:
        db.close()


def test_an_article_named_by_a_case_is_visible_to_its_organization_only(web) -> None:
    article_id = _world_article(web, case="dz")
    duty = web.login("dz-duty")
    page = duty.get(f"/articles/{article_id}")
    assert page.status_code == 200 and "网传儋州法院执行干警强制腾退" in page.text
    # Crawled markup is text, never markup.
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text and "<img src=x" not in page.text
    assert web.login("hy-duty").get(f"/articles/{article_id}").status_code == 404
    assert web.login("hy-duty").get(f"/articles/{article_id}/snapshot").status_code == 404
    assert web.login("hy-duty").get("/articles/999999").status_code == 404


def test_an_article_matching_a_watch_query_of_the_scope_is_visible_with_its_terms_marked(web) -> None:
    article_id = _world_article(web)
    db = web.app.state.session_factory()
    db.add(WatchQuery(name="dz-org", query='"儋州法院"', purpose="org", unit_id=web.world.units["dz-court"].id))
    db.flush()
    reindex(db)  # what the service's stream-index job does within a minute of a watch query's change
    db.commit()
    db.close()
    page = web.login("dz-leader").get(f"/articles/{article_id}")
    assert page.status_code == 200 and "<mark>儋州法院</mark>" in page.text
    assert web.login("hy-duty").get(f"/articles/{article_id}").status_code == 404


def test_the_snapshot_is_served_as_inert_text(web) -> None:
    article_id = _world_article(web, case="dz")
    answer = web.login("dz-duty").get(f"/articles/{article_id}/snapshot")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-security-policy"].startswith("sandbox")
    assert answer.headers["content-disposition"].startswith("attachment")
    assert "<script>alert" in answer.text  # the evidence, byte for byte, but never as a page


def test_feedback_is_a_label_with_the_analysts_name(web) -> None:
    article_id = _world_article(web, case="dz")
    duty = web.login("dz-duty")
    answer = duty.post(f"/articles/{article_id}/feedback", data={"kind": "not_about_us"}, follow_redirects=False)
    assert answer.status_code == 303
    duty.post(f"/articles/{article_id}/feedback", data={"kind": "wrong_sentiment", "value": "neutral"})
    assert duty.post(f"/articles/{article_id}/feedback", data={"kind": "wrong_sentiment", "value": "evil"}).status_code == 422
    assert duty.post(f"/articles/{article_id}/feedback", data={"kind": "delete_everything"}).status_code == 422
    assert web.login("dz-leader").post(f"/articles/{article_id}/feedback", data={"kind": "not_risky"}).status_code == 403
    db = web.app.state.session_factory()
    labels = {(lb.task, lb.label, lb.author) for lb in db.scalars(select(Label).where(Label.article_id == article_id))}
    db.close()
    assert labels == {("relevance", "not_about_us", "dz-duty"), ("sentiment", "neutral", "dz-duty")}
    assert "dz-duty" in duty.get(f"/articles/{article_id}").text  # shown on the item


def test_highlight_cuts_text_into_marked_runs() -> None:
    assert highlight("儋州法院发布公告", ["儋州法院"]) == [("儋州法院", True), ("发布公告", False)]
    assert highlight("no terms", []) == [("no terms", False)]


def test_a_piece_registered_by_a_unit_opens_from_its_quota_evidence(web) -> None:
    """The quota board links a registered piece to its article page: the registering unit's
    organization sees it (classify.visibility), another organization gets 404."""
    from datetime import UTC, datetime

    from models import Registration
    from models.enums import RegistrationState

    db = web.app.state.session_factory()
    try:
        article = factories.article(db, title="执行一队开展集中执行行动", text="执行一队开展集中执行行动。")
        db.add(Registration(unit_id=web.world.units["dz-exec-1"].id, url=article.url, title=article.title,
                            published_at=datetime.now(UTC), state=RegistrationState.LEADER_APPROVED,
                            registered_by="dz-exec1", article_id=article.id, verified_at=datetime.now(UTC)))
        db.commit()
        article_id = article.id
    finally:
        db.close()
    assert web.login("dz-leader").get(f"/articles/{article_id}").status_code == 200
    assert web.login("dz-duty").get(f"/articles/{article_id}").status_code == 200
    assert web.login("hy-duty").get(f"/articles/{article_id}").status_code == 404
