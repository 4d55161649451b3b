"""The shell's account commands and the web server commands: `presswatch users ...`, `init` with the
first admin, `presswatch web` (one and several workers), `presswatch demo`'s serving step."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import select
from typer.testing import CliRunner

from presswatch.cli import app
from presswatch.console import CliError
from tests.conftest import subprocess_env
from tests.web_support import free_port

runner = CliRunner()


def _db() -> object:
    from models.db import get_engine, session_factory

    return session_factory(get_engine())()


def test_init_creates_the_first_admin_from_a_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "admin.pw"
    secret.write_text("correct horse battery\n", encoding="utf-8")
    result = runner.invoke(app, ["init", str(tmp_path / "conf"), "--admin-password-file", str(secret)])
    assert result.exit_code == 0, result.output
    assert "admin    admin created (superuser)" in result.output
    again = runner.invoke(app, ["init", str(tmp_path / "conf"), "--admin-password-file", str(secret)])
    assert "admin exists (kept)" in again.output
    from accounts.passwords import verify_password
    from models import User

    db = _db()
    admin = db.scalar(select(User).where(User.username == "admin"))
    assert admin.is_superuser and verify_password("correct horse battery", admin.password_hash)
    db.close()


def test_users_commands_manage_accounts_and_grants(tmp_path: Path) -> None:
    assert runner.invoke(app, ["units", "add", "dz-court", "儋州市人民法院", "--kind", "court"]).exit_code == 0
    pw = tmp_path / "pw"
    pw.write_text("a long enough password\n", encoding="utf-8")
    short = tmp_path / "short"
    short.write_text("short\n", encoding="utf-8")
    bad = runner.invoke(app, ["users", "add", "dz-duty", "--password-file", str(short)])
    assert isinstance(bad.exception, CliError) and "at least 12 characters" in str(bad.exception)
    r = runner.invoke(app, ["users", "add", "dz-duty", "--password-file", str(pw), "--language", "zh-CN",
                            "--unit", "儋州市人民法院", "--role", "analyst"])
    assert r.exit_code == 0, r.output
    assert runner.invoke(app, ["users", "grant", "dz-duty", "leader", "dz-court"]).exit_code == 0
    listing = runner.invoke(app, ["users", "list"], env={"COLUMNS": "200"}).output
    assert "dz-duty" in listing and "analyst@dz-court" in listing and "leader@dz-court" in listing
    assert runner.invoke(app, ["users", "revoke", "dz-duty", "leader", "dz-court"]).exit_code == 0
    unknown_role = runner.invoke(app, ["users", "grant", "dz-duty", "boss", "dz-court"])
    assert isinstance(unknown_role.exception, CliError) and "unknown role" in str(unknown_role.exception).lower()
    reset = runner.invoke(app, ["users", "reset-password", "dz-duty"])
    assert reset.exit_code == 0 and "temporary password for dz-duty:" in reset.output
    assert runner.invoke(app, ["users", "disable", "dz-duty"]).exit_code == 0
    from models import AuditEntry, User

    db = _db()
    user = db.scalar(select(User).where(User.username == "dz-duty"))
    assert not user.active and user.must_change_password and [g.role.value for g in user.grants] == ["analyst"]
    actions = [e.action for e in db.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    actors = {e.actor for e in db.scalars(select(AuditEntry))}
    db.close()
    assert actions == ["user.add", "grant.add", "grant.add", "grant.revoke", "user.reset_password", "user.disable"]
    assert all(a.startswith("cli:") for a in actors)


def _serve(args: list[str], cwd: Path, port: int) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "presswatch.cli", *args], cwd=cwd, env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True).start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/login", timeout=5).status_code == 200:
                return proc, lines
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    proc.kill()
    raise AssertionError("server did not come up: " + "".join(lines))


def test_presswatch_web_serves_with_several_workers_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    proc, lines = _serve(["--set", "web.session_idle_minutes=45", "web", "--bind", f"127.0.0.1:{port}",
                          "--workers", "2"], tmp_path, port)
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/", follow_redirects=False, timeout=10)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        assert r.headers["x-frame-options"] == "DENY"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    # uvicorn re-raises the SIGTERM it handled once its workers are down (systemd counts that as a
    # clean stop); what matters is that it shut its workers down instead of being killed mid-request.
    assert proc.returncode in (0, -signal.SIGTERM), "".join(lines)
    assert any("Shutting down" in line for line in lines)


def test_the_demo_serves_on_the_next_free_port_with_its_accounts(tmp_path: Path) -> None:
    import socket

    from rich.console import Console

    from accounts import demo as accounts_demo
    from models.db import ensure_schema, make_engine
    from presswatch.demo import serve_demo
    from presswatch.democontext import DemoContext
    from settings import load_settings

    db_url = f"sqlite:///{tmp_path / 'demo.db'}"
    engine = make_engine(db_url)
    ensure_schema(engine)
    out = Console(file=open(tmp_path / "out.txt", "w", encoding="utf-8"), width=200)  # noqa: SIM115
    ctx = DemoContext(workdir=tmp_path, settings=load_settings(environ={}, overrides={"db.url": db_url}).settings,
                      engine=engine, console=out)
    accounts_demo.run(ctx)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    stop = threading.Event()
    thread = threading.Thread(target=serve_demo, args=(ctx, f"127.0.0.1:{port}"), kwargs={"stop": stop}, daemon=True)
    thread.start()
    try:
        text = ""
        for _ in range(900):  # a loaded CI machine: up to 90 s to start
            out.file.flush()
            text = (tmp_path / "out.txt").read_text(encoding="utf-8")
            if "serving at" in text:
                break
            time.sleep(0.1)
        assert "serving at" in text, text
        url = text.split("serving at ")[1].split("/ ")[0]
        assert url != f"http://127.0.0.1:{port}"  # the taken port was skipped
        assert "dz-duty" in text and "hy-duty" in text and "presswatch-demo" in text
        with httpx.Client(base_url=url, headers={"Origin": url}) as client:
            r = client.post("/login", data={"username": "hy-duty", "password": "presswatch-demo"})
            assert r.status_code == 303
            home = client.get("/")
            assert "Cục Thi hành án dân sự tỉnh Hưng Yên" in home.text and "Cảnh báo và vụ việc đang mở" in home.text
    finally:
        stop.set()
        thread.join(timeout=20)
        taken.close()
        engine.dispose()
