"""A user's own model (``presswatch train --task T --data FILE``) predicts what it was trained on;
the trainer picks multinomial or one-vs-rest from the data's shape and C on the training rows; the
features hash the same way everywhere; stance toward the office drives risk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classify.engine import Classifier, Context, WatchRule, load_classifier
from classify.learned import C_GRID, Example, FeatureConfig, doc_features, fold, hash_counts
from classify.query import parse_query
from classify.training import fit_user_task

# Headline-like rows, one topic each (as in a news-topic set); the "courts" rows name 失信被执行人,
# which a built-in taxonomy rule (defaulter_blacklist) would also find.
TOPIC_ROWS = {
    "sports": [
        "男篮世界杯中国队击败对手晋级", "女排联赛决赛今晚打响", "马拉松比赛吸引三万名跑者参赛",
        "足球联赛第十轮战罢，主队客场取胜", "乒乓球公开赛国手包揽冠军", "游泳世锦赛我国选手打破纪录",
        "冬奥会滑雪项目测试赛举行", "网球名将宣布退役",
    ],
    "economy": [
        "央行下调存款准备金率", "前三季度国内生产总值同比增长", "股市三大指数集体收涨",
        "外贸进出口总额创历史新高", "物价指数保持温和上涨", "房地产投资增速放缓",
        "新能源汽车销量大幅增长", "制造业采购经理指数回升",
    ],
    "courts": [
        "法院曝光一批失信被执行人名单", "失信被执行人被限制乘坐高铁", "法院集中清理涉企执行案件",
        "老赖转移财产被判拒执罪", "执行干警凌晨拘传被执行人", "法院发布执行悬赏公告",
        "失信被执行人主动履行义务后被移出名单", "法院网络司法拍卖成交额上升",
    ],
}


def topic_examples() -> list[Example]:
    return [Example(t, "zh", (label,)) for label, texts in TOPIC_ROWS.items() for t in texts]


def user_classifier(tmp_path: Path, *models) -> Classifier:  # type: ignore[no-untyped-def]
    for model in models:
        model.save(tmp_path)
    return load_classifier(tmp_path)


def test_single_label_topics_give_exactly_one_topic_not_mixed_with_the_taxonomy(tmp_path: Path) -> None:
    model = fit_user_task("topic", topic_examples())
    assert not model.multilabel and model.meta["label_mode"] == "single-label, multinomial"
    clf = user_classifier(tmp_path, model)
    docs = [
        {"text": "法院公布新一批失信被执行人名单", "lang": "zh"},
        {"text": "国家队在世界杯预选赛中取胜", "lang": "zh"},
        {"text": "今天天气晴朗", "lang": "zh"},  # like nothing trained: still exactly one topic
    ]
    results = clf.classify_batch(docs)
    probs = model.predict_proba([d["text"] for d in docs], ["zh"] * 3)
    for result, p in zip(results, probs, strict=True):
        assert len(result.topics) == 1
        assert result.topics[0]["name"] == model.classes[int(p.argmax())]
        assert result.topics[0]["score"] == pytest.approx(p.max(), abs=1e-3)
    assert [r.topics[0]["name"] for r in results[:2]] == ["courts", "sports"]
    # the built-in rule for 失信被执行人 is not added unless asked for
    assert all(t["name"] in TOPIC_ROWS for r in results for t in r.topics)

    model.meta["with_rules"] = True
    mixed = user_classifier(tmp_path / "rules", model).classify_batch(docs[:1])[0]
    assert mixed.topics[0]["name"] == "courts" and "defaulter_blacklist" in [t["name"] for t in mixed.topics]


def test_rows_with_several_labels_train_one_vs_rest(tmp_path: Path) -> None:
    rows = topic_examples()
    rows[0] = Example(rows[0].text, "zh", ("sports", "economy"))
    model = fit_user_task("topic", rows)
    assert model.multilabel and model.meta["label_mode"] == "multi-label, one-vs-rest"
    result = user_classifier(tmp_path, model).classify({"text": "今天天气晴朗", "lang": "zh"})
    assert all(t["score"] >= 0.5 for t in result.topics)  # thresholds only for multi-label data


def test_user_sentiment_model_predicts_its_own_classes(tmp_path: Path) -> None:
    """Labels that contradict the built-in lexicon (失望 is negative there) are what the user's model
    answers: it is not blended with the lexicon or its neutral band."""
    rows = []
    for i in range(8):
        rows.append(Example(f"快递第{i}天送到，包装里有螺丝刀，非常失望", "zh", "positive"))
        rows.append(Example(f"第{i}次收到的蓝莓很新鲜，非常满意", "zh", "negative"))
        rows.append(Example(f"订单{i}号已发货，请注意查收", "zh", "neutral"))
    model = fit_user_task("sentiment", rows)
    clf = user_classifier(tmp_path, model)
    docs = [{"text": "这次的螺丝刀让人非常失望", "lang": "zh"}, {"text": "蓝莓非常满意", "lang": "zh"}]
    results = clf.classify_batch(docs)
    for result in results:
        p = result.reasons["sentiment"]["model"]
        assert result.sentiment == max(p, key=lambda k: p[k])
    assert [r.sentiment for r in results] == ["positive", "negative"]


def test_c_is_chosen_by_cross_validation_on_the_training_rows() -> None:
    model = fit_user_task("topic", topic_examples())
    scores = model.meta["c_by_cv"]
    assert set(scores) == {f"{c:g}" for c in C_GRID}
    best = max(scores, key=lambda k: scores[k])
    assert model.meta["regularization_C"] == float(best)


def test_features_fold_from_a_wide_space_into_a_narrow_one() -> None:
    """Counts hashed for a 2**20-slot model fold exactly into a 2**16-slot one (the classifier hashes
    once for models of different widths)."""
    config = FeatureConfig(n_features=2**20, char_ngrams=(1, 3), vi_char_ngrams=(1, 3))
    feats = [doc_features(t, lang, config) for t, lang in (("法院曝光失信被执行人", "zh"), ("Cưỡng chế thi hành án", "vi"))]
    wide, narrow = hash_counts(feats, 2**20), hash_counts(feats, 2**16)
    assert (fold(wide, 2**16) != narrow).nnz == 0
    assert narrow.sum() == sum(len(f) for f in feats)


# ------------------------------------------------------------------ stance toward the office

EXPOSURE = {
    "title": "儋州法院曝光第三批失信被执行人名单",
    "text": "为进一步加大失信惩戒力度，儋州市人民法院日前在户外大屏、官方网站和微信公众号曝光第三批失信被执行人名单，"
    "共涉及自然人52名、企业8家。被曝光的失信被执行人将在乘坐飞机高铁、高消费、贷款等方面受到限制。",
    "lang": "zh",
}
REBUTTAL = {
    "title": "关于网传我院执行干警“暴力执法”的情况通报",
    "text": "近日，网络上出现反映我院执行干警在那大镇强制腾房时“暴力执法”的视频。我院高度重视，立即成立核查组调取"
    "全程执法记录仪视频并走访现场群众。经初步核查，该案已于三个月前公告限期腾房，被执行人逾期未履行。"
    "执行现场部分人员情绪激动，发生拉扯。如发现违规违纪问题将依法依规严肃处理。",
    "lang": "zh",
}
ALLEGATION = {
    "title": "那大镇居民称儋州法院执行干警强制腾房时暴力执法",
    "text": "那大镇居民称法院执行干警暴力执法，老人倒地受伤！视频里场面太混乱了，执法能这样吗？@儋州市人民法院 请给个说法。",
    "lang": "zh",
}
COMPLAINT_VI = {
    "title": "Khiếu nại đông người về vụ cưỡng chế thi hành án ở Văn Lâm",
    "text": "Nhiều hộ dân bức xúc, tụ tập trước trụ sở Chi cục THADS huyện Văn Lâm phản đối việc cưỡng chế, cho rằng thiếu minh bạch.",
    "lang": "vi",
}


@pytest.fixture(scope="module")
def office() -> Classifier:
    rules = [
        WatchRule("dz-court", parse_query("儋州法院 OR 儋州市人民法院"), "org"),
        WatchRule("hy-thads", parse_query('"THADS huyện Văn Lâm" OR "thi hành án dân sự huyện Văn Lâm"'), "org"),
    ]
    return load_classifier(watch_rules=rules)


def test_the_office_exposing_defaulters_is_not_negative_coverage(office: Classifier) -> None:
    result = office.classify(EXPOSURE, Context(outlet_tier="prefecture", outlet_reach=0.6))
    assert result.reasons["stance"]["label"] == "supportive"
    assert result.sentiment != "negative" and result.risk_level == "low"


def test_the_offices_own_rebuttal_is_neither_negative_nor_high_risk(office: Classifier) -> None:
    result = office.classify(REBUTTAL, Context(outlet_tier="own_channel", outlet_reach=0.3))
    assert result.reasons["stance"]["label"] == "supportive"
    assert result.sentiment != "negative" and result.risk_level in ("low", "medium")
    quoted = [t for t in result.reasons["stance"]["terms"] if t["term"] == "暴力执法"]
    assert quoted and quoted[0].get("quoted")
    # carried by another outlet, the answer to an allegation is still not an allegation
    elsewhere = office.classify(REBUTTAL, Context(outlet_tier="prefecture", outlet_reach=0.3))
    assert elsewhere.reasons["stance"]["label"] != "critical" and elsewhere.risk_level != "critical"


def test_allegations_and_complaints_stay_critical(office: Classifier) -> None:
    for doc in (ALLEGATION, COMPLAINT_VI):
        result = office.classify(doc, Context(outlet_tier="prefecture", outlet_reach=0.6))
        assert result.reasons["stance"]["label"] == "critical"
        assert result.sentiment == "negative" and result.risk_level in ("high", "critical")
        assert result.reasons["risk"]["stance"]["label"] == "critical"


def test_an_allegation_the_office_denies_with_negation_is_not_critical(office: Classifier) -> None:
    plain = office.classify({"text": "执行干警殴打当事人", "lang": "zh"})
    denied = office.classify({"text": "经核查，执行干警并未殴打当事人", "lang": "zh"})
    assert plain.reasons["stance"]["label"] == "critical"
    assert denied.reasons["stance"]["score"] > plain.reasons["stance"]["score"]
    assert denied.reasons["stance"]["label"] != "critical"


def test_stance_scores_are_bounded(office: Classifier) -> None:
    texts = ["曝光 " * 50, "暴力执法 " * 50, ""]
    for result in office.classify_batch([{"text": t, "lang": "zh"} for t in texts]):
        stance = result.reasons.get("stance", {"score": 0.0})
        assert -1.0 <= stance["score"] <= 1.0
    assert np.isfinite([r.risk_score for r in office.classify_batch([{"text": t, "lang": "zh"} for t in texts])]).all()


def test_paired_bootstrap_interval_brackets_the_gap() -> None:
    from classify.baseline import paired_bootstrap

    gold = ["a", "b", "c"] * 40
    ours = list(gold)
    base = ["a"] * len(gold)  # a baseline that always says "a"
    better = paired_bootstrap(gold, ours, base)
    assert better.ours == 1.0 and better.low > 0 and better.verdict() == "above the baseline"
    same = paired_bootstrap(gold, ours, ours)
    assert same.diff == 0 and same.low == same.high == 0
    worse = paired_bootstrap(gold, base, ours)
    assert worse.high < 0 and worse.verdict() == "BELOW the baseline"
