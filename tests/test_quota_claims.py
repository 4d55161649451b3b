"""Issue 17's quota fixes: a piece registered under an outlet it did not appear on, a parent unit's
status rolled up from its children, and units named by name as well as code (both backends)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from models import Registration
from models.enums import RegistrationState
from quota.registry import verify_pending
from quota.scoring import status
from quota.units import QuotaError, get_unit, move_unit, rename_unit
from tests.test_quota_rules import COURT, at, crawled, load, reg, row

# The court's WeChat account: no web domains, so the URL host cannot tell it apart from 今日儋州.
WITH_WECHAT: dict[str, Any] = {
    **COURT,
    "outlets": [*COURT["outlets"], {"key": "dz-wechat", "name": "儋州法院微信公众号", "tier": "own_channel",
                                    "unit": "dz-court"}],
}
URL = "https://jrdz.example.cn/c/40.html"


def test_url_crawled_on_another_outlet_is_refused_and_never_counted(session: Session) -> None:
    load(session, WITH_WECHAT)
    crawled(session, "jinri-danzhou", URL, "执行一队夜间集中执行", at(2024, 6, 3, 9), [])
    mine = reg(session, unit="dz-exec-1", outlet="jinri-danzhou", url=URL, published=date(2024, 6, 3),
               now=at(2024, 6, 4))
    assert mine.verified_at is not None
    # Another team claims the same page under the WeChat account: refused, naming both outlets.
    with pytest.raises(QuotaError) as exc:
        reg(session, unit="dz-exec-2", outlet="dz-wechat", url=URL, published=date(2024, 6, 3), now=at(2024, 6, 4))
    message = str(exc.value)
    assert "\n" not in message
    assert "'jinri-danzhou' (今日儋州)" in message and "'dz-wechat' (儋州法院微信公众号)" in message
    assert session.scalar(select(Registration.id).where(Registration.unit_id == get_unit(session, "dz-exec-2").id)) \
        is None
    rows = status(session, "2024-Q2", now=at(2024, 6, 5))
    assert row(rows, "teams", "dz-exec-1").count == 1
    assert row(rows, "teams", "dz-exec-2").count == 0


def test_url_registered_under_another_outlet_by_another_unit_is_refused(session: Session) -> None:
    load(session, WITH_WECHAT)
    url = "https://jrdz.example.cn/c/41.html"  # not crawled (yet)
    reg(session, unit="dz-exec-1", outlet="jinri-danzhou", url=url, published=date(2024, 6, 3), now=at(2024, 6, 4))
    with pytest.raises(QuotaError, match=r"already registered \(#\d+\) under outlet 'jinri-danzhou' \(今日儋州\),"
                                         r" not 'dz-wechat' \(儋州法院微信公众号\)"):
        reg(session, unit="dz-exec-2", outlet="dz-wechat", url=url, published=date(2024, 6, 3), now=at(2024, 6, 4))


def test_unverified_claim_counts_until_the_crawl_shows_another_outlet(session: Session) -> None:
    load(session, WITH_WECHAT)
    # Registered before the crawler saw it: provisionally counted on the outlet given.
    claim = reg(session, unit="dz-exec-2", outlet="dz-wechat", url=URL, published=date(2024, 6, 3),
                now=at(2024, 6, 4))
    assert claim.verified_at is None and claim.state is RegistrationState.SUBMITTED
    assert row(status(session, "2024-Q2", now=at(2024, 6, 5)), "teams", "dz-exec-2").count == 1
    # The crawl finds it on 今日儋州: the claim is rejected with the reason and stops counting.
    crawled(session, "jinri-danzhou", URL, "执行一队夜间集中执行", at(2024, 6, 3, 9), [])
    assert verify_pending(session, now=at(2024, 6, 6)) == (0, 1)
    assert claim.state is RegistrationState.REJECTED
    assert claim.verification["status"] == "outlet_conflict"
    assert "'jinri-danzhou' (今日儋州)" in claim.review_history[-1]["note"]
    assert "'dz-wechat'" in claim.review_history[-1]["note"]
    assert row(status(session, "2024-Q2", now=at(2024, 6, 7)), "teams", "dz-exec-2").count == 0
    # Registered under the right outlet, it is verified and counts.
    right = reg(session, unit="dz-exec-2", outlet="jinri-danzhou", url=URL, published=date(2024, 6, 3),
                now=at(2024, 6, 7))
    assert right.verified_at is not None
    assert row(status(session, "2024-Q2", now=at(2024, 6, 7)), "teams", "dz-exec-2").count == 1


def test_status_of_a_parent_rolls_up_its_children(session: Session) -> None:
    load(session, COURT)
    reg(session, unit="dz-exec-1", outlet="jinri-danzhou", title="执行一队稿件", published=date(2024, 6, 3),
        now=at(2024, 6, 4))
    # 执行局 has no rule of its own; its teams do ("teams": every team under dz-exec).
    rows = status(session, "2024-Q2", "dz-exec", now=at(2024, 6, 5))
    assert {(r.rule_key, r.unit_code) for r in rows} == {("teams", "dz-exec-1"), ("teams", "dz-exec-2")}
    assert row(rows, "teams", "dz-exec-1").count == 1
    # A leaf still shows only itself.
    assert {r.unit_code for r in status(session, "2024-Q2", "dz-exec-2", now=at(2024, 6, 5))} == {"dz-exec-2"}


def test_units_by_name_as_well_as_code(session: Session) -> None:
    load(session, COURT)
    assert get_unit(session, "执行一队").code == "dz-exec-1"
    assert get_unit(session, "儋州法院").code == "dz-court"  # an alias
    r = reg(session, unit="执行一队", outlet="jinri-danzhou", title="按名称登记", published=date(2024, 6, 3),
            now=at(2024, 6, 4))
    assert r.unit_id == get_unit(session, "dz-exec-1").id
    rows = status(session, "2024-Q2", "执行局", now=at(2024, 6, 5))
    assert {r.unit_code for r in rows} == {"dz-exec-1", "dz-exec-2"}
    rename_unit(session, "执行二队", "执行快速反应队", at(2024, 6, 1))
    assert get_unit(session, "执行二队").code == "dz-exec-2"  # the old name still resolves
    move_unit(session, "执行快速反应队", "新闻宣传科", at(2024, 6, 2))
    assert get_unit(session, "dz-exec-2").parent_id == get_unit(session, "dz-press").id
    with pytest.raises(QuotaError, match="unknown unit '执行九队'"):
        get_unit(session, "执行九队")


def test_a_shared_name_is_refused_not_guessed(session: Session) -> None:
    load(session, {**COURT, "units": [*COURT["units"], {"code": "hk-court", "name": "海口法院", "kind": "court",
                                                        "children": [{"code": "hk-exec", "name": "执行局",
                                                                      "kind": "office"}]}]})
    with pytest.raises(QuotaError, match=r"unit name '执行局' is ambiguous: dz-exec \(执行局\), hk-exec \(执行局\)"):
        get_unit(session, "执行局")


def test_cli_takes_unit_names_and_rolls_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import shutil

    import presswatch.cli
    from presswatch.cli import app
    from tests.test_quota_cli import TEMPLATE

    monkeypatch.setenv("PRESSWATCH_DB__URL", f"sqlite:///{tmp_path / 'pw.db'}")
    monkeypatch.setattr(presswatch.cli.console, "_width", 400)
    shutil.copyfile(TEMPLATE, tmp_path / "quota.yaml")
    monkeypatch.chdir(tmp_path)
    cli = CliRunner()

    def run(*args: str) -> str:
        result = cli.invoke(app, list(args))
        assert result.exit_code == 0, (result.output, result.exception)
        return result.output

    run("quota", "load")
    today = date.today().isoformat()
    out = run("register", "--unit", "执行一队", "--outlet", "jinri-danzhou", "--date", today, "--title", "按名称登记的稿件")
    assert "registered #1" in out and "(dz-exec-1," in out
    out = run("quota", "status", "--unit", "执行局", "--lang", "zh-CN")
    assert "执行一队" in out and "执行二队" in out and "#1" in out
    out = run("quota", "status", "--unit", "dz-exec", "--lang", "zh-CN")
    assert "执行一队" in out and "执行二队" in out
    assert "按名称登记的稿件" in run("quota", "registrations", "--unit", "执行一队")
    run("units", "rename", "执行二队", "执行快速反应队")
    assert "执行快速反应队" in run("units", "list")
