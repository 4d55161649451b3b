"""A small, fixed world of classified articles for the digest tests (and checks of the world itself).

Frozen clock: ``NOW`` = 2024-05-14 08:00 Asia/Shanghai (00:00 UTC). The daily digest of 2024-05-14
sent at 07:30 covers 2024-05-13 07:30 to 2024-05-14 07:30 local (23:30 UTC to 23:30 UTC). Other
digest test modules import :func:`make_world` from here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from alerts.digest.definitions import DigestDefinition, Scope
from models import Alert, Registration
from models.enums import AlertKind, CaseState, OutletTier, RegistrationState, RiskLevel, SentimentLabel, UnitKind
from tests import factories

SH = ZoneInfo("Asia/Shanghai")
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2024, 5, 14, 0, 0, tzinfo=UTC)
DAY = date(2024, 5, 14)

HOSTILE_TITLE = '<script>alert("x")</script><img src=x onerror=alert(1)> 执行局 & "公告"'

ZH_DEF = DigestDefinition(
    name="dz-daily", recipients=["leader@court.example.cn", "press@court.example.cn"], language="zh-CN",
    timezone="Asia/Shanghai", send_time="07:30", scope=Scope(langs=["zh"], units=["dz-court"]),
)
VI_DEF = DigestDefinition(
    name="hy-daily", recipients=["lanhdao@thads.example.vn"], language="vi", timezone="Asia/Ho_Chi_Minh",
    send_time="07:00", scope=Scope(langs=["vi"], units=["hy-thads"]),
)


@dataclass
class World:
    outlets: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)
    units: dict[str, Any] = field(default_factory=dict)
    articles: dict[str, Any] = field(default_factory=dict)


def _local(day: date, hh: int, mm: int, zone: ZoneInfo = SH) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=zone).astimezone(UTC)


def _article(
    session: Session, w: World, key: str, outlet: str, title: str, text: str, at: datetime, *,
    lang: str = "zh", story: Any = None, sentiment: SentimentLabel = SentimentLabel.NEUTRAL,
    risk: RiskLevel = RiskLevel.LOW, risk_score: float = 0.1, topics: tuple[str, ...] = (),
    reasons: dict[str, Any] | None = None, url: str | None = None, classified: bool = True,
) -> Any:
    url = url or f"https://{outlet}.example/{hashlib.md5(key.encode()).hexdigest()[:10]}.html"
    a = factories.article(
        session, url=url, title=title, text=text, lang=lang, published_at=at, fetched_at=at,
        outlet_id=w.outlets[outlet].id, source_id=w.sources[outlet].id, story_id=story.id if story else None,
    )
    if classified:
        factories.classification(
            session, a, sentiment=sentiment, risk_level=risk, risk_score=risk_score,
            topics=[{"name": t, "score": 0.9} for t in topics], reasons=reasons or {},
        )
    w.articles[key] = a
    return a


def make_world(session: Session) -> World:
    w = World()
    for key, name, tier, lang in (
        ("jinri-danzhou", "今日儋州", OutletTier.PREFECTURE, "zh"),
        ("fazhi-shibao", "法制时报", OutletTier.PROVINCIAL, "zh"),
        ("danzhou-court", "儋州法院网", OutletTier.OWN_CHANNEL, "zh"),
        ("weibo-danzhou", "儋州发布", OutletTier.PREFECTURE, "zh"),
        ("bao-hungyen", "Báo Hưng Yên", OutletTier.PROVINCIAL, "vi"),
        ("baophapluat", "Báo Pháp luật Việt Nam", OutletTier.CENTRAL, "vi"),
    ):
        w.outlets[key] = factories.outlet(session, key=key, name=name, tier=tier, language=lang)
        w.sources[key] = factories.source(
            session, key=key, name=name, outlet_id=w.outlets[key].id, language=lang, health="ok",
            last_success_at=NOW - timedelta(minutes=20),
        )
    failing = w.sources["weibo-danzhou"]
    failing.health, failing.consecutive_failures = "failing", 4
    failing.last_success_at = _local(date(2024, 5, 12), 9, 15)
    failing.last_error = "HTTP 503 from api.weibo.example"

    court = factories.unit(session, code="dz-court", name="儋州市人民法院", kind=UnitKind.COURT)
    execb = factories.unit(session, code="dz-exec", name="执行局", kind=UnitKind.OFFICE, parent_id=court.id)
    team1 = factories.unit(session, code="dz-exec-1", name="执行一队", kind=UnitKind.TEAM, parent_id=execb.id)
    thads = factories.unit(session, code="hy-thads", name="Cục THADS tỉnh Hưng Yên", kind=UnitKind.DEPARTMENT)
    vanlam = factories.unit(
        session, code="hy-vanlam", name="Chi cục THADS huyện Văn Lâm", kind=UnitKind.SUB_DEPARTMENT, parent_id=thads.id
    )
    w.units.update({"dz-court": court, "dz-exec": execb, "dz-exec-1": team1, "hy-thads": thads, "hy-vanlam": vanlam})

    d13, d12 = date(2024, 5, 13), date(2024, 5, 12)
    # The negative high-risk story: first published by 今日儋州, reposted by 3 outlets.
    story = factories.story(
        session, title="网传儋州法院执行人员强制腾房时暴力执法", lang="zh", first_seen_at=_local(d13, 9, 5),
        last_seen_at=_local(d13, 18, 40), article_count=4, outlet_count=4,
    )
    violent_text = (
        "5月13日上午，有网民发帖称儋州市人民法院执行人员在强制腾房过程中推搡被执行人家属。"
        "帖文配有一段约30秒的视频，引发大量转发和评论。记者就此联系儋州市人民法院，法院表示已成立核查组。"
        "目前事件仍在调查中。"
    )
    # The classifier's shape (classify.reasons.Reasons): flat matched terms and contributing factors.
    reasons = {"matched_terms": ["暴力执法", "强制腾房", "儋州法院"],
               "factors": [{"factor": "sensitive_terms", "weight": 0.35, "value": 1.0, "contribution": 0.35},
                           {"factor": "names_organization", "weight": 0.2, "value": 0.9, "contribution": 0.18},
                           {"factor": "spread_velocity", "weight": 0.15, "value": 0.75, "contribution": 0.11}]}
    first = _article(session, w, "violent", "jinri-danzhou", "网传儋州法院执行人员强制腾房时暴力执法", violent_text,
                     _local(d13, 9, 5), story=story, sentiment=SentimentLabel.NEGATIVE, risk=RiskLevel.CRITICAL,
                     risk_score=0.93, topics=("enforcement",), reasons=reasons)
    story.first_article_id, story.first_outlet_id = first.id, w.outlets["jinri-danzhou"].id
    for i, outlet in enumerate(("fazhi-shibao", "weibo-danzhou", "danzhou-court")):
        _article(session, w, f"violent-{i}", outlet, f"【转载】网传儋州法院执行人员暴力执法 {i + 1}", violent_text,
                 _local(d13, 11 + 2 * i, 30), story=story, sentiment=SentimentLabel.NEGATIVE, risk=RiskLevel.HIGH,
                 risk_score=0.8 - i * 0.05, topics=("enforcement",), reasons=reasons)
    session.add(Alert(dedupe_key="story-violent", kind=AlertKind.STORY, story_id=story.id, article_id=first.id,
                      severity=RiskLevel.CRITICAL, title=story.title, state=CaseState.RESPONDING))

    _article(session, w, "defaulters", "danzhou-court", "儋州法院公布第五批失信被执行人名单",
             "为进一步推进社会诚信体系建设，儋州市人民法院5月13日公布第五批失信被执行人名单，共计52人。"
             "名单已同步推送至征信系统。被执行人履行义务后可申请屏蔽。", _local(d13, 10, 0),
             sentiment=SentimentLabel.POSITIVE, topics=("defaulter_blacklist", "enforcement"))
    _article(session, w, "refusal", "fazhi-shibao", "拒不执行判决 儋州一被执行人获刑一年",
             "近日，儋州市人民法院审结一起拒不执行判决、裁定罪案件。被告人有能力履行而拒不履行，被判处有期徒刑一年。"
             "该案的判决彰显了司法权威。", _local(d13, 15, 20), topics=("refusal_crime",))
    _article(session, w, "hostile", "jinri-danzhou", HOSTILE_TITLE,
             "评论区出现对执行局的质疑<b>加粗</b>。有人称办事拖延。执行局回应将调查。", _local(d13, 20, 45),
             url="javascript:alert(1)", sentiment=SentimentLabel.NEGATIVE, risk=RiskLevel.MEDIUM, risk_score=0.45,
             topics=("enforcement",), reasons={"matched_terms": ["<质疑>"]})
    _article(session, w, "unclassified", "jinri-danzhou", "儋州召开普法宣传工作会议",
             "会议部署了12·4国家宪法日宣传活动。", _local(d13, 22, 10), classified=False)
    # Previous period (2024-05-12 07:30 .. 2024-05-13 07:30) and earlier days for the chart.
    _article(session, w, "prev-1", "jinri-danzhou", "儋州法院开展执行联合行动", "执行联合行动共出动干警60人次。",
             _local(d12, 10, 0), topics=("enforcement",))
    _article(session, w, "prev-2", "fazhi-shibao", "执行不能案件的司法救助", "对执行不能案件开展司法救助。",
             _local(d12, 16, 0), sentiment=SentimentLabel.NEGATIVE, risk=RiskLevel.MEDIUM, topics=("unenforceable",))
    for n in range(1, 12):
        _article(session, w, f"old-{n}", "jinri-danzhou", f"执行工作动态（{n}）", "执行工作持续推进。",
                 _local(DAY - timedelta(days=2 + n), 9, 0), topics=("enforcement",),
                 sentiment=SentimentLabel.NEGATIVE if n % 4 == 0 else SentimentLabel.NEUTRAL)

    # Vietnamese coverage (period 2024-05-13 07:00 .. 2024-05-14 07:00 Asia/Ho_Chi_Minh).
    vstory = factories.story(session, title="Khiếu nại đông người về cưỡng chế thi hành án ở Văn Lâm", lang="vi",
                             first_seen_at=_local(d13, 8, 30, HCM), last_seen_at=_local(d13, 14, 0, HCM),
                             article_count=2, outlet_count=2)
    vtext = ("Sáng 13/5, khoảng 30 người dân tập trung tại trụ sở Chi cục THADS huyện Văn Lâm để khiếu nại về việc "
             "cưỡng chế thi hành án. Người dân cho rằng việc kê biên tài sản chưa đúng quy định. "
             "Chi cục THADS huyện Văn Lâm cho biết sẽ rà soát hồ sơ và trả lời bằng văn bản.")
    vfirst = _article(session, w, "vi-complaint", "bao-hungyen",
                      "Khiếu nại đông người về cưỡng chế thi hành án ở Văn Lâm", vtext, _local(d13, 8, 30, HCM),
                      lang="vi", story=vstory, sentiment=SentimentLabel.NEGATIVE,
                      risk=RiskLevel.HIGH, risk_score=0.77, topics=("complaints", "coercive_enforcement"),
                      reasons={"matched_terms": ["khiếu nại đông người", "cưỡng chế"],
                               "factors": [{"factor": "negative_sentiment", "weight": 0.3, "value": 0.8,
                                            "contribution": 0.24}]})
    vstory.first_article_id, vstory.first_outlet_id = vfirst.id, w.outlets["bao-hungyen"].id
    _article(session, w, "vi-complaint-2", "baophapluat", "Hưng Yên: Dân khiếu nại việc cưỡng chế ở huyện Văn Lâm",
             vtext, _local(d13, 14, 0, HCM), lang="vi", story=vstory, sentiment=SentimentLabel.NEGATIVE,
             risk=RiskLevel.MEDIUM, risk_score=0.5, topics=("complaints",))
    _article(session, w, "vi-result", "baophapluat", "Cục THADS Hưng Yên thu hồi hơn 120 tỷ đồng cho Nhà nước",
             "Trong 7 tháng đầu năm, Cục Thi hành án dân sự tỉnh Hưng Yên đã thi hành xong hơn 2.100 việc. "
             "Số tiền thu hồi cho Nhà nước đạt hơn 120 tỷ đồng. Kết quả này tăng 8% so với cùng kỳ.",
             _local(d13, 9, 45, HCM), lang="vi", sentiment=SentimentLabel.POSITIVE,
             topics=("thads",))
    _article(session, w, "vi-prev", "bao-hungyen", "Tuyên truyền Luật THADS sửa đổi", "Tổ chức hội nghị tuyên truyền.",
             _local(d12, 9, 0, HCM), lang="vi", topics=("thads",))

    # Own published pieces (registrations), one rejected (never shown).
    for title, unit, outlet, at, state in (
        ("执行一队：一周执结案件23件", "dz-exec-1", "jinri-danzhou", _local(d13, 11, 0), RegistrationState.SUBMITTED),
        ("执行局开展涉民生案件专项行动", "dz-exec", "fazhi-shibao", _local(d13, 16, 0),
         RegistrationState.LEADER_APPROVED),
        ("被驳回的稿件", "dz-exec", "fazhi-shibao", _local(d13, 17, 0), RegistrationState.REJECTED),
        ("Văn Lâm tổ chức cưỡng chế thành công vụ việc tồn đọng", "hy-vanlam", "bao-hungyen",
         _local(d13, 10, 0, HCM), RegistrationState.SUBMITTED),
    ):
        session.add(Registration(unit_id=w.units[unit].id, outlet_id=w.outlets[outlet].id, title=title,
                                 url=f"https://{outlet}.example/own/{hashlib.md5(title.encode()).hexdigest()[:8]}.html",
                                 published_at=at, state=state))
    session.flush()
    return w


def test_world_builds_on_both_backends(session: Session) -> None:
    w = make_world(session)
    assert len(w.articles) == 25
    assert w.sources["weibo-danzhou"].health == "failing"
