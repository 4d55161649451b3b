"""Publication dates as Chinese and Vietnamese pages write them, to timezone-aware UTC.

Absolute forms ("2024-05-14 08:30", "2018年7月3日", "ngày 14 tháng 5 năm 2024", "14/5/2024",
ISO 8601, RFC 2822), forms without a year ("7月3日 10:05": the latest such date not in the future)
and relative forms ("3小时前", "昨天 10:05", "刚刚", "3 giờ trước", "hôm qua"). A time without a zone
is in the source's time zone. Numeric dates with slashes are day-first for Vietnamese sources
(14/5/2024) and year-first or month-first elsewhere. Nothing here guesses: an unparseable string
gives ``None`` and the caller flags the article.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_FW_DIGITS = str.maketrans("０１２３４５６７８９：／－．", "0123456789:/-.")
_CN_NUM = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10, "半": 0}

_TIME = r"(?:\D{0,3}?(?P<H>\d{1,2})[:：时點点h](?P<M>\d{1,2})(?:[:：分](?P<S>\d{1,2}))?)?"
_YMD = re.compile(r"(?P<y>(?:19|20)\d{2})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?" + _TIME)
# xinhuanet's header prints the year apart from the day: "2024 07/18 16:32:10"
_Y_MD = re.compile(r"(?P<y>(?:19|20)\d{2})\s+(?P<m>\d{1,2})\s*/\s*(?P<d>\d{1,2})(?!\s*/)" + _TIME)
_VI_LONG = re.compile(
    r"ngày\s*(?P<d>\d{1,2})\s*tháng\s*(?P<m>\d{1,2})\s*năm\s*(?P<y>\d{4})", re.IGNORECASE
)
_DMY = re.compile(r"(?<!\d)(?P<d>\d{1,2})\s*[/.-]\s*(?P<m>\d{1,2})\s*[/.-]\s*(?P<y>(?:19|20)\d{2})(?!\d)")
_MDY = _DMY  # same shape; which number is the day depends on the source's language
_MD_CN = re.compile(r"(?<!\d)(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日" + _TIME)
_MD_DASH = re.compile(r"(?<![\d/.-])(?P<m>\d{1,2})-(?P<d>\d{1,2})\s+(?P<H>\d{1,2}):(?P<M>\d{2})(?![\d:])")
_HM = re.compile(r"(?P<H>\d{1,2})\s*[:h：]\s*(?P<M>\d{2})")
_REL_CN = re.compile(
    r"(?P<n>\d+|[一二两三四五六七八九十半])\s*(?P<u>秒|分钟|分鐘|小时|小時|个小时|天|日|周|週)\s*[之以]?前"
)
_REL_VI = re.compile(r"(?P<n>\d+)\s*(?P<u>giây|phút|giờ|tiếng|ngày|tuần)\s*trước", re.IGNORECASE)
_UNIT_SECONDS = {
    "秒": 1, "分钟": 60, "分鐘": 60, "小时": 3600, "小時": 3600, "个小时": 3600, "天": 86400, "日": 86400,
    "周": 7 * 86400, "週": 7 * 86400, "giây": 1, "phút": 60, "giờ": 3600, "tiếng": 3600, "ngày": 86400,
    "tuần": 7 * 86400,
}
_DAY_WORDS = {"今天": 0, "今日": 0, "昨天": 1, "昨日": 1, "前天": 2, "hôm nay": 0, "hôm qua": 1, "hôm kia": 2}
_NOW_WORDS = ("刚刚", "剛剛", "刚才", "just now", "vừa xong", "vừa đăng")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$")


def zone(name: str | None, default: str = "Asia/Shanghai") -> tzinfo:
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return UTC


def _mk(y: int, m: int, d: int, hh: str | None, mm: str | None, ss: str | None, tz: tzinfo) -> datetime | None:
    try:
        return datetime(y, m, d, int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=tz).astimezone(UTC)
    except ValueError:
        return None


def _time_after(text: str, pos: int) -> tuple[str | None, str | None, str | None]:
    found = _HM.search(text, pos, pos + 12)
    return (found["H"], found["M"], None) if found else (None, None, None)


def parse_date(raw: str | None, *, tz: str | None = None, now: datetime | None = None,
               lang: str | None = None, default_tz: str = "Asia/Shanghai") -> datetime | None:
    """Parse ``raw`` into a UTC datetime, or ``None`` when no date can be read from it.

    ``now`` (UTC) anchors relative dates and the year of year-less dates; ``lang`` "vi" makes
    numeric dates day-first.
    """
    if not raw:
        return None
    text = raw.strip().translate(_FW_DIGITS)[:300]
    if not text:
        return None
    now = (now or datetime.now(UTC)).astimezone(UTC)
    zinfo = zone(tz, default_tz)
    local_now = now.astimezone(zinfo)

    if _ISO.match(text):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass
    if re.match(r"^[A-Za-z]{3},?\s+\d{1,2}\s+[A-Za-z]{3}\s+\d{4}", text):  # RFC 2822 (feeds)
        try:
            parsed = parsedate_to_datetime(text)
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zinfo)).astimezone(UTC)
        except (TypeError, ValueError):
            pass

    found = _YMD.search(text)
    if found:
        return _mk(int(found["y"]), int(found["m"]), int(found["d"]), found["H"], found["M"], found["S"], zinfo)
    found = _Y_MD.search(text)
    if found:
        return _mk(int(found["y"]), int(found["m"]), int(found["d"]), found["H"], found["M"], found["S"], zinfo)
    found = _VI_LONG.search(text)
    if found:
        hh, mm, ss = _time_after(text, found.end())
        if hh is None:
            hh, mm, ss = _time_before(text, found.start())
        return _mk(int(found["y"]), int(found["m"]), int(found["d"]), hh, mm, ss, zinfo)
    found = _DMY.search(text)
    if found:
        a, b, y = int(found["d"]), int(found["m"]), int(found["y"])
        day_first = (lang or "").startswith("vi") or a > 12
        d, m = (a, b) if day_first else (b, a)
        hh, mm, ss = _time_after(text, found.end())
        if hh is None:
            hh, mm, ss = _time_before(text, found.start())
        return _mk(y, m, d, hh, mm, ss, zinfo)
    low = text.lower()
    if any(word in low for word in _NOW_WORDS):
        return now
    rel = _REL_CN.search(text) or _REL_VI.search(text)
    if rel:
        n_raw = rel["n"]
        n = int(n_raw) if n_raw.isdigit() else _CN_NUM.get(n_raw, 0)
        seconds = _UNIT_SECONDS[rel["u"].lower()] * (n if n_raw != "半" else 0.5)
        return now - timedelta(seconds=seconds)
    # the first day word of the string ("昨天 16:45 来源：今日儋州" is yesterday, not today)
    words = sorted((idx, word) for word in _DAY_WORDS if (idx := low.find(word)) >= 0)
    if words:
        idx, word = words[0]
        hh, mm, ss = _time_after(low, idx + len(word))
        day = local_now.date() - timedelta(days=_DAY_WORDS[word])
        return _mk(day.year, day.month, day.day, hh, mm, ss, zinfo)

    found = _MD_CN.search(text) or _MD_DASH.search(text)
    if found:
        g = found.groupdict()
        return _infer_year(int(g["m"]), int(g["d"]), g.get("H"), g.get("M"), g.get("S"), zinfo, local_now)
    return None


def _time_before(text: str, pos: int) -> tuple[str | None, str | None, str | None]:
    """Vietnamese sites often write the time first: "08:30 14/5/2024"."""
    matches = list(_HM.finditer(text, max(0, pos - 12), pos))
    return (matches[-1]["H"], matches[-1]["M"], None) if matches else (None, None, None)


def _infer_year(m: int, d: int, hh: str | None, mm: str | None, ss: str | None, tz: tzinfo,
                local_now: datetime) -> datetime | None:
    """A date without a year is the latest such date that is not in the future."""
    for year in (local_now.year, local_now.year - 1):
        try:
            candidate = datetime.combine(date(year, m, d), time(int(hh or 0), int(mm or 0), int(ss or 0)), tz)
        except ValueError:  # 29 February, 25:00 ...
            continue
        if candidate <= local_now + timedelta(minutes=5):
            return candidate.astimezone(UTC)
    return None


_RELATIVE_HINT = re.compile(
    r"\d+\s*(?:秒|分钟|分鐘|小时|小時|个小时|天|周|週)\s*[之以]?前|昨天|昨日|前天|今天|今日|刚刚|剛剛|刚才"
    r"|\d+\s*(?:giây|phút|giờ|tiếng|ngày|tuần)\s*trước|hôm qua|hôm nay|hôm kia|vừa xong|just now",
    re.IGNORECASE,
)
_HAS_YEAR = re.compile(r"(?:19|20)\d{2}|^\d{4}-\d{2}")


def page_date(raw: str | None, *, anchor: date | None, fetched_at: datetime, tz: str | None = None,
              lang: str | None = None, default_tz: str = "Asia/Shanghai") -> tuple[datetime | None, list[str]]:
    """The publication time of a page from its raw date string and the page's own context.

    ``anchor``: the day the page itself gives apart from ``raw`` (its URL's date). A relative time
    ("昨天 16:45", "3小时前") counts back from the end of that day, not from the crawl; with no
    anchor it counts from the fetch and is flagged ``published_relative``, since a page read long
    after it was printed would otherwise look new. A date without a year takes the anchor's year
    (flagged ``published_year_inferred`` when only the crawl day could give one).
    Returns the time (UTC) or None, and the flags to record.
    """
    flags: list[str] = []
    if not raw:
        return None, flags
    text = raw.strip()
    relative = bool(_RELATIVE_HINT.search(text)) and not _HAS_YEAR.search(text)
    zinfo = zone(tz, default_tz)
    now = fetched_at
    if anchor is not None and (relative or not _HAS_YEAR.search(text)):
        # the end of the anchor day, local time: "昨天" on a page of 10 May is 9 May
        now = datetime.combine(anchor, time(23, 59, 59), zinfo).astimezone(UTC)
        if now > fetched_at:
            now = fetched_at
    parsed = parse_date(text, tz=tz, now=now, lang=lang, default_tz=default_tz)
    if parsed is not None and anchor is None:
        if relative:
            flags.append("published_relative")
        elif not _HAS_YEAR.search(text) and not re.match(r"^[A-Za-z]{3},?\s", text):
            flags.append("published_year_inferred")
    return parsed, flags
