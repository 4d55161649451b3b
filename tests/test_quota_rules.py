"""Quota rules in the shapes of the seed work plans, counted on both backends.

- County justice bureau (2023 外宣工作要点): each section, per year, ≥5 on the prefecture news
  site, ≥2 on the prefecture bureau site, ≥10 on the county bureau site, sections together ≥5 in
  the daily paper; unregistered pieces are not counted.
- Anti-gang office (二道江 2018): townships one bulletin a week, member units one per half month
  (≤3000 characters); standalone issue 10 points, adopted into a combined bulletin 3; quarterly
  ranking.
- Court (儋州 enforcement publicity plan): one deadbeat case and one cannot-be-enforced case
  published every week, recognised by the classifier's topics.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Article, Outlet, QuotaRule, Registration, Score
from models.enums import RegistrationState
from quota.config import load_quota, parse_quota_data
from quota.registry import propose_from_articles, register, review, verify
from quota.scoring import rankings, status
from quota.units import QuotaError
from tests import factories

SH = ZoneInfo("Asia/Shanghai")


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0, ss: int = 0) -> datetime:
    """A Shanghai wall-clock time as an aware datetime."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=SH)


def load(session: Session, data: dict[str, Any]) -> None:
    load_quota(session, parse_quota_data(data), "Asia/Shanghai")


def row(rows: list[Any], rule: str, unit: str, period: str | None = None) -> Any:
    found = [r for r in rows if r.rule_key == rule and r.unit_code == unit and (period is None or r.period == period)]
    assert len(found) == 1, (rule, unit, period, [(r.rule_key, r.unit_code, r.period) for r in rows])
    return found[0]


def reg(session: Session, **kw: Any) -> Registration:
    kw.setdefault("now", at(2024, 12, 31, 20))
    return register(session, **kw).registration


COUNTY = {
    "units": [{
        "code": "cb", "name": "某县司法局", "kind": "bureau", "children": [
            {"code": "cb-office", "name": "办公室", "kind": "section", "people": ["赵六"]},
            {"code": "cb-law", "name": "法治宣传股", "kind": "section"},
            {"code": "cb-st1", "name": "城关司法所", "kind": "station"},
        ],
    }],
    "outlets": [
        {"key": "zhou-news", "name": "州新闻网", "tier": "prefecture", "domains": ["news.zhou.example.cn"]},
        {"key": "zhou-bureau", "name": "州司法局网站", "tier": "prefecture", "domains": ["sfj.zhou.example.cn"]},
        {"key": "county-site", "name": "县司法局网站", "tier": "own_channel", "unit": "cb",
         "domains": ["sfj.county.example.cn"]},
        {"key": "daily", "name": "州日报", "tier": "prefecture", "domains": ["daily.zhou.example.cn"]},
    ],
    "rules": [
        {"key": "sec-news", "name": "各股室年内新闻网刊稿≥5", "unit_kind": "section", "under": "cb",
         "outlet": "zhou-news", "target": 5, "period": "year"},
        {"key": "sec-bureau", "name": "州司法局网站≥2", "unit_kind": "section", "outlet": "zhou-bureau",
         "target": 2, "period": "year"},
        {"key": "sec-county", "name": "县局网站≥10", "unit_kind": "section", "outlet": "county-site",
         "target": 10, "period": "year"},
        {"key": "daily-together", "name": "各股室共同在日报刊稿≥5", "unit": "cb", "include_subunits": True,
         "outlet": "daily", "target": 5, "period": "year"},
    ],
}


def test_county_bureau_yearly_per_outlet_registered_only(session: Session) -> None:
    load(session, COUNTY)
    for i in range(5):
        reg(session, unit="cb-office", outlet="zhou-news", url=f"https://news.zhou.example.cn/a/{i}.html",
            title=f"县司法局开展普法宣传第{i}期", published=date(2023, 3 + i, 10))
    reg(session, unit="cb-law", outlet="zhou-news", url="https://news.zhou.example.cn/b/1.html",
        title="法治宣传进乡村", published=date(2023, 6, 1))
    reg(session, unit="cb-law", outlet="zhou-bureau", url="https://sfj.zhou.example.cn/x/1.html",
        title="人民调解工作经验", published=date(2023, 7, 1))
    # A crawled piece whose byline names 办公室's correspondent, never registered: proposed only.
    county_site = session.scalar(select(Outlet).where(Outlet.key == "county-site"))
    assert county_site is not None
    factories.article(session, outlet_id=county_site.id, url="https://sfj.county.example.cn/n/9.html",
                      title="城关司法所调解一起邻里纠纷", byline="通讯员 赵六", published_at=at(2023, 8, 1))
    proposals = propose_from_articles(session, now=at(2023, 8, 2))
    assert [(p.registration.state, p.matched) for p in proposals] == [(RegistrationState.PROPOSED, "赵六")]
    # Daily paper: both sections wrote one piece together (registered by each) + one by 办公室.
    for unit in ("cb-office", "cb-law"):
        reg(session, unit=unit, outlet="daily", url="https://daily.zhou.example.cn/2023/0901/1.html",
            title="我县司法行政工作综述", published=date(2023, 9, 1))
    reg(session, unit="cb-office", outlet="daily", url="https://daily.zhou.example.cn/2023/1001/2.html",
        title="法律援助惠民生", published=date(2023, 10, 1))

    rows = status(session, "2023", now=at(2024, 1, 15))
    office = row(rows, "sec-news", "cb-office", "2023")
    assert (office.count, office.met, len(office.registration_ids)) == (5, True, 5)
    law = row(rows, "sec-news", "cb-law", "2023")
    assert (law.count, law.met, law.shortfall) == (1, False, 4.0)
    assert row(rows, "sec-bureau", "cb-law").count == 1
    # The proposed (unregistered) county-site piece is not counted: 凡未登记的均不作统计.
    assert row(rows, "sec-county", "cb-office").count == 0
    # The co-written piece counts once for the bureau, with both registrations as evidence.
    together = row(rows, "daily-together", "cb")
    assert together.count == 2 and len(together.registration_ids) == 3
    # Stations are not sections: no rows for them.
    assert not [r for r in rows if r.unit_code == "cb-st1"]
    # The scores cache holds the same numbers with their evidence.
    score = session.scalar(select(Score).where(Score.rule_id == office.rule_id, Score.unit_id == office.unit_id))
    assert score is not None and score.count == 5 and sorted(score.evidence) == office.registration_ids
    # Running again rewrites no unchanged row; a new registration rewrites only its row.
    stamps = dict(session.execute(select(Score.id, Score.computed_at)).all())
    status(session, "2023", now=at(2024, 1, 10, 9))
    session.expire_all()
    assert dict(session.execute(select(Score.id, Score.computed_at)).all()) == stamps
    extra = reg(session, unit="cb-law", outlet="zhou-news", title="法治宣传股又一篇", published=date(2023, 6, 2),
                now=at(2023, 6, 3))
    status(session, "2023", now=at(2024, 1, 10, 10))
    session.expire_all()
    law_score = session.scalar(select(Score).where(Score.rule_id == law.rule_id, Score.unit_id == law.unit_id))
    assert law_score is not None and law_score.count == 2 and extra.id in law_score.evidence
    rewritten = {i for i, t in session.execute(select(Score.id, Score.computed_at)) if stamps.get(i) != t}
    assert law_score.id in rewritten and score.id not in rewritten


ANTI_GANG = {
    "units": [{
        "code": "ag", "name": "区扫黑办", "kind": "office", "children": [
            {"code": "ag-t1", "name": "二道江乡", "kind": "township"},
            {"code": "ag-t2", "name": "五道江镇", "kind": "township"},
            {"code": "ag-m1", "name": "区公安分局", "kind": "member_unit"},
        ],
    }],
    "outlets": [{"key": "ag-bulletin", "name": "扫黑除恶专项斗争简报", "tier": "own_channel", "unit": "ag"}],
    "rules": [
        {"key": "town-weekly", "name": "各乡镇每周至少报送一条简报信息", "unit_kind": "township",
         "piece_kind": "bulletin", "max_chars": 3000, "target": 1, "period": "week"},
        {"key": "member-halfmonth", "name": "各成员单位每半月报送一条简报信息", "unit_kind": "member_unit",
         "piece_kind": "bulletin", "max_chars": 3000, "target": 1, "period": "half_month"},
        {"key": "points", "name": "信息采用积分", "unit_kind": "township", "piece_kind": "bulletin",
         "measure": "points", "weights": {"standalone": 10, "combined": 3}, "target": 30, "period": "quarter"},
        {"key": "points-members", "name": "成员单位信息采用积分", "unit_kind": "member_unit",
         "piece_kind": "bulletin", "measure": "points", "weights": {"standalone": 10, "combined": 3},
         "target": 20, "period": "quarter"},
    ],
}


def bulletin(session: Session, unit: str, title: str, day: date, adoption: str,
             chars: int | None = 1200) -> Registration:
    return reg(session, unit=unit, outlet="ag-bulletin", title=title, published=day, kind="bulletin",
               adoption=adoption, char_count=chars)


def test_anti_gang_weekly_halfmonthly_points_and_quarterly_ranking(session: Session) -> None:
    load(session, ANTI_GANG)
    # Township 1: weeks of 1 Apr and 8 Apr covered; one standalone issue, two adoptions.
    bulletin(session, "ag-t1", "二道江乡召开扫黑除恶推进会", date(2024, 4, 1), "standalone")
    bulletin(session, "ag-t1", "二道江乡排查线索12条", date(2024, 4, 9), "combined")
    bulletin(session, "ag-t1", "二道江乡开展入户宣传", date(2024, 5, 20), "combined")
    # The same bulletin registered twice (once as adopted, once as its own issue): one piece, best weight.
    bulletin(session, "ag-t2", "五道江镇打掉一个恶势力团伙", date(2024, 4, 3), "standalone")
    bulletin(session, "ag-t2", "五道江镇打掉一个恶势力团伙", date(2024, 4, 3), "combined")
    # Member unit: one bulletin in the first half of April, one too long in the second half.
    bulletin(session, "ag-m1", "公安分局破获涉黑案件", date(2024, 4, 15), "standalone", chars=2800)
    bulletin(session, "ag-m1", "公安分局专项斗争总结（全文）", date(2024, 4, 16), "standalone", chars=5200)

    rows = status(session, "2024-Q2", now=at(2024, 7, 2))
    assert row(rows, "town-weekly", "ag-t1", "2024-W14").met  # Monday 1 April
    assert row(rows, "town-weekly", "ag-t1", "2024-W15").met
    assert not row(rows, "town-weekly", "ag-t1", "2024-W16").met
    assert len([r for r in rows if r.rule_key == "town-weekly" and r.unit_code == "ag-t1"]) == 13
    assert row(rows, "town-weekly", "ag-t2", "2024-W14").count == 1  # registered twice, counted once
    assert row(rows, "member-halfmonth", "ag-m1", "2024-04-H1").met
    h2 = row(rows, "member-halfmonth", "ag-m1", "2024-04-H2")
    assert (h2.count, h2.met) == (0, False)  # 5200 characters > 3000
    # A bulletin of unknown length (not crawled, no --chars) cannot be checked against ≤3000.
    unknown = register(session, unit="ag-m1", outlet="ag-bulletin", title="公安分局线索通报", published=date(2024, 5, 6),
                       kind="bulletin", adoption="standalone", now=at(2024, 7, 2))
    assert any(w.startswith("length unknown: 各成员单位每半月报送一条简报信息") for w in unknown.warnings), unknown.warnings
    may1 = row(status(session, "2024-05", now=at(2024, 7, 2), rules=["member-halfmonth"]),
               "member-halfmonth", "ag-m1", "2024-05-H1")
    assert may1.count == 0
    t1, t2 = row(rows, "points", "ag-t1", "2024-Q2"), row(rows, "points", "ag-t2", "2024-Q2")
    assert (t1.points, t1.count) == (16.0, 3)
    assert (t2.points, t2.count, len(t2.registration_ids)) == (10.0, 1, 2)
    assert row(rows, "points-members", "ag-m1").points == 20.0  # no length limit on the points rule
    ranked = rankings([r for r in rows if r.rule_key == "points"])["points"]
    assert [(x.rank, x.unit_code, x.value) for x in ranked] == [(1, "ag-t1", 16.0), (2, "ag-t2", 10.0)]
    # Ties share a rank.
    bulletin(session, "ag-t2", "五道江镇综合简报采用", date(2024, 6, 3), "combined")
    bulletin(session, "ag-t2", "五道江镇综合简报采用二", date(2024, 6, 4), "combined")
    ranked = rankings(status(session, "2024-Q2", now=at(2024, 7, 2), rules=["points"]))["points"]
    assert [(x.rank, x.value) for x in ranked] == [(1, 16.0), (1, 16.0)]


COURT = {
    "units": [{
        "code": "dz-court", "name": "儋州市人民法院", "kind": "court", "aliases": ["儋州法院"], "children": [
            {"code": "dz-exec", "name": "执行局", "kind": "office", "children": [
                {"code": "dz-exec-1", "name": "执行一队", "kind": "team", "people": ["张三"]},
                {"code": "dz-exec-2", "name": "执行二队", "kind": "team", "people": ["李四"]},
            ]},
            {"code": "dz-press", "name": "新闻宣传科", "kind": "section", "people": ["王五"]},
        ],
    }],
    "outlets": [
        {"key": "jinri-danzhou", "name": "今日儋州", "tier": "prefecture", "domains": ["jrdz.example.cn"]},
        {"key": "fazhi-shibao", "name": "法制时报", "tier": "provincial", "domains": ["fzsb.example.cn"]},
    ],
    "rules": [
        {"key": "deadbeat", "name": "每周失信被执行人案件≥1", "unit": "dz-court", "include_subunits": True,
         "topic": "失信被执行人", "target": 1, "period": "week", "registered_only": False},
        {"key": "cannot", "name": "每周执行不能案件≥1", "unit": "dz-court", "include_subunits": True,
         "topic": "执行不能", "target": 1, "period": "week", "registered_only": False},
        {"key": "teams", "name": "执行各队每季度稿件", "unit_kind": "team", "under": "dz-exec",
         "target": 3, "period": "quarter"},
    ],
}


# The classifier stores topic keys; rules may name a topic by key or by label (执行不能).
TOPIC_KEYS = {"失信被执行人": "defaulter_blacklist", "执行不能": "unenforceable"}


def crawled(session: Session, outlet: str, url: str, title: str, when: datetime, topics: list[str],
            byline: str | None = None, story_id: int | None = None) -> Article:
    o = session.scalar(select(Outlet).where(Outlet.key == outlet))
    assert o is not None
    art = factories.article(session, outlet_id=o.id, url=url, title=title, published_at=when.astimezone(UTC),
                            byline=byline, story_id=story_id, text=title + "。" + "执行干警依法开展工作。" * 5)
    factories.classification(session, art, topics=[{"name": TOPIC_KEYS[t], "score": 0.9} for t in topics])
    return art


def test_court_weekly_cases_by_topic_with_boundaries_and_reposts(session: Session) -> None:
    load(session, COURT)
    story = factories.story(session, title="执行不能案件通报")
    # Week of Mon 6 May 2024. Exactly Monday 00:00 local of the NEXT week belongs to the next week;
    # Sunday 23:59:59 local to this one.
    a1 = crawled(session, "jinri-danzhou", "https://jrdz.example.cn/c/1.html", "儋州法院曝光一批失信被执行人",
                 at(2024, 5, 12, 23, 59, 59), ["失信被执行人"], byline="来源：儋州市人民法院 通讯员 张三")
    a2 = crawled(session, "jinri-danzhou", "https://jrdz.example.cn/c/2.html", "执行不能案件通报（第12期）",
                 at(2024, 5, 13, 0, 0, 0), ["执行不能"], byline="来源：儋州市人民法院 通讯员 李四", story_id=story.id)
    # The same piece reposted (转载) by the provincial paper, same story: counted once.
    a3 = crawled(session, "fazhi-shibao", "https://fzsb.example.cn/z/3.html", "儋州：执行不能案件通报（第12期）",
                 at(2024, 5, 14, 9), ["执行不能"], byline="来源：儋州法院", story_id=story.id)
    # Another court's enforcement bureau and a namesake correspondent: generic names, not ours.
    crawled(session, "jinri-danzhou", "https://jrdz.example.cn/c/4.html", "某县法院执行不能案件",
            at(2024, 5, 14, 9), ["执行不能"], byline="来源：某县人民法院执行局 通讯员 张三")
    proposals = propose_from_articles(session, now=at(2024, 5, 20))
    by_article = {p.registration.article_id: (p.registration.unit_id, p.matched) for p in proposals}
    assert set(by_article) == {a1.id, a2.id, a3.id}
    assert by_article[a1.id][1] == "张三" and by_article[a2.id][1] == "李四" and by_article[a3.id][1] == "儋州法院"
    # Staff also registered the cannot-be-enforced piece by hand (a duplicate of the proposal).
    r2 = reg(session, unit="dz-exec-2", outlet="jinri-danzhou", url="https://jrdz.example.cn/c/2.html",
             title="执行不能案件通报（第12期）", published=date(2024, 5, 13), kind="case_report", now=at(2024, 5, 20))
    assert r2.verification["method"] == "url" and r2.published_at == a2.published_at

    rows = status(session, "2024-W19", now=at(2024, 5, 20))
    assert row(rows, "deadbeat", "dz-court", "2024-W19").count == 1
    assert row(rows, "cannot", "dz-court", "2024-W19").count == 0  # the case landed on Monday 00:00
    rows = status(session, "2024-W20", now=at(2024, 5, 20))
    cannot = row(rows, "cannot", "dz-court", "2024-W20")
    assert cannot.count == 1 and len(cannot.registration_ids) == 3  # 2 proposals + the hand registration
    assert not row(rows, "deadbeat", "dz-court", "2024-W20").met
    # The team rule is registered-only: the proposals do not count, the hand registration does.
    q2 = status(session, "2024-Q2", now=at(2024, 5, 20), rules=["teams"])
    assert row(q2, "teams", "dz-exec-2").count == 1 and row(q2, "teams", "dz-exec-1").count == 0
    # Confirming a proposal makes it a registration.
    p1 = next(p.registration for p in proposals if p.registration.article_id == a1.id)
    review(session, p1.id, "submit", by="王五", now=at(2024, 5, 21))
    q2 = status(session, "2024-Q2", now=at(2024, 5, 21), rules=["teams"])
    assert row(q2, "teams", "dz-exec-1").count == 1
    # Current period: days left are shown.
    cur = status(session, None, now=at(2024, 5, 22), rules=["deadbeat"])
    assert [(r.period, r.current, r.days_left) for r in cur] == [("2024-W21", True, 4)]


def test_repost_in_the_next_week_does_not_count_the_story_again(session: Session) -> None:
    """A story counts in the week of its first registration; its repost a day later, across the
    Monday boundary, is evidence for that week, not a second case for the next one."""
    load(session, COURT)
    story = factories.story(session, title="执行不能案件通报")
    first = crawled(session, "jinri-danzhou", "https://jrdz.example.cn/c/20.html", "执行不能案件通报（第13期）",
                    at(2024, 5, 19, 22), ["执行不能"], byline="来源：儋州市人民法院", story_id=story.id)
    repost = crawled(session, "fazhi-shibao", "https://fzsb.example.cn/z/21.html", "儋州：执行不能案件通报（第13期）",
                     at(2024, 5, 20, 9), ["执行不能"], byline="来源：儋州法院", story_id=story.id)
    proposals = propose_from_articles(session, now=at(2024, 5, 27))
    ids = {p.registration.article_id: p.registration.id for p in proposals}
    assert set(ids) == {first.id, repost.id}

    rows = status(session, "2024-05", now=at(2024, 5, 27), rules=["cannot"])
    w20, w21 = row(rows, "cannot", "dz-court", "2024-W20"), row(rows, "cannot", "dz-court", "2024-W21")
    assert (w20.count, w20.registration_ids) == (1, sorted(ids.values()))
    assert (w21.count, w21.registration_ids) == (0, [])
    # Asked about the later week alone, the answer is the same: the story was first registered before it.
    assert row(status(session, "2024-W21", now=at(2024, 5, 27), rules=["cannot"]), "cannot", "dz-court").count == 0
    # A different case in that week does count there.
    other = crawled(session, "jinri-danzhou", "https://jrdz.example.cn/c/22.html", "执行不能案件通报（第14期）",
                    at(2024, 5, 21, 9), ["执行不能"], byline="来源：儋州市人民法院")
    propose_from_articles(session, now=at(2024, 5, 27))
    w21 = row(status(session, "2024-W21", now=at(2024, 5, 27), rules=["cannot"]), "cannot", "dz-court")
    assert w21.count == 1 and len(w21.registration_ids) == 1
    assert session.get(Registration, w21.registration_ids[0]).article_id == other.id  # type: ignore[union-attr]


def test_a_rule_on_several_topics_counts_a_piece_on_any_of_them(session: Session) -> None:
    """The court's weekly case is a 老赖 story or a blacklisted defaulter: either topic counts."""
    import copy

    court = copy.deepcopy(COURT)
    court["rules"][0]["topic"] = ["deadbeat", "失信被执行人"]
    load(session, court)
    rule = session.scalars(select(QuotaRule).where(QuotaRule.key == "deadbeat")).one()
    assert rule.topics == ["deadbeat", "defaulter_blacklist"]
    o = session.scalar(select(Outlet).where(Outlet.key == "jinri-danzhou"))
    assert o is not None
    for n, (topic, when) in enumerate((("deadbeat", at(2024, 5, 14)), ("unenforceable", at(2024, 5, 21)))):
        art = factories.article(session, outlet_id=o.id, url=f"https://jrdz.example.cn/c/4{n}.html",
                                title=f"教科书式老赖案例{n}", byline="来源：儋州市人民法院",
                                published_at=when.astimezone(UTC), text="被执行人转移财产规避执行。" * 5)
        factories.classification(session, art, topics=[{"name": topic, "score": 0.9}])
    propose_from_articles(session, now=at(2024, 5, 27))
    rows = status(session, "2024-05", now=at(2024, 5, 27), rules=["deadbeat"])
    assert row(rows, "deadbeat", "dz-court", "2024-W20").count == 1  # a 老赖 piece
    assert row(rows, "deadbeat", "dz-court", "2024-W21").count == 0  # 执行不能 is neither topic


def test_unit_moved_and_renamed_mid_year_keeps_history(session: Session) -> None:
    from quota.units import move_unit, rename_unit

    load(session, COURT)
    for day in (date(2024, 4, 10), date(2024, 5, 10), date(2024, 8, 10)):
        reg(session, unit="dz-exec-2", outlet="jinri-danzhou", title=f"执行二队集中执行行动 {day}", published=day)
    move_unit(session, "dz-exec-2", "dz-press", effective=at(2024, 7, 1, 0))
    rename_unit(session, "dz-exec-2", "执行指挥中心", effective=at(2024, 7, 15, 0))
    rows = status(session, "2024", now=at(2024, 12, 31), rules=["teams"])
    q2 = row(rows, "teams", "dz-exec-2", "2024-Q2")
    assert (q2.count, q2.unit_name) == (2, "执行二队")
    assert q2.unit_path == "儋州市人民法院 / 执行局 / 执行二队"
    assert not [r for r in rows if r.unit_code == "dz-exec-2" and r.period in ("2024-Q3", "2024-Q4")]
    # The piece registered in August still belongs to the unit, under its new name and parent.
    later = status(session, "2024-Q3", now=at(2024, 12, 31), rules=["teams"], unit=None)
    assert [r.unit_code for r in later] == ["dz-exec-1"]
    with pytest.raises(QuotaError, match="would rewrite that history"):
        rename_unit(session, "dz-exec-2", "旧名", effective=at(2024, 7, 10))
    with pytest.raises(QuotaError, match="inside 'dz-exec'"):
        move_unit(session, "dz-exec", "dz-exec-1")


def test_late_duplicate_and_never_verified_registrations(session: Session) -> None:
    data = {**COURT, "rules": [
        {"key": "all", "name": "全部", "unit": "dz-court", "include_subunits": True, "target": 2, "period": "quarter"},
        {"key": "verified", "name": "核实", "unit": "dz-court", "include_subunits": True, "target": 2,
         "period": "quarter", "verified_only": True},
    ]}
    load(session, data)
    q1 = status(session, "2024-Q1", now=at(2024, 4, 2))
    assert row(q1, "all", "dz-court").count == 0
    # Registered in May for a piece published in March: the Q1 figure is corrected when recomputed.
    late = register(session, unit="dz-press", outlet="jinri-danzhou", title="儋州法院召开执行工作新闻发布会",
                    published=date(2024, 3, 28), now=at(2024, 5, 6)).registration
    assert late.verification["status"] == "not_found" and late.verification["attempts"] == 1
    assert "0 checked" in late.verification["reason"]
    again = register(session, unit="dz-press", outlet="jinri-danzhou", title="儋州法院召开执行工作新闻发布会",
                     published=date(2024, 3, 28), now=at(2024, 5, 7))
    assert any("already registered as #" in w for w in again.warnings)
    q1 = status(session, "2024-Q1", now=at(2024, 5, 7))
    assert row(q1, "all", "dz-court").count == 1 and len(row(q1, "all", "dz-court").registration_ids) == 2
    assert row(q1, "verified", "dz-court").count == 0  # never found by the crawler
    assert verify(session, late, now=at(2024, 5, 8)) is False and late.verification["attempts"] == 2
    score = session.scalar(select(Score).where(Score.rule_id == row(q1, "all", "dz-court").rule_id))
    assert score is not None and score.count == 1


def test_review_required_counts_leader_approved_only(session: Session) -> None:
    data = {**COURT, "rules": [{"key": "rev", "name": "审核", "unit": "dz-press", "target": 1, "period": "month",
                                "review_required": True}]}
    load(session, data)
    r = reg(session, unit="dz-press", outlet="jinri-danzhou", title="法官进校园", published=date(2024, 6, 3),
            now=at(2024, 6, 4))
    assert row(status(session, "2024-06", now=at(2024, 6, 5)), "rev", "dz-press").count == 0
    with pytest.raises(QuotaError, match="'leader_approve' needs it to be section_approved"):
        review(session, r.id, "leader_approve", by="院长")
    review(session, r.id, "section_approve", by="科长")
    assert row(status(session, "2024-06", now=at(2024, 6, 5)), "rev", "dz-press").count == 0
    review(session, r.id, "leader_approve", by="分管院领导", note="同意")
    assert row(status(session, "2024-06", now=at(2024, 6, 5)), "rev", "dz-press").count == 1
    assert [h["state"] for h in r.review_history] == ["submitted", "section_approved", "leader_approved"]
    review(session, r.id, "reject", by="院长")
    assert row(status(session, "2024-06", now=at(2024, 6, 5)), "rev", "dz-press").count == 0


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"unit": "dz-nowhere"}, "unknown unit 'dz-nowhere'"),
        ({"outlet": "renmin"}, "unknown outlet 'renmin'"),
        ({"url": "https://fzsb.example.cn/z/1.html"},
         "URL host fzsb.example.cn is not on outlet 'jinri-danzhou' .*belongs to outlet 'fazhi-shibao'"),
        ({"published": date(2024, 6, 6)}, r"publication date 2024-06-06 is in the future \(today is 2024-06-05"),
        ({"url": None, "title": ""}, "give the piece's URL or its title"),
        ({"kind": "poem"}, "unknown piece kind 'poem'"),
        ({"adoption": "partly"}, "unknown adoption 'partly'"),
        ({"url": "ftp://jrdz.example.cn/x"}, "not a web address"),
    ],
)
def test_bad_registration_input_is_refused(session: Session, kw: dict[str, Any], message: str) -> None:
    load(session, COURT)
    args: dict[str, Any] = {"unit": "dz-exec-1", "outlet": "jinri-danzhou", "url": "https://jrdz.example.cn/c/9.html",
                            "title": "标题", "published": date(2024, 6, 5), "now": at(2024, 6, 5, 12)}
    args.update(kw)
    before = session.scalar(select(Registration.id).order_by(Registration.id.desc()).limit(1))
    with pytest.raises(QuotaError, match=message):
        register(session, **args)
    assert session.scalar(select(Registration.id).order_by(Registration.id.desc()).limit(1)) == before


def test_traditional_title_and_tracking_url_verify_against_the_crawled_page(session: Session) -> None:
    load(session, COURT)
    art = crawled(session, "jinri-danzhou", "https://jrdz.example.cn/c/30.html", "儋州法院集中清理涉民生执行案件",
                  at(2024, 6, 3, 9), [])
    # Typed in traditional characters (a Hong Kong / Taiwan repost's headline): same piece.
    trad = reg(session, unit="dz-press", outlet="jinri-danzhou", title="儋州法院集中清理涉民生執行案件",
               published=date(2024, 6, 3), now=at(2024, 6, 4))
    assert trad.verification["method"] == "title" and trad.article_id == art.id
    # Pasted from a WeChat share: tracking parameters and fragment do not make it another page.
    shared = reg(session, unit="dz-exec-1", outlet="jinri-danzhou",
                 url="HTTPS://JRDZ.example.cn/c/30.html?utm_source=wechat&scene=1#top",
                 published=date(2024, 6, 3), now=at(2024, 6, 4))
    assert shared.verification["method"] == "url" and shared.article_id == art.id
    assert shared.url_hash == art.url_hash
    bad = "htp:/jrdz.example.cn/c/30.html"
    with pytest.raises(QuotaError, match="not a web address"):
        reg(session, unit="dz-press", outlet="jinri-danzhou", url=bad, published=date(2024, 6, 3))


def test_title_and_text_verification(session: Session) -> None:
    load(session, COURT)
    crawled(session, "jinri-danzhou", "https://jrdz.example.cn/c/20.html", "儋州：儋州法院集中清理涉民生执行案件",
            at(2024, 6, 3, 9), [])
    crawled(session, "jinri-danzhou", "https://jrdz.example.cn/c/21.html", "执行不能案件通报（第13期）",
            at(2024, 6, 3, 9), [])
    ok = reg(session, unit="dz-press", outlet="jinri-danzhou", title="儋州法院集中清理涉民生执行案件",
             published=date(2024, 6, 3), now=at(2024, 6, 4))
    assert ok.verification["method"] == "title_similar" and ok.verification["score"] >= 0.92
    other = reg(session, unit="dz-press", outlet="jinri-danzhou", title="执行不能案件通报（第12期）",
                published=date(2024, 6, 3), now=at(2024, 6, 4))
    assert other.verified_at is None and other.verification["status"] == "not_found"
    # A headline adopted into a combined piece: found inside the text.
    combined = crawled(session, "jinri-danzhou", "https://jrdz.example.cn/c/22.html", "一周法治要闻",
                       at(2024, 6, 4, 9), [])
    combined.text = "一周法治要闻：儋州法院开展夏季执行攻坚行动；其他新闻。"
    session.flush()
    inside = reg(session, unit="dz-press", outlet="jinri-danzhou", title="儋州法院开展夏季执行攻坚行动",
                 published=date(2024, 6, 4), now=at(2024, 6, 5))
    assert inside.verification["method"] == "text" and inside.article_id == combined.id
    # A URL crawled on another outlet does not verify against this one.
    wrong = reg(session, unit="dz-press", outlet="fazhi-shibao", url="https://fzsb.example.cn/c/20.html",
                title="x", published=date(2024, 6, 3), now=at(2024, 6, 4))
    assert wrong.verified_at is None
    url = "https://fzsb.example.cn/q/5.html"
    o = session.scalar(select(Outlet).where(Outlet.key == "jinri-danzhou"))
    assert o is not None
    factories.article(session, outlet_id=o.id, url=url, url_hash=hashlib.sha256(url.encode()).hexdigest(),
                      published_at=at(2024, 6, 3).astimezone(UTC))
    # Crawled on 今日儋州 (whatever its host): registering it under 法制时报 is refused (issue 17).
    with pytest.raises(QuotaError, match=r"crawled on outlet 'jinri-danzhou' .*, not 'fazhi-shibao'"):
        reg(session, unit="dz-press", outlet="fazhi-shibao", url=url, title="y", published=date(2024, 6, 3),
            now=at(2024, 6, 4))


def test_vietnamese_byline_and_time_zone(session: Session) -> None:
    data = {
        "timezone": "Asia/Ho_Chi_Minh",
        "units": [{"code": "hy-thads", "name": "Cục Thi hành án dân sự tỉnh Hưng Yên", "kind": "department",
                   "children": [
                       {"code": "hy-vanlam", "name": "Chi cục THADS huyện Văn Lâm", "kind": "sub_department",
                        "people": ["Nguyễn Văn An"]},
                       {"code": "hy-tp", "name": "Chi cục THADS thành phố Hưng Yên", "kind": "sub_department"},
                   ]}],
        "outlets": [{"key": "bao-hungyen", "name": "Báo Hưng Yên", "tier": "provincial", "language": "vi"}],
        "rules": [{"key": "vn", "name": "≥2 tin/tháng", "unit_kind": "sub_department", "outlet_tier": "provincial",
                   "target": 2, "period": "month", "registered_only": False}],
    }
    load(session, data)
    hcm = ZoneInfo("Asia/Ho_Chi_Minh")
    o = session.scalar(select(Outlet).where(Outlet.key == "bao-hungyen"))
    assert o is not None
    # 31 May 23:30 in Ha Noi is already 1 June in Shanghai: the rule's own zone decides (May).
    factories.article(session, outlet_id=o.id, url="https://baohungyen.example.vn/a1", title="Văn Lâm cưỡng chế",
                      source_line="Nguồn: Chi cục THADS huyện Văn Lâm", lang="vi",
                      published_at=datetime(2024, 5, 31, 23, 30, tzinfo=hcm).astimezone(UTC))
    factories.article(session, outlet_id=o.id, url="https://baohungyen.example.vn/a2", title="Tuyên truyền pháp luật",
                      byline="CTV Nguyễn Văn An", lang="vi",
                      published_at=datetime(2024, 6, 1, 0, 0, tzinfo=hcm).astimezone(UTC))
    proposals = propose_from_articles(session, now=datetime(2024, 6, 2, tzinfo=UTC))
    assert sorted(p.matched for p in proposals) == ["Chi cục THADS huyện Văn Lâm", "Nguyễn Văn An"]
    assert propose_from_articles(session) == []  # idempotent
    may = status(session, "2024-05", now=datetime(2024, 6, 2, tzinfo=UTC))
    june = status(session, "2024-06", now=datetime(2024, 6, 2, tzinfo=UTC))
    assert row(may, "vn", "hy-vanlam").count == 1 and row(june, "vn", "hy-vanlam").count == 1
    assert row(june, "vn", "hy-tp").count == 0


def test_quota_file_errors_name_the_entry(session: Session) -> None:
    with pytest.raises(QuotaError, match=r"rules\[0\] \(r1\): Value error, give exactly one of 'unit'"):
        parse_quota_data({"rules": [{"key": "r1", "name": "x", "target": 1, "period": "week"}]})
    with pytest.raises(QuotaError, match="a points rule needs weights"):
        parse_quota_data({"rules": [{"key": "r2", "name": "x", "unit": "a", "target": 1, "period": "week",
                                     "measure": "points"}]})
    with pytest.raises(QuotaError, match="period"):
        parse_quota_data({"rules": [{"key": "r3", "name": "x", "unit": "a", "target": 1, "period": "fortnight"}]})
    with pytest.raises(QuotaError, match="unknown topic '执行难易'"):
        load(session, {"rules": [{"key": "r5", "name": "x", "unit": "a", "target": 1, "period": "week",
                                  "topic": "执行难易"}]})
    with pytest.raises(QuotaError, match="rule r4: unknown unit 'ghost'"):
        load(session, {"rules": [{"key": "r4", "name": "x", "unit": "ghost", "target": 1, "period": "week"}]})
    # Reloading with a new name records a rename, keeping the old name in history.
    load(session, COURT)
    changed = {**COURT, "units": [{**COURT["units"][0], "name": "儋州市人民法院（新）"}]}  # type: ignore[dict-item]
    load(session, changed)
    from models import Unit, UnitHistory

    court = session.scalar(select(Unit).where(Unit.code == "dz-court"))
    assert court is not None and court.name == "儋州市人民法院（新）" and "儋州市人民法院" in court.aliases
    names = session.scalars(select(UnitHistory.name).where(UnitHistory.unit_id == court.id)
                            .order_by(UnitHistory.valid_from)).all()
    assert names == ["儋州市人民法院", "儋州市人民法院（新）"]


def test_status_leaves_the_transactions_settings_as_it_found_them(session: Session) -> None:
    """On PostgreSQL status() counts with JIT off and a larger work_mem; the caller's transaction
    gets its own settings back (the stream or a report may run after it)."""
    from sqlalchemy import text

    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL settings")
    load(session, COUNTY)
    reg(session, unit="cb-law", outlet="zhou-news", title="普法进社区", published=date(2024, 3, 5))
    session.execute(text("SET LOCAL jit = on"))
    session.execute(text("SET LOCAL work_mem = '3MB'"))
    assert row(status(session, "2024", now=at(2024, 12, 31)), "sec-news", "cb-law").count == 1
    assert session.execute(text("SHOW jit")).scalar_one() == "on"
    assert session.execute(text("SHOW work_mem")).scalar_one() == "3MB"
