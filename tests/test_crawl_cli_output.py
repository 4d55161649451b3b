"""What ``presswatch crawl`` and ``presswatch import`` print and how they exit, run as a user runs them.

Default output is the summary table only: no Scrapy DEBUG/INFO lines and no raw page bytes (Scrapy's
``configure_logging`` used to reset our levels: ~170 KB per crawl). ``-v`` adds our INFO lines,
``-vv`` debug. The table counts what the pipeline did per source (stored / updated / duplicate /
dropped with reasons), not items fetched. A failed source exits 3 (``EXIT_SOURCE_FAILED``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from crawlers.testserver import LocalServer
from presswatch.console import EXIT_OK, EXIT_SOURCE_FAILED
from tests.conftest import subprocess_env
from tests.crawl_site import fixture_registry, fixture_site

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(fixture_site) as s:
        yield s


def _setup(folder: Path, server: LocalServer, keys: set[str]) -> None:
    registry = fixture_registry(server.base_url)
    registry["sources"] = [s for s in registry["sources"] if s["key"] in keys]
    (folder / "sources.yaml").write_text(yaml.safe_dump(registry, allow_unicode=True), encoding="utf-8")
    (folder / "presswatch.toml").write_text(
        "[crawl]\ndownload_delay_seconds = 0\nretry_times = 0\nfetch_timeout_seconds = 5\n", encoding="utf-8")


def _cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "presswatch.cli", *args], cwd=folder, env=subprocess_env(COLUMNS="200"),
                          capture_output=True, text=True, timeout=300)


def _row(output: str, key: str) -> list[str]:
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 2 and cells[1] == key:
            return cells[1:-1]
    raise AssertionError(f"no row for {key} in:\n{output}")


def test_default_crawl_output_is_the_summary_of_what_was_stored(tmp_path: Path, server: LocalServer) -> None:
    _setup(tmp_path, server, {"rss", "zh-gbk"})
    proc = _cli(tmp_path, "crawl")
    assert proc.returncode == EXIT_OK, proc.stderr[-2000:]
    everything = proc.stdout + proc.stderr
    assert len(everything) < 4000, everything[:3000]
    assert "DEBUG" not in everything and "INFO" not in everything and "Scraped from" not in everything
    assert "b'" not in everything and "<html" not in everything.lower()
    assert proc.stderr.strip() == ""
    assert "stored" in proc.stdout and "duplicate" in proc.stdout and "dropped" in proc.stdout
    assert "listed" not in proc.stdout  # items fetched are not the summary
    # The feed lists 3 pieces; the pipeline stores 1 and drops 2 whose pages have no text: the
    # summary says so (it used to say "3 new").
    rss = _row(proc.stdout, "rss")
    assert rss[2:7] == ["1", "0", "0", "2 (no_text ×2)", "0"], rss  # stored, updated, duplicate, dropped, errors
    assert _row(proc.stdout, "zh-gbk")[2:7] == ["4", "0", "0", "0", "0"], proc.stdout


def test_verbose_levels(tmp_path: Path, server: LocalServer) -> None:
    _setup(tmp_path, server, {"rss"})
    info = _cli(tmp_path, "-v", "crawl")
    assert info.returncode == EXIT_OK, info.stderr[-2000:]
    assert " INFO " in info.stderr and " DEBUG " not in info.stderr
    debug = _cli(tmp_path, "-vv", "crawl", "--source", "rss")
    assert " DEBUG scrapy" in debug.stderr
    assert "\\x" not in debug.stderr and "body=b'" not in debug.stderr  # no raw page bytes, even at -vv


def test_a_failed_source_exits_3(tmp_path: Path, server: LocalServer) -> None:
    _setup(tmp_path, server, {"rss", "err-500"})
    proc = _cli(tmp_path, "crawl")
    assert proc.returncode == EXIT_SOURCE_FAILED, (proc.stdout, proc.stderr[-2000:])
    assert "HTTP 500" in _row(proc.stdout, "err-500")[-1] or "500" in proc.stdout
    assert _row(proc.stdout, "rss")[2] == "1"


def test_import_counts_stored_duplicate_and_dropped_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "presswatch.toml").write_text("", encoding="utf-8")
    (tmp_path / "sources.yaml").write_text("sources: []\n", encoding="utf-8")
    text = "琼州市人民法院执行局开展集中执行行动，兑现案款二百万元，申请执行人表示感谢。" * 3
    rows = [
        {"url": "https://example.org/a/1.html", "title": "集中执行兑现案款", "text": text},
        {"url": "https://example.org/a/1.html", "title": "集中执行兑现案款", "text": text},
        {"url": "https://example.org/a/2.html", "title": "短", "text": "短"},
    ]
    archive = tmp_path / "pieces.jsonl"
    archive.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    proc = _cli(tmp_path, "import", str(archive))
    assert proc.returncode == EXIT_OK, proc.stderr[-2000:]
    row = _row(proc.stdout, "manual-import")
    stored, updated, duplicate, dropped, errors = row[2:7]
    assert (stored, updated, errors) == ("1", "0", "0"), row
    assert duplicate == "1", row
    assert dropped.startswith("1 (") and "×1" in dropped, row
