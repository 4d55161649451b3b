"""The one translation catalog: in step with the code, complete in zh-CN and vi, and localized times."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from presswatch import i18n
from presswatch.i18n_catalog import extract


def _ids(path: Path) -> set[str]:
    with path.open("rb") as handle:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}


def test_the_catalog_template_holds_every_marked_string(tmp_path: Path) -> None:
    """A string marked for translation in code or a template but not in messages.pot means
    `make messages` was not run: its translations cannot exist yet."""
    fresh = extract(tmp_path / "messages.pot")
    assert _ids(fresh) == _ids(i18n.LOCALE_DIR / "messages.pot")


def test_every_message_is_translated_in_chinese_and_vietnamese() -> None:
    assert i18n.missing_translations() == {}


def test_a_missing_translation_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locale_dir = tmp_path / "locale"
    (locale_dir / "vi" / "LC_MESSAGES").mkdir(parents=True)
    (locale_dir / "zh_CN" / "LC_MESSAGES").mkdir(parents=True)
    (locale_dir / "messages.pot").write_text('msgid "Open cases"\nmsgstr ""\n', encoding="utf-8")
    (locale_dir / "zh_CN" / "LC_MESSAGES" / "messages.po").write_text(
        'msgid "Open cases"\nmsgstr "未结案件"\n', encoding="utf-8"
    )
    (locale_dir / "vi" / "LC_MESSAGES" / "messages.po").write_text('msgid "Open cases"\nmsgstr ""\n', encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", locale_dir)
    assert i18n.missing_translations() == {"vi": ["Open cases"]}


def test_times_are_local_to_the_minute_in_each_language() -> None:
    raw = datetime(2026, 12, 4, 17, 53, 33, 481742, tzinfo=UTC)
    assert i18n.format_datetime(raw, "zh-CN", "Asia/Shanghai") == "2026-12-05 01:53"
    assert i18n.format_datetime(raw, "vi", "Asia/Ho_Chi_Minh") == "00:53 05/12/2026"
    assert i18n.format_datetime(raw, "en", "UTC") == "2026-12-04 17:53"
    assert i18n.format_datetime(raw, "zh-CN", "Asia/Shanghai", long=True) == "2026年12月5日 01:53"


@pytest.mark.parametrize(
    ("header", "expected"),
    [("vi-VN,vi;q=0.9,en;q=0.8", "vi"), ("zh-CN,zh;q=0.9", "zh-CN"), ("en;q=0.3, zh;q=0.8", "zh-CN"), ("fr", "en"), ("", "en")],
)
def test_language_from_the_browser(header: str, expected: str) -> None:
    assert i18n.negotiate_language(header) == expected


def test_an_unknown_time_zone_is_named() -> None:
    with pytest.raises(i18n.TimeZoneError, match="Asia/Hanoi"):
        i18n.validate_timezone("Asia/Hanoi")
    assert i18n.validate_timezone("Asia/Ho_Chi_Minh") == "Asia/Ho_Chi_Minh"
