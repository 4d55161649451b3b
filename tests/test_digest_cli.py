"""The digest and report commands, run in-process through the real CLI app."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

import settings as settings_mod
from presswatch.cli import CliError, app
from presswatch.service import collect_jobs, resolve

runner = CliRunner()


def test_preview_writes_html_and_text_for_a_date_and_language(world_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "digest-vi.html"
    result = runner.invoke(app, ["digest", "preview", "--date", "2024-05-14", "--lang", "vi", "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert '<html lang="vi">' in html and "Khiếu nại đông người" in html
    assert 'src="data:image/png;base64,' in html  # opens in a browser with its chart
    text = out.with_suffix(".txt").read_text(encoding="utf-8")
    assert text.startswith("Điểm tin báo chí hàng ngày - Cục THADS tỉnh Hưng Yên\n")
    assert "Tổng số tin bài 3" in result.output


def test_preview_by_name_in_another_language_uses_the_default_title(world_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "en.html"
    result = runner.invoke(app, ["digest", "preview", "--name", "dz-daily", "--lang", "en", "--date", "2024-05-14",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Daily press digest" in out.read_text(encoding="utf-8")
    assert "Needs attention" in out.read_text(encoding="utf-8")


def test_send_without_smtp_queues_once(world_db: Path) -> None:
    first = runner.invoke(app, ["digest", "send", "dz-daily", "--date", "2024-05-14"])
    assert first.exit_code == 4, first.output  # queued, not sent: cron must be able to tell
    assert "email channel disabled" in first.output and "queued for 2 recipient(s)" in first.output
    again = runner.invoke(app, ["digest", "send", "dz-daily", "--date", "2024-05-14"])
    assert "already built for this period: not sent again" in again.output


def test_unknown_digest_and_bad_date_are_clear_errors(world_db: Path) -> None:
    result = runner.invoke(app, ["digest", "send", "nope"])
    assert isinstance(result.exception, CliError)
    assert "no digest named 'nope' (known: dz-daily, hy-daily)" in str(result.exception)
    result = runner.invoke(app, ["digest", "send", "dz-daily", "--date", "2999-01-01"])
    assert isinstance(result.exception, CliError) and "is due at 2999-01-01 07:30 CST" in str(result.exception)
    result = runner.invoke(app, ["digest", "preview", "--date", "14/05/2024"])
    assert isinstance(result.exception, CliError) and "--date must be YYYY-MM-DD" in str(result.exception)


def test_monthly_report_as_xlsx(world_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.xlsx"
    result = runner.invoke(app, ["report", "monthly", "--month", "2024-05", "--out", str(out)])
    assert result.exit_code == 0, result.output
    wb = load_workbook(out)
    assert wb.sheetnames == ["概况", "每日报道量", "需关注报道（高风险、负面、已预警）", "传播最广的事件", "话题分布", "主要媒体",
                             "本单位发稿（计入考核）", "信息源状态"]
    summary = {row[0]: row[1] for row in wb["概况"].iter_rows(min_row=2, values_only=True)}
    assert summary["报道总数"] == 21 and summary["高风险"] == 4
    days = list(wb["每日报道量"].iter_rows(min_row=2, values_only=True))
    # The negative share is a number shown as a percentage (it sorts and sums), not text.
    assert len(days) == 31 and days[12] == (datetime(2024, 5, 13), 8, 5, 0.625)
    assert wb["每日报道量"]["D14"].number_format == "0.0%"
    assert wb["每日报道量"]["A2"].number_format == "yyyy-mm-dd"
    flagged = wb["需关注报道（高风险、负面、已预警）"]
    assert flagged["C2"].value == "网传儋州法院执行人员强制腾房时暴力执法"
    # Times are Excel datetimes in the digest's time zone (Asia/Shanghai), to the minute, not text.
    assert flagged["A2"].value == datetime(2024, 5, 13, 9, 5) and flagged["A2"].number_format == "yyyy-mm-dd hh:mm"
    # Topics by their labels, not their keys.
    assert [r[0] for r in wb["话题分布"].iter_rows(min_row=2, values_only=True)][:2] == ["执行工作", "失信被执行人"]
    assert flagged["I2"].hyperlink is not None and flagged["I2"].hyperlink.target.startswith("https://")


def test_quarterly_report_as_pdf_in_vietnamese_embeds_its_font(world_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "bao-cao.pdf"
    result = runner.invoke(app, ["report", "quarterly", "--quarter", "2024-Q2", "--name", "hy-daily",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    assert b"/FontFile" in data  # embedded (subset) font: renders without the viewer having CJK fonts
    assert "Báo cáo quý 2024-Q2: 4 pieces" in result.output


def test_report_argument_errors(world_db: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "monthly", "--out", str(tmp_path / "r.xlsx")])
    assert isinstance(result.exception, CliError) and "--month" in str(result.exception)
    result = runner.invoke(app, ["report", "monthly", "--month", "2024-05", "--out", str(tmp_path / "r.doc")])
    assert isinstance(result.exception, CliError) and ".xlsx or .pdf" in str(result.exception)
    result = runner.invoke(app, ["report", "yearly", "--out", str(tmp_path / "r.xlsx")])
    assert isinstance(result.exception, CliError) and "--year" in str(result.exception)
    result = runner.invoke(app, ["report", "annual", "--period", "2024", "--out", str(tmp_path / "r.xlsx")])
    assert isinstance(result.exception, CliError) and "yearly" in str(result.exception)


def test_yearly_report_by_year_or_period(world_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "year.xlsx"
    result = runner.invoke(app, ["report", "yearly", "--year", "2024", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "舆情年报 2024: 21 pieces" in result.output
    summary = {row[0]: row[1] for row in load_workbook(out)["概况"].iter_rows(min_row=2, values_only=True)}
    assert summary["报道总数"] == 21 and str(summary["统计时段"]).startswith("2024 (")
    assert len(list(load_workbook(out)["每日报道量"].iter_rows(min_row=2))) == 366
    again = runner.invoke(app, ["report", "yearly", "--period", "2024", "--out", str(tmp_path / "y2.xlsx")])
    assert again.exit_code == 0 and "舆情年报 2024: 21 pieces" in again.output


def test_the_service_schedules_the_digest_check() -> None:
    settings = settings_mod.load_settings(environ={}).settings
    jobs = {j.id: j for j in collect_jobs(settings)}
    job = jobs["digest-send-due"]
    assert job.trigger == "interval" and job.trigger_args == {"seconds": 60} and job.run_at_start
    assert callable(resolve(job.func))


def test_init_writes_the_sample_digests_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alerts.digest.definitions import load_definitions

    monkeypatch.setenv("PRESSWATCH_DB__URL", f"sqlite:///{tmp_path / 'init.db'}")
    settings_mod.reset_settings_cache()
    result = runner.invoke(app, ["init", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    assert [d.name for d in load_definitions(tmp_path / "site" / "digests.yaml")] == ["dz-daily", "hy-daily"]
