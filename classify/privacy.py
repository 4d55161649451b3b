"""Personal data and secrecy markers in a piece the office publishes itself.

"涉密信息不上网、上网信息不涉密" and "注意保护当事人隐私": ``find_sensitive(text)`` lists what in a
text looks like a party's private data or a classification marking, each as a :class:`Finding`
with its kind, its position and a MASKED excerpt (the full number is never kept, stored or printed).

Kinds:

- ``cn_id``: 18-digit resident ID number, ISO 7064 MOD 11-2 check character and a real birth
  date; ``cn_id15``: the old 15-digit form (area code and a real 19YYMMDD birth date);
- ``cn_mobile``: mainland mobile number 1[3-9]xxxxxxxxx (optionally +86), not part of a longer
  run of digits;
- ``bank_card``: 16-19 digits starting 3-6 passing the Luhn check;
- ``vn_cccd``: Vietnamese 12-digit citizen ID (căn cước công dân), province code 001-096, a
  century/sex digit 0-3;
- ``vn_mobile``: Vietnamese mobile 0[35789]xxxxxxxx or +84 [35789]xxxxxxxx;
- ``secret_marker``: 内部资料, 秘密, 机密, 绝密, 不得外传, Mật, Tối mật, Tuyệt mật, Nội bộ,
  Lưu hành nội bộ used as a marking: a line of its own, in brackets (【内部资料】, [MẬT]) or with a
  ★ period (秘密★1年), never inside ordinary prose (保守秘密, 商业秘密, bí mật, nội bộ cơ quan).

Digits may be grouped by single spaces, hyphens or dots (138-1234-5678, 0912.345.678,
6222 0212 3456 7890); full-width digits count. Masked forms that court documents print on
purpose (张某某, 4600**********1234, 138****5678) are not findings: their digit runs are too short.
Pure: no I/O, no settings.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

PERSONAL_KINDS = ("cn_id", "cn_id15", "cn_mobile", "bank_card", "vn_cccd", "vn_mobile")
SECRET_KIND = "secret_marker"
CONTEXT_CHARS = 8

_FULLWIDTH = str.maketrans("０１２３４５６７８９＋ｘＸ", "0123456789+xX")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

# A run of digits (an ID may end in X), not touching other digits or Latin letters.
_RUN = re.compile(r"(?<![0-9A-Za-z+])\+?\d+[Xx]?(?![0-9A-Za-z])")
# The same with single-space / hyphen / dot grouping, and a leading + for country codes.
_GROUPED = re.compile(r"(?<![0-9A-Za-z+.\-])\+?\d+(?:[ .\-]\d+)+[Xx]?(?![0-9A-Za-z]|[.\-]\d)")
_PLUS_CC = re.compile(r"\+(?:86|84)[ \-]?$")


@dataclass(frozen=True)
class Finding:
    kind: str
    excerpt: str  # masked; safe to store and to print
    start: int  # character offsets in the text given
    end: int

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "excerpt": self.excerpt, "start": self.start, "end": self.end}

    def short(self) -> str:
        return f"{self.kind} {self.excerpt}"


# --------------------------------------------------------------------------------------------
# Validators


def id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of a resident ID number's first 17 digits."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def _real_date(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def valid_cn_id(number: str) -> bool:
    """18-character resident ID: area code 1-8, a real birth date 1900-2099, the MOD 11-2 check."""
    n = number.upper()
    if len(n) != 18 or not n[:17].isdigit() or not (n[17].isdigit() or n[17] == "X") or n[0] not in "12345678":
        return False
    year, month, day = int(n[6:10]), int(n[10:12]), int(n[12:14])
    return 1900 <= year <= 2099 and _real_date(year, month, day) and id_check_char(n[:17]) == n[17]


def _id_shaped(n: str) -> bool:
    return n[0] in "12345678" and _real_date(int(n[6:10]), int(n[10:12]), int(n[12:14])) and int(n[6:10]) >= 1900


def valid_cn_id15(number: str) -> bool:
    """The old 15-digit form: area code 1-8 and a real birth date 19YYMMDD (it has no check digit)."""
    if len(number) != 15 or not number.isdigit() or number[0] not in "12345678":
        return False
    return _real_date(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12]))


def luhn_ok(number: str) -> bool:
    if not number.isdigit() or len(number) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def valid_bank_card(number: str) -> bool:
    return 16 <= len(number) <= 19 and number[0] in "3456" and luhn_ok(number)


def valid_vn_cccd(number: str) -> bool:
    """12 digits: province code 001-096, then the century/sex digit 0-3 (1900-2099)."""
    return (len(number) == 12 and number.isdigit() and 1 <= int(number[:3]) <= 96 and number[3] in "0123")


_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
_VN_MOBILE = re.compile(r"0[35789]\d{8}")


def _number_kind(digits: str, plus_cc: str, grouped: bool = False) -> str | None:
    """What a run of digits (separators removed) is; ``plus_cc`` is '86'/'84' when a +CC precedes it.

    A CCCD is never printed in groups; a grouped 12-digit number is a landline (0371-12345678).
    """
    if digits.startswith("+"):
        body = digits[1:]
        if body.startswith("86") and _CN_MOBILE.fullmatch(body[2:]):
            return "cn_mobile"
        if body.startswith("84") and re.fullmatch(r"[35789]\d{8}", body[2:]):
            return "vn_mobile"
        return None
    if plus_cc == "86" and _CN_MOBILE.fullmatch(digits):
        return "cn_mobile"
    if plus_cc == "84" and re.fullmatch(r"0?[35789]\d{8}", digits):
        return "vn_mobile"
    if len(digits) == 18 and valid_cn_id(digits):
        return "cn_id"
    if not digits.isdigit():
        return None
    if len(digits) == 15 and valid_cn_id15(digits):
        return "cn_id15"
    if _CN_MOBILE.fullmatch(digits):
        return "cn_mobile"
    if _VN_MOBILE.fullmatch(digits):
        return "vn_mobile"
    if not grouped and valid_vn_cccd(digits):
        return "vn_cccd"
    if len(digits) == 18 and _id_shaped(digits):
        return None  # an ID number with a wrong check digit (a typo, or made up), not a bank card
    if valid_bank_card(digits):
        return "bank_card"
    return None


_KEEP = {  # (head, tail) digits shown
    "cn_id": (4, 4), "cn_id15": (4, 3), "cn_mobile": (3, 4), "bank_card": (4, 4), "vn_cccd": (3, 3),
    "vn_mobile": (3, 3),
}


def mask_number(digits: str, kind: str) -> str:
    head, tail = _KEEP.get(kind, (2, 2))
    prefix = ""
    if digits.startswith("+"):
        prefix, digits = digits[:3], digits[3:]
    return prefix + digits[:head] + "*" * (len(digits) - head - tail) + digits[len(digits) - tail:]


def _context(text: str, start: int, end: int) -> tuple[str, str]:
    """A few characters around a hit, digits hidden (a neighbouring number must not leak either)."""
    def clean(s: str) -> str:
        return re.sub(r"\d", "*", re.sub(r"\s+", " ", s))

    return clean(text[max(0, start - CONTEXT_CHARS):start]), clean(text[end:end + CONTEXT_CHARS])


def _numbers(text: str) -> list[Finding]:
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []

    def consider(m: re.Match[str]) -> None:
        start, end = m.span()
        if any(s < end and start < e for s, e in taken):
            return
        raw = m.group()
        digits = re.sub(r"[ .\-]", "", raw)
        cc = _PLUS_CC.search(text, max(0, start - 4), start)
        kind = _number_kind(digits, cc.group()[1:3] if cc else "", grouped=digits != raw.lstrip("+"))
        if kind is None:
            return
        before, after = _context(text, start, end)
        found.append(Finding(kind, f"{before}{mask_number(digits, kind)}{after}".strip(), start, end))
        taken.append((start, end))

    # Grouped runs first (6222 0212 3456 7890 123 is one card), then plain runs, e.g. each of two
    # numbers that a space happened to join.
    for m in _GROUPED.finditer(text):
        consider(m)
    for m in _RUN.finditer(text):
        consider(m)
    return found


# --------------------------------------------------------------------------------------------
# Secrecy markers

_ZH_MARKERS = ("内部资料", "秘密", "机密", "绝密", "不得外传")
_ZH_COMPANIONS = ("注意保存", "请勿外传", "严禁复制", "不得复制", "内部", "资料")
_VI_MARKERS = ("mật", "tối mật", "tuyệt mật", "nội bộ", "lưu hành nội bộ", "tài liệu mật")
_DECOR = "【】[]()（）〔〕「」『』《》<>*★☆:：-—_=·•. \t"
_PERIOD = r"(?:★[^\s，,。；;】\]）)]{0,6})?"  # 秘密★1年, 机密★长期
_OPEN, _CLOSE = r"[【\[（(〔「『]", r"[】\]）)〕」』]"
_ZH_ALT = "|".join(_ZH_MARKERS)
_QUOTES = "\u201c\u2018\"'\u300c\u300e\u201d\u2019"  # a marker quoted in prose is a mention, not a marking
_ZH_INLINE = re.compile(
    rf"{_OPEN}\s*(?:{_ZH_ALT}){_PERIOD}\s*{_CLOSE}|(?<![{_QUOTES}])(?:{_ZH_ALT})★[^\s，,。；;{_QUOTES}]{{0,6}}"
)
_VI_INLINE = re.compile(
    rf"{_OPEN}\s*(?:TUYỆT MẬT|TỐI MẬT|MẬT|NỘI BỘ|LƯU HÀNH NỘI BỘ)\s*{_CLOSE}|(?i:độ mật)\s*[:：]\s*"
    r"(?:(?i:tuyệt mật|tối mật|mật))\b"
)


def _zh_marker_line(body: str) -> bool:
    tokens = [t for t in re.split(r"[\s，,、；;：:·]+", body) if t]
    if not tokens or len(tokens) > 4:
        return False
    main = False
    for tok in tokens:
        tok = re.sub(r"★.{0,6}$", "", tok)
        if tok in _ZH_MARKERS:
            main = True
        elif tok not in _ZH_COMPANIONS:
            return False
    return main


def _markers(text: str) -> list[Finding]:
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []

    def add(start: int, end: int) -> None:
        if any(s < end and start < e for s, e in taken):
            return
        taken.append((start, end))
        found.append(Finding(SECRET_KIND, re.sub(r"\s+", " ", text[start:end]).strip()[:40], start, end))

    pos = 0
    for line in text.splitlines(keepends=True):
        body = line.strip(_DECOR + "\r\n")
        if body and len(body) <= 30:
            folded = re.sub(r"\s+", " ", unicodedata.normalize("NFC", body)).casefold()
            folded = re.sub(r"^độ mật\s*[:：]\s*", "", folded)
            if folded in _VI_MARKERS or _zh_marker_line(body):
                offset = line.index(body)
                add(pos + offset, pos + offset + len(body))
        pos += len(line)
    for pattern in (_ZH_INLINE, _VI_INLINE):
        for m in pattern.finditer(text):
            add(*m.span())
    return found


# --------------------------------------------------------------------------------------------


def find_sensitive(text: str) -> list[Finding]:
    """Personal numbers and secrecy markers in ``text``, in text order, excerpts masked."""
    if not text:
        return []
    norm = text.translate(_FULLWIDTH)  # same length: positions stay those of ``text``
    return sorted([*_numbers(norm), *_markers(norm)], key=lambda f: f.start)


def mask_text(text: str) -> str:
    """``text`` with every personal number found in it masked (for excerpts shown in messages)."""
    norm = text.translate(_FULLWIDTH)
    out, last = [], 0
    for f in sorted(_numbers(norm), key=lambda f: f.start):
        digits = re.sub(r"[ .\-]", "", norm[f.start:f.end])
        out.append(text[last:f.start] + mask_number(digits, f.kind))
        last = f.end
    out.append(text[last:])
    return "".join(out)
