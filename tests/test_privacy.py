"""Personal data and secrecy markings in the office's own pieces: the validators, the scan, the masked
excerpts, the classify wiring (SQLite and PostgreSQL) and the `privacy: true` alert condition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.engine import evaluate_pending
from alerts.render import render_alerts, why_lines
from alerts.rules import RulesError, would_alert
from alerts.rules_file import parse_rules, read_rules_file, sync_rules
from classify.privacy import (
    find_sensitive,
    id_check_char,
    luhn_ok,
    mask_text,
    valid_bank_card,
    valid_cn_id,
    valid_cn_id15,
    valid_vn_cccd,
)
from classify.service import classify_pending
from models import Alert, Classification
from models.enums import OutletTier
from settings import Settings, load_settings
from tests import factories
from tests.test_alerts_rules import EXAMPLE, item, spec

SETTINGS = load_settings(environ={}).settings


def cn_id(first17: str = "46000319850307123") -> str:
    """A resident ID number with its MOD 11-2 check character computed here."""
    return first17 + id_check_char(first17)


def luhn_complete(body: str) -> str:
    """``body`` plus the Luhn check digit."""
    return body + next(d for d in "0123456789" if luhn_ok(body + d))


def kinds(text: str) -> list[str]:
    return [f.kind for f in find_sensitive(text)]


# --------------------------------------------------------------------------------------------
# Validators


def test_cn_id_check_character_and_birth_date() -> None:
    assert id_check_char("11010519491231002") == "X"  # the GB 11643 example
    assert valid_cn_id("11010519491231002X") and valid_cn_id("11010519491231002x")
    good = cn_id()
    assert valid_cn_id(good)
    wrong_check = good[:17] + ("0" if good[17] != "0" else "1")
    assert not valid_cn_id(wrong_check)
    assert not valid_cn_id(cn_id("46000319851307123"))  # month 13, right check character
    assert not valid_cn_id(cn_id("96000319850307123"))  # no area code starts with 9
    assert not valid_cn_id(good[:17])
    assert valid_cn_id15("460003850307123") and not valid_cn_id15("460003851307123")


def test_luhn_bank_cards_and_cccd() -> None:
    card = luhn_complete("622202123456789012")  # 19 digits, UnionPay prefix
    assert luhn_ok("4539578763621486") and valid_bank_card(card)
    assert not valid_bank_card(card[:-1] + str((int(card[-1]) + 1) % 10))
    assert not valid_bank_card(luhn_complete("122202123456789"))  # no card starts with 1
    assert valid_vn_cccd("001203012345") and valid_vn_cccd("096185000001")
    assert not valid_vn_cccd("097203012345") and not valid_vn_cccd("000203012345")
    assert not valid_vn_cccd("001503012345")  # century/sex digit 5


# --------------------------------------------------------------------------------------------
# The scan


def test_an_id_number_is_found_with_a_masked_excerpt() -> None:
    number = cn_id()
    text = f"被执行人王某，身份证号码{number}，住儋州市那大镇。"
    (f,) = find_sensitive(text)
    assert f.kind == "cn_id" and text[f.start:f.end] == number
    assert number not in f.excerpt and number[:4] + "*" * 10 + number[-4:] in f.excerpt
    assert "身份证号码" in f.excerpt
    assert mask_text(text) == text.replace(number, number[:4] + "*" * 10 + number[-4:])
    # full-width digits are the same number
    full = number.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    assert kinds(f"身份证：{full}") == ["cn_id"]


def test_masked_forms_and_near_misses_are_not_findings() -> None:
    number = cn_id()
    for text in (
        "被告人张某某，男，身份证号码4600**********1234，联系电话138****5678。",
        f"身份证号码{number[:17]}{'0' if number[17] != '0' else '1'}",  # wrong check character; also Luhn-valid: not a card
        "案号（2024）琼9003执1234号，执行标的13800000元。",
        "订单号 2138123456789 已签收",  # a mobile inside a longer run of digits
        "成交额 " + luhn_complete("12345678901234"),  # Luhn-valid but not 16-19 digits / card prefix
        "座机 0371-12345678",  # a Chinese landline, not a CCCD
    ):
        assert find_sensitive(text) == [], text


def test_mobile_numbers_cn_and_vn() -> None:
    assert kinds("联系电话：13812345678。") == ["cn_mobile"]
    assert kinds("电话 138-1234-5678 或 +86 139 1234 5678") == ["cn_mobile", "cn_mobile"]
    (f,) = find_sensitive("电话13812345678")
    assert "138****5678" in f.excerpt and "13812345678" not in f.excerpt
    assert kinds("SĐT: 0912.345.678; Zalo 0387654321") == ["vn_mobile", "vn_mobile"]
    assert kinds("liên hệ +84 912 345 678 hoặc +84387654321") == ["vn_mobile", "vn_mobile"]
    assert kinds("13812345678 13987654321") == ["cn_mobile", "cn_mobile"]  # not one 22-digit number


def test_bank_card_and_cccd() -> None:
    card = luhn_complete("622202123456789012")
    grouped = " ".join(card[i:i + 4] for i in range(0, len(card), 4))
    for text in (f"账号{card}", f"卡号 {grouped} 开户行"):
        (f,) = find_sensitive(text)
        assert f.kind == "bank_card" and card not in f.excerpt and card[:4] in f.excerpt
    bad = card[:-1] + str((int(card[-1]) + 1) % 10)
    assert find_sensitive(f"账号{bad}") == []
    (f,) = find_sensitive("Ông Nguyễn Văn A, CCCD số 001203012345, trú tại Văn Lâm")
    assert f.kind == "vn_cccd" and "001203012345" not in f.excerpt and "001******345" in f.excerpt
    assert find_sensitive("CCCD số 099203012345") == []


def test_secrecy_markings_not_ordinary_words() -> None:
    assert kinds("【内部资料】\n关于执行工作的通报") == ["secret_marker"]
    assert kinds("秘密★1年\n关于……的报告") == ["secret_marker"]
    assert kinds("内部资料 注意保存\n正文") == ["secret_marker"]
    assert kinds("正文（不得外传）") == ["secret_marker"]
    assert kinds("通报全文如下，机密★10年，请阅。") == ["secret_marker"]
    assert kinds("MẬT\nBáo cáo tình hình thi hành án") == ["secret_marker"]
    assert kinds("TUYỆT MẬT\n...") == ["secret_marker"]
    assert kinds("Lưu hành nội bộ\nTài liệu hội nghị") == ["secret_marker"]
    assert kinds("Độ mật: Tối mật") == ["secret_marker"]
    for prose in (
        "全院干警签订保密承诺书，牢记保守秘密、涉密信息不上网、上网信息不涉密。",
        "依法不公开审理涉及国家秘密、商业秘密和个人隐私的案件。",
        "保密培训讲解了绝密、机密、秘密三个密级，标注“秘密★1年”的文件不得上网。",
        "严禁泄露机密，做好内部资料管理工作。",
        "Giữ gìn bí mật nhà nước, đoàn kết nội bộ cơ quan, quan hệ mật thiết với nhân dân.",
        "Hội nghị quán triệt công tác bảo vệ bí mật nhà nước, tài liệu mật không đưa lên mạng.",
    ):
        assert find_sensitive(prose) == [], prose


# --------------------------------------------------------------------------------------------
# The rule condition


def test_privacy_condition_validated_and_explained() -> None:
    with pytest.raises(RulesError, match="privacy must be true or false"):
        parse_rules({"rules": [{"name": "r", "when": {"privacy": "yes"}}]}, SETTINGS)
    r = spec(min_risk=None, privacy=True)
    finding = {"kind": "cn_id", "excerpt": "号码4600**********1234，", "start": 3, "end": 21}
    decision = would_alert(item(risk_level="low", reasons={"privacy": [finding]}), r)
    assert decision and "4600**********1234" in decision.reason
    assert any("4600**********1234" in line for line in why_lines(
        {"why_parts": [list(p) for p in decision.parts]}, "zh-CN"))
    clean = would_alert(item(risk_level="low", reasons={"privacy": []}), r)
    assert not clean and "no personal data" in clean.reason
    assert not would_alert(item(risk_level="low"), r)  # not scanned: no finding
    assert would_alert(item(risk_level="low"), spec(min_risk=None, privacy=False))


# --------------------------------------------------------------------------------------------
# Classify -> alert, both databases


def test_own_channel_piece_with_an_id_number_alerts_the_press_office(session: Session) -> None:
    number = cn_id()
    now = datetime.now(UTC)
    own = factories.outlet(session, name="儋州法院微信公众号", tier=OutletTier.OWN_CHANNEL)
    other = factories.outlet(session, name="今日儋州", tier=OutletTier.PREFECTURE)
    leak = factories.article(
        session, title="儋州法院公布一批失信被执行人名单", outlet_id=own.id, published_at=now - timedelta(hours=1),
        text=f"失信被执行人：王某，身份证号码{number}，未履行生效判决确定的义务。",
    )
    plain = factories.article(
        session, title="儋州法院开展执行攻坚行动", outlet_id=own.id, published_at=now - timedelta(hours=1),
        text="失信被执行人：王某某，身份证号码4600**********1234，未履行生效判决确定的义务。",
    )
    elsewhere = factories.article(
        session, title="转载：失信名单", outlet_id=other.id, published_at=now - timedelta(hours=1),
        text=f"失信被执行人：王某，身份证号码{number}。",
    )
    classify_pending(session, Settings())
    rows = {c.article_id: c for c in session.scalars(select(Classification).where(Classification.is_current))}
    (finding,) = rows[leak.id].reasons["privacy"]
    assert finding["kind"] == "cn_id" and number not in str(rows[leak.id].reasons)
    assert rows[plain.id].reasons["privacy"] == []
    assert "privacy" not in rows[elsewhere.id].reasons  # other outlets: not scanned by default

    sync_rules(session, read_rules_file(EXAMPLE, SETTINGS))
    evaluate_pending(session, SETTINGS, now=now)
    alerts = list(session.scalars(select(Alert).where(Alert.article_id.in_([leak.id, plain.id, elsewhere.id]))))
    assert [a.article_id for a in alerts] == [leak.id]
    (alert,) = alerts
    masked = number[:4] + "*" * 10 + number[-4:]
    assert masked in str(alert.reason["why"]) and masked in str(alert.reason["classification"]["privacy"])
    assert number not in str(alert.reason)  # the excerpt is masked too
    message = render_alerts([alert], "zh-CN")
    assert masked in str(message) and number not in str(message)


def test_privacy_scan_all_and_off(session: Session) -> None:
    other = factories.outlet(session, tier=OutletTier.CENTRAL)
    art = factories.article(session, outlet_id=other.id, text="联系电话13812345678")
    classify_pending(session, load_settings(environ={}, overrides={"classify.privacy_scan": "all"}).settings)
    row = session.scalars(select(Classification).where(Classification.article_id == art.id)).one()
    assert [f["kind"] for f in row.reasons["privacy"]] == ["cn_mobile"]
    own = factories.outlet(session, tier=OutletTier.OWN_CHANNEL)
    art2 = factories.article(session, outlet_id=own.id, text="联系电话13812345678")
    classify_pending(session, load_settings(environ={}, overrides={"classify.privacy_scan": "off"}).settings)
    row2 = session.scalars(select(Classification).where(Classification.article_id == art2.id)).one()
    assert "privacy" not in row2.reasons


def test_alert_item_privacy_property() -> None:
    assert item(reasons={"privacy": [{"kind": "secret_marker", "excerpt": "秘密★1年"}]}).privacy
    assert not item(reasons={"privacy": "garbage"}).privacy
