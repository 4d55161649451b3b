"""Stage functions behind the story page: the timeline's hours and outlets, and a scope narrowed to
what it may change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.accounts import Role
from models.scope import Scope
from pipeline.stories import Member, story_timeline

T0 = datetime(2026, 11, 30, 1, 20, tzinfo=UTC)


def _m(i: int, minutes: int, outlet: int | None) -> Member:
    return Member(i, f"a{i}", T0 + timedelta(minutes=minutes), "near_repost", outlet, None)


def test_the_timeline_counts_articles_per_hour_and_outlets_so_far() -> None:
    members = [_m(1, 0, 7), _m(2, 10, 7), _m(3, 130, 8), _m(4, 135, None), _m(5, 140, None)]
    hours = story_timeline(members)
    assert [h.start for h in hours] == [datetime(2026, 11, 30, h, tzinfo=UTC) for h in (1, 2, 3)]
    assert [h.articles for h in hours] == [2, 0, 3]
    # Outlet 7, then 8 and two articles of unknown outlet (each counted as its own outlet).
    assert [h.outlets for h in hours] == [1, 1, 4]
    assert story_timeline([]) == []


def test_a_long_story_is_charted_over_its_last_hours_with_earlier_outlets_counted() -> None:
    members = [_m(1, 0, 1), _m(2, 60 * 50, 2)]
    hours = story_timeline(members, max_hours=24)
    assert len(hours) == 25 and hours[-1].articles == 1
    assert hours[0].outlets == 1 and hours[-1].outlets == 2  # the first outlet, before the window, still counts


def test_a_scope_narrowed_to_an_action_keeps_the_units_where_it_may_do_it() -> None:
    scope = Scope(user_id=1, username="u", unit_ids=frozenset({1, 2, 3}),
                  roles={1: frozenset({Role.LEADER}), 2: frozenset({Role.ANALYST}), 3: frozenset({Role.ANALYST})},
                  granted_units=(1, 2))
    triage = scope.for_action("triage")
    assert triage.unit_ids == frozenset({2, 3}) and triage.contains(2) and not triage.contains(1)
    assert scope.acting_unit("triage") == 2 and scope.acting_unit("digests") == 1
    assert scope.for_action("admin").unit_ids == frozenset() and scope.acting_unit("admin") is None
