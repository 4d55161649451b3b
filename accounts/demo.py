"""This stage's part of ``presswatch demo``: the demo organizations and their web app accounts.

It runs first: the organization tree (the units of the shipped quota file: 儋州市人民法院 and its
teams, Cục THADS tỉnh Hưng Yên and its sub-departments) must exist before the alert rules name
their unit, and the accounts are what a newcomer logs in with once the demo serves the web app.
"""

from __future__ import annotations

from pathlib import Path

from presswatch.democontext import DemoContext

QUOTA_TEMPLATE = Path(__file__).resolve().parents[1] / "presswatch" / "templates" / "quota.example.yaml"
DEMO_PASSWORD = "presswatch-demo"
# username, display name, language, superuser, (unit code, role)
DEMO_USERS: tuple[tuple[str, str, str, bool, tuple[str, str] | None], ...] = (
    ("admin", "Administrator", "en", True, None),
    ("dz-duty", "值班员 (儋州法院)", "zh-CN", False, ("dz-court", "analyst")),
    ("dz-leader", "分管院领导", "zh-CN", False, ("dz-court", "leader")),
    ("dz-exec1", "张三 (执行一队)", "zh-CN", False, ("dz-exec-1", "correspondent")),
    ("hy-duty", "Trực ban (Cục THADS Hưng Yên)", "vi", False, ("hy-thads", "analyst")),
)
# Times on the Vietnamese office's pages in its own zone (the others use web.default_timezone).
DEMO_TIMEZONES = {"hy-duty": "Asia/Ho_Chi_Minh"}


def run(ctx: DemoContext) -> None:
    from accounts.audit import Actor
    from accounts.users import add_user, find_unit, grant
    from models.db import session_scope
    from quota.config import QuotaFile, load_quota, parse_quota_file

    ctx.heading("组织与账户 · Đơn vị và tài khoản · Organizations and accounts")
    spec = parse_quota_file(QUOTA_TEMPLATE)
    actor = Actor.system("demo")
    with session_scope(ctx.engine) as session:
        load_quota(session, QuotaFile(timezone=spec.timezone, units=spec.units), ctx.settings.quota.timezone)
        for username, name, language, superuser, role in DEMO_USERS:
            user = add_user(session, actor, username, DEMO_PASSWORD, display_name=name, language=language,
                            superuser=superuser, min_password_length=ctx.settings.web.min_password_length,
                            timezone=DEMO_TIMEZONES.get(username, ""))
            if role is not None:
                unit = find_unit(session, role[0])
                grant(session, actor, user, role[1], unit)
                ctx.console.print(f"  {username:<10} {role[1]:<14} {unit.name}  ({language})", highlight=False)
            else:
                ctx.console.print(f"  {username:<10} {'superuser':<14} —  ({language})", highlight=False)
    ctx.state["demo_users"] = [u[0] for u in DEMO_USERS]
