"""User-facing words of digests and reports in Chinese, Vietnamese and English, and local date formats.

Templates get ``t`` (this language's strings) and never spell a user-facing word themselves, so a
missing translation is a test failure (every language has every key), not an English word in a
Vietnamese email.
"""

from __future__ import annotations

from datetime import date, datetime

STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "digest_title": "每日舆情简报",
        "report_weekly": "舆情周报",
        "report_monthly": "舆情月报",
        "report_quarterly": "舆情季报",
        "report_yearly": "舆情年报",
        "report_custom": "舆情报告",
        "period": "统计时段",
        "generated": "生成时间",
        "headline": "核心数据",
        "pieces": "报道总数",
        "negative_share": "负面占比",
        "high_risk": "高风险",
        "risk_counts": "风险分布",
        "change": "较上期",
        "previous": "上期",
        "outlets": "媒体数",
        "stories": "事件数",
        "own_pieces_count": "本单位发稿",
        "flagged": "需关注报道（高风险、负面、已预警）",
        "flagged_none": "本时段无高风险、负面或已预警报道。",
        "why": "预警原因",
        "case_state": "处置状态",
        "no_case": "未立案",
        "top_stories": "传播最广的事件",
        "stories_none": "本时段无被多家媒体转载的事件。",
        "carried_by": "家媒体报道",
        "articles_n": "篇报道",
        "topics": "话题分布",
        "topics_none": "本时段无话题数据。",
        "topic": "话题",
        "count": "数量",
        "negative": "负面",
        "own_pieces": "本单位发稿（计入考核）",
        "own_none": "本时段无登记的本单位发稿。",
        "unit": "单位",
        "outlet": "媒体",
        "time": "时间",
        "title": "标题",
        "state": "状态",
        "source_health": "信息源状态",
        "sources_ok": "全部 {n} 个信息源运行正常。",
        "sources_problems": "{n} 个信息源异常，以下媒体的报道可能缺失：",
        "failures": "连续失败 {n} 次",
        "last_success": "最近成功",
        "never": "从未成功",
        "chart": "近14天报道量与负面占比",
        "chart_volume": "报道量",
        "chart_negative_share": "负面占比",
        "empty": "本时段无新增报道。",
        "empty_sources_ok": "所有信息源运行正常，这是一个平静的新闻日。",
        "empty_sources_bad": "注意：有信息源异常，无报道可能是因为采集失败，而非没有新闻。",
        "open_original": "原文",
        "footer": "本简报由 presswatch 自动生成，发送给 {recipients}。",
        "footer_preview": "本简报由 presswatch 自动生成（预览）。",
        "more_items": "另有 {n} 条未列出。",
        "late": "补报",
        "late_hint": "发布于本时段之前，上期简报发出后才采集到",
        "late_count": "含补报 {n} 篇",
        "sentiment_negative": "负面",
        "sentiment_neutral": "中性",
        "sentiment_positive": "正面",
        "sentiment_unknown": "未分类",
        "risk_low": "低风险",
        "risk_medium": "中风险",
        "risk_high": "高风险",
        "risk_critical": "重大风险",
        "risk_unknown": "未评估",
        "case_new": "新预警",
        "case_acknowledged": "已确认",
        "case_responding": "处置中",
        "case_resolved": "已办结",
        "case_dismissed": "已排除",
        "reg_proposed": "待确认",
        "reg_submitted": "已登记",
        "reg_section_approved": "科室已审",
        "reg_leader_approved": "领导已审",
        "reg_rejected": "未通过",
        "daily_series": "每日报道量",
        "day": "日期",
        "top_outlets": "主要媒体",
        "summary": "概况",
        "sentiment": "情感",
        "risk": "风险",
        "url": "链接",
        "extract": "摘要",
        "matched": "命中词",
        "no_change": "持平",
    },
    "vi": {
        "digest_title": "Điểm tin báo chí hàng ngày",
        "report_weekly": "Báo cáo tuần",
        "report_monthly": "Báo cáo tháng",
        "report_quarterly": "Báo cáo quý",
        "report_yearly": "Báo cáo năm",
        "report_custom": "Báo cáo theo dõi báo chí",
        "period": "Khoảng thời gian",
        "generated": "Thời điểm lập",
        "headline": "Số liệu chính",
        "pieces": "Tổng số tin bài",
        "negative_share": "Tỷ lệ tiêu cực",
        "high_risk": "Rủi ro cao",
        "risk_counts": "Mức độ rủi ro",
        "change": "So với kỳ trước",
        "previous": "Kỳ trước",
        "outlets": "Số cơ quan báo chí",
        "stories": "Số sự việc",
        "own_pieces_count": "Tin bài của đơn vị",
        "flagged": "Tin bài cần chú ý",
        "flagged_none": "Không có tin bài rủi ro cao, tiêu cực hoặc đã cảnh báo trong kỳ.",
        "why": "Lý do cảnh báo",
        "case_state": "Tình trạng xử lý",
        "no_case": "Chưa lập hồ sơ",
        "top_stories": "Sự việc lan truyền rộng nhất",
        "stories_none": "Không có sự việc nào được nhiều cơ quan báo chí đăng lại trong kỳ.",
        "carried_by": "cơ quan báo chí đưa tin",
        "articles_n": "tin bài",
        "topics": "Tin bài theo chủ đề",
        "topics_none": "Không có dữ liệu chủ đề trong kỳ.",
        "topic": "Chủ đề",
        "count": "Số lượng",
        "negative": "Tiêu cực",
        "own_pieces": "Tin bài của đơn vị (tính chỉ tiêu)",
        "own_none": "Không có tin bài nào của đơn vị được đăng ký trong kỳ.",
        "unit": "Đơn vị",
        "outlet": "Cơ quan báo chí",
        "time": "Thời gian",
        "title": "Tiêu đề",
        "state": "Trạng thái",
        "source_health": "Tình trạng nguồn tin",
        "sources_ok": "Tất cả {n} nguồn tin hoạt động bình thường.",
        "sources_problems": "{n} nguồn tin gặp sự cố; có thể thiếu tin bài từ các nguồn sau:",
        "failures": "lỗi liên tiếp {n} lần",
        "last_success": "Lần thành công gần nhất",
        "never": "chưa lần nào thành công",
        "chart": "Số tin bài và tỷ lệ tiêu cực 14 ngày qua",
        "chart_volume": "Số tin bài",
        "chart_negative_share": "Tỷ lệ tiêu cực",
        "empty": "Không có tin bài mới trong kỳ.",
        "empty_sources_ok": "Tất cả nguồn tin hoạt động bình thường: đây là một ngày ít tin.",
        "empty_sources_bad": (
            "Lưu ý: có nguồn tin gặp sự cố, không có tin có thể do lỗi thu thập chứ không phải do không có tin."
        ),
        "open_original": "Bài gốc",
        "footer": "Bản điểm tin do presswatch tự động lập, gửi tới {recipients}.",
        "footer_preview": "Bản điểm tin do presswatch tự động lập (xem trước).",
        "more_items": "Còn {n} tin bài khác không liệt kê.",
        "late": "Bổ sung",
        "late_hint": "Đăng trước kỳ này, thu thập sau khi bản tin kỳ trước đã gửi",
        "late_count": "gồm {n} tin bổ sung",
        "sentiment_negative": "Tiêu cực",
        "sentiment_neutral": "Trung lập",
        "sentiment_positive": "Tích cực",
        "sentiment_unknown": "Chưa phân loại",
        "risk_low": "Rủi ro thấp",
        "risk_medium": "Rủi ro trung bình",
        "risk_high": "Rủi ro cao",
        "risk_critical": "Rủi ro nghiêm trọng",
        "risk_unknown": "Chưa đánh giá",
        "case_new": "Cảnh báo mới",
        "case_acknowledged": "Đã tiếp nhận",
        "case_responding": "Đang xử lý",
        "case_resolved": "Đã xử lý xong",
        "case_dismissed": "Đã loại trừ",
        "reg_proposed": "Chờ xác nhận",
        "reg_submitted": "Đã đăng ký",
        "reg_section_approved": "Phòng đã duyệt",
        "reg_leader_approved": "Lãnh đạo đã duyệt",
        "reg_rejected": "Không được duyệt",
        "daily_series": "Số tin bài theo ngày",
        "day": "Ngày",
        "top_outlets": "Cơ quan báo chí chính",
        "summary": "Tổng quan",
        "sentiment": "Sắc thái",
        "risk": "Rủi ro",
        "url": "Đường dẫn",
        "extract": "Trích dẫn",
        "matched": "Từ khóa khớp",
        "no_change": "không đổi",
    },
    "en": {
        "digest_title": "Daily press digest",
        "report_weekly": "Weekly press report",
        "report_monthly": "Monthly press report",
        "report_quarterly": "Quarterly press report",
        "report_yearly": "Yearly press report",
        "report_custom": "Press report",
        "period": "Period",
        "generated": "Generated",
        "headline": "Headline numbers",
        "pieces": "Pieces",
        "negative_share": "Negative share",
        "high_risk": "High risk",
        "risk_counts": "Risk levels",
        "change": "Change vs previous period",
        "previous": "Previous period",
        "outlets": "Outlets",
        "stories": "Stories",
        "own_pieces_count": "Own pieces",
        "flagged": "Needs attention",
        "flagged_none": "No high-risk, negative or alerted coverage in this period.",
        "why": "Why flagged",
        "case_state": "Case state",
        "no_case": "no case opened",
        "top_stories": "Top stories by spread",
        "stories_none": "No story was carried by more than one outlet in this period.",
        "carried_by": "outlets",
        "articles_n": "pieces",
        "topics": "Coverage by topic",
        "topics_none": "No topic data for this period.",
        "topic": "Topic",
        "count": "Count",
        "negative": "Negative",
        "own_pieces": "Our published pieces (toward quotas)",
        "own_none": "No registered own pieces in this period.",
        "unit": "Unit",
        "outlet": "Outlet",
        "time": "Time",
        "title": "Title",
        "state": "State",
        "source_health": "Source health",
        "sources_ok": "All {n} sources are healthy.",
        "sources_problems": "{n} sources have problems; coverage from them may be missing:",
        "failures": "{n} failures in a row",
        "last_success": "Last success",
        "never": "never succeeded",
        "chart": "Last 14 days: volume and negative share",
        "chart_volume": "Pieces",
        "chart_negative_share": "Negative share",
        "empty": "No new coverage in this period.",
        "empty_sources_ok": "All sources are healthy: this is a quiet news day.",
        "empty_sources_bad": (
            "Warning: some sources are failing, so no coverage may mean a crawl problem rather than no news."
        ),
        "open_original": "original",
        "footer": "Generated by presswatch for {recipients}.",
        "footer_preview": "Generated by presswatch (preview).",
        "more_items": "{n} more not listed.",
        "late": "Late arrival",
        "late_hint": "Published before this period, collected after the previous digest was sent",
        "late_count": "incl. {n} late arrivals",
        "sentiment_negative": "Negative",
        "sentiment_neutral": "Neutral",
        "sentiment_positive": "Positive",
        "sentiment_unknown": "Unclassified",
        "risk_low": "Low risk",
        "risk_medium": "Medium risk",
        "risk_high": "High risk",
        "risk_critical": "Critical risk",
        "risk_unknown": "Not assessed",
        "case_new": "new",
        "case_acknowledged": "acknowledged",
        "case_responding": "responding",
        "case_resolved": "resolved",
        "case_dismissed": "dismissed",
        "reg_proposed": "proposed",
        "reg_submitted": "submitted",
        "reg_section_approved": "section approved",
        "reg_leader_approved": "leader approved",
        "reg_rejected": "rejected",
        "daily_series": "Pieces per day",
        "day": "Day",
        "top_outlets": "Top outlets",
        "summary": "Summary",
        "sentiment": "Sentiment",
        "risk": "Risk",
        "url": "Link",
        "extract": "Extract",
        "matched": "matched",
        "no_change": "no change",
    },
}


# Risk factors the classifier reports (classify.engine), as a reader would name them.
FACTOR_LABELS: dict[str, dict[str, str]] = {
    "negative_sentiment": {"zh-CN": "负面情感", "vi": "sắc thái tiêu cực", "en": "negative sentiment"},
    "sensitive_terms": {"zh-CN": "敏感词", "vi": "từ ngữ nhạy cảm", "en": "sensitive terms"},
    "hostility_model": {"zh-CN": "敌意言论", "vi": "ngôn từ thù địch", "en": "hostile language"},
    "names_organization": {"zh-CN": "指向本单位", "vi": "nêu tên đơn vị", "en": "names the organization"},
    "source_reach": {"zh-CN": "媒体影响力", "vi": "tầm ảnh hưởng của nguồn", "en": "outlet reach"},
    "spread_velocity": {"zh-CN": "传播速度", "vi": "tốc độ lan truyền", "en": "spread"},
    "risk_model": {"zh-CN": "风险模型", "vi": "mô hình rủi ro", "en": "risk model"},
}


def factor_label(name: str, language: str) -> str:
    return FACTOR_LABELS.get(name, {}).get(language, name)


def strings(language: str) -> dict[str, str]:
    return STRINGS[language]


def fmt_datetime(value: datetime, language: str) -> str:
    """A local date and time as people write it: 2024年5月14日 07:30 / 07:30 ngày 14/05/2024."""
    if language == "zh-CN":
        return f"{value.year}年{value.month}月{value.day}日 {value:%H:%M}"
    if language == "vi":
        return f"{value:%H:%M} ngày {value:%d/%m/%Y}"
    return f"{value.day} {value:%b %Y %H:%M}"


def fmt_date(value: date, language: str) -> str:
    if language == "zh-CN":
        return f"{value.year}年{value.month}月{value.day}日"
    if language == "vi":
        return f"{value:%d/%m/%Y}"
    return f"{value.day} {value:%b %Y}"


def fmt_short_date(value: date, language: str) -> str:
    """Axis labels: short, and free of characters a font might lack."""
    return f"{value.month}/{value.day}" if language != "vi" else f"{value.day}/{value.month}"


def fmt_percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def fmt_change(current: float, previous: float, language: str) -> str:
    """"+12 (+35.3%)" style; a previous period of zero has no percentage."""
    delta = current - previous
    if delta == 0:
        return strings(language)["no_change"]
    sign = "+" if delta > 0 else "−"
    if previous:
        return f"{sign}{abs(delta):g} ({sign}{abs(delta) / previous * 100:.1f}%)"
    return f"{sign}{abs(delta):g}"
