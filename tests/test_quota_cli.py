"""The quota CLI end to end on a real SQLite file: load, units, register, status, report."""

from __future__ import annotations

import csv
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from presswatch.cli import app

TEMPLATE = Path(__file__).resolve().parents[1] / "presswatch" / "templates" / "quota.example.yaml"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("PRESSWATCH_DB__URL", f"sqlite:///{tmp_path / 'pw.db'}")
    import presswatch.cli

    # Rich wraps long unit paths at 80 columns; a wide console keeps each row on one line.
    monkeypatch.setattr(presswatch.cli.console, "_width", 400)
    shutil.copyfile(TEMPLATE, tmp_path / "quota.yaml")
    return CliRunner()


def run(cli: CliRunner, *args: str, ok: bool = True) -> str:
    result = cli.invoke(app, list(args))
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_units_register_status_and_reports(cli: CliRunner, tmp_path: Path) -> None:
    assert "loaded 8 units" in run(cli, "quota", "load")
    out = run(cli, "units", "list")
    assert "儋州市人民法院 / 执行局 / 执行一队" in out and "张三" in out
    run(cli, "units", "add", "dz-exec-3", "执行三队", "--kind", "team", "--parent", "dz-exec", "--person", "赵六")
    run(cli, "units", "rename", "dz-exec-3", "执行快速反应队")
    run(cli, "units", "move", "dz-exec-3", "dz-court")
    assert "执行快速反应队" in run(cli, "units", "list", "--history")

    today = date.today().isoformat()
    out = run(cli, "register", "--unit", "dz-exec-1", "--outlet", "jinri-danzhou", "--date", today,
              "--title", "执行一队开展夜间集中执行", "--author", "张三")
    assert "registered #1" in out and "not verified yet" in out
    out = run(cli, "register", "--unit", "dz-exec-1", "--outlet", "jinri-danzhou", "--date", today,
              "--title", "执行一队开展夜间集中执行", "--author", "钱七")
    assert "already registered as #1" in out and "钱七 is not a known person" in out

    out = run(cli, "quota", "status", "--rule", "team-weekly-pieces", "--lang", "zh-CN")
    assert "执行各队每周报送稿件" in out and "#1 #2" in out and "差 2" in out
    out = run(cli, "quota", "status", "--unit", "hy-vanlam", "--lang", "vi")
    assert "Mỗi Chi cục" in out and "Thiếu 2" in out and "执行" not in out

    xlsx = tmp_path / "out" / "q.xlsx"
    run(cli, "quota", "report", "--out", str(xlsx), "--lang", "en")
    from openpyxl import load_workbook

    wb = load_workbook(xlsx)
    assert wb.sheetnames == ["Publicity quota progress", "Evidence (registration ids)", "Ranking"]
    ev = list(wb["Evidence (registration ids)"].iter_rows(values_only=True))
    assert {r[0] for r in ev[1:]} == {1, 2}
    published = wb["Evidence (registration ids)"]["H2"]  # a real Excel datetime (local, to the minute)
    assert isinstance(published.value, datetime) and published.number_format == "yyyy-mm-dd hh:mm"
    for sheet in wb.worksheets:  # every sheet filters from its header row
        assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, sheet.max_column).column_letter}{sheet.max_row}"
    # The reader's language: headers, piece kinds, review states and verification as words, and the
    # period's first and last day as real dates.
    zh = tmp_path / "out" / "q-zh.xlsx"
    run(cli, "quota", "report", "--out", str(zh), "--lang", "zh-CN")
    wb = load_workbook(zh)
    status_sheet, ev_sheet = wb.worksheets[0], wb.worksheets[1]
    head = [c.value for c in status_sheet[1]]
    assert head[:5] == ["考核项目", "单位", "周期", "起", "止"] and not any(
        h and ("_" in h or h.isascii()) for h in head)
    team_row = next(r for r in status_sheet.iter_rows(min_row=2, values_only=True) if r[11] == "team-weekly-pieces")
    assert isinstance(team_row[3], datetime) and isinstance(team_row[4], datetime) and team_row[3] <= team_row[4]
    assert (team_row[4] - team_row[3]).days == 6 and status_sheet.cell(2, 4).number_format == "yyyy-mm-dd"
    evidence_head = [c.value for c in ev_sheet[1]]
    assert not any(h and h.isascii() for h in evidence_head)
    first_piece = [c.value for c in ev_sheet[2]]
    assert first_piece[8] == "新闻" and first_piece[10] == "已登记" and first_piece[11] == "未核实"
    run(cli, "quota", "report", "--out", str(tmp_path / "q.csv"))
    with (tmp_path / "q.csv").open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    team = [r for r in rows if r["rule_key"] == "team-weekly-pieces" and r["unit_code"] == "dz-exec-1"]
    assert team and team[0]["count"] == "1" and team[0]["依据（登记编号）"] == "1 2"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["register", "--unit", "nope", "--outlet", "jinri-danzhou", "--date", "2024-01-01", "--title", "x"],
         "unknown unit 'nope'"),
        (["register", "--unit", "dz-press", "--outlet", "jinri-danzhou", "--date",
          (date.today() + timedelta(days=2)).isoformat(), "--title", "x"], "is in the future"),
        (["register", "--unit", "dz-press", "--outlet", "jinri-danzhou", "--date", "05/06/2024", "--title", "x"],
         "not a date"),
        (["quota", "status", "--period", "2024-Q7"], "not a period: '2024-Q7'"),
        (["units", "move", "dz-exec", "dz-exec-1"], "inside 'dz-exec'"),
        (["quota", "report", "--out", "x.pdf"], "must end in .xlsx or .csv"),
        (["quota", "review", "999", "submit", "--by", "x"], "no registration #999"),
    ],
)
def test_bad_input_is_one_clear_line(cli: CliRunner, args: list[str], message: str) -> None:
    from presswatch.cli import CliError

    run(cli, "quota", "load")
    result = cli.invoke(app, args)
    assert isinstance(result.exception, CliError), result.output
    assert message in str(result.exception)


def test_jobs_run_against_the_configured_database(cli: CliRunner) -> None:
    from sqlalchemy import select

    import quota.jobs
    from models import Delivery, Registration
    from models.db import get_engine, session_scope
    from presswatch.service import build_scheduler
    from settings import get_settings

    run(cli, "quota", "load")
    run(cli, "register", "--unit", "dz-exec-1", "--outlet", "jinri-danzhou", "--date", date.today().isoformat(),
        "--title", "执行一队集中执行")
    jobs = quota.jobs.scheduled_jobs(get_settings())
    assert [j.id for j in jobs] == ["quota-match", "quota-verify", "quota-daily"]
    scheduler = build_scheduler(get_settings(), jobs)
    assert {j.id for j in scheduler.get_jobs()} == {"quota-match", "quota-verify", "quota-daily"}
    quota.jobs.match_job()
    quota.jobs.daily_job()
    quota.jobs.daily_job()  # idempotent: the same reminders and reports, not new ones
    with session_scope(get_engine()) as session:
        reg = session.scalar(select(Registration))
        assert reg is not None and reg.verification["attempts"] == 2  # at registration, then by the job
        keys = [d.idempotency_key for d in session.scalars(select(Delivery))]
        assert len(keys) == len(set(keys))
        assert all(k.startswith(("quota-reminder:", "quota-report:", "quota-announce:")) for k in keys)


def test_review_from_the_cli_is_the_webs_review(cli: CliRunner) -> None:
    """`quota review` calls quota.desk.review_in_scope: a rejection needs its reason, every step is
    audited under --by, and `quota registrations` lists the result (one listing function)."""
    from sqlalchemy import select

    from models import AuditEntry
    from models.db import get_engine, session_scope

    run(cli, "quota", "load")
    run(cli, "register", "--unit", "dz-exec-1", "--outlet", "jinri-danzhou", "--date", date.today().isoformat(),
        "--title", "执行一队开展夜间集中执行")
    run(cli, "quota", "review", "1", "section_approve", "--by", "王五")
    refused = cli.invoke(app, ["quota", "review", "1", "reject", "--by", "王五"])
    assert "needs its reason" in str(refused.exception) and refused.exit_code != 0
    assert "is now rejected" in run(cli, "quota", "review", "1", "reject", "--by", "王五", "--note", "重复报送")
    out = run(cli, "quota", "registrations", "--unit", "执行一队", "--state", "rejected")
    assert "jinri-danzhou" in out and "rejected" in out and "执行一队开展夜间集中执行" in out
    with session_scope(get_engine()) as session:
        steps = [(a.action, a.actor, a.note) for a in session.scalars(
            select(AuditEntry).where(AuditEntry.object_type == "registration").order_by(AuditEntry.id))]
    assert steps == [("quota.review.section_approve", "王五", ""), ("quota.review.reject", "王五", "重复报送")]
