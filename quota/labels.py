"""User-facing words of the quota stage in Chinese, Vietnamese and English (one table, one lookup)."""

from __future__ import annotations

LANGUAGES = ("zh-CN", "vi", "en")

_LABELS: dict[str, tuple[str, str, str]] = {
    # key: (zh-CN, vi, en)
    "status_title": ("宣传任务完成情况", "Tình hình thực hiện chỉ tiêu tuyên truyền", "Publicity quota progress"),
    "ranking_title": ("积分排名", "Xếp hạng điểm", "Ranking"),
    "rule": ("考核项目", "Chỉ tiêu", "Rule"),
    "unit": ("单位", "Đơn vị", "Unit"),
    "period": ("周期", "Kỳ", "Period"),
    "done": ("完成", "Đạt", "Done"),
    "target": ("目标", "Chỉ tiêu", "Target"),
    "progress": ("进度", "Tiến độ", "Progress"),
    "status": ("状态", "Trạng thái", "Status"),
    "met": ("已完成", "Đã đạt", "met"),
    "short": ("差 {n}", "Thiếu {n}", "short by {n}"),
    "days_left": ("剩 {n} 天", "Còn {n} ngày", "{n} days left"),
    "pieces": ("篇", "tin bài", "pieces"),
    "points": ("分", "điểm", "points"),
    "rank": ("名次", "Hạng", "Rank"),
    "total": ("合计", "Tổng", "Total"),
    "periods_met": ("达标周期", "Kỳ đạt", "Periods met"),
    "evidence": ("依据（登记编号）", "Căn cứ (số đăng ký)", "Evidence (registration ids)"),
    "registration": ("登记", "Đăng ký", "Registration"),
    "outlet": ("媒体", "Cơ quan báo chí", "Outlet"),
    "title": ("标题", "Tiêu đề", "Title"),
    "published": ("发布时间", "Ngày đăng", "Published"),
    "kind": ("类型", "Loại", "Kind"),
    "adoption": ("采用", "Hình thức", "Adoption"),
    "state": ("审核状态", "Trạng thái duyệt", "Review state"),
    "verified": ("核实", "Xác minh", "Verified"),
    "not_verified": ("未核实", "Chưa xác minh", "not verified"),
    "no_rules": ("没有适用的考核规则（presswatch quota load quota.yaml）",
                 "Chưa có chỉ tiêu nào (presswatch quota load quota.yaml)",
                 "No quota rules apply (presswatch quota load quota.yaml)"),
    "reminder_subject": ("【提醒】{unit}「{rule}」{period} 还差 {n}，剩 {days} 天",
                         "[Nhắc nhở] {unit}: «{rule}» kỳ {period} còn thiếu {n}, còn {days} ngày",
                         "[Reminder] {unit}: '{rule}' {period} is short by {n}, {days} days left"),
    "reminder_body": (
        "{unit}：\n\n考核项目「{rule}」在 {period}（截至 {end}）目标 {target}，目前完成 {value}，还差 {n}。"
        "请在周期结束前报送并登记稿件。\n\n已计入的登记：{ids}\n\n—— presswatch",
        "Kính gửi {unit},\n\nChỉ tiêu «{rule}» kỳ {period} (đến hết {end}): mục tiêu {target}, đã đạt {value}, "
        "còn thiếu {n}. Đề nghị gửi và đăng ký tin bài trước khi hết kỳ.\n\nCác đăng ký đã tính: {ids}\n\n— presswatch",
        "{unit},\n\nRule '{rule}' for {period} (ends {end}): target {target}, done {value}, short by {n}. "
        "Please publish and register pieces before the period ends.\n\nRegistrations counted: {ids}\n\n— presswatch",
    ),
    "report_subject": (
        "{unit} {period} 宣传任务完成情况通报",
        "Thông báo kết quả chỉ tiêu tuyên truyền {period} — {unit}",
        "{unit}: publicity quota results for {period}",
    ),
    "report_intro": (
        "{unit}：\n\n{period} 宣传任务完成情况如下：\n",
        "Kính gửi {unit},\n\nKết quả thực hiện chỉ tiêu kỳ {period}:\n",
        "{unit},\n\nYour publicity quota results for {period}:\n",
    ),
    "none": ("无", "không có", "none"),
    "submitted": ("报送", "Đã gửi", "Submitted"),
    "standalone": ("单独刊发", "Đăng riêng", "Standalone"),
    "combined": ("综合采用", "Đưa vào bản tổng hợp", "In combined"),
    "count": ("篇数", "Số tin bài", "Pieces"),
    "target_met": ("达标", "Đạt chỉ tiêu", "Target met"),
    "yes": ("是", "Đạt", "yes"),
    "no": ("否", "Chưa đạt", "no"),
    "announce_subject": (
        "「{rule}」{period} 各单位信息报送采用情况通报",
        "Thông báo tình hình gửi và sử dụng tin bài của các đơn vị kỳ {period} — «{rule}»",
        "'{rule}' {period}: submissions and adoptions of every unit",
    ),
    "announce_intro": (
        "{unit}：\n\n「{rule}」{period} 各单位信息报送采用情况及排名如下：\n",
        "Kính gửi {unit},\n\nTình hình gửi, sử dụng tin bài và xếp hạng của các đơn vị, «{rule}» kỳ {period}:\n",
        "{unit},\n\nSubmissions, adoptions and ranking of every unit, '{rule}' {period}:\n",
    ),
}


def lang_index(language: str) -> int:
    if language.startswith("zh"):
        return 0
    if language.startswith("vi"):
        return 1
    return 2


def t(language: str, key: str, **kw: object) -> str:
    text = _LABELS[key][lang_index(language)]
    return text.format(**kw) if kw else text


def fmt_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
