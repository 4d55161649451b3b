"""The story join rule on short social posts (issue 20): no chaining through members, campaign text
is no evidence, a short original inside a long repost joins, a piece that two stories both carry
merges them (recorded, undoable), and an analyst's merge or split holds when new reposts arrive.

The posts are written for these tests in the style of the labelled set in ``bench/data/reposts``
(invented courts, names and amounts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from models import Article, Story, StoryDecision
from pipeline import dedupe, normalize
from pipeline.ingest import ProcessResult, process_item
from pipeline.stories import (
    StoryDecisionError,
    list_stories,
    merge_stories,
    split_story,
    story_members,
    undo_decision,
)
from presswatch.items import RawItem
from settings import Settings, load_settings

NOW = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)

# Three sentences of one event; A is the first two, C the last two, B all three.
S1 = "琼中县人民法院执行干警今天凌晨在木棠镇找到躲避执行三年的被执行人符某，依法对其司法拘留十五日。"
S2 = "符某拖欠十二名农民工工资共计四十六万元，法院多次传唤均拒不到庭，还将名下车辆过户给亲属。"
S3 = "执行法官表示，下一步将依法追究符某拒不执行判决罪的刑事责任，并为农民工申请司法救助。"

# A short original, and long reposts that carry it inside their own commentary.
ORIGINAL = "【欠薪农民工拿到工资过年了】琼海法院开通农民工欠薪案件绿色通道，三天内执结二十八件，执行到位工资款四十六万元。"
# The same notice without its 【headline】 (which a repost carrying it would join by alone).
NOTICE = "琼海法院开通农民工欠薪案件绿色通道，三天内执结二十八件，执行到位工资款四十六万元，农民工们拿着工资回家过年。"
COMMENT_1 = ("说实话看到这种新闻心里挺暖的，我爸以前在工地干活也被拖欠过工资，那时候到处找人都没用，"
             "跑了半年劳动部门才拿回来一半，希望以后这样的绿色通道能在全国推广开来，别让干活的人寒心。")
COMMENT_2 = ("年底了各地都在清欠，但是真正落实到位的有多少呢？很多包工头一跑了之，农民工手里连个合同都没有，"
             "打官司成本太高，建议大家平时就保留好考勤记录和转账截图，真到了法院也有证据可以拿出来。")


def _settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, overrides={"pipeline.snapshot_dir": str(tmp_path)}).settings


def _post(session: Session, tmp_path: Path, name: str, text: str, minutes: int = 0) -> ProcessResult:
    at = NOW + timedelta(minutes=minutes)
    item = RawItem(url=f"https://{name}.weibo.example.cn/status", source_key="weibo", fetched_at=at, text=text,
                   published=at.isoformat())
    result = process_item(session, item, _settings(tmp_path), now=at + timedelta(minutes=1))
    assert result.outcome == "stored", (name, result.reason)
    return result


def _grams(text: str) -> frozenset[int]:
    return dedupe.StoryPiece("\n" + normalize.match_form(text), "zh", None).grams


def test_a_story_does_not_chain_through_its_members(session: Session, tmp_path: Path) -> None:
    """A~B and B~C but A!~C: C starts a story of its own; a later piece that verifies against A
    itself joins A's story."""
    a, b, c = S1 + S2, S1 + S2 + S3, S2 + S3
    assert dedupe.verify_grams(_grams(b), _grams(a)).ok and dedupe.verify_grams(_grams(c), _grams(b)).ok
    assert not dedupe.verify_grams(_grams(c), _grams(a)).ok
    first = _post(session, tmp_path, "a", a)
    second = _post(session, tmp_path, "b", b, minutes=10)
    third = _post(session, tmp_path, "c", c, minutes=20)
    assert second.story_id == first.story_id
    assert third.is_new_story and third.story_id != first.story_id
    # "unless A and C verify": a repost of A with a comment joins A's story.
    fourth = _post(session, tmp_path, "d", "转发微博 " + a + "[赞]", minutes=30)
    assert fourth.story_id == first.story_id and "near_repost" in fourth.flags


def test_shared_campaign_hashtag_and_slogan_do_not_join_different_stories(session: Session, tmp_path: Path) -> None:
    slogan = "#武汉加油# 众志成城，共克时艰！"
    donation = _post(session, tmp_path, "don", slogan + "我院向武汉捐赠口罩一万只、防护服五百套，已于今日发出。")
    filing = _post(session, tmp_path, "fil", slogan + "疫情期间我院暂停现场立案，当事人可通过网上立案办理。", minutes=5)
    volunteers = _post(session, tmp_path, "vol", "#武汉加油# 众志成城 共克时艰 法官志愿者下沉社区，协助测体温、送物资。",
                       minutes=8)
    repost = _post(session, tmp_path, "rep", "支持！//@南海之声:" + slogan + "我院向武汉捐赠口罩一万只、防护服五百套，已于今日发出。",
                   minutes=9)
    assert len({donation.story_id, filing.story_id, volunteers.story_id}) == 3
    assert repost.story_id == donation.story_id


def test_a_short_original_inside_a_long_repost_joins_its_story(session: Session, tmp_path: Path) -> None:
    original = _post(session, tmp_path, "orig", ORIGINAL)
    repost = _post(session, tmp_path, "long", COMMENT_1 + COMMENT_2 + " //@琼海法院:" + ORIGINAL, minutes=30)
    assert repost.story_id == original.story_id
    unrelated = _post(session, tmp_path, "other", COMMENT_1 + COMMENT_2, minutes=31)
    assert unrelated.story_id != original.story_id


def test_a_piece_two_stories_carry_merges_them_and_the_merge_can_be_undone(session: Session, tmp_path: Path) -> None:
    first = _post(session, tmp_path, "r1", COMMENT_1 + NOTICE, minutes=20)
    second = _post(session, tmp_path, "r2", COMMENT_2 + NOTICE, minutes=25)
    assert second.story_id != first.story_id  # the commentaries differ more than the original is long
    bridge = _post(session, tmp_path, "orig", NOTICE, minutes=0)  # the original, crawled last
    assert bridge.story_id == first.story_id
    merged = session.get(Story, second.story_id, populate_existing=True)
    assert merged is not None and merged.merged_into_id == first.story_id
    story = session.get(Story, first.story_id, populate_existing=True)
    assert story is not None and story.article_count == 3 and story.first_article_id == bridge.article_id
    (decision,) = session.scalars(select(StoryDecision)).all()
    assert (decision.kind, decision.story_id, decision.other_story_id) == ("auto_merge", first.story_id,
                                                                            second.story_id)
    assert decision.article_ids == [second.article_id] and decision.actor == "pipeline"

    undo_decision(session, decision.id, actor="analyst-li")
    art = session.get(Article, second.article_id, populate_existing=True)
    assert art is not None and art.story_id == second.story_id
    back = session.get(Story, second.story_id, populate_existing=True)
    assert back is not None and back.merged_into_id is None and back.article_count == 1
    with pytest.raises(StoryDecisionError, match="undone already"):
        undo_decision(session, decision.id, actor="analyst-li")


def test_a_piece_that_contains_two_originals_merges_nothing(session: Session, tmp_path: Path) -> None:
    """A digest quoting two stories' originals carries both; it shows nothing about them being one."""
    one = _post(session, tmp_path, "one", NOTICE)
    two = _post(session, tmp_path, "two", S1 + S2, minutes=1)
    digest = _post(session, tmp_path, "dig", "今日法院要闻：" + NOTICE + " 另外，" + S1 + S2, minutes=5)
    assert digest.story_id in (one.story_id, two.story_id)
    assert session.scalars(select(StoryDecision)).all() == []
    assert {s.story_id for s in list_stories(session, since=NOW - timedelta(days=1))} >= {one.story_id, two.story_id}


def test_an_analysts_split_holds_when_new_reposts_arrive(session: Session, tmp_path: Path) -> None:
    first = _post(session, tmp_path, "r1", COMMENT_1 + NOTICE, minutes=20)
    second = _post(session, tmp_path, "r2", COMMENT_2 + NOTICE, minutes=25)
    merge_stories(session, first.story_id, [second.story_id], actor="analyst-li", reason="same original")  # type: ignore[list-item]
    assert first.story_id is not None and second.article_id is not None
    # A new repost of the second post joins the merged story: that post's keys moved with it.
    again = _post(session, tmp_path, "r2b", "转发微博 " + COMMENT_2 + NOTICE, minutes=40)
    assert again.story_id == first.story_id

    new_id = split_story(session, first.story_id, [second.article_id, again.article_id],  # type: ignore[list-item]
                         actor="analyst-li", reason="two readings of the same notice")
    assert [m.id for m in story_members(session, new_id)] == [second.article_id, again.article_id]
    later = _post(session, tmp_path, "r2c", "已转 " + COMMENT_2 + NOTICE, minutes=50)
    assert later.story_id == new_id
    # The original, which both carry, would merge them: the analyst's split is kept.
    bridge = _post(session, tmp_path, "orig", NOTICE, minutes=55)
    assert bridge.story_id in (first.story_id, new_id)
    kinds = [d.kind for d in session.scalars(select(StoryDecision).order_by(StoryDecision.id))]
    assert kinds == ["merge", "split"]
    assert session.get(Story, new_id, populate_existing=True).merged_into_id is None  # type: ignore[union-attr]
    with pytest.raises(StoryDecisionError, match="nothing would be left"):
        split_story(session, new_id, [m.id for m in story_members(session, new_id)], actor="x")


def test_the_candidates_verified_per_piece_are_bounded(session: Session, tmp_path: Path) -> None:
    """However many stories share a court account's boilerplate, a piece is verified against at
    most MAX_STORY_CANDIDATES of them, and the boilerplate does not join it to any."""
    for n in range(3 * dedupe.MAX_STORY_CANDIDATES):
        _post(session, tmp_path, f"t{n}", f"#执行进行时# 【执行快讯】{n % 28 + 1}日凌晨，临高县人民法院开展集中执行行动，"
              f"出动干警{40 + n}人，拘传被执行人{n + 2}名，执行到位金额{100 + 7 * n}万元。更多执行资讯，请关注@临高县人民法院",
              minutes=n)
    piece = "#执行进行时# 【执行快讯】3日凌晨，临高县人民法院开展集中执行行动，出动干警99人，拘传被执行人31名，执行到位金额888万元。"
    candidates = dedupe.story_candidates(session, dedupe.StoryPiece("\n" + normalize.match_form(piece), "zh", None))
    assert 0 < len({c.story_id for c in candidates}) <= dedupe.MAX_STORY_CANDIDATES
    assert _post(session, tmp_path, "new", piece, minutes=100).is_new_story


def test_story_key_lookup_reads_the_key_index(session: Session) -> None:
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("the plan is checked on SQLite (PostgreSQL plans by table statistics)")
    sql = dedupe._story_keys_query(8).compile(session.get_bind())
    params = {f"k{i}": i for i in range(8)}
    plan = session.connection().exec_driver_sql(
        f"EXPLAIN QUERY PLAN {sql}", tuple(sql.construct_params(params)[k] for k in sql.positiontup or ())
    ).all()
    assert all("SCAN story_keys" not in str(row) for row in plan), plan
    assert any("story_keys" in str(row) and "PRIMARY KEY" in str(row) for row in plan), plan


def test_cli_merges_splits_shows_and_undoes(tmp_path: Path) -> None:
    from models.db import make_engine, session_scope, upgrade
    from presswatch.cli import app

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    with session_scope(make_engine(url)) as session:
        one = _post(session, tmp_path, "one", ORIGINAL)
        two = _post(session, tmp_path, "two", S1 + S2, minutes=1)
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, ["--set", f"db.url={url}", "stories", *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert f"merged #{two.story_id} into #{one.story_id}" in run(
        "merge", str(one.story_id), str(two.story_id), "--by", "analyst-li", "--reason", "same case")
    shown = run("show", str(one.story_id))
    assert f"article #{two.article_id}" in shown and "merge" in shown and "analyst-li" in shown
    out = run("split", str(one.story_id), str(two.article_id), "--by", "analyst-li")
    assert "into new story #" in out
    bad = runner.invoke(app, ["--set", f"db.url={url}", "stories", "split", str(one.story_id), "999999"])
    assert bad.exit_code != 0 and "not in story" in str(bad.exception)
    with session_scope(make_engine(url)) as session:
        split = session.scalars(select(StoryDecision).where(StoryDecision.kind == "split")).one()
        split_id, new_story = split.id, split.other_story_id
    assert f"undid decision #{split_id}" in run("undo", str(split_id))
    with session_scope(make_engine(url)) as session:
        art = session.get(Article, two.article_id)
        assert art is not None and art.story_id == one.story_id
        assert session.get(Story, new_story).merged_into_id == one.story_id  # type: ignore[union-attr]
    assert f"#{one.story_id}" in run("--since", "3650d")


def test_story_thresholds_hold_on_the_news_fixtures() -> None:
    """The documented calibration on full articles: reposts (other headers, edits, truncation,
    traditional script) verify against each other; different stories on the same event do not."""
    import itertools

    from tests.test_pipeline_dedupe import _is_same_story, _load

    pieces = {name: dedupe.StoryPiece(normalize.match_form(title) + "\n" + normalize.match_form(normalize.clean_text(body)),
                                      name[:2], None)
              for name, (title, body) in _load().items()}
    same, different = [], []
    for a, b in itertools.combinations(sorted(pieces), 2):
        if a[:2] == b[:2]:
            verdict, _rule = dedupe.verify_piece(pieces[a], pieces[b])
            (same if _is_same_story(a, b) else different).append((a, b, verdict))
    assert len(same) == 13 and len(different) == 21
    assert all(v.ok for *_, v in same), [s[:2] for s in same if not s[2].ok]
    assert not any(v.ok for *_, v in different), [d[:2] for d in different if d[2].ok]
    assert max(v.containment for *_, v in different) < 0.3 < 0.7 < min(v.containment for *_, v in same)


def test_reindex_gives_stories_stored_before_the_keys_their_keys(session: Session, tmp_path: Path) -> None:
    from sqlalchemy import delete, func

    from models import StoryKey
    from pipeline.stories import reindex_story_keys

    first = _post(session, tmp_path, "old", S1 + S2)
    session.execute(delete(StoryKey))  # as stored before migration 0030
    assert reindex_story_keys(session, NOW - timedelta(days=1)) == 1
    keys = session.scalar(select(func.count()).select_from(StoryKey).where(StoryKey.story_id == first.story_id))
    assert keys and keys > 0
    assert reindex_story_keys(session, NOW - timedelta(days=1)) == 0
    assert _post(session, tmp_path, "new", "转发 " + S1 + S2, minutes=5).story_id == first.story_id


def test_a_bare_slogan_does_not_merge_the_stories_it_heads(session: Session, tmp_path: Path) -> None:
    slogan = "扫黑除恶，人人有责！守护平安，共建和谐！"
    one = _post(session, tmp_path, "s1", slogan + "我院一审公开宣判符某等十二人恶势力犯罪集团案，主犯符某被判处有期徒刑十二年。")
    two = _post(session, tmp_path, "s2", slogan + "省扫黑办公布举报电话和邮箱，欢迎广大群众积极举报涉黑涉恶线索。", minutes=3)
    assert one.story_id != two.story_id
    _post(session, tmp_path, "bare", slogan, minutes=5)
    assert session.scalars(select(StoryDecision)).all() == []
    assert session.get(Story, two.story_id, populate_existing=True).merged_into_id is None  # type: ignore[union-attr]
