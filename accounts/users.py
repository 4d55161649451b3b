"""Users and grants: add, list, disable, reset a password, grant and revoke a role on a unit.

Each change is written to the audit log with the state before and after. Admin checks (may this
actor manage that user?) are here too, so the CLI and the web app cannot differ: an admin manages
the users whose grants all lie inside the admin's subtree, and grants only inside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from accounts.audit import Actor, record
from accounts.passwords import check_policy, generate_password, hash_password
from models import Grant, Role, Unit, User, WebSession, utcnow
from models.scope import Scope, system_scope
from presswatch.i18n import N_, Refusal, is_supported_language, normalize_language, validate_timezone


class AccountError(Refusal, ValueError):
    """Bad input to an account operation (unknown user or unit, duplicate, not allowed): one clear line.
    ``message`` is the catalog's msgid and ``params`` its placeholders (``localized`` in the web app)."""


class NotFound(AccountError):
    """The object does not exist or is outside the caller's scope (the two are not told apart)."""


def find_unit(session: Session, ref: str | int) -> Unit:
    """A unit by id, code or exact name."""
    if isinstance(ref, int) or str(ref).isdigit():
        unit = session.get(Unit, int(ref))
    else:
        unit = session.scalar(select(Unit).where(Unit.code == ref)) or session.scalar(
            select(Unit).where(Unit.name == ref).order_by(Unit.id).limit(1))
    if unit is None:
        raise NotFound(N_("Unknown unit '{unit}'."), unit=ref)
    return unit


def get_user(session: Session, username: str, scope: Scope | None = None) -> User:
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None or (scope is not None and not can_manage(session, scope, user)):
        raise NotFound(N_("Unknown user '{user}'."), user=username)
    return user


def _state(user: User) -> dict[str, object]:
    return {"username": user.username, "display_name": user.display_name, "active": user.active,
            "superuser": user.is_superuser, "language": user.language, "timezone": user.timezone,
            "must_change_password": user.must_change_password}


def home_unit_id(user: User) -> int | None:
    """The unit a user's own events are filed under in the audit log: their first grant's."""
    return user.grants[0].unit_id if user.grants else None


def add_user(session: Session, actor: Actor, username: str, password: str, *, min_password_length: int = 12,
             display_name: str = "", email: str = "", language: str = "", timezone: str = "",
             superuser: bool = False, must_change_password: bool = False) -> User:
    username = username.strip()
    if not username or len(username) > 100 or any(c.isspace() for c in username):
        raise AccountError(N_("A username is 1 to 100 characters without spaces."))
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountError(N_("User '{user}' already exists."), user=username)
    check_policy(password, min_password_length)
    if language and not is_supported_language(language):
        raise AccountError(N_("Unsupported language '{language}' (zh-CN, vi or en)."), language=language)
    user = User(username=username, display_name=display_name or username, email=email,
                password_hash=hash_password(password), language=normalize_language(language) if language else "",
                timezone=validate_timezone(timezone) if timezone else "", is_superuser=superuser,
                must_change_password=must_change_password, password_changed_at=utcnow())
    session.add(user)
    session.flush()
    record(session, actor, "user.add", object_type="user", object_id=user.id, after=_state(user))
    return user


def list_users(session: Session, scope: Scope) -> list[User]:
    """Users the scope may manage (superuser: all), with their grants loaded."""
    users = session.scalars(select(User).options(selectinload(User.grants)).order_by(User.username)).all()
    return [u for u in users if can_manage(session, scope, u)]


def can_manage(session: Session, scope: Scope, user: User) -> bool:
    """A superuser manages everyone; an admin manages users with at least one grant inside their
    admin subtree and none outside it (a user of two organizations is the superuser's to manage)."""
    if scope.superuser:
        return True
    if user.is_superuser or not user.grants:
        return False
    admin_units = scope.units_where("admin") or frozenset()
    return all(g.unit_id in admin_units for g in user.grants)


def set_active(session: Session, actor: Actor, user: User, active: bool) -> User:
    before = _state(user)
    user.active = active
    if not active:
        revoke_sessions(session, user)
    record(session, actor, "user.enable" if active else "user.disable", unit_id=home_unit_id(user),
           object_type="user", object_id=user.id, before=before, after=_state(user))
    return user


def reset_password(session: Session, actor: Actor, user: User, new_password: str | None = None,
                   min_password_length: int = 12) -> str:
    """Set a temporary password (generated unless given) that must be changed at the next login;
    every session of the user is logged out."""
    password = new_password or generate_password()
    check_policy(password, min_password_length)
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.password_changed_at = utcnow()
    revoke_sessions(session, user)
    record(session, actor, "user.reset_password", unit_id=home_unit_id(user), object_type="user",
           object_id=user.id)
    return password


def change_password(session: Session, actor: Actor, user: User, new_password: str, min_password_length: int,
                    keep_session_id: int | None = None) -> None:
    """The user's own change: clears the forced-change flag; other sessions are logged out."""
    check_policy(new_password, min_password_length)
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    user.password_changed_at = utcnow()
    revoke_sessions(session, user, except_id=keep_session_id)
    record(session, actor, "user.change_password", unit_id=home_unit_id(user), object_type="user",
           object_id=user.id)


def update_preferences(session: Session, actor: Actor, user: User, *, language: str | None = None,
                       timezone: str | None = None, display_name: str | None = None) -> None:
    before = _state(user)
    if language is not None:
        if language and not is_supported_language(language):
            raise AccountError(N_("Unsupported language '{language}' (zh-CN, vi or en)."), language=language)
        user.language = normalize_language(language) if language else ""
    if timezone is not None:
        user.timezone = validate_timezone(timezone) if timezone else ""
    if display_name is not None and display_name.strip():
        user.display_name = display_name.strip()[:200]
    after = _state(user)
    if after != before:
        record(session, actor, "user.preferences", unit_id=home_unit_id(user), object_type="user",
               object_id=user.id, before=before, after=after)


def revoke_sessions(session: Session, user: User, except_id: int | None = None) -> int:
    now = utcnow()
    rows = session.scalars(select(WebSession).where(WebSession.user_id == user.id,
                                                    WebSession.revoked_at.is_(None))).all()
    n = 0
    for row in rows:
        if row.id != except_id:
            row.revoked_at = now
            n += 1
    session.flush()
    return n


@dataclass(frozen=True)
class GrantView:
    unit_id: int
    unit_code: str
    unit_name: str
    role: Role


def grants_of(session: Session, user: User) -> list[GrantView]:
    rows = session.execute(select(Grant.unit_id, Unit.code, Unit.name, Grant.role).join(Unit, Unit.id == Grant.unit_id)
                           .where(Grant.user_id == user.id).order_by(Grant.id)).all()
    return [GrantView(u, c, n, Role(r)) for u, c, n, r in rows]


def _check_role(role: str | Role) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise AccountError(N_("Unknown role '{role}' (one of: {roles})."), role=role,
                           roles=", ".join(r.value for r in Role)) from None


def grant(session: Session, actor: Actor, user: User, role: str | Role, unit: Unit,
          scope: Scope | None = None) -> Grant:
    """Give ``role`` on ``unit`` (and its subtree). ``scope``: the granting admin's; None = the CLI."""
    role = _check_role(role)
    scope = scope or system_scope()
    if not scope.can("admin", unit.id):
        raise NotFound(N_("Unknown unit '{unit}'."), unit=unit.code)
    existing = session.scalar(select(Grant).where(Grant.user_id == user.id, Grant.unit_id == unit.id,
                                                  Grant.role == role))
    if existing is not None:
        return existing
    row = Grant(user_id=user.id, unit_id=unit.id, role=role, granted_by=actor.username)
    session.add(row)
    session.flush()
    session.expire(user, ["grants"])
    record(session, actor, "grant.add", unit_id=unit.id, object_type="user", object_id=user.id,
           after={"user": user.username, "role": role.value, "unit": unit.code})
    return row


def revoke(session: Session, actor: Actor, user: User, role: str | Role, unit: Unit,
           scope: Scope | None = None) -> bool:
    role = _check_role(role)
    scope = scope or system_scope()
    if not scope.can("admin", unit.id):
        raise NotFound(N_("Unknown unit '{unit}'."), unit=unit.code)
    row = session.scalar(select(Grant).where(Grant.user_id == user.id, Grant.unit_id == unit.id, Grant.role == role))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    session.expire(user, ["grants"])
    record(session, actor, "grant.revoke", unit_id=unit.id, object_type="user", object_id=user.id,
           before={"user": user.username, "role": role.value, "unit": unit.code})
    return True


def manageable_units(session: Session, scope: Scope) -> Sequence[Unit]:
    """Units the scope may grant roles on (admin subtree; every unit for a superuser)."""
    query = select(Unit).order_by(Unit.code)
    ids = scope.units_where("admin")
    if ids is not None:
        query = query.where(Unit.id.in_(sorted(ids)))
    return session.scalars(query).all()


def assignable_users(session: Session, unit_id: int | None) -> list[User]:
    """Who a case of ``unit_id`` may be assigned to: active users holding a grant in its organization
    (the tree under its root unit) that lets them handle cases (admin or analyst). The web page
    offers exactly these and the assign action accepts no one else: never free text."""
    from models.scope import root_of, subtree_ids

    if unit_id is None:
        return []
    organization = subtree_ids(session, [root_of(session, unit_id)])
    stmt = (select(User).join(Grant, Grant.user_id == User.id)
            .where(Grant.unit_id.in_(organization), Grant.role.in_((Role.ADMIN, Role.ANALYST)), User.active.is_(True))
            .distinct().order_by(User.username))
    return list(session.scalars(stmt))


def acting_user(session: Session, name: str, unit_id: int | None, action: str = "triage") -> str:
    """The account a command-line action on an object of ``unit_id`` is recorded under.

    Once an installation has accounts, ``--as NAME`` must name an active user who may do ``action``
    on that unit, exactly as in the web app: the case history and the audit log then name a real
    person, not whatever was typed (``--as 院长``). An object outside the user's scope is "not
    found", as on the web. An installation without any account keeps the old behaviour (the name
    as given), so a CLI-only deployment still works.
    """
    from sqlalchemy import func

    from models.scope import scope_for_user

    if not session.scalar(select(func.count()).select_from(User)):
        return name
    user = session.scalar(select(User).where(User.username == name))
    if user is None or not user.active:
        raise AccountError(N_("No active user '{username}' (see presswatch users list): actions are recorded "
                              "under a real account."), username=name)
    if not scope_for_user(session, user).can(action, unit_id):
        raise NotFound(N_("'{username}' may not act here: the object is outside their organizations or role."),
                       username=name)
    return user.username
