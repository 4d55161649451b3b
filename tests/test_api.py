"""/api/v1: keys (hashed, narrowed, expiring, revocable), scoping between two organizations,
cursor pages stable under inserts, problem+json errors, the rate limit, the OpenAPI document.

Runs on SQLite and PostgreSQL through the ``web`` fixture (tests/web_support.py): 儋州 (dz-*) and
Hưng Yên (hy-duty), one open case each.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.api_keys import create_key, key_digest
from accounts.audit import Actor
from classify.visibility import reindex
from models import Alert, ApiKey, AuditEntry, CorrectionRequest, User, utcnow
from models.enums import AlertKind, CaseState, RiskLevel
from tests.web_support import WebClients

API = "/api/v1"


@contextmanager
def db_of(web: WebClients) -> Iterator[Session]:
    db: Session = web.app.state.session_factory()
    try:
        yield db
        db.commit()
    finally:
        db.close()


def make_key(web: WebClients, username: str, **kw: Any) -> str:
    with db_of(web) as db:
        user = db.scalar(select(User).where(User.username == username))
        assert user is not None
        return create_key(db, Actor.system("test"), user, name=f"{username} key", **kw).key


def api(web: WebClients, key: str | None) -> TestClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    client = TestClient(web.app, headers=headers, follow_redirects=False)
    web._clients.append(client)
    return client


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["instance"].startswith(API)
    return body


def add_cases(web: WebClients, unit_code: str, n: int, title: str = "case") -> list[int]:
    with db_of(web) as db:
        unit_id = web.world.units[unit_code].id
        ids = []
        for i in range(n):
            alert = Alert(dedupe_key=f"t:{unit_code}:{title}:{i}:{utcnow().timestamp()}", kind=AlertKind.STORY,
                          severity=RiskLevel.MEDIUM, title=f"{title} {i}", state=CaseState.NEW, unit_id=unit_id)
            db.add(alert)
            db.flush()
            ids.append(alert.id)
        return ids


def test_key_is_shown_once_and_stored_hashed(web: WebClients) -> None:
    key = make_key(web, "dz-duty")
    prefix = key.split("_")[1]
    with db_of(web) as db:
        row = db.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        assert row is not None and row.key_hash == key_digest(key) and key not in row.key_hash
        assert row.last_used_at is None
    me = api(web, key).get(f"{API}/me")
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "dz-duty" and me.json()["key_prefix"] == prefix
    with db_of(web) as db:
        assert db.scalar(select(ApiKey.last_used_at).where(ApiKey.prefix == prefix)) is not None


def test_no_key_wrong_key_expired_and_revoked_keys_are_refused(web: WebClients) -> None:
    assert_problem(api(web, None).get(f"{API}/cases"), 401)
    body = assert_problem(api(web, "pw_0000abcd_not-a-real-secret").get(f"{API}/cases"), 401)
    assert "Bearer" in api(web, None).get(f"{API}/cases").headers["www-authenticate"]
    assert "detail" in body
    good = make_key(web, "dz-duty")
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    assert_problem(api(web, forged).get(f"{API}/cases"), 401)

    expiring = make_key(web, "dz-duty", expires_in_days=1)
    assert api(web, expiring).get(f"{API}/cases").status_code == 200
    with db_of(web) as db:
        row = db.scalar(select(ApiKey).where(ApiKey.prefix == expiring.split("_")[1]))
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    assert_problem(api(web, expiring).get(f"{API}/cases"), 401)

    revoked = make_key(web, "dz-duty")
    assert api(web, revoked).get(f"{API}/cases").status_code == 200
    from accounts.api_keys import revoke_key

    with db_of(web) as db:
        revoke_key(db, Actor.system("test"), None, revoked.split("_")[1])
    assert_problem(api(web, revoked).get(f"{API}/cases"), 401)


def test_a_session_cookie_does_not_authenticate_the_api(web: WebClients) -> None:
    browser = web.login("dz-duty")
    case_id = web.world.cases["dz"].id
    assert_problem(browser.get(f"{API}/cases"), 401)
    assert_problem(browser.post(f"{API}/cases/{case_id}/ack", json={}), 401)
    browser.headers["Origin"] = "https://evil.example"
    assert_problem(browser.post(f"{API}/cases/{case_id}/ack", json={}), 403)
    with db_of(web) as db:
        alert = db.get(Alert, case_id)
        assert alert is not None and alert.state == CaseState.NEW


def test_keys_of_two_organizations_see_only_their_own(web: WebClients) -> None:
    dz, hy = make_key(web, "dz-duty"), make_key(web, "hy-duty")
    dz_case, hy_case = web.world.cases["dz"].id, web.world.cases["hy"].id
    dz_ids = [c["id"] for c in api(web, dz).get(f"{API}/cases").json()["items"]]
    hy_ids = [c["id"] for c in api(web, hy).get(f"{API}/alerts").json()["items"]]
    assert dz_case in dz_ids and hy_case not in dz_ids
    assert hy_case in hy_ids and dz_case not in hy_ids
    # Another organization's case is "not found", exactly like a missing one: same status, same shape.
    other = assert_problem(api(web, hy).get(f"{API}/cases/{dz_case}"), 404)
    missing = assert_problem(api(web, hy).get(f"{API}/cases/999999"), 404)
    assert other.keys() == missing.keys()
    assert_problem(api(web, hy).post(f"{API}/cases/{dz_case}/ack", json={"note": "x"}), 404)
    # Nothing countable leaks either: a filtered list has no total, and paging only ever shows own rows.
    add_cases(web, "dz-court", 3, "儋州")
    hy_all = api(web, hy).get(f"{API}/cases", params={"limit": 200}).json()
    assert "total" not in hy_all and all("儋州" not in c["title"] for c in hy_all["items"])
    assert [u["id"] for u in api(web, hy).get(f"{API}/units").json()] == sorted(
        [web.world.units["hy-thads"].id, web.world.units["hy-vanlam"].id])
    assert api(web, hy).get(f"{API}/me").json()["unit_ids"] == sorted(
        [web.world.units["hy-thads"].id, web.world.units["hy-vanlam"].id])


def test_a_key_narrowed_to_one_unit_sees_its_subtree_only(web: WebClients) -> None:
    both = make_key(web, "both", unit_id=web.world.units["hy-thads"].id)
    ids = [c["id"] for c in api(web, both).get(f"{API}/cases").json()["items"]]
    assert web.world.cases["hy"].id in ids and web.world.cases["dz"].id not in ids
    assert_problem(api(web, both).get(f"{API}/cases/{web.world.cases['dz'].id}"), 404)
    # A key can never be wider than its user: a unit outside the user's grants is refused.
    from accounts.users import NotFound

    with pytest.raises(NotFound):
        make_key(web, "hy-duty", unit_id=web.world.units["dz-court"].id)


def test_case_actions_through_the_api_are_the_case_workflow_and_audited_with_the_key(web: WebClients) -> None:
    key = make_key(web, "dz-duty")
    prefix = key.split("_")[1]
    case_id = web.world.cases["dz"].id
    client = api(web, key)
    r = client.post(f"{API}/cases/{case_id}/ack", json={"note": "看到了"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "acknowledged" and r.json()["assignee"] == "dz-duty"
    assert [e["action"] for e in r.json()["events"]][-1] == "ack"
    r = client.post(f"{API}/cases/{case_id}/assign", json={"assignee": "dz-admin"})
    assert r.status_code == 200 and r.json()["assignee"] == "dz-admin"
    assert_problem(client.post(f"{API}/cases/{case_id}/assign", json={"assignee": "hy-duty"}), 409)
    assert_problem(client.post(f"{API}/cases/{case_id}/note", json={}), 409)
    assert client.post(f"{API}/cases/{case_id}/note", json={"note": "通报宣传科"}).status_code == 200
    assert client.post(f"{API}/cases/{case_id}/respond", json={"response_line": "依法处置"}).json()["state"] == \
        "responding"
    assert client.post(f"{API}/cases/{case_id}/resolve", json={"note": "已回应"}).json()["state"] == "resolved"
    body = assert_problem(client.post(f"{API}/cases/{case_id}/resolve", json={}), 409)
    assert "resolved" in body["detail"]
    assert client.post(f"{API}/cases/{case_id}/reopen", json={}).json()["state"] == "new"
    assert client.post(f"{API}/cases/{case_id}/dismiss", json={"sentiment": "neutral"}).json()["state"] == "dismissed"
    with db_of(web) as db:
        entries = db.scalars(select(AuditEntry).where(AuditEntry.object_type == "case",
                                                      AuditEntry.object_id == str(case_id))
                             .order_by(AuditEntry.id)).all()
    assert [e.action for e in entries] == ["case.ack", "case.assign", "case.respond", "case.resolve", "case.reopen",
                                           "case.dismiss"]
    user_id = web.world.users["dz-duty"].id
    assert all(e.actor == "dz-duty" and e.api_key_prefix == prefix and e.actor_user_id == user_id for e in entries)


def test_read_only_key_and_a_leader_key_are_refused_on_writes(web: WebClients) -> None:
    case_id = web.world.cases["dz"].id
    read_only = make_key(web, "dz-duty", read_only=True)
    assert api(web, read_only).get(f"{API}/cases/{case_id}").status_code == 200
    assert_problem(api(web, read_only).post(f"{API}/cases/{case_id}/ack", json={}), 403)
    assert_problem(api(web, read_only).post(f"{API}/corrections", json={
        "case_id": case_id, "piece_url": "https://x.example/a", "false_claim": "x"}), 403)
    assert api(web, read_only).get(f"{API}/me").json()["read_only"] is True
    leader = make_key(web, "dz-leader")
    assert_problem(api(web, leader).post(f"{API}/cases/{case_id}/ack", json={}), 403)
    with db_of(web) as db:
        alert = db.get(Alert, case_id)
        assert alert is not None and alert.state == CaseState.NEW


def test_pages_are_stable_while_rows_are_inserted(web: WebClients) -> None:
    key = make_key(web, "hy-duty")
    client = api(web, key)
    add_cases(web, "hy-thads", 7, "old")
    first = client.get(f"{API}/cases", params={"limit": 3})
    assert first.status_code == 200
    page1 = first.json()
    assert len(page1["items"]) == 3 and page1["next_cursor"]
    assert first.headers["link"].endswith('rel="next"') and "cursor=" in first.headers["link"]
    add_cases(web, "hy-thads", 4, "new")  # arrive between page 1 and page 2
    seen = [c["id"] for c in page1["items"]]
    cursor = page1["next_cursor"]
    while cursor:
        page = client.get(f"{API}/cases", params={"limit": 3, "cursor": cursor}).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
    # Every row that existed at the first page, each once, newest first; the new ones are not mixed in.
    assert len(seen) == len(set(seen)) == 8
    assert all("new" not in c for c in seen if isinstance(c, str))
    with db_of(web) as db:
        expected = db.scalars(select(Alert.id).where(Alert.unit_id == web.world.units["hy-thads"].id,
                                                     ~Alert.title.like("new %"))
                              .order_by(Alert.created_at.desc(), Alert.id.desc())).all()
    assert seen == list(expected)
    assert_problem(client.get(f"{API}/cases", params={"cursor": "garbage!"}), 400)
    other_list = client.get(f"{API}/corrections", params={"cursor": page1["next_cursor"]})
    assert_problem(other_list, 400)
    assert_problem(client.get(f"{API}/cases", params={"limit": 201}), 422)


def test_validation_and_unknown_paths_are_problem_json(web: WebClients) -> None:
    client = api(web, make_key(web, "dz-duty"))
    body = assert_problem(client.post(f"{API}/corrections", json={"case_id": "x"}), 422)
    assert {e["where"] for e in body["errors"]} >= {"body.case_id", "body.piece_url"}
    assert_problem(client.get(f"{API}/no-such-thing"), 404)
    assert_problem(client.get(f"{API}/cases/not-a-number"), 422)
    assert_problem(client.post(f"{API}/cases/{web.world.cases['dz'].id}/explode", json={}), 422)


def test_rate_limit_answers_429_with_retry_after_and_the_limits_are_readable(web: WebClients) -> None:
    from presswatch.web.api.core import RateLimiter

    web.app.state.api.state.limiter = RateLimiter(3)
    key, other = make_key(web, "dz-duty"), make_key(web, "hy-duty")
    client = api(web, key)
    limits = client.get(f"{API}/limits").json()
    assert limits["requests_per_minute"] == 3 and limits["remaining"] == 2
    assert client.get(f"{API}/cases").headers["ratelimit-remaining"] == "1"
    assert client.get(f"{API}/cases").status_code == 200
    refused = client.get(f"{API}/cases")
    assert_problem(refused, 429)
    assert 1 <= int(refused.headers["retry-after"]) <= 20
    assert api(web, other).get(f"{API}/cases").status_code == 200  # per key, not global


def test_corrections_plans_and_labels_are_scoped_and_audited(web: WebClients) -> None:
    dz, hy = make_key(web, "dz-duty"), make_key(web, "hy-duty")
    case_id = web.world.cases["dz"].id
    r = api(web, dz).post(f"{API}/corrections", json={
        "case_id": case_id, "piece_url": "https://news.example.cn/a/1", "false_claim": "数字失实"})
    assert r.status_code == 201, r.text
    correction = r.json()
    assert correction["unit_id"] == web.world.units["dz-court"].id and correction["state"] == "requested"
    assert [c["id"] for c in api(web, dz).get(f"{API}/corrections").json()["items"]] == [correction["id"]]
    assert api(web, hy).get(f"{API}/corrections").json()["items"] == []
    assert_problem(api(web, hy).get(f"{API}/corrections/{correction['id']}"), 404)
    assert_problem(api(web, hy).post(f"{API}/corrections/{correction['id']}/close",
                                     json={"outcome": "refused"}), 404)
    assert_problem(api(web, hy).post(f"{API}/corrections", json={
        "case_id": case_id, "piece_url": "https://x.example/", "false_claim": "x"}), 404)
    closed = api(web, dz).post(f"{API}/corrections/{correction['id']}/close", json={"outcome": "refused"})
    assert closed.status_code == 200 and closed.json()["state"] == "refused"
    with db_of(web) as db:
        row = db.get(CorrectionRequest, correction["id"])
        assert row is not None and row.history[0]["actor"] == "dz-duty"

    plan = api(web, dz).post(f"{API}/plans", json={"name": "腾退 3号", "action_at": "2026-12-10T09:00:00+08:00",
                                                   "keywords": ["腾退"]})
    assert plan.status_code == 201, plan.text
    assert plan.json()["unit_id"] == web.world.units["dz-court"].id
    assert api(web, hy).get(f"{API}/plans").json()["items"] == []
    assert_problem(api(web, hy).get(f"{API}/plans/{plan.json()['id']}"), 404)
    assert_problem(api(web, dz).post(f"{API}/plans", json={"name": "x", "action_at": "2026-12-10T09:00:00",
                                                           "keywords": ["x"]}), 422)
    again = api(web, dz).post(f"{API}/plans", json={"name": "腾退 3号", "action_at": "2026-12-11T09:00:00+08:00",
                                                    "keywords": ["腾退"]})
    assert "exists already" in assert_problem(again, 422)["detail"]
    with db_of(web) as db:
        audit = db.scalars(select(AuditEntry).where(AuditEntry.action.in_(
            ("correction.request", "correction.close", "plan.create")))).all()
    assert sorted(a.action for a in audit) == ["correction.close", "correction.request", "plan.create"]
    assert {a.api_key_prefix for a in audit} == {dz.split("_")[1]}


def test_openapi_document_validates_and_the_docs_page_renders_it(web: WebClients) -> None:
    from openapi_spec_validator import validate

    anonymous = api(web, None)
    spec = anonymous.get(f"{API}/openapi.json")
    assert spec.status_code == 200
    document = spec.json()
    validate(document)
    paths = document["paths"]
    for path in ("/cases", "/cases/{case_id}/{action}", "/corrections", "/plans", "/registrations",
                 "/registrations/{registration_id}/review", "/quota/status", "/quota/rankings", "/digests",
                 "/digests/{digest_id}/html", "/digests/{digest_id}/download.{fmt}", "/sources",
                 "/sources/{source_id}/pause", "/watch-queries", "/watch-queries/{query_id}", "/rules",
                 "/rules/{rule_id}/disable", "/articles", "/stories", "/articles/{article_id}/labels",
                 "/corrections/{correction_id}/note", "/limits"):
        assert path in paths, path
    assert document["servers"] == [{"url": API}]
    assert {"from", "risk", "q", "cursor", "limit"} <= {p["name"] for p in paths["/articles"]["get"]["parameters"]}
    docs = anonymous.get(f"{API}/docs")
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    assert "/api/v1/cases/{case_id}/{action}" in docs.text and "<script>" not in docs.text
    assert "cdn" not in docs.text.lower()


def test_account_page_creates_shows_once_lists_and_revokes_a_key(web: WebClients) -> None:
    browser = web.login("hy-duty")
    unit_id = web.world.units["hy-vanlam"].id
    created = browser.post("/account/api-keys", data={"name": "bảng trực ban", "read_only": "1",
                                                        "unit_id": str(unit_id), "expires_days": "30"})
    assert created.status_code == 201, created.text
    import re

    found = re.search(r"pw_[0-9a-f]{8}_[A-Za-z0-9_\-]{20,}", created.text)
    assert found is not None
    key = found.group(0)
    prefix = key.split("_")[1]
    # Shown once: the account page afterwards lists the key by its prefix, never the key itself.
    again = browser.get("/account")
    assert f"pw_{prefix}_" in again.text and key not in again.text
    me = api(web, key).get(f"{API}/me").json()
    assert me["read_only"] is True and me["unit_id"] == unit_id and me["unit_ids"] == [unit_id]
    assert_problem(api(web, key).post(f"{API}/cases/{web.world.cases['hy'].id}/ack", json={}), 403)
    # Another user cannot revoke it; its owner can, and it stops working.
    assert web.login("dz-duty").post(f"/account/api-keys/{prefix}/revoke").status_code == 404
    assert api(web, key).get(f"{API}/me").status_code == 200
    assert browser.post(f"/account/api-keys/{prefix}/revoke").status_code == 303
    assert_problem(api(web, key).get(f"{API}/me"), 401)
    # A unit of another organization cannot be chosen.
    refused = browser.post("/account/api-keys", data={"name": "x", "unit_id": str(web.world.units["dz-court"].id)})
    assert refused.status_code == 400
    with db_of(web) as db:
        actions = db.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "api_key",
                                                             AuditEntry.object_id == prefix)
                             .order_by(AuditEntry.id)).all()
    assert actions == ["api_key.create", "api_key.revoke"]


def test_cli_creates_lists_and_revokes_keys(web: WebClients, monkeypatch: pytest.MonkeyPatch) -> None:
    """``presswatch api-keys``: the CLI acts on the same tables through accounts.api_keys."""
    from typer.testing import CliRunner

    import presswatch.cli as cli
    from models import db as models_db

    factory = web.app.state.session_factory

    @contextmanager
    def scope(*_args: Any, **_kw: Any) -> Iterator[Session]:
        session = factory()
        try:
            yield session
            session.commit()
        finally:
            session.close()

    monkeypatch.setattr(models_db, "session_scope", scope)
    from presswatch.console import console

    monkeypatch.setattr(console, "width", 200)
    runner = CliRunner()
    made = runner.invoke(cli.app, ["api-keys", "create", "dz-duty", "--name", "值班看板", "--read-only",
                                   "--unit", "dz-exec", "--expires-days", "7"])
    assert made.exit_code == 0, made.output
    key = made.output.strip().splitlines()[-1]
    prefix = key.split("_")[1]
    me = api(web, key).get(f"{API}/me").json()
    assert me["username"] == "dz-duty" and me["read_only"] and me["unit_id"] == web.world.units["dz-exec"].id
    listed = runner.invoke(cli.app, ["api-keys", "list", "dz-duty"])
    assert listed.exit_code == 0 and prefix in listed.output and key not in listed.output
    assert runner.invoke(cli.app, ["api-keys", "revoke", prefix]).exit_code == 0
    assert_problem(api(web, key).get(f"{API}/me"), 401)
    assert runner.invoke(cli.app, ["api-keys", "create", "nobody", "--name", "x"]).exit_code != 0


def test_registrations_quota_status_and_rankings_stay_in_the_organization(web: WebClients) -> None:
    from models import QuotaRule
    from models.enums import Measure
    from presswatch.periods import Period
    from tests import factories

    with db_of(web) as db:
        outlet_key = factories.outlet(db, key="hainan-daily", name="海南日报").key
        for unit_code in ("dz-exec-1", "hy-vanlam"):
            db.add(QuotaRule(key=f"monthly-{unit_code}", name=f"monthly {unit_code}", target=2,
                             period=Period.MONTH, measure=Measure.COUNT, unit_id=web.world.units[unit_code].id))
    dz_exec1, dz_admin, dz_duty, hy = (make_key(web, u) for u in ("dz-exec1", "dz-admin", "dz-duty", "hy-duty"))
    today = utcnow().date().isoformat()
    piece = {"unit": "dz-exec-1", "outlet": outlet_key, "published": today, "title": "执行一队依法腾退",
             "url": "https://www.hinews.example/a/1.html"}
    made = api(web, dz_exec1).post(f"{API}/registrations", json=piece)
    assert made.status_code == 201, made.text
    reg = made.json()["registration"]
    assert reg["state"] == "submitted" and reg["registered_by"] == "dz-exec1"
    # An analyst has no "register" right; another organization's unit is unknown; bad input is 422.
    assert_problem(api(web, dz_duty).post(f"{API}/registrations", json=piece), 403)
    assert_problem(api(web, hy).post(f"{API}/registrations", json=piece), 404)
    assert_problem(api(web, dz_exec1).post(f"{API}/registrations", json={**piece, "outlet": "no-such"}), 422)
    assert_problem(api(web, dz_exec1).post(f"{API}/registrations", json={"unit": "dz-exec-1", "title": "x"}), 422)
    assert [r["id"] for r in api(web, dz_duty).get(f"{API}/registrations").json()["items"]] == [reg["id"]]
    assert api(web, hy).get(f"{API}/registrations").json()["items"] == []
    assert_problem(api(web, hy).get(f"{API}/registrations/{reg['id']}"), 404)
    # Review (quota.desk.may_review): the correspondent may not approve; the admin may, in order.
    review = f"{API}/registrations/{reg['id']}/review"
    assert_problem(api(web, dz_exec1).post(review, json={"action": "section_approve"}), 403)
    assert_problem(api(web, hy).post(review, json={"action": "section_approve"}), 404)
    assert_problem(api(web, dz_admin).post(review, json={"action": "leader_approve"}), 409)
    approved = api(web, dz_admin).post(review, json={"action": "section_approve", "note": "同意"})
    assert approved.status_code == 200 and approved.json()["state"] == "section_approved"

    dz_rows = api(web, dz_duty).get(f"{API}/quota/status").json()
    hy_rows = api(web, hy).get(f"{API}/quota/status").json()
    assert {r["unit_code"] for r in dz_rows} == {"dz-exec-1"} and dz_rows[0]["count"] == 1
    assert {r["unit_code"] for r in hy_rows} == {"hy-vanlam"} and hy_rows[0]["count"] == 0
    assert_problem(api(web, hy).get(f"{API}/quota/status", params={"unit": "dz-exec-1"}), 404)
    hy_ranks = api(web, hy).get(f"{API}/quota/rankings").json()
    assert list(hy_ranks) == ["monthly-hy-vanlam"] and [r["unit_code"] for r in hy_ranks["monthly-hy-vanlam"]] == [
        "hy-vanlam"]
    report = api(web, dz_duty).get(f"{API}/quota/report.xlsx")
    assert report.status_code == 200 and report.content[:2] == b"PK"
    with db_of(web) as db:
        audit = db.scalars(select(AuditEntry).where(AuditEntry.object_type == "registration")).all()
    assert sorted((a.action, a.actor, a.api_key_prefix) for a in audit) == [
        ("quota.register", "dz-exec1", dz_exec1.split("_")[1]),
        ("quota.review.section_approve", "dz-admin", dz_admin.split("_")[1])]


def test_sources_queries_rules_digests_and_labels_are_scoped(web: WebClients, tmp_path: Any) -> None:
    from models import AlertRule, Digest, WatchQuery
    from tests import factories

    units = web.world.units
    html = tmp_path / "digest.html"
    html.write_text("<h1>儋州 日报</h1>", encoding="utf-8")
    (tmp_path / "digest.xlsx").write_bytes(b"PK\x03\x04 saved workbook")
    with db_of(web) as db:
        shared = factories.source(db, key="people-cn", health="failing", consecutive_failures=4,
                                  last_error="HTTP 503", unit_id=units["dz-court"].id)
        hy_own = factories.source(db, key="hy-portal", unit_id=units["hy-thads"].id)
        db.add_all([WatchQuery(name="dz-watch", query='"儋州法院"', unit_id=units["dz-court"].id),
                    WatchQuery(name="hy-watch", query='"Văn Lâm"', unit_id=units["hy-thads"].id),
                    AlertRule(name="dz-rule", severity=RiskLevel.HIGH, conditions={"min_risk": "high"},
                              unit_id=units["dz-court"].id),
                    AlertRule(name="hy-rule", severity=RiskLevel.HIGH, conditions={}, unit_id=units["hy-thads"].id)])
        now = utcnow()
        digest = Digest(name="儋州日报", language="zh-CN", period_start=now - timedelta(days=1), period_end=now,
                        html_path=str(html), unit_id=units["dz-court"].id)
        db.add(digest)
        story = factories.story(db, title="儋州法院通报执行工作")
        article = factories.article(db, title="儋州法院通报执行工作", text="儋州法院今日通报", story_id=story.id)
        ids = {"shared": shared.id, "hy_own": hy_own.id, "digest": digest.id, "article": article.id,
               "story": story.id}
        reindex(db)  # the stream-index job: which organization's watch queries match which piece
    dz, hy = make_key(web, "dz-duty"), make_key(web, "hy-duty")

    dz_sources = {s["key"] for s in api(web, dz).get(f"{API}/sources").json()["items"]}
    assert "people-cn" in dz_sources and "hy-portal" not in dz_sources
    assert_problem(api(web, dz).get(f"{API}/sources/{ids['hy_own']}"), 404)
    assert api(web, hy).get(f"{API}/sources/{ids['hy_own']}").json()["key"] == "hy-portal"
    failing = api(web, dz).get(f"{API}/sources", params={"failing": "true"}).json()["items"]
    assert [(s["key"], s["health"], s["last_error"]) for s in failing] == [("people-cn", "failing", "HTTP 503")]

    assert [q["name"] for q in api(web, dz).get(f"{API}/watch-queries").json()["items"]] == ["dz-watch"]
    assert [r["name"] for r in api(web, hy).get(f"{API}/rules").json()["items"]] == ["hy-rule"]
    dz_rule = api(web, dz).get(f"{API}/rules").json()["items"][0]["id"]
    assert_problem(api(web, hy).get(f"{API}/rules/{dz_rule}"), 404)

    assert [d["id"] for d in api(web, dz).get(f"{API}/digests").json()["items"]] == [ids["digest"]]
    assert api(web, hy).get(f"{API}/digests").json()["items"] == []
    download = api(web, dz).get(f"{API}/digests/{ids['digest']}/html")
    assert download.status_code == 200 and "儋州 日报" in download.text
    assert "attachment" in download.headers["content-disposition"]
    assert_problem(api(web, hy).get(f"{API}/digests/{ids['digest']}/html"), 404)
    workbook = api(web, dz).get(f"{API}/digests/{ids['digest']}/download.xlsx")
    assert workbook.status_code == 200 and workbook.content == b"PK\x03\x04 saved workbook"
    assert "filename*=UTF-8''%E5%84%8B%E5%B7%9E" in workbook.headers["content-disposition"]
    assert_problem(api(web, hy).get(f"{API}/digests/{ids['digest']}/download.xlsx"), 404)

    # The article matches 儋州's watch query only: Hưng Yên cannot read it, label it or see its labels.
    article_url = f"{API}/articles/{ids['article']}"
    assert api(web, dz).get(article_url).json()["matched_terms"] == ["儋州法院"]
    assert_problem(api(web, hy).get(article_url), 404)
    assert_problem(api(web, hy).post(f"{article_url}/labels", json={"kind": "not_risky"}), 404)
    assert_problem(api(web, make_key(web, "dz-leader")).post(f"{article_url}/labels", json={"kind": "not_risky"}),
                   403)
    assert_problem(api(web, dz).post(f"{article_url}/labels", json={"kind": "wrong_sentiment", "value": "x"}), 422)
    label = api(web, dz).post(f"{article_url}/labels", json={"kind": "wrong_sentiment", "value": "positive"})
    assert label.status_code == 201, label.text
    assert (label.json()["task"], label.json()["label"], label.json()["author"]) == ("sentiment", "positive", "dz-duty")
    assert [x["id"] for x in api(web, dz).get(f"{article_url}/labels").json()] == [label.json()["id"]]
    assert_problem(api(web, hy).get(f"{article_url}/labels"), 404)
    assert api(web, dz).get(f"{API}/stories/{ids['story']}").json()["title"] == "儋州法院通报执行工作"
    assert_problem(api(web, hy).get(f"{API}/stories/{ids['story']}"), 404)


def test_a_bearer_header_does_not_exempt_the_web_pages_from_the_csrf_check(web: WebClients) -> None:
    browser = web.login("dz-duty")
    browser.headers["Origin"] = "https://evil.example"
    browser.headers["Authorization"] = "Bearer pw_00000000_anything"
    case_id = web.world.cases["dz"].id
    assert browser.post(f"/cases/{case_id}/ack", data={"note": "x"}).status_code == 403
    with db_of(web) as db:
        alert = db.get(Alert, case_id)
        assert alert is not None and alert.state == CaseState.NEW


def test_a_disabled_users_keys_stop_working(web: WebClients) -> None:
    from accounts.users import set_active

    key = make_key(web, "hy-duty")
    assert api(web, key).get(f"{API}/me").status_code == 200
    with db_of(web) as db:
        user = db.scalar(select(User).where(User.username == "hy-duty"))
        assert user is not None
        set_active(db, Actor.system("test"), user, False)
    assert_problem(api(web, key).get(f"{API}/me"), 401)


def test_configuration_changes_go_through_the_admin_stage_functions(web: WebClients) -> None:
    """Sources, rules and watch queries: the admin pages' validation, only in the user's units, audited."""
    admin, duty, hy = make_key(web, "dz-admin"), make_key(web, "dz-duty"), make_key(web, "hy-duty")
    read_only = make_key(web, "dz-admin", read_only=True)
    query = {"name": "dz-court", "query": '"儋州法院" OR 儋州中院', "purpose": "org", "unit": "dz-court"}
    assert_problem(api(web, duty).post(f"{API}/watch-queries", json=query), 403)
    assert_problem(api(web, read_only).post(f"{API}/watch-queries", json=query), 403)
    bad = assert_problem(api(web, admin).post(f"{API}/watch-queries", json={**query, "query": '"儋州法院" AND'}), 422)
    assert "character" in bad["detail"]
    assert_problem(api(web, admin).post(f"{API}/watch-queries", json={**query, "unit": "hy-thads"}), 422)
    made = api(web, admin).post(f"{API}/watch-queries", json=query)
    assert made.status_code == 201, made.text
    assert made.json()["unit_id"] == web.world.units["dz-court"].id
    assert [q["name"] for q in api(web, hy).get(f"{API}/watch-queries").json()["items"]] == []
    changed = api(web, admin).put(f"{API}/watch-queries/{made.json()['id']}", json={**query, "enabled": False})
    assert changed.status_code == 200 and changed.json()["enabled"] is False

    rule = {"name": "dz-negative", "severity": "high", "unit": "dz-court",
            "when": {"min_risk": "high", "sentiment": ["negative"]},
            "recipients": [{"name": "值班", "address": "duty@dz.example.cn", "language": "zh-CN"}]}
    assert_problem(api(web, admin).post(f"{API}/rules", json={**rule, "when": {"min_risk": "huge"}}), 422)
    added = api(web, admin).post(f"{API}/rules", json=rule)
    assert added.status_code == 201, added.text
    rule_id = added.json()["id"]
    assert_problem(api(web, hy).post(f"{API}/rules/{rule_id}/disable"), 403)  # hy-duty is no admin
    assert_problem(api(web, hy).get(f"{API}/rules/{rule_id}"), 404)
    assert api(web, admin).post(f"{API}/rules/{rule_id}/disable").json()["enabled"] is False

    source = {"unit": "dz-court", "key": "dz-rss", "name": "儋州新闻", "kind": "feed",
              "start_urls": ["https://dz.example.cn/rss.xml"]}
    assert_problem(api(web, admin).post(f"{API}/sources", json={**source, "kind": "telepathy"}), 422)
    created = api(web, admin).post(f"{API}/sources", json=source)
    assert created.status_code == 201, created.text
    source_id = created.json()["id"]
    assert api(web, admin).post(f"{API}/sources/{source_id}/pause").json()["enabled"] is False
    assert_problem(api(web, hy).get(f"{API}/sources/{source_id}"), 404)
    assert [x["key"] for x in api(web, duty).get(f"{API}/sources").json()["items"]] == ["dz-rss"]
    with db_of(web) as db:
        entries = db.scalars(select(AuditEntry).where(AuditEntry.object_type.in_(
            ("watch_query", "alert_rule", "source"))).order_by(AuditEntry.id)).all()
    assert [e.action for e in entries] == ["watch_query.add", "watch_query.update", "rule.add", "rule.disable",
                                           "source.add", "source.pause"]
    assert {(e.actor, e.api_key_prefix) for e in entries} == {("dz-admin", admin.split("_")[1])}


def test_articles_and_stories_follow_the_stream_contract_and_the_scope(web: WebClients) -> None:
    """/articles and /stories are classify.stream (the /stream page's functions), with its parameters."""
    from classify.visibility import index_articles
    from models import WatchQuery
    from models.enums import SentimentLabel
    from tests import factories

    units = web.world.units
    with db_of(web) as db:
        for unit, query in (("dz-court", '"儋州法院"'), ("hy-thads", '"Hưng Yên"')):
            db.add(WatchQuery(name=f"{unit}-org", query=query, purpose="org", unit_id=units[unit].id))
        db.flush()
        story = factories.story(db, title="腾退", article_count=2, outlet_count=2)
        now = utcnow()
        spec = [("儋州法院强制腾退引发争议", story.id, "negative", RiskLevel.HIGH, 1),
                ("转发：儋州法院强制腾退现场", story.id, "negative", RiskLevel.CRITICAL, 2),
                ("儋州法院发布执行悬赏公告", None, "positive", RiskLevel.LOW, 3),
                ("Cưỡng chế thi hành án ở Hưng Yên", None, "negative", RiskLevel.HIGH, 2)]
        articles = []
        for title, story_id, sentiment, risk, hours in spec:
            art = factories.article(db, title=title, text=title + "。", story_id=story_id,
                                    lang="vi" if "Hưng" in title else "zh", published_at=now - timedelta(hours=hours))
            factories.classification(db, art, sentiment=SentimentLabel(sentiment), risk_level=risk)
            articles.append(art)
        index_articles(db, articles)
    dz, hy = api(web, make_key(web, "dz-duty")), api(web, make_key(web, "hy-duty"))

    listed = dz.get(f"{API}/articles", params={"count": "true"})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    titles = [i["title"] for i in body["items"]]
    assert titles == ["儋州法院强制腾退引发争议", "转发：儋州法院强制腾退现场", "儋州法院发布执行悬赏公告"]
    assert body["total"] == 3 and not body["total_capped"]
    hy_body = hy.get(f"{API}/articles", params={"count": "true"}).json()
    assert [i["title"] for i in hy_body["items"]] == ["Cưỡng chế thi hành án ở Hưng Yên"] and hy_body["total"] == 1
    # The same filters as /stream: risk at or above, sentiment, sort; one row per story.
    risky = dz.get(f"{API}/articles", params={"risk": "high", "sort": "risk"}).json()["items"]
    assert [i["risk_level"] for i in risky] == ["critical", "high"]
    assert [i["title"] for i in dz.get(f"{API}/articles", params={"sentiment": "positive"}).json()["items"]] == [
        "儋州法院发布执行悬赏公告"]
    stories = dz.get(f"{API}/stories").json()["items"]
    assert [(i["story_id"], i["folded"]) for i in stories] == [(story.id, 2), (None, 1)]
    # Pages: limit 2, next_cursor and Link, nothing twice.
    first = dz.get(f"{API}/articles", params={"limit": 2})
    assert len(first.json()["items"]) == 2 and 'rel="next"' in first.headers["link"]
    rest = dz.get(f"{API}/articles", params={"limit": 2, "cursor": first.json()["next_cursor"]}).json()
    assert [i["title"] for i in first.json()["items"] + rest["items"]] == titles and rest["next_cursor"] is None
    # Unknown values and another organization's unit or watch query: problem+json naming the parameter.
    bad = assert_problem(dz.get(f"{API}/articles", params={"q": '"儋州 AND'}), 422)
    assert bad["errors"][0]["where"] == "query.q" and "position" in bad["errors"][0]
    assert assert_problem(hy.get(f"{API}/articles", params={"unit": units["dz-court"].id}), 422)["errors"][0][
        "where"] == "query.unit"
    assert_problem(dz.get(f"{API}/articles", params={"risk": "apocalyptic"}), 422)
    assert_problem(dz.get(f"{API}/articles", params={"cursor": "bm9wZQ"}), 400)


def test_reads_with_a_key_are_attributable_in_the_audit_log_without_a_write_per_request(web: WebClients) -> None:
    key = make_key(web, "dz-duty")
    client = api(web, key)
    for _ in range(3):  # a client polling the case list
        assert client.get(f"{API}/cases", params={"limit": 5}).status_code == 200
    assert client.get(f"{API}/cases/{web.world.cases['dz'].id}").status_code == 200
    with db_of(web) as db:
        reads = db.scalars(select(AuditEntry).where(AuditEntry.action == "api.read").order_by(AuditEntry.id)).all()
        user = db.scalar(select(User).where(User.username == "dz-duty"))
    assert user is not None
    # One entry per route in the window, each naming the key, its user and what was asked for.
    assert [r.object_id for r in reads] == ["/cases", "/cases/{case_id}"], [r.object_id for r in reads]
    assert {r.api_key_prefix for r in reads} == {key.split("_")[1]}
    assert {r.actor_user_id for r in reads} == {user.id} and {r.actor for r in reads} == {"dz-duty"}
    assert reads[0].note == "/api/v1/cases?limit=5"
