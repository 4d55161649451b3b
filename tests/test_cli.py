"""The CLI: init, config show, db upgrade, clear errors; `presswatch run` stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from typer.testing import CliRunner

from presswatch.cli import app
from tests.conftest import subprocess_env

runner = CliRunner()


def test_init_writes_config_and_creates_database(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "presswatch.toml").is_file()
    assert (Path("var") / "presswatch.db").is_file()
    again = runner.invoke(app, ["init", str(tmp_path)])
    assert "kept" in again.output


def test_config_show_masks_and_names_origin(tmp_path: Path) -> None:
    Path("presswatch.toml").write_text('[alerts]\nsmtp_host = "mail.example.org"\n', encoding="utf-8")
    env = {"PRESSWATCH_ALERTS__SMTP_PASSWORD": "s3cret"}
    result = runner.invoke(app, ["--set", "crawl.retry_times=4", "config", "show"], env=env)
    assert result.exit_code == 0, result.output
    assert "mail.example.org" in result.output and "presswatch.toml" in result.output
    assert "s3cret" not in result.output and "********" in result.output
    assert "flag" in result.output


def _cli(*args: str, cwd: Path, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(**(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "presswatch.cli", *args], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=120,
    )


def test_bad_config_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "presswatch.toml").write_text("[crawl]\nretry_times = -1\n", encoding="utf-8")
    proc = _cli("config", "show", cwd=tmp_path)
    assert proc.returncode == 2
    assert "crawl.retry_times" in proc.stderr and "presswatch.toml" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_db_upgrade_then_current(tmp_path: Path) -> None:
    proc = _cli("db", "upgrade", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = _cli("db", "current", cwd=tmp_path)
    assert "database: 0" in proc.stdout


def test_unreachable_database_is_clear(tmp_path: Path) -> None:
    proc = _cli("db", "upgrade", cwd=tmp_path,
                env_extra={"PRESSWATCH_DB__URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    assert proc.returncode == 2
    assert "db.url" in proc.stderr and "connection refused" in proc.stderr and "Traceback" not in proc.stderr


def test_run_serves_the_web_app_and_shuts_down_on_sigterm(tmp_path: Path) -> None:
    from tests.web_support import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "presswatch.cli", "--set", f"web.bind=127.0.0.1:{port}", "run"], cwd=tmp_path,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "service started" in line:
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # SIGTERM only once the service says it runs (its signal handlers are installed by then).
    assert started.wait(timeout=120), "".join(lines)
    import httpx

    login = httpx.get(f"http://127.0.0.1:{port}/login", timeout=30)
    assert login.status_code == 200 and 'name="username"' in login.text
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    reader.join(timeout=10)
    assert proc.returncode == 0, "".join(lines)
    assert any("service stopped" in line for line in lines)


def test_default_database_follows_the_working_directory(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The relative default URL means ./var of where the command runs; engines must not leak between folders."""
    first, second = tmp_path / "one", tmp_path / "two"
    for folder in (first, second):
        folder.mkdir()
        monkeypatch.chdir(folder)
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        assert (folder / "var" / "presswatch.db").is_file()


def test_version_needs_no_command() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("presswatch ")
