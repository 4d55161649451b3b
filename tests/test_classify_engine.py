"""The classifier on realistic zh / vi pieces, its reasons, bad input, language, lexicon, tokenizer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from classify.engine import Classifier, ClassifierError, Context, Spread, WatchRule, load_classifier
from classify.lang import detect, resolve
from classify.learned import ModelFileError, TextModel
from classify.lexicon import default_lexicon
from classify.query import parse_query
from classify.tokenize import segment_zh, user_dict_words

NEGATIVE_ZH = {
    "title": "儋州法院被指暴力执法",
    "text": "有居民称，儋州市人民法院执行干警在强制腾退中暴力执法，多人受伤，视频在网上流传，家属表示将上访讨说法。",
    "lang": "zh-CN",
}
POSITIVE_ZH = {
    "title": "执行攻坚成效显著",
    "text": "儋州市人民法院执行局集中开展执行攻坚行动，帮助农民工拿到被拖欠的工资，工人们送来锦旗表示感谢。",
    "lang": "zh",
}
NEGATIVE_VI = {
    "title": "Khiếu nại đông người về cưỡng chế thi hành án ở Văn Lâm",
    "text": "Nhiều hộ dân bức xúc, tụ tập trước trụ sở Chi cục THADS huyện Văn Lâm phản đối việc cưỡng chế.",
    "lang": "vi",
}
NEUTRAL_VI = {
    "text": "Chi cục Thi hành án dân sự huyện Văn Lâm tổ chức hội nghị triển khai nhiệm vụ công tác năm.",
    "lang": "vi",
}


@pytest.fixture(scope="module")
def clf() -> Classifier:
    rules = [
        WatchRule("dz-court", parse_query("儋州法院 OR 儋州市人民法院"), "org"),
        WatchRule("hy-thads", parse_query('"THADS huyện Văn Lâm" OR "thi hành án dân sự huyện Văn Lâm"'), "org"),
    ]
    return load_classifier(watch_rules=rules)


def factor(result, name):  # type: ignore[no-untyped-def]
    return next(f for f in result.reasons["risk"]["factors"] if f["factor"] == name)


def test_negative_chinese_story_is_critical_with_reasons(clf: Classifier) -> None:
    r = clf.classify(NEGATIVE_ZH)
    assert r.lang == "zh"
    assert r.sentiment == "negative" and r.sentiment_score < -0.5
    assert r.risk_level == "critical"
    assert r.mentions_org
    names = [t["name"] for t in r.topics]
    assert "misconduct_allegation" in names and "coercive_enforcement" in names
    assert [t["score"] for t in r.topics] == sorted((t["score"] for t in r.topics), reverse=True)
    terms = [h["term"] for h in factor(r, "sensitive_terms")["detail"]]
    assert "暴力执法" in terms and "上访" in terms
    assert factor(r, "names_organization")["detail"] == ["dz-court"]
    assert sum(f["contribution"] for f in r.reasons["risk"]["factors"]) == pytest.approx(r.risk_score, abs=0.01)
    assert {"暴力执法", "儋州法院"} <= set(r.reasons["matched_terms"])
    out = r.as_output()
    assert out["risk"]["reasons"][0]["contribution"] >= out["risk"]["reasons"][-1]["contribution"]
    assert out["stance"]["label"] == "critical" and out["stance"]["score"] < 0


def test_positive_enforcement_news_is_positive_and_low_risk(clf: Classifier) -> None:
    r = clf.classify(POSITIVE_ZH)
    assert r.sentiment == "positive"
    assert r.risk_level == "low"
    assert r.topics[0]["name"] == "enforcement"
    lexicon_terms = [t["term"] for t in r.reasons["sentiment"]["lexicon"]["terms"]]
    assert "锦旗" in lexicon_terms and "感谢" in lexicon_terms


def test_vietnamese_complaint_and_neutral_report(clf: Classifier) -> None:
    neg, neu = clf.classify_batch([NEGATIVE_VI, NEUTRAL_VI])
    assert neg.lang == "vi" and neg.sentiment == "negative"
    assert neg.risk_level in ("high", "critical")
    assert {"complaints", "coercive_enforcement"} <= {t["name"] for t in neg.topics}
    assert neg.mentions_org
    assert neu.sentiment == "neutral" and neu.risk_level == "low"
    assert [t["name"] for t in neu.topics][:1] == ["thads"]


def test_negation_and_degree_words_change_sentiment(clf: Classifier) -> None:
    pos = clf.classify({"text": "申请人对执行法官的工作非常满意。", "lang": "zh"})
    neg = clf.classify({"text": "申请人对执行法官的工作很不满意。", "lang": "zh"})
    assert pos.sentiment == "positive" and neg.sentiment == "negative"
    vi_pos = clf.classify({"text": "Việc cưỡng chế diễn ra minh bạch, đúng pháp luật.", "lang": "vi"})
    vi_neg = clf.classify({"text": "Việc bán đấu giá không minh bạch, người dân rất bất bình.", "lang": "vi"})
    assert vi_pos.sentiment_score > vi_neg.sentiment_score
    assert vi_neg.sentiment == "negative"


def test_context_raises_risk_through_reach_and_spread(clf: Classifier) -> None:
    doc = {"text": "当事人反映案件执行进展缓慢，已多次到法院信访。", "lang": "zh"}
    now = datetime.now(UTC)
    quiet = clf.classify(doc, Context(outlet_tier="county", outlet_reach=0.5))
    viral = clf.classify(
        doc,
        Context(
            outlet_tier="central",
            outlet_reach=1.0,
            spread=Spread(article_count=12, outlet_count=6, first_seen_at=now - timedelta(hours=3)),
            now=now,
        ),
    )
    assert viral.risk_score > quiet.risk_score
    gate = max(factor(viral, "negative_sentiment")["value"], factor(viral, "sensitive_terms")["value"])
    assert 0 < gate < 1
    # amplifiers are scaled by how negative / sensitive the piece is
    assert factor(viral, "spread_velocity")["value"] == pytest.approx(gate, abs=0.002)
    assert "6 outlets" in factor(viral, "spread_velocity")["detail"]
    assert factor(viral, "source_reach")["value"] == pytest.approx(gate, abs=0.002)
    assert factor(quiet, "source_reach")["value"] == pytest.approx(gate * 0.2, abs=0.002)
    # on good news the amplifiers add nothing
    good = clf.classify(
        POSITIVE_ZH,
        Context(outlet_tier="central", outlet_reach=1.0, spread=Spread(12, 6, now - timedelta(hours=3)), now=now),
    )
    assert good.risk_level == "low"
    assert factor(good, "names_organization")["contribution"] == 0.0


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ({"text": ""}, "no letters"),
        ({"text": "   \n\t "}, "no letters"),
        ({"text": "😀🎉👍🔥"}, "no letters"),
        ({"text": "Суд объявил о новых мерах по исполнению решений."}, "not supported"),
        ({"text": "La cour a annoncé de nouvelles mesures aujourd'hui pour les jugements."}, "not supported"),
        ({"text": "東京地方裁判所は本日、判決を言い渡しました。"}, "Japanese"),
        ({"text": "Court announces new enforcement measures for unpaid wages."}, "py3langid"),
        ({"text": "x", "lang": "fr"}, "not supported"),
        ({}, "no letters"),
        ({"text": None, "title": 5}, "no letters"),
    ],
)
def test_bad_input_gets_a_defined_result(clf: Classifier, doc: dict, why: str) -> None:
    r = clf.classify(doc)
    assert r.lang in ("und", "en")
    assert r.sentiment == "neutral" and r.sentiment_score == 0.0
    assert r.risk_level == "low" and r.risk_score == 0.0
    assert r.topics == []
    assert why in r.reasons["lang"]["why"]
    assert any("not scored" in n for n in r.reasons["notes"])
    assert r.as_output()["risk"]["reasons"]


def test_huge_and_mixed_texts(clf: Classifier) -> None:
    big = ("儋州市人民法院执行局依法开展执行工作，" * 60000)[:1_000_000]
    r = clf.classify({"text": big, "lang": "zh"})
    assert r.lang == "zh" and r.risk_level in ("low", "medium")
    assert any("first 20000" in n for n in r.reasons["notes"])
    mixed = clf.classify({"text": "儋州法院在Weibo上开展执行直播，live streaming 吸引20万网友观看并点赞。"})
    assert mixed.lang == "zh"
    assert "live_enforcement" in [t["name"] for t in mixed.topics]
    emoji_mixed = clf.classify({"text": "😡😡 暴力执法！！", "lang": "zh"})
    assert emoji_mixed.sentiment == "negative"


def test_language_resolution() -> None:
    assert resolve("zh-CN", "执行")[0] == "zh"
    assert resolve("vi-VN", "thi hành án")[0] == "vi"
    assert resolve("zh", "Khiếu nại đông người về cưỡng chế")[0] == "vi"  # mislabelled: the text decides
    assert resolve(None, "khieu nai dong nguoi ve viec cuong che thi hanh an")[0] == "vi"
    assert detect("儋州法院")[0] == "zh"
    assert detect("12345 !!!")[0] == "und"


def test_user_dictionary_keeps_domain_terms_whole() -> None:
    words = segment_zh("该失信被执行人涉嫌拒执罪，属于执行不能案件；扫黑除恶打掉保护伞，落实三同步，老赖被司法拘留。")
    for term in ("失信被执行人", "拒执罪", "执行不能", "扫黑除恶", "保护伞", "三同步", "老赖", "司法拘留"):
        assert term in words
    assert len(user_dict_words()) >= 60


def test_lexicon_negation_does_not_fire_on_degree_words() -> None:
    zh = default_lexicon().get("zh")
    assert zh is not None
    (hit,) = zh.sentiment_hits("群众非常满意")
    assert hit.value > 0 and hit.degree == 1.5
    (hit,) = zh.sentiment_hits("群众并不满意")[-1:]
    assert hit.value < 0


def test_missing_and_corrupt_model_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"not found: .*nope\.npz"):
        TextModel.load(tmp_path / "nope.npz")
    bad = tmp_path / "sentiment.npz"
    bad.write_bytes(b"PK\x03\x04 this is not a model")
    with pytest.raises(ModelFileError, match=str(bad)):
        TextModel.load(bad)
    with pytest.raises(ClassifierError, match=r"sentiment\.npz"):
        load_classifier(tmp_path)
    # a valid file of another task under the wrong name
    from classify.engine import BUNDLED_MODELS

    (tmp_path / "sentiment.npz").write_bytes((BUNDLED_MODELS / "risk.npz").read_bytes())
    with pytest.raises(ClassifierError, match="holds task 'risk', expected 'sentiment'"):
        load_classifier(tmp_path)


def test_shipped_models_are_small_and_record_their_training_data() -> None:
    from classify.engine import BUNDLED_MODELS, TASK_FILES

    total = 0
    for task, name in TASK_FILES.items():
        path = BUNDLED_MODELS / name
        total += path.stat().st_size
        model = TextModel.load(path, task)
        assert len(model.meta["data_sha256"]) == 64
        assert model.meta["trained_on"] and model.meta["train_rows"] > 100
    assert total < 20 * 1024 * 1024


def test_shared_feature_hashing_matches_each_model_alone(clf: Classifier) -> None:
    """The classifier hashes each feature group once for all models; the result must equal each
    model scoring the document on its own (as in training)."""
    docs = [NEGATIVE_ZH, POSITIVE_ZH, NEGATIVE_VI, NEUTRAL_VI]
    prepared = [{"scored": f"{d.get('title', '')}\n{d['text']}" if d.get("title") else d["text"],
                 "lang": d["lang"][:2]} for d in docs]
    shared = clf._model_probs(prepared)
    for task, model in clf.models.items():
        alone = model.predict_proba([p["scored"] for p in prepared], [p["lang"] for p in prepared])
        assert abs(shared[task] - alone).max() < 1e-9, task
