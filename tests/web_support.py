"""Test helpers for the web app: a small two-organization world, logged-in clients, a live server.

- :func:`build_world` puts 儋州市人民法院 (with 执行局 > 执行一队) and Cục THADS tỉnh Hưng Yên, one
  open case in each, and the demo's users into a session (password :data:`PASSWORD` for all).
- :class:`WebClients` (the ``web`` fixture in conftest) gives a TestClient per user, logged in through
  the real /login form, on SQLite and PostgreSQL, rolled back after the test.
- :func:`serve` runs the app with uvicorn on a free loopback port in a thread (browser tests).

A client sends ``Origin: http://testserver`` on every request, as a browser posting our own form
does; a test of the CSRF check removes or changes it.
"""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from models import Alert, Grant, Role, Unit, User, utcnow
from models.enums import AlertKind, CaseState, RiskLevel, UnitKind

PASSWORD = "presswatch-demo"
ORIGIN = "http://testserver"


@functools.cache
def password_hash() -> str:
    """One argon2id hash shared by every test user (hashing costs ~0.1-0.3 s)."""
    from accounts.passwords import hash_password

    return hash_password(PASSWORD)


@dataclass
class World:
    units: dict[str, Unit] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    cases: dict[str, Alert] = field(default_factory=dict)


USERS: tuple[tuple[str, str, bool, list[tuple[str, Role]]], ...] = (
    # username, language, superuser, grants (unit code, role)
    ("admin", "en", True, []),
    ("dz-admin", "zh-CN", False, [("dz-court", Role.ADMIN)]),
    ("dz-duty", "zh-CN", False, [("dz-court", Role.ANALYST)]),
    ("dz-leader", "zh-CN", False, [("dz-court", Role.LEADER)]),
    ("dz-exec1", "zh-CN", False, [("dz-exec-1", Role.CORRESPONDENT)]),
    ("hy-duty", "vi", False, [("hy-thads", Role.ANALYST)]),
    ("both", "en", False, [("dz-court", Role.LEADER), ("hy-thads", Role.LEADER)]),
)


def build_world(db: Session) -> World:
    world = World()

    def unit(code: str, name: str, kind: UnitKind, parent: str | None = None) -> Unit:
        row = Unit(code=code, name=name, kind=kind, parent_id=world.units[parent].id if parent else None)
        db.add(row)
        db.flush()
        world.units[code] = row
        return row

    unit("dz-court", "儋州市人民法院", UnitKind.COURT)
    unit("dz-exec", "执行局", UnitKind.OFFICE, "dz-court")
    unit("dz-exec-1", "执行一队", UnitKind.TEAM, "dz-exec")
    unit("hy-thads", "Cục Thi hành án dân sự tỉnh Hưng Yên", UnitKind.DEPARTMENT)
    unit("hy-vanlam", "Chi cục THADS huyện Văn Lâm", UnitKind.SUB_DEPARTMENT, "hy-thads")
    for username, language, superuser, grants in USERS:
        user = User(username=username, display_name=username, password_hash=password_hash(), language=language,
                    is_superuser=superuser, password_changed_at=utcnow())
        db.add(user)
        db.flush()
        for code, role in grants:
            db.add(Grant(user_id=user.id, unit_id=world.units[code].id, role=role, granted_by="test"))
        world.users[username] = user
    now = utcnow()
    for key, code, title, severity in (
        ("dz", "dz-court", "居民称儋州法院执行干警强制腾退时暴力执法", RiskLevel.CRITICAL),
        ("hy", "hy-thads", "Khiếu nại đông người về cưỡng chế thi hành án ở Văn Lâm", RiskLevel.HIGH),
    ):
        alert = Alert(dedupe_key=f"test:{key}:{id(world)}", kind=AlertKind.STORY, severity=severity, title=title,
                      state=CaseState.NEW, unit_id=world.units[code].id, deadline_at=now + timedelta(hours=1))
        db.add(alert)
        db.flush()
        world.cases[key] = alert
    db.flush()
    return world


def web_settings(**overrides: Any) -> Any:
    from settings import load_settings

    return load_settings(environ={}, overrides=overrides).settings


class WebClients:
    """TestClients on one app, each logged in as a world user."""

    def __init__(self, app: FastAPI, world: World) -> None:
        self.app = app
        self.world = world
        self._clients: list[TestClient] = []

    def anonymous(self, **headers: str) -> TestClient:
        client = TestClient(self.app, headers={"Origin": ORIGIN, **headers}, follow_redirects=False)
        self._clients.append(client)
        return client

    def login(self, username: str, password: str = PASSWORD, **headers: str) -> TestClient:
        client = self.anonymous(**headers)
        response = client.post("/login", data={"username": username, "password": password})
        assert response.status_code == 303, (username, response.status_code, response.text[:500])
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()


@contextmanager
def app_on_connection(engine: Engine, **settings_overrides: Any) -> Iterator[tuple[FastAPI, Session]]:
    """The app with every request's session joined to one outer transaction, rolled back at the end
    (the app's commits become savepoints), plus a session on the same transaction for set-up."""
    from sqlalchemy.orm import sessionmaker

    from presswatch.web import create_app

    with engine.connect() as conn:
        trans = conn.begin()
        if conn.dialect.name == "sqlite":
            # pysqlite opens its transaction lazily; without a real BEGIN, the first savepoint's
            # release would commit (see models.db.savepoint) and nothing would roll back.
            conn.exec_driver_sql("BEGIN")
        factory = sessionmaker(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        app = create_app(web_settings(**settings_overrides), engine)
        app.state.session_factory = factory
        setup = factory()
        try:
            yield app, setup
        finally:
            setup.close()
            trans.rollback()


def free_port(start: int = 0) -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", start))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: FastAPI, port: int | None = None) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test web server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
