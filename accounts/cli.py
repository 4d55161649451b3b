"""``presswatch users add|list|disable|enable|reset-password|grant|revoke``: accounts from the shell.

The CLI acts as the installation's operator (every unit); each change is audit-logged with the
actor ``cli:<login name>``. Bad input is one line on stderr and exit 2 (:class:`CliError`).
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

users_app = typer.Typer(help="Web app accounts: users, roles on units, passwords.", no_args_is_help=True)


def cli_actor() -> Any:
    from accounts.audit import Actor

    try:
        who = getpass.getuser()
    except Exception:  # no login name in a container: still attributable as the CLI
        who = str(os.getuid()) if hasattr(os, "getuid") else "?"
    return Actor(None, f"cli:{who}")


@contextmanager
def _session() -> Iterator[Any]:
    from accounts.passwords import PasswordPolicyError
    from accounts.users import AccountError
    from models.db import session_scope
    from presswatch.console import CliError
    from presswatch.i18n import TimeZoneError

    try:
        with session_scope() as session:
            yield session
    except (AccountError, PasswordPolicyError, TimeZoneError) as exc:
        raise CliError(str(exc)) from None


def read_password(password_file: Path | None, prompt: str = "Password") -> str:
    """From a file (first line; '-' = stdin), else asked twice on the terminal."""
    from presswatch.console import CliError

    if password_file is not None:
        text = sys.stdin.read() if str(password_file) == "-" else password_file.read_text(encoding="utf-8")
        password = text.splitlines()[0] if text.splitlines() else ""
        if not password:
            raise CliError(f"{password_file}: empty password file")
        return password
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password: give --password-file")
    first = getpass.getpass(f"{prompt}: ")
    if first != getpass.getpass(f"{prompt} (again): "):
        raise CliError("the two passwords differ")
    return first


def _min_length() -> int:
    from settings import get_settings

    return get_settings().web.min_password_length


@users_app.command("add")
def add(
    username: str = typer.Argument(...),
    password_file: Path | None = typer.Option(None, help="File whose first line is the password ('-': stdin)."),
    name: str = typer.Option("", help="Display name."),
    email: str = typer.Option(""),
    language: str = typer.Option("", help="zh-CN, vi or en (empty: the browser's)."),
    timezone: str = typer.Option("", help="IANA time zone (empty: settings web.default_timezone)."),
    superuser: bool = typer.Option(False, help="The installation's operator: every organization."),
    unit: str | None = typer.Option(None, help="Give a first role on this unit (code or name) ..."),
    role: str | None = typer.Option(None, help="... this role: admin, analyst, leader, correspondent."),
    must_change: bool = typer.Option(False, help="Ask for a new password at the first login."),
) -> None:
    """Add a user (and optionally a first grant)."""
    from accounts.users import add_user, find_unit, grant
    from presswatch.console import CliError, console

    if (unit is None) != (role is None):
        raise CliError("--unit and --role go together")
    password = read_password(password_file)
    with _session() as session:
        actor = cli_actor()
        user = add_user(session, actor, username, password, min_password_length=_min_length(), display_name=name,
                        email=email, language=language, timezone=timezone, superuser=superuser,
                        must_change_password=must_change)
        if unit is not None and role is not None:
            grant(session, actor, user, role, find_unit(session, unit))
    console.print(f"added user {username}" + (f" ({role} on {unit})" if unit else ""))


@users_app.command("list")
def list_cmd() -> None:
    """Users, their roles and state."""
    from rich.table import Table

    from accounts.users import grants_of, list_users
    from models.scope import system_scope
    from presswatch.console import console

    table = Table("user", "name", "language", "roles", "state", "last login")
    with _session() as session:
        for u in list_users(session, system_scope()):
            roles = ", ".join(f"{g.role.value}@{g.unit_code}" for g in grants_of(session, u))
            state = ("superuser " if u.is_superuser else "") + ("active" if u.active else "disabled")
            if u.must_change_password:
                state += ", must change password"
            table.add_row(u.username, u.display_name, u.language or "-", roles or "-", state,
                          u.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if u.last_login_at else "-")
    console.print(table)


@users_app.command("disable")
def disable(username: str) -> None:
    """Disable a user (and log out every session of theirs)."""
    from accounts.users import get_user, set_active
    from presswatch.console import console

    with _session() as session:
        set_active(session, cli_actor(), get_user(session, username), False)
    console.print(f"disabled {username}")


@users_app.command("enable")
def enable(username: str) -> None:
    """Enable a disabled user again."""
    from accounts.users import get_user, set_active
    from presswatch.console import console

    with _session() as session:
        set_active(session, cli_actor(), get_user(session, username), True)
    console.print(f"enabled {username}")


@users_app.command("reset-password")
def reset(
    username: str,
    password_file: Path | None = typer.Option(None, help="The temporary password (default: generated and printed)."),
) -> None:
    """Set a temporary password; the user must change it at the next login. Sessions are logged out."""
    from accounts.users import get_user, reset_password
    from presswatch.console import console

    given = read_password(password_file) if password_file is not None else None
    with _session() as session:
        temporary = reset_password(session, cli_actor(), get_user(session, username), given, _min_length())
    if given is None:
        console.print(f"temporary password for {username}: {temporary}")
    else:
        console.print(f"password of {username} reset (change required at the next login)")


@users_app.command("grant")
def grant_cmd(username: str, role: str, unit: str = typer.Argument(..., help="Unit code or name.")) -> None:
    """Give USERNAME the ROLE on UNIT and every unit under it."""
    from accounts.users import find_unit, get_user, grant
    from presswatch.console import console

    with _session() as session:
        grant(session, cli_actor(), get_user(session, username), role, find_unit(session, unit))
    console.print(f"{username}: {role} on {unit}")


@users_app.command("revoke")
def revoke_cmd(username: str, role: str, unit: str = typer.Argument(..., help="Unit code or name.")) -> None:
    """Take the ROLE on UNIT away from USERNAME."""
    from accounts.users import find_unit, get_user, revoke
    from presswatch.console import CliError, console

    with _session() as session:
        if not revoke(session, cli_actor(), get_user(session, username), role, find_unit(session, unit)):
            raise CliError(f"{username} holds no {role} role on {unit}")
    console.print(f"{username}: {role} on {unit} revoked")


def ensure_first_admin(username: str, password_file: Path | None) -> str:
    """``presswatch init``: create the first superuser unless one exists; says what it did."""
    from sqlalchemy import select

    from accounts.users import add_user
    from models import User

    with _session() as session:
        existing = session.scalar(select(User.username).where(User.is_superuser.is_(True)).limit(1))
        if existing is not None:
            return f"admin    {existing} exists (kept)"
    if password_file is None and not sys.stdin.isatty():
        return "admin    none created (no terminal: give --admin-password-file)"
    password = read_password(password_file, prompt=f"Password for the first admin '{username}'")
    with _session() as session:
        add_user(session, cli_actor(), username, password, min_password_length=_min_length(), superuser=True)
    return f"admin    {username} created (superuser)"


api_keys_app = typer.Typer(help="Keys for the JSON API (/api/v1): create, list, revoke.", no_args_is_help=True)


@api_keys_app.command("create")
def api_key_create(
    username: str = typer.Argument(..., help="The user the key acts as (it can never do more than they can)."),
    name: str = typer.Option(..., "--name", help="What the key is for (shown in lists)."),
    read_only: bool = typer.Option(False, "--read-only", help="Reading only: every change is refused."),
    unit: str | None = typer.Option(None, help="Only this unit (code or name) and the units under it."),
    expires_days: float | None = typer.Option(None, "--expires-days", help="Stop working after this many days."),
) -> None:
    """Create an API key for USERNAME and print it once (only its sha256 is stored)."""
    from accounts.api_keys import create_key
    from accounts.users import find_unit, get_user
    from presswatch.console import console

    with _session() as session:
        user = get_user(session, username)
        unit_id = find_unit(session, unit).id if unit else None
        created = create_key(session, cli_actor(), user, name=name, read_only=read_only, unit_id=unit_id,
                             expires_in_days=expires_days)
        key, prefix = created.key, created.row.prefix
    console.print(f"API key {prefix} for {username} (shown once; store it now):", highlight=False)
    print(key)


@api_keys_app.command("list")
def api_key_list(username: str | None = typer.Argument(None, help="Only this user's keys.")) -> None:
    """Keys with their user, narrowing, expiry, last use and state (never the key itself)."""
    from rich.table import Table

    from accounts.api_keys import all_keys, key_state, list_keys
    from accounts.users import get_user
    from models import Unit, User
    from presswatch.console import console

    def when(value: object) -> str:
        return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "-"  # type: ignore[attr-defined]

    table = Table("prefix", "user", "name", "access", "unit", "expires", "last used", "state")
    with _session() as session:
        rows = list_keys(session, get_user(session, username)) if username else all_keys(session)
        for row in rows:
            user = session.get(User, row.user_id)
            unit_row = session.get(Unit, row.unit_id) if row.unit_id is not None else None
            table.add_row(row.prefix, user.username if user else "?", row.name,
                          "read-only" if row.read_only else "read-write", unit_row.code if unit_row else "-",
                          when(row.expires_at), when(row.last_used_at), key_state(row))
    console.print(table)


@api_keys_app.command("revoke")
def api_key_revoke(prefix: str = typer.Argument(..., help="The key's prefix (or the whole key).")) -> None:
    """Revoke a key: it stops working at once."""
    from accounts.api_keys import revoke_key
    from presswatch.console import console

    with _session() as session:
        row = revoke_key(session, cli_actor(), None, prefix)
        shown = row.prefix
    console.print(f"API key {shown} revoked")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main presswatch app."""
    app.add_typer(users_app, name="users")
    app.add_typer(api_keys_app, name="api-keys")
