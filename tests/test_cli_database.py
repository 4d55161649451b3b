"""The wrong database is never used silently: read commands never create one, URL mistakes are one line.

``presswatch cases list`` in a folder without ``presswatch.toml`` used to create an empty
``var/presswatch.db`` and answer "no open cases". Each mistake in ``db.url`` (Heroku's
``postgres://``, a MySQL URL, garbage, an unreachable host, a wrong password) now ends in one
line on stderr naming the setting, exit code 2, and no traceback. The wrong-password case runs
against a real PostgreSQL server with password authentication that the test starts.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import subprocess_env


def _cli(*args: str, cwd: Path, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "presswatch.cli", *args], cwd=cwd,
                          env=subprocess_env(**(env_extra or {})), capture_output=True, text=True, timeout=120)


def _one_line_naming_db_url(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "db.url" in lines[0] and "Traceback" not in proc.stderr
    return lines[0]


@pytest.mark.parametrize("command", [["cases", "list"], ["alerts", "outbox"], ["sources", "check"]])
def test_a_read_command_without_config_says_where_it_looked_and_creates_nothing(
        tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "sources.yaml").write_text("sources: []\n", encoding="utf-8")
    proc = _cli(*command, cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert f"no presswatch.toml in {tmp_path}" in proc.stderr.replace("\n", "")
    assert "presswatch init" in proc.stderr and "no open cases" not in proc.stdout
    assert not (tmp_path / "var").exists()


def test_a_read_command_with_config_names_the_missing_database_file(tmp_path: Path) -> None:
    (tmp_path / "presswatch.toml").write_text('[db]\nurl = "sqlite:///data/office.db"\n', encoding="utf-8")
    line = _one_line_naming_db_url(_cli("cases", "list", cwd=tmp_path))
    assert "presswatch.toml" in line and "office.db" in line and "db upgrade" in line
    assert not (tmp_path / "data").exists()


def test_a_read_command_works_once_the_database_exists(tmp_path: Path) -> None:
    assert _cli("db", "upgrade", cwd=tmp_path).returncode == 0
    proc = _cli("cases", "list", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(("url", "words"), [
    ("postgres://u:p@127.0.0.1/presswatch", "postgresql+psycopg://"),
    ("mysql://u:p@127.0.0.1/presswatch", "not supported"),
    ("mysql+pymysql://u:p@127.0.0.1/presswatch", "not supported"),
    ("this is not a url", "not a database URL"),
    ("postgresql+asyncpg://u@127.0.0.1/presswatch", "driver"),
])
def test_a_mistyped_database_url_is_one_line_naming_the_setting(tmp_path: Path, url: str, words: str) -> None:
    line = _one_line_naming_db_url(_cli("cases", "list", cwd=tmp_path, env_extra={"PRESSWATCH_DB__URL": url}))
    assert "PRESSWATCH_DB__URL" in line and words in line
    assert ":p@" not in line  # never echo a password


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", [["cases", "list"], ["db", "upgrade"]])
def test_an_unreachable_database_is_one_line_naming_the_setting(tmp_path: Path, command: list[str]) -> None:
    url = f"postgresql+psycopg://nobody:hunter2@127.0.0.1:{_free_port()}/none"
    line = _one_line_naming_db_url(_cli(*command, cwd=tmp_path, env_extra={"PRESSWATCH_DB__URL": url}))
    assert "connection refused" in line and "hunter2" not in line


def test_an_unknown_host_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    (tmp_path / "presswatch.toml").write_text(
        '[db]\nurl = "postgresql+psycopg://u@db.invalid:5432/presswatch"\n', encoding="utf-8")
    line = _one_line_naming_db_url(_cli("cases", "list", cwd=tmp_path))
    assert "presswatch.toml" in line and "db.invalid" in line


@pytest.fixture(scope="module")
def password_postgres() -> Iterator[str]:
    """A real PostgreSQL cluster with scram-sha-256 password authentication (the shared test server
    trusts 127.0.0.1, so it cannot refuse a password). Yields the URL with the right password."""
    # Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<version>/bin.
    path = os.pathsep.join([os.environ.get("PATH", ""), *sorted(map(str, Path("/usr/lib/postgresql").glob("*/bin")))])
    initdb, pg_ctl = shutil.which("initdb", path=path), shutil.which("pg_ctl", path=path)
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    # Not under pytest's temporary root: that is private to its owner, and the server may run as nobody.
    folder = Path(tempfile.mkdtemp(prefix="presswatch-pgauth-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        runuser = shutil.which("runuser")
        if not runuser:
            pytest.skip("running as root without runuser")
        prefix = [runuser, "-u", "nobody", "--"]
        os.chmod(folder, 0o777)
    pwfile = folder / "pw"
    pwfile.write_text("right-password\n", encoding="utf-8")
    os.chmod(pwfile, 0o644)
    data = folder / "data"
    subprocess.run([*prefix, initdb, "-D", str(data), "-U", "pwtest", "--auth=scram-sha-256",
                    f"--pwfile={pwfile}", "-N"], check=True, capture_output=True, timeout=120)
    port = _free_port()
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
                    f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql+psycopg://pwtest:right-password@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True,
                       timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.postgres
@pytest.mark.slow
def test_a_wrong_password_is_one_line_naming_the_setting(tmp_path: Path, password_postgres: str) -> None:
    wrong = password_postgres.replace("right-password", "wrong-password")
    line = _one_line_naming_db_url(_cli("db", "upgrade", cwd=tmp_path, env_extra={"PRESSWATCH_DB__URL": wrong}))
    assert "password" in line and "wrong-password" not in line
    line = _one_line_naming_db_url(_cli("cases", "list", cwd=tmp_path, env_extra={"PRESSWATCH_DB__URL": wrong}))
    assert "refused the user name or password" in line
    # The right password works: the server is real and the URL otherwise right.
    ok = _cli("db", "upgrade", cwd=tmp_path, env_extra={"PRESSWATCH_DB__URL": password_postgres})
    assert ok.returncode == 0, ok.stderr
