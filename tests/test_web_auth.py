"""The web app's front door: login, logout, sessions, lockout, rate limit, CSRF and security headers,
through the real routes on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from models import AuditEntry, LoginAttempt, WebSession, utcnow
from tests.web_support import ORIGIN, PASSWORD


def test_login_sets_a_hardened_session_cookie_and_logout_revokes_it(web) -> None:
    client = web.anonymous()
    r = client.post("/login", data={"username": "dz-duty", "password": PASSWORD, "next": "/account"})
    assert r.status_code == 303 and r.headers["location"] == "/account"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("pw_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie  # plain http here
    assert client.get("/").status_code == 200
    token = client.cookies["pw_session"]
    r = client.post("/logout")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    # The old cookie, replayed, no longer works: the session was revoked in the database.
    again = web.anonymous()
    again.cookies.set("pw_session", token)
    assert again.get("/").status_code == 303


def test_cookie_is_secure_over_https(web) -> None:
    client = web.anonymous(Origin="https://testserver")
    client.base_url = client.base_url.copy_with(scheme="https")
    r = client.post("/login", data={"username": "dz-duty", "password": PASSWORD})
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("pw_session="))
    assert "Secure" in cookie


def test_pages_need_a_login_and_come_back_after_it(web) -> None:
    client = web.anonymous()
    r = client.get(f"/cases/{web.world.cases['dz'].id}")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=%2Fcases%2F")
    r = client.post("/login", data={"username": "dz-duty", "password": PASSWORD, "next": f"/cases/{web.world.cases['dz'].id}"})
    assert r.headers["location"] == f"/cases/{web.world.cases['dz'].id}"
    # No open redirect through ?next=
    r = web.anonymous().post("/login", data={"username": "dz-duty", "password": PASSWORD, "next": "//evil.example/"})
    assert r.headers["location"] == "/"


def test_wrong_password_and_unknown_user_answer_the_same_and_are_audited(web) -> None:
    client = web.anonymous()
    wrong = client.post("/login", data={"username": "dz-duty", "password": "not the password"})
    unknown = client.post("/login", data={"username": "nobody", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong username or password" in wrong.text and "Wrong username or password" in unknown.text
    admin = web.login("admin")
    audit = admin.get("/admin/audit").text
    assert "login.failed" in audit and "nobody" in audit


def test_five_failures_lock_the_account_for_fifteen_minutes(web) -> None:
    client = web.anonymous()
    for _ in range(5):
        assert client.post("/login", data={"username": "dz-leader", "password": "wrong password!"}).status_code == 401
    r = client.post("/login", data={"username": "dz-leader", "password": PASSWORD})
    assert r.status_code == 429 and "locked" in r.text and int(r.headers["Retry-After"]) > 800
    # Another account is not affected.
    assert web.anonymous().post("/login", data={"username": "dz-duty", "password": PASSWORD}).status_code == 303


def test_tries_during_a_lockout_do_not_extend_it(web) -> None:
    client = web.anonymous()
    for _ in range(5):
        client.post("/login", data={"username": "dz-leader", "password": "wrong password!"})
    for _ in range(3):
        assert client.post("/login", data={"username": "dz-leader", "password": "still wrong!"}).status_code == 429
    db = web.app.state.session_factory()
    assert db.query(LoginAttempt).filter(LoginAttempt.username == "dz-leader").count() == 5
    db.close()


def test_the_lockout_ends_after_its_window(web, engine) -> None:
    from tests.web_support import app_on_connection  # noqa: F401  (same app; move the attempts back in time)

    client = web.anonymous()
    for _ in range(5):
        client.post("/login", data={"username": "dz-leader", "password": "wrong password!"})
    db = web.app.state.session_factory()
    for attempt in db.scalars(select(LoginAttempt).where(LoginAttempt.username == "dz-leader")):
        attempt.at = attempt.at - timedelta(minutes=16)
    db.commit()
    db.close()
    assert client.post("/login", data={"username": "dz-leader", "password": PASSWORD}).status_code == 303


def test_one_address_is_rate_limited_across_usernames(web) -> None:
    web.app.state.settings.web.login_attempts_per_address = 6
    client = web.anonymous()
    codes = [client.post("/login", data={"username": f"guess{i}", "password": "x" * 12}).status_code
             for i in range(7)]
    assert codes[:6] == [401] * 6 and codes[6] == 429


def test_idle_and_absolute_timeouts_end_a_session(web) -> None:
    client = web.login("dz-duty")
    db = web.app.state.session_factory()
    row = db.scalar(select(WebSession).order_by(WebSession.id.desc()))
    row.last_seen_at = utcnow() - timedelta(minutes=31)
    db.commit()
    assert client.get("/").status_code == 303
    client = web.login("dz-duty")
    row = db.scalar(select(WebSession).order_by(WebSession.id.desc()))
    row.created_at = utcnow() - timedelta(hours=12, minutes=1)
    db.commit()
    db.close()
    assert client.get("/").status_code == 303


def test_cross_site_posts_are_refused(web) -> None:
    client = web.login("dz-duty")
    evil = client.post("/account", data={"language": "vi"}, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    cross = client.post("/account", data={"language": "vi"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    client.headers.pop("Origin")
    assert client.post("/account", data={"language": "vi"}).status_code == 403  # no header at all
    ok = client.post("/account", data={"language": "vi"}, headers={"Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 303
    # A login form posted from another site is refused too (login CSRF).
    assert web.anonymous(Origin="https://evil.example").post(
        "/login", data={"username": "dz-duty", "password": PASSWORD}).status_code == 403


def test_every_page_carries_the_security_headers(web) -> None:
    client = web.login("admin")
    for path in ("/login", "/", "/account", "/admin/users", "/admin/audit", "/no-such-page"):
        r = client.get(path)
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Referrer-Policy"] == "same-origin"
        assert "<script>" not in r.text and " on" + "click=" not in r.text  # no inline script


def test_crawled_text_is_escaped(web) -> None:
    db = web.app.state.session_factory()
    case = db.get(type(web.world.cases["dz"]), web.world.cases["dz"].id)
    case.title = '<img src=x onerror=alert(1)>儋州'
    db.commit()
    db.close()
    html = web.login("dz-duty").get("/").text
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;儋州" in html


def test_forced_password_change_after_an_admin_reset(web) -> None:
    admin = web.login("admin")
    r = admin.post("/admin/users/dz-leader/reset-password")
    assert r.status_code == 200
    import re

    temporary = re.search(r"Temporary password for dz-leader: (\S+) ", r.text).group(1)
    # The old password is gone; the temporary one leads only to the change form.
    assert web.anonymous().post("/login", data={"username": "dz-leader", "password": PASSWORD}).status_code == 401
    leader = web.anonymous()
    r = leader.post("/login", data={"username": "dz-leader", "password": temporary})
    assert r.headers["location"] == "/account/password"
    assert leader.get("/").headers["location"] == "/account/password"
    short = leader.post("/account/password", data={"current_password": temporary, "new_password": "short",
                                                   "confirm_password": "short"})
    assert short.status_code == 400
    new = "a much longer passphrase"
    r = leader.post("/account/password", data={"current_password": temporary, "new_password": new,
                                               "confirm_password": new})
    assert r.status_code == 303
    assert leader.get("/").status_code == 200


def test_log_out_everywhere_ends_every_session(web) -> None:
    phone = web.login("dz-duty")
    desk = web.login("dz-duty")
    assert desk.post("/account/logout-everywhere").status_code == 303
    assert phone.get("/").status_code == 303 and desk.get("/").status_code == 303


def test_logins_and_logouts_are_in_the_audit_log_with_the_address(web) -> None:
    duty = web.login("dz-duty")
    duty.post("/logout")
    db = web.app.state.session_factory()
    actions = [(e.actor, e.action, e.client_address) for e in db.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    db.close()
    assert ("dz-duty", "login", "testclient") in actions and ("dz-duty", "logout", "testclient") in actions


def test_origin_constant_matches_the_test_client() -> None:
    assert ORIGIN == "http://testserver"
