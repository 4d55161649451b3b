"""Repost clustering: reposts with other headers, footers, edits and truncations join one story;
different stories on the same event stay apart. Thresholds are checked against the fixture texts."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import opencc
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Article, Story
from pipeline import dedupe, fingerprint, normalize
from pipeline.ingest import process_item
from pipeline.stories import list_stories, story_spread
from presswatch.items import RawItem
from settings import load_settings
from tests import factories

STORIES = Path(__file__).parent / "fixtures" / "pipeline" / "stories"
NOW = datetime(2024, 11, 18, 12, 0, tzinfo=UTC)


def _load() -> dict[str, tuple[str, str]]:
    out = {}
    for path in sorted(STORIES.glob("*.txt")):
        title, _, body = path.read_text(encoding="utf-8").partition("\n")
        out[path.stem] = (title, body)
    title, body = out["zh_a_original"]
    s2t = opencc.OpenCC("s2t")
    out["zh_e_traditional"] = (s2t.convert(title), s2t.convert(body))  # a Hong Kong / Taiwan repost
    return out


def _is_same_story(a: str, b: str) -> bool:
    # Files are named <lang>_<letter>_...: letters a-e are the story and its reposts, x-z other stories.
    return a[:2] == b[:2] and a[3] in "abcde" and b[3] in "abcde"


def test_calibration_gap() -> None:
    """The documented calibration: reposts >= J 0.36 / C 0.67, other stories <= J 0.03 / C 0.08."""
    texts = _load()
    fps = {name: fingerprint.fingerprint(normalize.match_form(normalize.clean_text(body)), name[:2])
           for name, (_title, body) in texts.items()}
    same, different = [], []
    for a, b in itertools.combinations(sorted(fps), 2):
        if a[:2] != b[:2]:
            continue
        ok, j, c = dedupe.is_near_duplicate(fps[a], fps[b])
        (same if _is_same_story(a, b) else different).append((a, b, ok, j, c))
    assert len(same) == 13 and len(different) == 21
    assert all(ok for *_, ok, _j, _c in same), [s for s in same if not s[2]]
    assert not any(ok for *_, ok, _j, _c in different), [d for d in different if d[2]]
    assert min(j for *_, j, _c in same) >= 0.3
    assert max(j for *_, j, _c in different) <= 0.1 < dedupe.NEAR_DUP_JACCARD
    assert max(c for *_, c in different) <= 0.2 < dedupe.NEAR_DUP_CONTAINMENT


def test_traditional_repost_has_the_same_content_hash() -> None:
    texts = _load()
    simp = normalize.match_form(texts["zh_a_original"][1])
    trad = normalize.match_form(texts["zh_e_traditional"][1])
    assert normalize.has_traditional(texts["zh_e_traditional"][1])
    assert fingerprint.content_hash(simp) == fingerprint.content_hash(trad)



def test_fingerprint_words_are_jiebas_precise_mode_without_hmm() -> None:
    """Fingerprints are stored: the fast segmenter must cut exactly as jieba.lcut(HMM=False) did."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    samples = [normalize.match_form(part) for name, (title, body) in _load().items()
               if name.startswith("zh") for part in (title, *body.split("\n")) if part.strip()]
    samples += ["2008-06-04发布 COVID-19疫情 3.5万元 50%的人 C++语言 A&B公司 email@x.com", "㐀㐁中文 鿖鿿汉字 𠀀😀"]
    assert len(samples) > 30
    for text in samples:
        expected = [w for w in jieba.lcut(text, HMM=False) if fingerprint._WORD.search(w)]
        assert fingerprint.tokens(text, "zh") == expected, text

OUTLETS = {
    "zh_a_original": ("jinri-danzhou", 0), "zh_b_repost_headers": ("fazhi-shibao", 2),
    "zh_c_repost_edited": ("weibo-danzhou", 3), "zh_d_repost_truncated": ("portal-a", 3),
    "zh_e_traditional": ("hk-portal", 5), "zh_x_official_statement": ("danzhou-court", 6),
    "zh_y_commentary": ("fazhi-shibao", 7), "zh_z_other_enforcement": ("danzhou-court", 1),
    "vi_a_original": ("bao-hungyen", 0), "vi_b_repost_headers": ("baophapluat", 4),
    "vi_d_repost_truncated": ("vi-portal", 6), "vi_x_official_statement": ("hy-thads", 8),
}


def test_reposts_join_one_story_with_spread(session: Session, tmp_path: Path) -> None:
    settings = load_settings(environ={}, overrides={"pipeline.snapshot_dir": str(tmp_path)}).settings
    texts = _load()
    for key in {o for o, _ in OUTLETS.values()}:
        factories.outlet(session, key=key, name=key)
    results = {}
    # Crawled in an order where a repost arrives before the original: the original still becomes
    # the first publisher (by publication time).
    order = ["zh_b_repost_headers"] + [n for n in OUTLETS if n != "zh_b_repost_headers"]
    for name in order:
        outlet, hours = OUTLETS[name]
        title, body = texts[name]
        published = (NOW + timedelta(hours=hours)).isoformat()
        item = RawItem(url=f"https://{outlet}.example.cn/{name}.html", source_key=outlet,
                       fetched_at=NOW + timedelta(hours=9), title=title, text=body, published=published)
        results[name] = process_item(session, item, settings, now=NOW + timedelta(hours=9))
        assert results[name].outcome == "stored", (name, results[name].reason)

    zh_story = results["zh_a_original"].story_id
    for name in ("zh_b_repost_headers", "zh_c_repost_edited", "zh_d_repost_truncated", "zh_e_traditional"):
        assert results[name].story_id == zh_story, name
    others = {results[n].story_id for n in ("zh_x_official_statement", "zh_y_commentary", "zh_z_other_enforcement")}
    assert zh_story not in others and len(others) == 3
    vi_story = results["vi_a_original"].story_id
    assert results["vi_b_repost_headers"].story_id == vi_story
    assert results["vi_d_repost_truncated"].story_id == vi_story
    assert results["vi_x_official_statement"].story_id not in (vi_story, zh_story)

    story = session.get(Story, zh_story, populate_existing=True)
    assert story is not None
    assert story.article_count == 5 and story.outlet_count == 5
    assert story.first_article_id == results["zh_a_original"].article_id
    assert story.first_seen_at == NOW and story.last_seen_at == NOW + timedelta(hours=5)

    spread = story_spread(session, zh_story)
    assert spread is not None
    assert spread.first_outlet == "jinri-danzhou" and spread.reposts == 4
    assert [n for _, n in spread.per_hour] == [1, 0, 1, 2, 0, 1]
    assert spread.peak_per_hour == 2
    assert spread.reposts_in_last(3, now=NOW + timedelta(hours=6)) == 3  # hours 3-5: 2 + 0 + 1
    assert set(spread.outlets) == {"jinri-danzhou", "fazhi-shibao", "weibo-danzhou", "portal-a", "hk-portal"}

    listed = list_stories(session, since=NOW - timedelta(days=1), min_articles=2)
    assert [s.story_id for s in listed][:2] == [zh_story, vi_story]
    near = session.scalars(select(Article.flags).where(Article.story_id == zh_story)).all()
    assert sum(1 for flags in near if "near_repost" in flags or "exact_repost" in flags) == 4


def test_lookup_uses_the_stored_bands_only(session: Session, tmp_path: Path) -> None:
    """A fresh lookup (as after a restart) finds the repost through the band table, not process memory."""
    settings = load_settings(environ={}, overrides={"pipeline.snapshot_dir": str(tmp_path)}).settings
    title, body = _load()["zh_a_original"]
    first = process_item(session, RawItem(url="https://a.example.cn/1.html", source_key="a", fetched_at=NOW,
                                          title=title, text=body), settings, now=NOW)
    session.expunge_all()
    fp = fingerprint.fingerprint(normalize.match_form(_load()["zh_d_repost_truncated"][1]), "zh")
    match = dedupe.find_near_duplicate(session, fp)
    assert match is not None and match.article_id == first.article_id and match.story_id == first.story_id
    unrelated = fingerprint.fingerprint(normalize.match_form(_load()["zh_z_other_enforcement"][1]), "zh")
    assert dedupe.find_near_duplicate(session, unrelated) is None


@pytest.mark.parametrize("rows", [fingerprint.ROWS])
def test_band_keys_are_stable_across_processes(rows: int) -> None:
    """Band keys must not depend on Python's per-process hash salt (they are stored)."""
    import subprocess
    import sys

    from tests.conftest import subprocess_env

    code = ("from pipeline import fingerprint as f; "
            "print(f.fingerprint('儋州法院开展集中执行行动 拘留拒不履行被执行人三名', 'zh').band_keys()[:3])")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env=subprocess_env(PYTHONHASHSEED=str(seed))).stdout for seed in (1, 2)}
    assert len(outs) == 1 and rows == 2


def test_short_posts_join_the_story_whose_headline_they_carry(session: Session, tmp_path: Path) -> None:
    settings = load_settings(environ={}, overrides={"pipeline.snapshot_dir": str(tmp_path)}).settings
    title, body = _load()["zh_a_original"]
    other_title, other_body = _load()["zh_z_other_enforcement"]
    story = process_item(session, RawItem(url="https://jr.example.cn/1.html", source_key="jr", fetched_at=NOW,
                                          title=title, text=body, published=NOW.isoformat()), settings, now=NOW)
    other = process_item(session, RawItem(url="https://dc.example.cn/2.html", source_key="dc", fetched_at=NOW,
                                          title=other_title, text=other_body, published=NOW.isoformat()),
                         settings, now=NOW)
    posts = {
        "quote": "转发 今日儋州：那大镇居民称法院强制腾房现场发生冲突 一老人倒地受伤。法院回应正在核查。",
        "paraphrase": ("【转发】#儋州强制腾房# 那大镇居民称法院强制腾房发生冲突，一老人倒地受伤！"
                       "@儋州市人民法院 请给个说法。"),
        "unrelated": "儋州法院今天召开党组会议，传达学习全省法院院长会议精神，部署年底各项工作。",
    }
    results = {
        name: process_item(session, RawItem(url=f"https://weibo.example.cn/{name}", source_key="weibo",
                                            fetched_at=NOW + timedelta(hours=1), text=text), settings,
                           now=NOW + timedelta(hours=1))
        for name, text in posts.items()
    }
    assert results["quote"].story_id == story.story_id and "headline_repost" in results["quote"].flags
    assert results["paraphrase"].story_id == story.story_id
    assert results["unrelated"].story_id not in (story.story_id, other.story_id)
    assert results["unrelated"].is_new_story


def test_posts_crawled_before_the_article_are_absorbed_into_its_story(session: Session, tmp_path: Path) -> None:
    settings = load_settings(environ={}, overrides={"pipeline.snapshot_dir": str(tmp_path)}).settings
    title, body = _load()["zh_a_original"]
    early = process_item(session, RawItem(
        url="https://weibo.example.cn/early", source_key="weibo", fetched_at=NOW,
        text="转发 今日儋州：那大镇居民称法院强制腾房现场发生冲突 一老人倒地受伤。#儋州强制腾房#",
        published=(NOW - timedelta(minutes=30)).isoformat()), settings, now=NOW)
    assert early.is_new_story
    article = process_item(session, RawItem(url="https://jr.example.cn/1.html", source_key="jr",
                                            fetched_at=NOW + timedelta(hours=1), title=title, text=body,
                                            published=(NOW - timedelta(hours=1)).isoformat()),
                           settings, now=NOW + timedelta(hours=1))
    post = session.get(Article, early.article_id, populate_existing=True)
    assert post is not None and post.story_id == article.story_id
    assert session.get(Story, early.story_id, populate_existing=True) is None
    story = session.get(Story, article.story_id, populate_existing=True)
    assert story is not None and story.article_count == 2
    assert story.first_article_id == article.article_id  # published an hour before the post


def test_absorb_lookup_reads_the_short_post_index(session: Session) -> None:
    """The absorb step must not measure every recent article's text (it did: the cost grew with
    the number stored); its query starts from the partial index of short posts."""
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("the plan is checked on SQLite (PostgreSQL plans by table statistics)")
    sql = dedupe._absorb_candidates().compile(session.get_bind())
    params = {"story_id": 1, "lang": "zh", "lo": NOW, "hi": NOW}
    plan = session.connection().exec_driver_sql(
        f"EXPLAIN QUERY PLAN {sql}", tuple(sql.construct_params(params)[k] for k in sql.positiontup or ())
    ).all()
    assert any("ix_articles_short_post_published_at" in str(row) for row in plan), plan
