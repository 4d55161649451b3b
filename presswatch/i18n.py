"""The one translation catalog: gettext messages in zh-CN, vi and en, and localized dates and times.

Source strings are English and are marked in code with ``_()`` / ``N_()`` (Python) or
``{% trans %}`` / ``_()`` (Jinja2 templates); ``make messages`` extracts them with Babel into
``presswatch/locale/messages.pot`` and merges them into ``presswatch/locale/<locale>/LC_MESSAGES/
messages.po``. The ``.po`` files are the single source of truth: they are compiled in memory when a
language is first used (Babel's ``write_mo``), so a compiled ``.mo`` can never be stale.
``tests/test_i18n.py`` fails when a marked string lacks a zh-CN or vi translation.

Every face (CLI tables, alert messages, digests, reports, quota messages, the web app) asks this
module for a :class:`Translations` object by the recipient's or user's language; times are shown in
the organization's or recipient's time zone, to the minute.

Shared core: imports no stage and no shell module.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterable
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date as _babel_format_date
from babel.dates import format_datetime as _babel_format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal as _babel_format_decimal
from babel.numbers import format_percent as _babel_format_percent
from babel.support import Translations

#: User-facing language codes (BCP 47), in the order the product offers them.
LANGUAGES: tuple[str, ...] = ("zh-CN", "vi", "en")
DEFAULT_LANGUAGE = "en"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

_ALIASES = {
    "zh": "zh-CN",
    "zh-cn": "zh-CN",
    "zh_cn": "zh-CN",
    "zh-hans": "zh-CN",
    "zh-hans-cn": "zh-CN",
    "zh-sg": "zh-CN",
    "vi": "vi",
    "vi-vn": "vi",
    "vi_vn": "vi",
    "en": "en",
    "en-us": "en",
    "en-gb": "en",
    "en_us": "en",
    "en_gb": "en",
}


def N_(message: str) -> str:
    """Mark a string for extraction without translating it here (it is translated where shown)."""
    return message


def normalize_language(code: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """'zh', 'zh_CN', 'zh-Hans-CN', 'vi-VN', 'en-GB' ... -> one of :data:`LANGUAGES`; else ``default``."""
    if not code:
        return default
    key = code.strip().replace(" ", "").lower()
    if key in _ALIASES:
        return _ALIASES[key]
    primary = key.replace("_", "-").split("-")[0]
    return _ALIASES.get(primary, default)


def is_supported_language(code: str | None) -> bool:
    return bool(code) and normalize_language(code, default="") != ""


def negotiate_language(accept_language: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The best of :data:`LANGUAGES` for an HTTP ``Accept-Language`` header (q-values honoured)."""
    if not accept_language:
        return default
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = normalize_language(tag, default="")
        if language and quality > 0:
            ranked.append((-quality, position, language))
    return sorted(ranked)[0][2] if ranked else default


def locale_dir_name(language: str) -> str:
    """Folder of a language's catalog: zh-CN -> zh_CN."""
    return normalize_language(language).replace("-", "_")


def babel_locale(language: str) -> Locale:
    return Locale.parse(locale_dir_name(language))


def po_path(language: str) -> Path:
    return LOCALE_DIR / locale_dir_name(language) / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(language: str) -> Translations:
    """The compiled catalog of ``language`` (compiled from its ``.po`` on first use, then cached)."""
    path = po_path(language)
    if not path.exists():
        return Translations()  # English source strings as they are
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale_dir_name(language), domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def gettext(language: str, message: str, **params: Any) -> str:
    """``message`` in ``language``; ``{name}`` placeholders filled from ``params`` after translation."""
    text = translations(normalize_language(language)).gettext(message)
    return text.format(**params) if params else text


def ngettext(language: str, singular: str, plural: str, n: int, **params: Any) -> str:
    """Plural-aware ``gettext``; ``{n}`` is always available to the message."""
    text = translations(normalize_language(language)).ngettext(singular, plural, n)
    return text.format(n=n, **params)


class Translator:
    """``gettext`` bound to one language, for code that renders many strings for one recipient."""

    def __init__(self, language: str) -> None:
        self.language = normalize_language(language)
        self._t = translations(self.language)

    def __call__(self, message: str, **params: Any) -> str:
        text = self._t.gettext(message)
        return text.format(**params) if params else text

    def plural(self, singular: str, plural: str, n: int, **params: Any) -> str:
        return self._t.ngettext(singular, plural, n).format(n=n, **params)


# -- time zones and localized dates -------------------------------------------------------------


class Refusal(Exception):
    """A stage's refusal of bad input, in one clear line every face can say in its reader's language.

    ``message`` is the catalog's msgid (marked with ``N_``) and ``params`` its placeholders;
    ``str(exc)`` is the English line (the CLI's), ``exc.localized(t)`` the line in a translator's
    language (the web app's and the API's)."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message.format(**params) if params else message)
        self.message = message
        self.params = params

    def localized(self, translate: Any) -> str:
        return str(translate(self.message, **self.params))


class TimeZoneError(ValueError):
    """An unknown IANA time zone name."""


def validate_timezone(name: str) -> str:
    """The one time-zone check every config loader uses: ``name`` if it is a known IANA zone."""
    if not isinstance(name, str) or not name.strip():
        raise TimeZoneError("empty time zone; expected an IANA name such as Asia/Shanghai")
    try:
        ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeZoneError(f"unknown time zone {name!r}; expected an IANA name such as Asia/Ho_Chi_Minh") from exc
    return name.strip()


def zone(name: str | tzinfo | None) -> tzinfo:
    if name is None:
        return UTC
    if isinstance(name, tzinfo):
        return name
    return ZoneInfo(validate_timezone(name))


def to_local(value: datetime, tz: str | tzinfo | None) -> datetime:
    """An aware datetime in ``tz`` (naive values are taken as UTC, as the store keeps them)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone(tz))


_DATETIME_PATTERNS = {"zh-CN": "yyyy-MM-dd HH:mm", "vi": "HH:mm dd/MM/yyyy", "en": "yyyy-MM-dd HH:mm"}
_DATE_PATTERNS = {"zh-CN": "yyyy年M月d日", "vi": "dd/MM/yyyy", "en": "d MMM yyyy"}


def format_datetime(value: datetime | None, language: str, tz: str | tzinfo | None, *, long: bool = False) -> str:
    """Local time to the minute: ``2026-12-05 01:53`` (zh-CN, en), ``01:53 05/12/2026`` (vi); ``long``
    uses the locale's own medium format (``2026年12月5日 01:53``). ``None`` is an empty string."""
    if value is None:
        return ""
    language = normalize_language(language)
    local = to_local(value, tz)
    pattern = _long_pattern(language) if long else _DATETIME_PATTERNS[language]
    return _babel_format_datetime(local, pattern, tzinfo=local.tzinfo, locale=babel_locale(language))


def _long_pattern(language: str) -> str:
    return {"zh-CN": "yyyy年M月d日 HH:mm", "vi": "HH:mm 'ngày' dd/MM/yyyy", "en": "d MMM yyyy, HH:mm"}[language]


def format_date(value: date | datetime | None, language: str, tz: str | tzinfo | None = None) -> str:
    if value is None:
        return ""
    language = normalize_language(language)
    if isinstance(value, datetime):
        value = to_local(value, tz).date()
    return _babel_format_date(value, _DATE_PATTERNS[language], locale=babel_locale(language))


def format_number(value: float | int, language: str) -> str:
    return _babel_format_decimal(value, locale=babel_locale(language))


def format_percent(value: float | None, language: str, digits: int = 0) -> str:
    if value is None:
        return "—"
    pattern = "#,##0%" if digits == 0 else "#,##0." + "0" * digits + "%"
    return _babel_format_percent(value, pattern, locale=babel_locale(language))


def missing_translations(languages: Iterable[str] = ("zh-CN", "vi")) -> dict[str, list[str]]:
    """Message ids of the template (``messages.pot``) without a usable translation, per language."""
    template = LOCALE_DIR / f"{DOMAIN}.pot"
    with template.open("rb") as handle:
        pot = read_po(handle)
    missing: dict[str, list[str]] = {}
    for language in languages:
        path = po_path(language)
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=locale_dir_name(language))
        gaps = []
        for message in pot:
            if not message.id:
                continue
            found = catalog.get(message.id, message.context)
            strings = found.string if found is not None else None
            values = strings if isinstance(strings, tuple | list) else (strings,)
            if found is None or found.fuzzy or not all(values):
                gaps.append(message.id if isinstance(message.id, str) else message.id[0])
        if gaps:
            missing[language] = gaps
    return missing


# -- spreadsheets ---------------------------------------------------------------------------------

#: Number formats of time cells in XLSX files (Excel shows them in the reader's own date style).
EXCEL_DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
EXCEL_DATE_FORMAT = "yyyy-mm-dd"


def excel_time(value: datetime | None, tz: str | tzinfo | None = None) -> datetime | None:
    """A time for an XLSX cell: local to ``tz`` (or kept in its own zone when ``tz`` is None), to the
    minute, and naive, because Excel datetimes carry no time zone. A real datetime, never text."""
    if value is None:
        return None
    local = to_local(value, tz) if tz is not None or value.tzinfo is None else value
    return local.replace(tzinfo=None, second=0, microsecond=0)


def format_excel_times(worksheet: Any) -> None:
    """Give every datetime / date cell of an openpyxl worksheet a number format (to the minute)."""
    for row in worksheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, datetime):
                cell.number_format = EXCEL_DATETIME_FORMAT
            elif isinstance(cell.value, date):
                cell.number_format = EXCEL_DATE_FORMAT
