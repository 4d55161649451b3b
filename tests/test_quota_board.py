"""The quota board kept between views: brought up to date by recounting only the units whose
registrations changed (and the units they count for), with exactly the figures of a full count.

On both backends: a board is computed, then registrations are added, reviewed, rejected and
deleted, a piece joins another's story, a unit moves, a rule changes and the day turns; after each
change the board's rows equal ``quota.scoring.status`` counted afresh, and the recount touched only
what it had to (when the day turns, only the rules with a period begun).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import quota.board as qb
from models import QuotaRule, Registration
from models.scope import system_scope
from quota.registry import review
from quota.scoring import status
from quota.units import move_unit
from tests.test_quota_rules import ANTI_GANG, COUNTY, at, bulletin, load, reg

NOW = at(2024, 12, 20, 12)


def figures(rows: list[Any]) -> dict[tuple[str, str, str], tuple[int, float, float, list[int]]]:
    return {(r.rule_key, r.unit_code, r.period): (r.count, r.points, r.target, r.registration_ids) for r in rows}


rules_counted: list[Any] = []


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[frozenset[int] | None]:
    """The ``within`` of every status() call the board makes (None: every unit counted); their
    ``rules`` in ``rules_counted``."""
    qb._board_cache.clear()
    rules_counted.clear()
    calls: list[frozenset[int] | None] = []

    def spy(*args: Any, **kw: Any) -> Any:
        calls.append(kw.get("within"))
        rules_counted.append(kw.get("rules"))
        return status(*args, **kw)

    monkeypatch.setattr(qb, "status", spy)
    return calls


def board_rows(session: Session, span: Any, now: Any = NOW) -> list[Any]:
    return qb.quota_board(session, system_scope(), span, now=now).rows


def check(session: Session, span: Any, now: Any = NOW) -> None:
    kept = figures(board_rows(session, span, now))
    assert kept == figures(status(session, span, now=now, store=False))
    assert kept  # not vacuous


def test_the_kept_board_recounts_only_what_changed_and_equals_a_full_count(
        session: Session, counted: list[frozenset[int] | None]) -> None:
    load(session, COUNTY)
    load(session, ANTI_GANG)
    span = qb.board_span("quarter", "2024-Q4", NOW.date())
    for i in range(3):
        reg(session, unit="cb-office", outlet="daily", url=f"https://daily.zhou.example.cn/2024/10{i}.html",
            title=f"日报稿件{i}", published=date(2024, 10, 3 + i))
    first = bulletin(session, "ag-t1", "二道江乡召开推进会", date(2024, 10, 8), "standalone")
    bulletin(session, "ag-t2", "五道江镇宣传", date(2024, 11, 12), "combined")
    session.flush()
    check(session, span)
    assert counted == [None]
    ids = {u.code: u.id for u in qb.Hierarchy(session).units.values()}

    # Nothing changed: the kept rows, no counting.
    board_rows(session, span)
    assert len(counted) == 1

    # A new piece from a section: that section and the bureau above it (the daily rule counts
    # sections together for it) are recounted, nobody else.
    reg(session, unit="cb-law", outlet="daily", url="https://daily.zhou.example.cn/2024/1201.html",
        title="法治宣传股日报稿", published=date(2024, 12, 1))
    session.flush()
    check(session, span)
    assert counted[1] == frozenset({ids["cb-law"], ids["cb"]})

    # The same story registered again by another section counts once for the bureau.
    reg(session, unit="cb-office", outlet="daily", url="https://daily.zhou.example.cn/2024/1201.html",
        title="法治宣传股日报稿", published=date(2024, 12, 1))
    session.flush()
    check(session, span)
    assert counted[-1] == frozenset({ids["cb-office"], ids["cb"]})

    # Rejected in review: no longer counted.
    review(session, first.id, "reject", by="科长", note="不是本单位稿件")
    session.flush()
    check(session, span)
    assert counted[-1] == frozenset({ids["ag-t1"], ids["ag"]})

    # Deleted.
    doomed = session.scalar(select(Registration).where(Registration.title == "五道江镇宣传"))
    session.delete(doomed)
    session.flush()
    check(session, span)
    assert counted[-1] == frozenset({ids["ag-t2"], ids["ag"]})

    # A unit moved under another parent: the tree changed, everything is counted again.
    move_unit(session, "cb-st1", "ag", effective=at(2024, 11, 1, 0))
    session.flush()
    check(session, span)
    assert counted[-1] is None and rules_counted[-1] is None

    # A rule's target changed: that rule alone is counted again.
    rule = session.scalar(select(QuotaRule).where(QuotaRule.key == "daily-together"))
    assert rule is not None
    rule.target = 7
    session.flush()
    check(session, span)
    assert len(counted) == 7 and rules_counted[-1] == ["daily-together"]
    assert {r.target for r in board_rows(session, span) if r.rule_key == "daily-together"} == {7}

    # The next day: no period begins (a Saturday), nothing is counted; the days left move.
    check(session, span, now=at(2024, 12, 21, 12))
    assert len(counted) == 7
    town = [r for r in board_rows(session, span, at(2024, 12, 21, 12)) if r.current and r.rule_key == "town-weekly"]
    assert town and {r.days_left for r in town} == {1}
    # Monday: a new week begins, the weekly rule alone is counted again.
    check(session, span, now=at(2024, 12, 23, 9))
    assert len(counted) == 8 and rules_counted[-1] == ["town-weekly"]

    # A rule removed: its rows go, nothing is counted.
    session.delete(rule)
    session.flush()
    check(session, span, now=at(2024, 12, 23, 9))
    assert len(counted) == 8
    assert "daily-together" not in {r.rule_key for r in board_rows(session, span, at(2024, 12, 23, 9))}


def test_the_board_of_one_scope_recounts_within_that_scope(
        session: Session, counted: list[frozenset[int] | None]) -> None:
    load(session, ANTI_GANG)
    span = qb.board_span("month", "2024-12", NOW.date())
    bulletin(session, "ag-t1", "二道江乡十二月简报", date(2024, 12, 2), "standalone")
    session.flush()
    tree = qb.Hierarchy(session)
    t1 = next(u.id for u in tree.units.values() if u.code == "ag-t1")
    t2 = next(u.id for u in tree.units.values() if u.code == "ag-t2")
    scope_rows = qb.quota_board(session, system_scope(), span, now=NOW, unit_id=t2).rows
    assert {r.unit_code for r in scope_rows} == {"ag-t2"}
    bulletin(session, "ag-t1", "二道江乡又一期", date(2024, 12, 9), "combined")
    bulletin(session, "ag-t2", "五道江镇十二月简报", date(2024, 12, 10), "standalone")
    session.flush()
    rows = qb.quota_board(session, system_scope(), span, now=NOW, unit_id=t2).rows
    assert counted[-1] == frozenset({t2})  # ag-t1 is outside this board: not counted for it
    assert figures(rows) == figures(status(session, span, unit="ag-t2", now=NOW, store=False))
    assert sum(r.count for r in rows if r.rule_key == "town-weekly") == 1
    assert t1 not in {r.unit_id for r in rows}


def test_large_scopes_share_their_organizations_kept_board(
        session: Session, counted: list[frozenset[int] | None], monkeypatch: pytest.MonkeyPatch) -> None:
    """A leader's subtree and a section's are served from one kept board of their organization (a
    superuser's covers every organization), each seeing only its own units' rows, with the figures
    of a count of just those units."""
    monkeypatch.setattr(qb, "SHARED_BOARD_UNITS", 1)
    load(session, COUNTY)
    load(session, ANTI_GANG)
    span = qb.board_span("quarter", "2024-Q4", NOW.date())
    reg(session, unit="cb-law", outlet="daily", url="https://daily.zhou.example.cn/2024/1101.html",
        title="日报稿件", published=date(2024, 11, 1))
    bulletin(session, "ag-t1", "二道江乡简报", date(2024, 11, 4), "standalone")
    session.flush()
    tree = qb.Hierarchy(session)
    ids = {u.code: u.id for u in tree.units.values()}
    from models.scope import Scope, subtree_ids

    def scope_of(*codes: str) -> Scope:
        return Scope(user_id=None, username="t", superuser=False,
                     unit_ids=subtree_ids(session, [ids[c] for c in codes]))

    county = qb.quota_board(session, scope_of("cb"), span, now=NOW).rows
    assert counted == [subtree_ids(session, [ids["cb"]])]
    sections = qb.quota_board(session, scope_of("cb-law", "cb-office"), span, now=NOW).rows
    assert len(counted) == 1  # the county's kept board, not counted again
    assert {r.unit_code for r in sections} == {"cb-law", "cb-office"}
    assert figures(sections) == {k: v for k, v in figures(county).items() if k[1] in {"cb-law", "cb-office"}}
    assert figures(county) == figures(status(session, span, unit="cb", now=NOW, store=False))
    anti_gang = qb.quota_board(session, scope_of("ag"), span, now=NOW).rows
    assert len(counted) == 2 and "cb" not in {r.unit_code for r in anti_gang}
    both = qb.quota_board(session, scope_of("cb", "ag"), span, now=NOW).rows
    assert counted[-1] is None  # every unit there is: the superusers' board
    assert figures(both) == figures(status(session, span, now=NOW, store=False))


def test_boards_warmed_at_start_serve_the_first_view(
        session: Session, counted: list[frozenset[int] | None], monkeypatch: pytest.MonkeyPatch) -> None:
    """What a web worker counts when it starts (each organization's current month, week,
    half-month, quarter and year) is what its leaders' first views of /quota find kept: no count
    at the view."""
    load(session, COUNTY)
    load(session, ANTI_GANG)
    bulletin(session, "ag-t1", "二道江乡简报", date(2024, 12, 2), "standalone")
    session.flush()
    assert qb.warm_boards(session, "Asia/Shanghai", now=NOW) == 10  # 2 organizations x 5 periods
    assert len(counted) == 10
    from models.scope import Scope, subtree_ids

    ag = next(u.id for u in qb.Hierarchy(session).units.values() if u.code == "ag")
    leader = Scope(user_id=None, username="leader", superuser=False, unit_ids=subtree_ids(session, [ag]))
    span = qb.board_span(None, None, NOW.date())
    rows = qb.quota_board(session, leader, span, now=NOW, with_ids=False).rows
    quarter = qb.board_span("quarter", None, NOW.date())
    assert qb.quota_board(session, leader, quarter, now=NOW, with_ids=False).rows
    assert len(counted) == 10
    assert sum(r.count for r in rows if r.unit_code == "ag-t1" and r.rule_key == "town-weekly") == 1
    assert figures(rows) == figures(status(session, span, unit="ag", now=NOW, store=False, with_ids=False))

    # Never more than half the kept boards: every organization's month comes first.
    qb._board_cache.clear()
    monkeypatch.setattr(qb, "BOARD_CACHE_SIZE", 6)
    assert qb.warm_boards(session, "Asia/Shanghai", now=NOW) == 3
    assert sum(1 for key in qb._board_cache if key[0].kind.value == "month") == 2
