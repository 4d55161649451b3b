"""Alert messages in the recipient's language (zh-CN / vi / en), rendered in a Jinja2 sandbox.

Crawled text is hostile input: titles may carry HTML, scripts, CRLF header-injection attempts or
run to megabytes. Everything that came from a crawl passes through :func:`inert` (control
characters removed, length bounded) before a template sees it; the HTML template is autoescaped,
links are kept only when they are http(s), and the subject is one bounded line. Templates live in
``alerts/templates`` and list their variables at the top.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from alerts.outbox import MAX_SUBJECT_CHARS, one_line

TEMPLATES_DIR = Path(__file__).parent / "templates"
MAX_TITLE_CHARS = 200
MAX_EXCERPT_CHARS = 240
MAX_WHY_LINES = 12
MAX_WHY_CHARS = 200
MAX_URL_CHARS = 1000
MAX_ALERTS_PER_MESSAGE = 50

STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "prefix": "舆情预警", "batch_subject": "{n} 条新预警（最高级别：{top}）",
        "batch_intro": "近期共有 {n} 条预警，合并发送：",
        "severity_label": "级别", "kind_label": "类型", "title_label": "标题", "outlet_label": "媒体",
        "published_label": "发布时间", "link_label": "链接", "spread_label": "传播", "why_label": "预警原因",
        "excerpt_label": "摘要", "deadline_label": "处置时限", "case_label": "案件编号", "escalated": "风险升级",
        "spread": "{articles} 篇报道，{outlets} 家媒体：{names}",
        "footer": "本邮件由 presswatch 舆情监测系统自动发送。请及时核实、研判、处置，并在系统中登记应对口径。",
        "low": "低", "medium": "中", "high": "高", "critical": "紧急",
        "story": "负面报道", "surge": "舆情激增", "source_failing": "信息源异常", "quota_shortfall": "任务进度",
        "escalation_subject": "案件超时升级", "escalation_note": "该案件已超过处置时限，现升级由您处理。",
        "correction_subject": "【更正请求逾期】{outlet}：更正请求 #{id}",
        "correction_intro": "更正请求 #{id} 已超过时限（{deadline}），{outlet}尚未刊登更正。请督促该媒体更正，"
                            "或在系统中登记结果：presswatch corrections close {id} corrected|refused|no_response",
        "correction_outlet": "该媒体", "correction_piece": "原稿", "correction_claim": "不实内容",
        "correction_requested": "提出时间",
        "negative": "负面", "neutral": "中性", "positive": "正面",
        "why_risk": "风险等级{level}（规则阈值：{min}）", "why_sentiment": "情感倾向：{value}",
        "why_topics": "话题：{names}", "why_tier": "媒体级别：{tier}", "why_source": "信息源：{source}",
        "why_language": "语言：{lang}", "why_query": "命中监测词：{terms}", "why_risk_rose": "风险由{from}升至{to}",
        "reason_risk": "风险评估", "reason_sentiment": "情感", "reason_topics": "话题",
        "reason_matched_terms": "命中词", "reason_factors": "风险因素", "reason_risk_score": "风险分值",
        "why_surge_hour": "近1小时负面报道{count}篇，往日同一时段平均{baseline}篇（监测词：{query}）",
        "why_surge_day": "近24小时负面报道{count}篇，此前14天日均{baseline}篇（监测词：{query}）",
        "why_source_failing": "信息源 {source} 连续{count}次抓取失败，上次成功：{since}；错误：{error}",
        "reason_mentions": "点名", "reason_notes": "备注", "reason_privacy": "隐私/涉密",
        "why_privacy": "自有平台发布内容疑似含个人信息或密级标识：{findings}",
        "factor_sensitive_terms": "敏感词", "factor_negative_sentiment": "负面情感",
        "factor_names_organization": "点名本单位",
        "factor_hostility_model": "敌意言论", "factor_source_reach": "媒体影响力", "factor_spread_velocity": "传播速度",
    },
    "vi": {
        "prefix": "Cảnh báo dư luận", "batch_subject": "{n} cảnh báo mới (mức cao nhất: {top})",
        "batch_intro": "Có {n} cảnh báo trong thời gian ngắn, gửi gộp:",
        "severity_label": "Mức độ", "kind_label": "Loại", "title_label": "Tiêu đề", "outlet_label": "Cơ quan báo chí",
        "published_label": "Thời gian đăng", "link_label": "Liên kết", "spread_label": "Lan truyền",
        "why_label": "Lý do cảnh báo", "excerpt_label": "Trích đoạn", "deadline_label": "Hạn xử lý",
        "case_label": "Mã vụ việc", "escalated": "mức rủi ro tăng",
        "spread": "{articles} bài, {outlets} cơ quan báo chí: {names}",
        "footer": "Thư tự động từ hệ thống theo dõi báo chí presswatch. Đề nghị kịp thời xác minh, đánh giá, "
                  "xử lý và ghi lại nội dung trả lời trong hệ thống.",
        "low": "Thấp", "medium": "Trung bình", "high": "Cao", "critical": "Khẩn cấp",
        "story": "Thông tin tiêu cực", "surge": "Tin tiêu cực tăng đột biến", "source_failing": "Nguồn tin lỗi",
        "quota_shortfall": "Tiến độ chỉ tiêu",
        "escalation_subject": "Vụ việc quá hạn được chuyển cấp",
        "escalation_note": "Vụ việc đã quá hạn xử lý và được chuyển đến đồng chí.",
        "correction_subject": "[Cải chính quá hạn] {outlet}: yêu cầu #{id}",
        "correction_intro": "Yêu cầu cải chính #{id} đã quá hạn ({deadline}) nhưng {outlet} chưa đăng cải chính. "
                            "Đề nghị đôn đốc cơ quan báo chí cải chính, hoặc ghi lại kết quả: "
                            "presswatch corrections close {id} corrected|refused|no_response",
        "correction_outlet": "cơ quan báo chí", "correction_piece": "Bài viết",
        "correction_claim": "Thông tin sai sự thật", "correction_requested": "Ngày yêu cầu",
        "negative": "tiêu cực", "neutral": "trung tính", "positive": "tích cực",
        "why_risk": "Mức rủi ro {level} (ngưỡng của quy tắc: {min})", "why_sentiment": "Sắc thái: {value}",
        "why_topics": "Chủ đề: {names}", "why_tier": "Cấp cơ quan báo chí: {tier}", "why_source": "Nguồn: {source}",
        "why_language": "Ngôn ngữ: {lang}", "why_query": "Từ khóa khớp: {terms}",
        "why_risk_rose": "Rủi ro tăng từ {from} lên {to}",
        "reason_risk": "Đánh giá rủi ro", "reason_sentiment": "Sắc thái", "reason_topics": "Chủ đề",
        "reason_matched_terms": "Từ khớp", "reason_factors": "Yếu tố rủi ro", "reason_risk_score": "Điểm rủi ro",
        "why_surge_hour": "{count} tin tiêu cực trong 1 giờ qua; trung bình cùng giờ những ngày trước: {baseline} "
                          "(từ khóa: {query})",
        "why_surge_day": "{count} tin tiêu cực trong 24 giờ qua; trung bình 14 ngày trước: {baseline}/ngày "
                         "(từ khóa: {query})",
        "why_source_failing": "Nguồn {source} lỗi {count} lần liên tiếp; lần thành công gần nhất: {since}; "
                              "lỗi: {error}",
        "reason_mentions": "Nêu tên", "reason_notes": "Ghi chú", "reason_privacy": "Dữ liệu cá nhân/bí mật",
        "why_privacy": "Bài trên kênh của cơ quan có thể chứa dữ liệu cá nhân hoặc dấu mật: {findings}",
        "factor_sensitive_terms": "từ nhạy cảm", "factor_negative_sentiment": "sắc thái tiêu cực",
        "factor_names_organization": "nêu tên cơ quan", "factor_hostility_model": "ngôn từ thù địch",
        "factor_source_reach": "tầm ảnh hưởng nguồn", "factor_spread_velocity": "tốc độ lan truyền",
    },
    "en": {
        "prefix": "Press alert", "batch_subject": "{n} new alerts (highest: {top})",
        "batch_intro": "{n} alerts in a short time, sent together:",
        "severity_label": "Severity", "kind_label": "Kind", "title_label": "Title", "outlet_label": "Outlet",
        "published_label": "Published", "link_label": "Link", "spread_label": "Spread", "why_label": "Why it fired",
        "excerpt_label": "Excerpt", "deadline_label": "Respond by", "case_label": "Case", "escalated": "risk rose",
        "spread": "{articles} pieces in {outlets} outlets: {names}",
        "footer": "Sent automatically by presswatch media monitoring. Verify, assess and respond; record the "
                  "agreed response line in the case.",
        "low": "low", "medium": "medium", "high": "high", "critical": "CRITICAL",
        "story": "Negative coverage", "surge": "Surge in negative mentions", "source_failing": "Source failing",
        "quota_shortfall": "Quota progress",
        "escalation_subject": "Overdue case escalated",
        "escalation_note": "This case passed its deadline and is now yours.",
        "correction_subject": "[Correction overdue] {outlet}: request #{id}",
        "correction_intro": "Correction request #{id} passed its deadline ({deadline}) and {outlet} has not published "
                            "a correction. Follow up with the outlet, or record the outcome: "
                            "presswatch corrections close {id} corrected|refused|no_response",
        "correction_outlet": "the outlet", "correction_piece": "Piece", "correction_claim": "False claim",
        "correction_requested": "Requested",
        "negative": "negative", "neutral": "neutral", "positive": "positive",
        "why_risk": "risk {level} (rule threshold: {min})", "why_sentiment": "sentiment: {value}",
        "why_topics": "topics: {names}", "why_tier": "outlet tier: {tier}", "why_source": "source: {source}",
        "why_language": "language: {lang}", "why_query": "watch terms matched: {terms}",
        "why_risk_rose": "risk rose from {from} to {to}",
        "reason_risk": "risk", "reason_sentiment": "sentiment", "reason_topics": "topics",
        "reason_matched_terms": "matched terms", "reason_factors": "risk factors", "reason_risk_score": "risk score",
        "why_surge_hour": "{count} negative pieces in the last hour; same hour on previous days: {baseline} on average "
                          "(watch query: {query})",
        "why_surge_day": "{count} negative pieces in the last 24 hours; previous 14 days: {baseline} a day "
                         "(watch query: {query})",
        "why_source_failing": "source {source} failed {count} times in a row; last success: {since}; error: {error}",
        "reason_mentions": "names", "reason_notes": "notes", "reason_privacy": "personal data / secrecy",
        "why_privacy": "own-channel piece may carry personal data or a secrecy marking: {findings}",
        "factor_sensitive_terms": "sensitive terms", "factor_negative_sentiment": "negative sentiment",
        "factor_names_organization": "names the organization", "factor_hostility_model": "hostile language",
        "factor_source_reach": "outlet reach", "factor_spread_velocity": "spread velocity",
    },
}
COLORS = {"low": "#888888", "medium": "#d08c00", "high": "#d9480f", "critical": "#c00000"}
LANG_TZ = {"zh-CN": "Asia/Shanghai", "vi": "Asia/Ho_Chi_Minh", "en": "UTC"}


def strings(language: str) -> dict[str, str]:
    return STRINGS.get(language, STRINGS["en"])


def inert(value: Any, limit: int) -> str:
    """Crawled text made safe to place anywhere: one line, no control characters, bounded."""
    return one_line(str(value if value is not None else ""), limit)


def safe_url(url: Any) -> str:
    text = inert(url, MAX_URL_CHARS)
    return text if text.lower().startswith(("http://", "https://")) and " " not in text else ""


def _localized_parts(parts: Any, language: str) -> list[str]:
    t = strings(language)
    lines = []
    for part in parts or []:
        try:
            code, values = part
            shown = {k: t.get(str(v), str(v)) for k, v in dict(values).items()}
            lines.append(inert(t["why_" + str(code)].format(**shown), MAX_WHY_CHARS))
        except (KeyError, ValueError, TypeError):
            continue  # an unknown part from a newer version: the English "why" still says it
    return lines


def why_lines(reason: Mapping[str, Any], language: str = "en") -> list[str]:
    """The rule's decision and the classifier's reasons, as short lines in ``language``."""
    t = strings(language)
    lines = _localized_parts(reason.get("why_parts"), language)
    if not lines:
        for entry in reason.get("why") or []:
            lines.append(inert(entry, MAX_WHY_CHARS))
    classification = reason.get("classification") or {}
    if isinstance(classification, Mapping):
        for key, value in classification.items():
            if key == "factors" and isinstance(value, list):
                shown = ", ".join(
                    f"{t.get('factor_' + str(f.get('factor')), inert(f.get('factor'), 40))} "
                    f"{inert(f.get('contribution'), 8)}"
                    for f in value[:6] if isinstance(f, Mapping)
                )
            elif isinstance(value, Mapping):
                shown = ", ".join(f"{inert(k, 40)} {inert(v, 20)}" for k, v in list(value.items())[:6])
            elif isinstance(value, list | tuple):
                shown = ", ".join(inert(v if not isinstance(v, Mapping) else _short(v), 60) for v in value[:8])
            else:
                shown = inert(t.get(str(value), value), 120)
            if shown:
                label = t.get(f"reason_{key}", str(key))
                lines.append(inert(f"{label}: {shown}", MAX_WHY_CHARS))
    return lines[:MAX_WHY_LINES]


def _short(value: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in list(value.items())[:3])


@dataclass(frozen=True)
class AlertView:
    id: int
    kind_text: str
    severity_text: str
    color: str
    title: str
    outlet: str
    published: str
    url: str
    spread: str
    why: list[str]
    excerpt: str
    deadline: str
    escalated: bool


def local_time(value: datetime | None, language: str, tz: str | None = None) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(tz or LANG_TZ.get(language, "UTC"))).strftime("%Y-%m-%d %H:%M")


def view(alert: Any, language: str, *, escalated: bool = False, tz: str | None = None) -> AlertView:
    """An ``models.Alert`` (or anything shaped like it) as template data in ``language``."""
    t = strings(language)
    reason: Mapping[str, Any] = alert.reason or {}
    outlets = [inert(o, 40) for o in reason.get("outlets") or []]
    articles = int(reason.get("article_count") or len(reason.get("article_ids") or []) or 0)
    spread = ""
    if articles > 1 or len(outlets) > 1:
        spread = t["spread"].format(articles=articles, outlets=len(outlets), names="、".join(outlets[:8]))
    published = reason.get("published_at")
    return AlertView(
        id=int(alert.id), kind_text=t.get(str(alert.kind), str(alert.kind)),
        severity_text=t.get(str(alert.severity), str(alert.severity)), color=COLORS.get(str(alert.severity), "#333"),
        title=inert(alert.title, MAX_TITLE_CHARS), outlet=inert(reason.get("outlet", ""), 80),
        published=local_time(datetime.fromisoformat(published), language, tz) if isinstance(published, str) else "",
        url=safe_url(reason.get("url", "")), spread=spread, why=why_lines(reason, language),
        excerpt=inert(reason.get("excerpt", ""), MAX_EXCERPT_CHARS),
        deadline=local_time(alert.deadline_at, language, tz), escalated=escalated,
    )


_env: SandboxedEnvironment | None = None


def environment() -> SandboxedEnvironment:
    global _env
    if _env is None:
        _env = SandboxedEnvironment(
            loader=FileSystemLoader(str(TEMPLATES_DIR)),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
    return _env


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def subject_for(views: Sequence[AlertView], language: str, severities: Sequence[str]) -> str:
    t = strings(language)
    if len(views) == 1:
        v = views[0]
        subject = f"【{t['prefix']}·{v.severity_text}】{v.title}" if language == "zh-CN" else (
            f"[{t['prefix']} · {v.severity_text}] {v.title}")
    else:
        order = ["low", "medium", "high", "critical"]
        top = max(severities, key=lambda s: order.index(s) if s in order else 0)
        body = t["batch_subject"].format(n=len(views), top=t.get(top, top))
        subject = f"【{t['prefix']}】{body}" if language == "zh-CN" else f"[{t['prefix']}] {body}"
    return one_line(subject, MAX_SUBJECT_CHARS)


def render_alerts(alerts: Sequence[Any], language: str, *, escalated_ids: Sequence[int] = (),
                  tz: str | None = None, note: str = "") -> Rendered:
    """One message for one or many alerts, in ``language``."""
    alerts = list(alerts)[:MAX_ALERTS_PER_MESSAGE]
    views = [view(a, language, escalated=a.id in escalated_ids, tz=tz) for a in alerts]
    subject = subject_for(views, language, [str(a.severity) for a in alerts])
    t = strings(language)
    context = {"t": t, "alerts": views, "count": len(views), "batch": len(views) > 1, "lang": language,
               "subject": subject, "note": inert(note, 500)}
    env = environment()
    text = env.get_template("alert.txt.j2").render(**context)
    html = env.get_template("alert.html.j2").render(**context)
    return Rendered(subject=subject, text=text, html=html)


def render_correction_overdue(req: Any, outlet_name: str, case_id: int | None, language: str, *,
                              tz: str | None = None) -> Rendered:
    """The overdue message for a correction request (a ``models.CorrectionRequest``), plain text."""
    t = strings(language)
    outlet = inert(outlet_name, 80) or t["correction_outlet"]
    subject = one_line(t["correction_subject"].format(outlet=outlet, id=req.id), MAX_SUBJECT_CHARS)
    lines = [t["correction_intro"].format(id=req.id, outlet=outlet, deadline=local_time(req.deadline_at, language, tz)),
             ""]
    piece = safe_url(req.piece_url) or inert(req.piece_url, MAX_URL_CHARS)
    lines.append(f"{t['correction_piece']}: {piece}")
    lines.append(f"{t['correction_claim']}: {inert(req.false_claim, 500)}")
    lines.append(f"{t['correction_requested']}: {local_time(req.requested_at, language, tz)}")
    if case_id is not None:
        lines.append(f"{t['case_label']}: #{case_id}")
    lines += ["", t["footer"]]
    return Rendered(subject=subject, text="\n".join(lines) + "\n", html="")
