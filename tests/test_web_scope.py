"""Scoping in the web app: each user sees their organization's subtree and nothing else; another
organization's object answers 404; roles gate the admin pages. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from models import Alert, Grant, User
from models.scope import scope_for_user


def test_hy_duty_gets_404_for_a_danzhou_case_by_its_url(web) -> None:
    dz, hy = web.world.cases["dz"], web.world.cases["hy"]
    hy_duty = web.login("hy-duty")
    assert hy_duty.get(f"/cases/{dz.id}").status_code == 404
    assert hy_duty.get(f"/cases/{hy.id}").status_code == 200
    missing = hy_duty.get("/cases/999999")
    # Another organization's case looks exactly like one that does not exist: no title leaks.
    forbidden = hy_duty.get(f"/cases/{dz.id}")
    assert dz.title not in forbidden.text and forbidden.status_code == missing.status_code == 404


def test_home_lists_only_the_users_organization(web) -> None:
    dz, hy = web.world.cases["dz"], web.world.cases["hy"]
    duty = web.login("dz-duty").get("/").text
    assert dz.title in duty and hy.title not in duty
    assert "儋州市人民法院" in duty
    viet = web.login("hy-duty").get("/").text
    assert hy.title in viet and dz.title not in viet
    # The correspondent of 执行一队 sits under 儋州 but the case is filed on the court itself.
    exec1 = web.login("dz-exec1").get("/").text
    assert dz.title not in exec1 and hy.title not in exec1
    everything = web.login("admin").get("/").text
    assert dz.title in everything and hy.title in everything


def test_a_grant_on_a_parent_covers_its_subtree(web) -> None:
    db = web.app.state.session_factory()
    user = db.scalar(select(User).where(User.username == "dz-leader"))
    scope = scope_for_user(db, user)
    units = web.world.units
    assert scope.contains(units["dz-exec-1"].id) and scope.contains(units["dz-court"].id)
    assert not scope.contains(units["hy-thads"].id) and not scope.contains(None)
    assert scope.can("read", units["dz-exec-1"].id) and not scope.can("admin", units["dz-court"].id)
    db.close()


def test_a_correspondent_cannot_open_the_admin_pages(web) -> None:
    exec1 = web.login("dz-exec1")
    for path in ("/admin/users", "/admin/audit", "/admin/audit.csv"):
        assert exec1.get(path).status_code == 403
    assert exec1.post("/admin/users/dz-duty/reset-password").status_code == 403
    leader = web.login("dz-leader")
    assert leader.get("/admin/users").status_code == 403
    assert "/admin/users" not in leader.get("/").text


def test_an_admin_sees_and_manages_only_their_subtree(web) -> None:
    dz_admin = web.login("dz-admin")
    page = dz_admin.get("/admin/users").text
    assert 'data-username="dz-duty"' in page and 'data-username="dz-exec1"' in page
    assert 'data-username="hy-duty"' not in page and 'data-username="admin"' not in page
    assert 'data-username="both"' not in page  # also holds a Hưng Yên grant: the superuser's to manage
    # Hưng Yên's user is "not found" to 儋州's admin, for every action.
    assert dz_admin.post("/admin/users/hy-duty/reset-password").status_code == 404
    assert dz_admin.post("/admin/users/hy-duty/active", data={"active": "0"}).status_code == 404
    # And 儋州's admin cannot grant on a Hưng Yên unit.
    r = dz_admin.post("/admin/users/dz-duty/grants", data={"unit": "hy-thads", "role": "admin"})
    assert r.status_code == 404


def test_grant_and_revoke_from_the_admin_page_are_audited(web) -> None:
    dz_admin = web.login("dz-admin")
    r = dz_admin.post("/admin/users", data={"username": "dz-new", "display_name": "新人", "password": "x" * 14,
                                            "unit": "dz-exec-1", "role": "correspondent"})
    assert r.status_code == 303
    assert dz_admin.post("/admin/users/dz-new/grants", data={"unit": "dz-exec", "role": "analyst"}).status_code == 303
    db = web.app.state.session_factory()
    user = db.scalar(select(User).where(User.username == "dz-new"))
    assert {(g.role.value, g.unit_id) for g in db.scalars(select(Grant).where(Grant.user_id == user.id))} == {
        ("correspondent", web.world.units["dz-exec-1"].id), ("analyst", web.world.units["dz-exec"].id)}
    assert user.must_change_password
    db.close()
    assert dz_admin.post("/admin/users/dz-new/grants/revoke", data={"unit": "dz-exec", "role": "analyst"}).status_code == 303
    audit = dz_admin.get("/admin/audit").text
    assert "grant.add" in audit and "grant.revoke" in audit and "user.add" in audit


def test_the_audit_page_and_its_csv_show_the_same_scoped_rows(web) -> None:
    web.login("dz-duty")
    web.login("hy-duty")
    dz_admin = web.login("dz-admin")
    page = dz_admin.get("/admin/audit?action=login").text
    assert "dz-duty" in page and "hy-duty" not in page
    r = dz_admin.get("/admin/audit.csv?action=login")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    actors = {row["actor"] for row in rows}
    assert "dz-duty" in actors and "dz-admin" in actors and "hy-duty" not in actors
    assert all(row["action"] == "login" for row in rows)
    everything = web.login("admin").get("/admin/audit?action=login").text
    assert "dz-duty" in everything and "hy-duty" in everything


def test_the_switcher_narrows_the_view_to_one_organization(web) -> None:
    both = web.login("both")
    home = both.get("/").text
    assert 'name="unit_id"' in home  # two grants: a switcher
    dz, hy = web.world.cases["dz"], web.world.cases["hy"]
    r = both.post("/switch", data={"unit_id": str(web.world.units["hy-thads"].id), "next": "/"})
    assert r.status_code == 303
    home = both.get("/").text
    assert hy.title in home and dz.title not in home
    both.post("/switch", data={"unit_id": ""})
    home = both.get("/").text
    assert hy.title in home and dz.title in home
    # A unit the user holds no grant on cannot be chosen.
    assert web.login("dz-duty").post("/switch", data={"unit_id": str(web.world.units["hy-thads"].id)}).status_code == 404


def test_case_counts_follow_the_scope(web) -> None:
    from alerts.cases import count_open_cases, open_cases

    db = web.app.state.session_factory()
    for name, expected in (("dz-duty", {"dz"}), ("hy-duty", {"hy"}), ("admin", {"dz", "hy"}), ("dz-exec1", set())):
        scope = scope_for_user(db, db.scalar(select(User).where(User.username == name)))
        ids = {a.id for a in open_cases(db, scope)}
        assert ids == {web.world.cases[k].id for k in expected}, name
        assert count_open_cases(db, scope) == len(expected)
    db.close()
    assert Alert  # the model the helpers read


def test_admin_errors_are_in_the_admins_language(web) -> None:
    dz_admin = web.login("dz-admin")  # zh-CN
    r = dz_admin.post("/admin/users", data={"username": "dz-duty", "password": "x" * 14, "unit": "dz-exec-1",
                                            "role": "correspondent"})
    assert r.status_code == 400 and "用户“dz-duty”已存在。" in r.text
    r = dz_admin.post("/admin/users", data={"username": "dz-new", "password": "short", "unit": "dz-exec-1",
                                            "role": "correspondent"})
    assert r.status_code == 400 and "密码至少需要 12 个字符。" in r.text
