"""The watch-query language (classify.query): operators, fields, CJK/Vietnamese matching, errors."""

from __future__ import annotations

import pytest

from classify.query import PreparedDoc, QuerySyntaxError, parse_query

ZH = {
    "title": "儋州法院被指暴力执法 居民堵路讨说法",
    "text": "有居民称，儋州市人民法院执行干警在强制腾退中暴力执法。法院回应称将依法调查。",
    "source": "fazhi-shibao",
    "lang": "zh-CN",
}
VI = {
    "title": "Khiếu nại đông người về cưỡng chế thi hành án ở Văn Lâm",
    "text": "Nhiều hộ dân huyện Văn Lâm, tỉnh Hưng Yên khiếu nại việc cưỡng chế thi hành án dân sự.",
    "source": "bao-hungyen",
    "lang": "vi",
}
EN = {"title": "Court news", "text": "The court announced new measures on enforcement.", "lang": "en"}


def m(query: str, doc: dict[str, str]) -> bool:
    return parse_query(query).matches(doc)


@pytest.mark.parametrize(
    ("query", "doc", "expected"),
    [
        ("暴力执法", ZH, True),
        ("冤案", ZH, False),
        ("儋州法院 AND 暴力执法", ZH, True),
        ("儋州法院 暴力执法", ZH, True),  # juxtaposition is AND
        ("儋州法院 AND 冤案", ZH, False),
        ("冤案 OR 暴力执法", ZH, True),
        ("暴力执法 NOT 演练", ZH, True),
        ("暴力执法 AND NOT 堵路", ZH, False),
        ("暴力执法 -堵路", ZH, False),
        ("(冤案 OR 腐败) AND 儋州", ZH, False),
        ("(冤案 OR 暴力执法) AND (儋州 OR 海口)", ZH, True),
        ("冤案 OR 腐败 OR 暴力执法 AND 海口", ZH, False),  # AND binds tighter than OR
        ("执行", ZH, True),  # CJK: substring (执行干警)
        ("title:堵路", ZH, True),
        ("title:强制腾退", ZH, False),
        ("text:强制腾退", ZH, True),
        ("title:(冤案 OR 暴力执法)", ZH, True),
        ("source:fazhi-shibao", ZH, True),
        ("source:jinri-danzhou", ZH, False),
        ("lang:zh", ZH, True),
        ("lang:vi", ZH, False),
        ('"依法调查"', ZH, True),
        ('"调查 依法"', ZH, False),
    ],
)
def test_boolean_operators_and_fields_on_chinese(query: str, doc: dict[str, str], expected: bool) -> None:
    assert m(query, doc) is expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('"cưỡng chế"', True),
        ('"CƯỠNG CHẾ"', True),  # case folding keeps diacritics
        ('"cuong che"', True),  # unmarked query matches marked text
        ('"cương chê"', False),  # marks typed: only that spelling matches
        ('"chế thi"', True),
        ('"thi án"', False),  # phrase words must be adjacent
        ("dân", True),
        ("dâ", False),  # Latin script: whole words only
        ("khiếu*", True),
        ("khieu*", True),
        ("Hưng AND Yên AND lang:vi", True),
        ('"Văn Lâm" AND source:bao-hungyen', True),
        ('title:"hưng yên"', False),
        ('text:"hưng yên"', True),
    ],
)
def test_vietnamese_word_matching_and_diacritics(query: str, expected: bool) -> None:
    assert m(query, VI) is expected


def test_marked_query_does_not_match_unmarked_text() -> None:
    unmarked = {"text": "khieu nai dong nguoi ve cuong che", "lang": "vi"}
    assert m('"cuong che"', unmarked)
    assert not m('"cưỡng chế"', unmarked)


def test_near_counts_words_in_vietnamese_and_chinese() -> None:
    # cưỡng(7) chế(8) thi hành án ở(12) -> "văn" of "Văn Lâm" is 5 words after "chế" in the text
    assert m('"cưỡng chế" NEAR/6 "Văn Lâm"', {"text": "việc cưỡng chế thi hành án ở Văn Lâm", "lang": "vi"})
    assert not m('"cưỡng chế" NEAR/4 "Văn Lâm"', {"text": "việc cưỡng chế thi hành án ở Văn Lâm", "lang": "vi"})
    # either order
    assert m('"Văn Lâm" NEAR/6 "cưỡng chế"', {"text": "việc cưỡng chế thi hành án ở Văn Lâm"})
    near_zh = {"text": "执行干警在强制腾退中暴力执法"}  # 执行干警/在/强制/腾退/中/暴力执法
    assert m("执行干警 NEAR/5 暴力执法", near_zh)
    assert not m("执行干警 NEAR/4 暴力执法", near_zh)
    # both terms must be in the same field
    assert not m("儋州法院 NEAR/50 强制腾退", {"title": "儋州法院", "text": "强制腾退"})
    # OR groups as operands
    assert m("(冤案 OR 暴力执法) NEAR/3 (法院 OR 干警)", {"text": "干警暴力执法"})


def test_english_and_mixed_chinese_english() -> None:
    assert m("court AND enforcement", EN)
    assert not m("courts", EN)
    assert m("Court*", EN)
    mixed = {"text": "儋州法院在Weibo上发布执行直播", "lang": "zh"}
    assert m("weibo", mixed)
    assert m("weibo AND 执行直播", mixed)
    assert not m("wei", mixed)


def test_full_width_and_lowercase_operators() -> None:
    assert m("ＣＯＵＲＴ", EN)
    # lower-case "and"/"or" are ordinary terms, not operators
    assert not m("court and nothing", EN)
    assert m("court or", {"text": "court or"})


def test_explain_lists_matched_positive_terms_only() -> None:
    q = parse_query("(儋州法院 OR 海口法院) AND (暴力执法 OR 冤案 OR title:堵路) NOT 演练")
    assert q.explain(ZH) == ["儋州法院", "暴力执法", "title:堵路"]
    assert q.explain(VI) == []
    assert q.terms() == ["儋州法院", "海口法院", "暴力执法", "冤案", "title:堵路", "演练"]
    assert parse_query('"cuong che" lang:vi').explain(VI) == ['"cuong che"', "lang:vi"]


def test_prepared_doc_gives_the_same_answers() -> None:
    prepared = PreparedDoc(ZH)
    for query in ("暴力执法", "冤案", "title:堵路 AND lang:zh", "执行干警 NEAR/5 暴力执法"):
        q = parse_query(query)
        assert q.matches(prepared) == q.matches(ZH)


def test_missing_and_empty_fields_are_safe() -> None:
    assert not m("暴力执法", {})
    assert not m("暴力执法", {"title": None, "text": ""})  # type: ignore[dict-item]
    assert m("lang:und", {"text": "x"})
    assert not m("NOT 暴力执法", ZH)
    assert m("NOT 暴力执法", {})


@pytest.mark.parametrize(
    ("query", "position", "fragment"),
    [
        ("", 0, "empty query"),
        ("暴力执法 AND", 8, "term is missing"),
        ("(冤案 OR 腐败", 9, "missing ')'"),
        ("冤案 OR 腐败)", 8, "unmatched ')'"),
        ("冤案 OR OR 腐败", 6, "expected a term before 'OR'"),
        ('"暴力执法', 0, "unterminated phrase"),
        ('""', 0, "empty phrase"),
        ("冤案 NEAR 腐败", 3, "NEAR needs a distance"),
        ("冤案 NEAR/0 腐败", 3, "between 1 and 1000"),
        ("title: 冤案", 6, "after 'title:'"),
        ("冤案 NEAR/3 (腐败 AND 法院)", 10, "NEAR joins terms"),
        ("()", 1, "empty parentheses"),
        ("NOT", 3, "expected a term after 'NOT'"),
        ("ab*c", 2, "'*' is allowed only at the end"),
        ("*", 0, "wildcard needs"),
    ],
)
def test_syntax_errors_name_the_position(query: str, position: int, fragment: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(query)
    assert info.value.position == position
    assert fragment in str(info.value)
    assert f"position {position}" in str(info.value)


def test_vietnamese_tone_placement_conventions_match_each_other() -> None:
    old_style = {"text": "Tổ hoà giải thôn và công trình thuỷ lợi; sức khoẻ người dân", "lang": "vi"}
    new_style = {"text": "Tổ hòa giải thôn và công trình thủy lợi; sức khỏe người dân", "lang": "vi"}
    for query in ('"hòa giải"', '"hoà giải"', "thủy NEAR/2 lợi", "khoẻ", "khỏe"):
        q = parse_query(query)
        assert q.matches(old_style) and q.matches(new_style), query
    # only syllable-final clusters move: "toàn" is written one way
    assert parse_query("toàn").matches({"text": "toàn bộ"})
    assert not parse_query("hòa").matches({"text": "hoàn thành"})


def test_query_set_finds_every_query_that_matches() -> None:
    """One pass over a document (classify.query.QuerySet) must never skip a query that matches: every
    query of the tables above, the taxonomy's rules and some negated / NEAR / lang: ones, on each
    document and on the hand-written set."""
    from classify.datasets import hand_rows
    from classify.query import QuerySet
    from classify.taxonomy import load_taxonomy

    texts = [
        "暴力执法", "冤案 OR 暴力执法", "暴力执法 NOT 演练", "NOT 冤案", "-堵路", "lang:vi", "lang:zh AND 执行",
        "title:(冤案 OR 暴力执法)", "source:fazhi-shibao", '"依法调查"', '"cuong che"', '"cưỡng chế"', "khieu*",
        "dân", "Hưng AND Yên AND lang:vi", "执行 NEAR/3 干警", "cưỡng NEAR/2 chế", '"thi hành án" NOT "hành chính"',
        "(冤案 OR 腐败) AND 儋州", "Court AND enforcement",
    ]
    queries = {f"q{i}": parse_query(t) for i, t in enumerate(texts)}
    for key, topic in load_taxonomy().topics.items():
        if topic.rule is not None:
            queries[key] = topic.rule
    qs = QuerySet(queries)
    docs = [ZH, VI, EN, {"text": "", "lang": ""}] + [{"text": r.text, "lang": r.lang} for r in hand_rows()]
    matched = 0
    for doc in docs:
        prepared = PreparedDoc(doc)
        candidates = set(qs.candidates(prepared))
        for name, query in queries.items():
            if query.matches(prepared):
                matched += 1
                assert name in candidates, (name, doc)
    assert matched > 100
    assert len(qs.candidates(PreparedDoc({"text": "今天天气晴朗", "lang": "zh"}))) < len(queries) / 2
