"""Near-duplicate lookup: LSH band keys in the database, verified against the full MinHash signatures.

The band table (``fingerprint_bands``, primary key ``(band_key, article_id)``) turns a lookup into
``BANDS`` index seeks, whatever the number of stored fingerprints: cost grows with the depth of a
b-tree (log n), not with n, and it survives restarts and is shared by every worker.

Calibration of the thresholds (``tests/test_pipeline_dedupe.py::test_calibration_gap`` asserts
the figures; fixture texts under ``tests/fixtures/pipeline/stories``): reposts of the same story
with other headers and footers, an editor's note, light edits (retitled, a paragraph dropped,
numbers rewritten), a truncation to the first three paragraphs and a traditional-script copy
measured Jaccard 0.36-1.0 and containment 0.67-1.0 against each other; different stories on the
same event (the court's official statement on the incident, a commentary on it, another
enforcement report from the same court with the same vocabulary; the THADS statement on the
Văn Lâm complaint) measured Jaccard <= 0.03 and containment <= 0.08. The thresholds sit in the
gap: Jaccard 0.25 is ~10 standard errors of a 64-value MinHash above 0.03 and catches most
reposts alone; containment 0.5 catches the truncated and edited ones whose Jaccard estimate falls
low, and is trusted only for texts of at least ``CONTAINMENT_MIN_SHINGLES`` shingles.
"""

from __future__ import annotations

import functools
import itertools
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, func, literal, select, text, union_all
from sqlalchemy.orm import Session

from models import Article, FingerprintBand, UTCDateTime
from models.articles import SHORT_POST_MAX_CHARS, SHORT_POST_SQL
from pipeline.fingerprint import Fingerprint

NEAR_DUP_JACCARD = 0.25
NEAR_DUP_CONTAINMENT = 0.5
# Containment is only trusted when the smaller text has this many distinct shingles (~ two
# sentences): a 10-shingle caption is "contained" in many articles by chance.
CONTAINMENT_MIN_SHINGLES = 40
# Texts with fewer shingles than this get no band keys: their signatures collide too easily.
MIN_SHINGLES_FOR_LSH = 8
MAX_CANDIDATES = 25
# Rows read per band key, newest first. Bounds the lookup however common a band value gets at
# millions of stored fingerprints (boilerplate-heavy notices share bands); reposts of a story
# arrive close in time, so the newest rows of a key are the ones worth verifying.
MAX_PER_BAND = 16


# Short social posts (a Weibo 转发 of a news story: one sentence, the headline, a hashtag) are too
# short for MinHash against a full article. Such a post joins a story whose first publisher is a
# full article when it carries most of that article's headline: at least TITLE_IN_POST_SHARE of
# the headline's character bigrams (syllable bigrams in Vietnamese). Calibrated on the demo site's
# Weibo posts: a 转发 quoting the 暴力执法 headline scores 1.0, one paraphrasing it with the hashtag
# #儋州强制腾房# 0.77, the 失信 list post 0.81 against the 失信 headline; posts score 0.14-0.25
# against the other headlines, and a post about another meeting of the same 执行局 0.38 against
# that bureau's meeting headline. The headlines are found through ``story_keys`` (below).
TITLE_IN_POST_SHARE = 0.7
TITLE_MIN_GRAMS = 8  # headlines shorter than ~9 characters are too generic to match on


# A short post is compared with every full article of its window and a story's headline with
# every short post: the same texts come back, so their grams are kept (the texts are short:
# posts of at most SHORT_POST_MAX_CHARS, headlines).
@functools.lru_cache(maxsize=1024)
def _grams(text: str, lang: str) -> frozenset[str]:
    if lang == "zh" or (lang == "und" and _HAN.search(text)):
        han = "".join(_HAN.findall(text))
        return frozenset(han[i:i + 2] for i in range(len(han) - 1))
    words = _WORDS.findall(text.lower())
    return frozenset(f"{a} {b}" for a, b in itertools.pairwise(words))


_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORDS = re.compile(r"[^\W\d_]+")


# Every new story looks back at this many of the most recent single-post stories (newest first):
# the cost per article stays flat however many stories exist.
ABSORB_CANDIDATES = 20
ABSORB_WINDOW_HOURS = 24  # a 转发 appears within hours of the piece it forwards


@functools.cache
def _absorb_candidates(any_story: bool = False) -> Any:
    """See :func:`_absorb_select`; the window and language are the parameters ``lo``, ``hi``, ``lang``."""
    lo, hi = bindparam("lo", type_=UTCDateTime()), bindparam("hi", type_=UTCDateTime())
    return _absorb_select(any_story, bindparam("lang"), lo, hi)


def _absorb_select(any_story: bool, lang: Any, lo: Any, hi: Any, outer: Any = None) -> Any:
    """Short posts (``models.articles.SHORT_POST_SQL``) published within the window whose story
    holds only them and has no alert.

    The search starts from the partial index of short posts by publication time: measuring the
    text of every recent article (most of them full articles) took nearly half the time of
    storing one at 2,000 stored, and grew with the number stored. A single-post story was last seen when its post was
    published, so the window on ``Article.published_at`` selects the same posts as the one on
    ``Story.last_seen_at``, which stays as the exact condition.

    ``any_story``: read before the article's story is known (``find_near_duplicate`` reads them in
    its round trip), so without the condition on the story id, one row more, and the story's last
    seen time to order by; ``absorb_short_posts`` drops the story's own row."""
    from models import Alert, Story, StoryDecision

    alerted = select(Alert.story_id).where(Alert.story_id.is_not(None))
    # A story an analyst split off (or split from) stays as the analyst left it.
    decided = select(StoryDecision.other_story_id).where(StoryDecision.kind == "split")
    story_conditions: list[Any] = [
        Story.id == Article.story_id, Story.article_count == 1, Story.lang == lang,
        Story.last_seen_at >= lo, Story.last_seen_at <= hi, Story.id.not_in(alerted), Story.id.not_in(decided),
    ]
    if not any_story:
        story_conditions.append(Story.id != bindparam("story_id"))
    # The story is read per short post, by its primary key (a correlated subquery: the join it
    # replaces had PostgreSQL hash all the window's stories, 1.8 ms per article at 5,000 stored).
    # ``outer``: the window and language are columns of this outer FROM (``batch_near_lookups``),
    # and both levels correlate to it: the story's subquery besides ``articles``, the short posts'
    # derived table by being LATERAL.
    seen = select(Story.last_seen_at).where(*story_conditions)
    seen_value = (seen.correlate(Article) if outer is None else seen.correlate(Article, outer)).scalar_subquery()
    posts_select = (
        select(Article.id, Article.story_id, Article.match_text, seen_value.label("seen"))
        .where(text(SHORT_POST_SQL), Article.published_at >= lo, Article.published_at <= hi)
    )
    posts = (posts_select.subquery("short_posts") if outer is None
             else posts_select.correlate(outer).lateral("short_posts"))
    columns: list[Any] = [posts.c.id, posts.c.story_id, posts.c.match_text]
    if any_story:
        columns.append(posts.c.seen.label("last_seen_at"))
    return (
        select(*columns)
        .where(posts.c.seen.is_not(None))
        .order_by(posts.c.seen.desc())
        .limit(ABSORB_CANDIDATES + 1 if any_story else ABSORB_CANDIDATES)
    )


def absorb_window(published_at: datetime) -> dict[str, datetime]:
    window = timedelta(hours=ABSORB_WINDOW_HOURS)
    return {"lo": published_at - window, "hi": published_at + window}


def absorb_short_posts(session: Session, story_id: int, headline_match: str, lang: str,
                       published_at: datetime, candidates: list[Any] | None = None) -> list[int]:
    """When a story's first full article arrives after short posts that carry its headline (the
    Weibo 转发 crawled first), move those posts into the story. Returns the moved article ids.

    Only single-post stories with no alert on them are absorbed (an alert keeps its story).
    ``candidates``: the rows ``find_near_duplicate`` read for this article (``absorb_for``),
    in place of a query here."""
    from sqlalchemy import delete, update

    from models import Story

    rows: list[Any]
    if candidates is not None:
        rows = [(r.id, r.story_id, r.match_text) for r in candidates if r.story_id != story_id][:ABSORB_CANDIDATES]
        if not rows:
            return []
    headline = _grams(headline_match, lang)
    if len(headline) < TITLE_MIN_GRAMS:
        return []
    if candidates is None:
        rows = list(session.connection().execute(_absorb_candidates(), {
            "story_id": story_id, "lang": lang, **absorb_window(published_at)}).all())
    moved: list[int] = []
    for article_id, old_story, match_text in rows:
        if len(headline & _grams(match_text or "", lang)) / len(headline) >= TITLE_IN_POST_SHARE:
            session.execute(update(Article).where(Article.id == article_id).values(story_id=story_id)
                            .execution_options(synchronize_session=False))
            session.execute(delete(Story).where(Story.id == old_story).execution_options(synchronize_session=False))
            moved.append(article_id)
    return moved


@dataclass(frozen=True)
class NearMatch:
    article_id: int
    story_id: int | None
    outlet_id: int | None
    jaccard: float
    containment: float


def is_near_duplicate(a: Fingerprint, b: Fingerprint) -> tuple[bool, float, float]:
    j = a.jaccard(b)
    c = a.containment(b)
    ok = j >= NEAR_DUP_JACCARD or (c >= NEAR_DUP_CONTAINMENT and min(a.size, b.size) >= CONTAINMENT_MIN_SHINGLES)
    return ok, j, c


@dataclass
class AbsorbLookup:
    """``find_near_duplicate``'s second question, asked in the same round trip: the short posts a
    full article would absorb (``_absorb_candidates(any_story=True)``). ``rows`` is filled in."""

    lang: str
    published_at: datetime
    rows: list[Any] | None = None


def find_near_duplicate(session: Session, fp: Fingerprint, band_keys: list[int] | None = None,
                        exclude_article_id: int | None = None, absorb: AbsorbLookup | None = None) -> NearMatch | None:
    """The stored article most similar to ``fp`` above the thresholds, or None. With ``absorb``,
    the short posts to absorb are read in the same query (left unread when there are no band keys)."""
    return best_match(fp, near_candidates(session, fp, band_keys, exclude_article_id, absorb))


def near_candidates(session: Session, fp: Fingerprint, band_keys: list[int] | None = None,
                    exclude_article_id: int | None = None, absorb: AbsorbLookup | None = None) -> list[Any]:
    """The band candidates of ``fp``: rows ``(id, story_id, outlet_id, fingerprint)`` in article id
    order (see :func:`find_near_duplicate`)."""
    if fp.size < MIN_SHINGLES_FOR_LSH:
        return []
    keys = band_keys if band_keys is not None else fp.band_keys()
    if not keys:
        return []
    # PostgreSQL takes the keys as one array (``n_keys`` 0: the statement does not depend on it).
    pg = session.get_bind().dialect.name == "postgresql"
    params: dict[str, Any] = {"keys": list(keys)} if pg else {f"k{i}": key for i, key in enumerate(keys)}
    n_keys = 0 if pg else len(keys)
    params["exclude"] = exclude_article_id if exclude_article_id is not None else -1
    rows: Any
    if absorb is None:
        rows = session.connection().execute(_candidates_query(n_keys), params).all()
    else:
        params.update(lang=absorb.lang, **absorb_window(absorb.published_at))
        both = session.connection().execute(_candidates_and_posts_query(n_keys), params).all()
        rows = sorted(((r.id, r.story_id, r.outlet_id, r.fingerprint) for r in both if r.kind == 0),
                      key=lambda r: r[0])
        absorb.rows = sorted((r for r in both if r.kind == 1), key=lambda r: r.seen, reverse=True)
    return list(rows)


def best_match(fp: Fingerprint, rows: Any) -> NearMatch | None:
    """The best verified match among candidate rows ``(id, story_id, outlet_id, fingerprint)``
    in article id order (the first of equal scores wins)."""
    best: NearMatch | None = None
    for art_id, story_id, outlet_id, data in rows:
        other = Fingerprint.from_bytes(data) if data else None
        if other is None:
            continue
        ok, j, c = is_near_duplicate(fp, other)
        if ok and (best is None or (j, c) > (best.jaccard, best.containment)):
            best = NearMatch(art_id, story_id, outlet_id, j, c)
    return best


@functools.cache
def _candidates_query(n_keys: int) -> Any:
    """One round trip: for each band key its newest ``MAX_PER_BAND`` article ids, the
    ``MAX_CANDIDATES`` ids hit by the most keys, and their stored fingerprints to verify.

    The candidates were read first and verified by a second query. The order of the cut is the
    one that reading did (Python's ``Counter.most_common``): most keys first, then first seen in
    the stream, which is by band then newest article first; rows come back by article id.

    ``n_keys`` > 0 (SQLite): one branch per key (``k0``, ``k1``...), joined by UNION ALL.
    ``n_keys`` 0 (PostgreSQL): the keys come as one array ``keys``, each read by a LATERAL
    subquery with the same index seek. The statement is then the same short text whatever the
    keys: the 24-branch union was 7-9 KB of SQL, above the 4 KB up to which psycopg caches a
    statement's conversion, so every lookup re-parsed it (1.2 ms of client CPU per article)."""
    if n_keys:
        parts = []
        for i in range(n_keys):
            inner = (
                select(FingerprintBand.article_id)
                .where(FingerprintBand.band_key == bindparam(f"k{i}"))
                .order_by(FingerprintBand.article_id.desc())
                .limit(MAX_PER_BAND)
                .subquery(f"b{i}")
            )
            parts.append(select(literal(i, Integer()).label("band"), inner.c.article_id))
        hits = union_all(*parts).subquery("hits")
    else:
        from sqlalchemy import BigInteger, true
        from sqlalchemy.dialects.postgresql import ARRAY

        key_rows = _unnested([bindparam("keys", type_=ARRAY(BigInteger()))], ["key"], "k", ordinality="band")
        newest = _newest_of_key(key_rows.c.key)
        hits = select(key_rows.c.band, newest.c.article_id).select_from(
            key_rows.join(newest, true())).subquery("hits")
    hit_count = func.count().label("n")
    top = (
        select(hits.c.article_id, hit_count)
        .where(hits.c.article_id != bindparam("exclude", type_=Integer()))
        .group_by(hits.c.article_id)
        .order_by(hit_count.desc(), func.min(hits.c.band), hits.c.article_id.desc())
        .limit(MAX_CANDIDATES)
        .subquery("top")
    )
    return (
        select(Article.id, Article.story_id, Article.outlet_id, Article.fingerprint)
        .join(top, top.c.article_id == Article.id)
        .order_by(Article.id)
    )


def _unnested(arrays: list[Any], names: list[str], alias: str, ordinality: str | None = None) -> Any:
    """PostgreSQL ``unnest(arrays...) [WITH ORDINALITY] AS alias(names...)``: parallel arrays as rows."""
    rows = func.unnest(*arrays)
    valued = rows.table_valued(*names, with_ordinality=ordinality) if ordinality else rows.table_valued(*names)
    return valued.render_derived().alias(alias)


def _newest_of_key(key: Any) -> Any:
    """LATERAL: the newest ``MAX_PER_BAND`` article ids of the band key ``key`` (an outer column)."""
    return (
        select(FingerprintBand.article_id)
        .where(FingerprintBand.band_key == key)
        .order_by(FingerprintBand.article_id.desc())
        .limit(MAX_PER_BAND)
        .lateral("b")
    )


@functools.cache
def _candidates_and_posts_query(n_keys: int) -> Any:
    """``_candidates_query`` and ``_absorb_candidates(any_story=True)`` in one statement (UNION
    ALL, ``kind`` 0 and 1): a full article asks both before it is stored."""
    from sqlalchemy import LargeBinary, Text, cast, null

    near = _candidates_query(n_keys).subquery("near")
    posts = _absorb_candidates(any_story=True).subquery("posts")
    return union_all(
        select(literal(0, Integer()).label("kind"), near.c.id, near.c.story_id, near.c.outlet_id,
               near.c.fingerprint, cast(null(), Text()).label("match_text"),
               cast(null(), UTCDateTime()).label("seen")),
        select(literal(1, Integer()), posts.c.id, posts.c.story_id, cast(null(), Integer()),
               cast(null(), LargeBinary()), posts.c.match_text, posts.c.last_seen_at),
    )


@dataclass(frozen=True)
class PostRow:
    """A short post a full article may absorb, as :func:`absorb_short_posts` reads it."""

    id: int
    story_id: int | None
    match_text: str | None
    seen: datetime


def batch_near_lookups(session: Session, items: list[tuple[int, list[int], AbsorbLookup | None]]
                       ) -> tuple[dict[int, list[Any]], dict[int, list[PostRow]]]:
    """PostgreSQL: what :func:`find_near_duplicate` would read for each of many items, in one
    round trip: ``items`` are ``(n, band_keys, absorb)``; returns the candidate rows of each item
    ``n`` (article id order) and, for those with ``absorb``, its short posts (newest first).

    These are answers as of this statement: the caller uses an item's answers only while nothing
    stored since could have changed them (``pipeline.ingest.BatchLookups``)."""
    near: dict[int, list[Any]] = {}
    posts: dict[int, list[PostRow]] = {}
    owners: list[int] = []
    keys: list[int] = []
    for n, band_keys, _absorb in items:
        if band_keys:
            near[n] = []
            owners.extend([n] * len(band_keys))
            keys.extend(band_keys)
    wanted = [(n, a) for n, k, a in items if k and a is not None]
    if not keys:
        return near, posts
    params: dict[str, Any] = {"owners": owners, "keys": keys, "exclude": -1}
    windows = [absorb_window(a.published_at) for _n, a in wanted]
    params.update(p_items=[n for n, _a in wanted], p_langs=[a.lang for _n, a in wanted],
                  p_lo=[w["lo"] for w in windows], p_hi=[w["hi"] for w in windows])
    for row in session.connection().execute(_batch_near_statement(), params):
        if row.kind == 0:
            near[row.item].append((row.id, row.story_id, row.outlet_id, row.fingerprint))
        else:
            posts.setdefault(row.item, []).append(PostRow(row.id, row.story_id, row.match_text, row.seen))
    for n, _a in wanted:
        posts.setdefault(n, [])
    for rows in near.values():
        rows.sort(key=lambda r: r[0])
    for post_rows in posts.values():
        post_rows.sort(key=lambda r: r.seen, reverse=True)
    return near, posts


@functools.cache
def _batch_near_statement() -> Any:
    """``_candidates_query`` for every (item, band key) pair and ``_absorb_candidates(any_story=True)``
    for every absorbing item, as LATERAL subqueries over unnested arrays; ``kind`` 0 / 1 rows."""
    from sqlalchemy import BigInteger, LargeBinary, String, Text, cast, null, true
    from sqlalchemy.dialects.postgresql import ARRAY

    key_rows = _unnested([bindparam("owners", type_=ARRAY(Integer())), bindparam("keys", type_=ARRAY(BigInteger()))],
                         ["item", "key"], "k", ordinality="band")
    newest = _newest_of_key(key_rows.c.key)
    hits = select(key_rows.c.item, key_rows.c.band, newest.c.article_id).select_from(
        key_rows.join(newest, true())).subquery("hits")
    hit_count = func.count().label("n")
    per_article = (
        select(hits.c.item, hits.c.article_id, hit_count, func.min(hits.c.band).label("first_band"))
        .where(hits.c.article_id != bindparam("exclude", type_=Integer()))
        .group_by(hits.c.item, hits.c.article_id)
        .subquery("per_article")
    )
    ranked = select(
        per_article.c.item, per_article.c.article_id,
        func.row_number().over(partition_by=per_article.c.item, order_by=(
            per_article.c.n.desc(), per_article.c.first_band, per_article.c.article_id.desc())).label("rank"),
    ).subquery("ranked")
    near = (
        select(literal(0, Integer()).label("kind"), ranked.c.item, Article.id, Article.story_id, Article.outlet_id,
               Article.fingerprint, cast(null(), Text()).label("match_text"),
               cast(null(), UTCDateTime()).label("seen"))
        .join(ranked, ranked.c.article_id == Article.id)
        .where(ranked.c.rank <= MAX_CANDIDATES)
    )
    windows = _unnested([bindparam("p_items", type_=ARRAY(Integer())), bindparam("p_langs", type_=ARRAY(String())),
                         bindparam("p_lo", type_=ARRAY(UTCDateTime())), bindparam("p_hi", type_=ARRAY(UTCDateTime()))],
                        ["item", "lang", "lo", "hi"], "w")
    candidates = _absorb_select(True, windows.c.lang, windows.c.lo, windows.c.hi, outer=windows).lateral("p")
    post_rows = select(
        literal(1, Integer()), windows.c.item, candidates.c.id, candidates.c.story_id, cast(null(), Integer()),
        cast(null(), LargeBinary()), candidates.c.match_text, candidates.c.last_seen_at,
    ).select_from(windows.join(candidates, true()))
    return union_all(near, post_rows)


@functools.cache
def _insert_bands(dialect: str) -> Any:
    from pipeline.upsert import insert_for_dialect

    insert = insert_for_dialect(dialect, FingerprintBand)
    if dialect == "postgresql":
        # All of an article's keys in one statement: psycopg runs an executemany as one statement
        # per row on the server (24 per article, ~10% of the store time measured on PostgreSQL).
        from sqlalchemy import BigInteger, Integer, func
        from sqlalchemy.dialects.postgresql import ARRAY

        rows = select(func.unnest(bindparam("keys", type_=ARRAY(BigInteger()))),
                      bindparam("article_id", type_=Integer()))
        insert = insert.from_select(["band_key", "article_id"], rows)
    return insert.on_conflict_do_nothing(index_elements=["band_key", "article_id"])


def store_bands(session: Session, article_id: int, band_keys: list[int]) -> None:
    if not band_keys:
        return
    dialect = session.get_bind().dialect.name
    keys = sorted(set(band_keys))
    if dialect == "postgresql":
        session.connection().execute(_insert_bands(dialect), {"keys": keys, "article_id": article_id})
    else:  # SQLite runs an executemany in-process, row by row, without round trips
        session.connection().execute(_insert_bands(dialect), [{"band_key": k, "article_id": article_id} for k in keys])


def replace_bands(session: Session, article_id: int, band_keys: list[int]) -> None:
    from sqlalchemy import delete

    session.execute(delete(FingerprintBand).where(FingerprintBand.article_id == article_id))
    store_bands(session, article_id, band_keys)


# --- The story join rule ------------------------------------------------------------------------
#
# A piece joins a story only when it verifies directly against one of the story's representatives:
# its first publisher (the earliest published piece) and the first publishers of stories merged
# into it. Other members are never compared with, so A~B and B~C cannot put C with A unless C
# verifies against A itself (issue 20: links accepted at MinHash Jaccard 0.25-0.35 against any
# member chained 30 real stories into one). Representatives are found through ``story_keys``: a
# sample of each representative's character n-grams and of its headline's bigrams, so a lookup is
# a few dozen index seeks whatever the number of stories (find_story_by_headline re-read up to
# 2,000 recent titles per short post).
#
# Verification is exact on the n-gram sets (short social posts: a 64-value MinHash estimate of a
# 30-gram set is too coarse) after removing what different stories share without being the same
# piece: campaign hashtags (#武汉加油#), @mentions and "//@user:" chain marks, Weibo emoji codes
# ([蜡烛]), links and the platform's own words (转发微博, 全文). Two long texts are compared by
# their MinHash signatures with the thresholds calibrated above.
#
# Calibration (bench/stories.py on bench/data/reposts, the "calib" half; the "test" half kept for
# the figures in the README): see STORY_THRESHOLDS.

_HASHTAG = re.compile(r"#[^#\n]{1,60}#|#[^\W_]\w*")  # Weibo #话题#, Facebook #Tag
_MENTION = re.compile(r"@[^\s@:：,，。!！?？/]{1,30}[:：]?")
_URL = re.compile(r"https?://\S+|www\.\S+")
_EMOJI_CODE = re.compile(r"\[[^\[\]\s]{1,8}\]")
_PLATFORM = re.compile(r"转发微博|网页链接|展开全文|(?:\.\.\.|…)\s*全文|xem thêm|转发理由[:：]?")
_STORY_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W_\u3400-\u9fff\uf900-\ufaff]+")
STORY_TEXT_MAX_CHARS = 5000  # a long article is compared on its first 5,000 characters

# (smallest side's distinct n-grams below, Jaccard needed, containment needed); the last row
# applies above. Containment is the share of the smaller text's n-grams found in the larger one
# (a short original inside a long repost, a truncated repost). Below STORY_MIN_GRAMS nothing
# verifies: "支持！" or a bare slogan is no evidence of the same piece.
#
# Calibration: every repost of the "calib" half of bench/data/reposts against its original, and
# against every other original of its language (campaign text removed, no boilerplate removal):
#   < 20 n-grams:  4/6 reposts verify (median J 0.47, C 1.00); 0/6,768 other originals (max J 0.19, C 0.56)
#   20-50:       139/151 (median J 0.76);   0/22,077 others (max J 0.51, C 0.81)
#   50-200:      129/131 (median J 0.97);   0/6,343 others (max J 0.69, C 0.82: one court account's
#                formulaic posts, which 0.60 / 0.85 let through 26 times; the boilerplate rule below
#                catches them too once three such stories are candidates)
#   >= 200 (news articles, tests/fixtures/pipeline/stories): reposts J >= 0.39 and C >= 0.72 (an
#                edited repost: J 0.51, C 0.80), different stories on the same event J <= 0.12, C <= 0.27.
# Short posts need more: a 15-character post sharing a slogan and a place name with another reaches
# C 0.56. The "test" half (kept out of the calibration) gives 1/4, 182/192 (3/24,105 others
# verify), 101/105 (0/5,022): bench/stories.py --split test prints the end-to-end figures.
STORY_MIN_GRAMS = 8
STORY_THRESHOLDS: tuple[tuple[int, float, float], ...] = (
    (20, 0.70, 0.90),
    (50, 0.60, 0.85),
    (200, 0.70, 0.85),
    (1 << 30, 0.30, 0.60),
)
# Both texts longer than this (characters of story text): compare MinHash signatures
# (NEAR_DUP_JACCARD / NEAR_DUP_CONTAINMENT, calibrated on news articles above).
STORY_LONG_CHARS = 1500

KEY_SAMPLE = 4  # a representative's n-gram is a key when its hash % KEY_SAMPLE == 0
MAX_BODY_KEYS = 64  # the smallest sampled hashes of a long text
TITLE_KEY_SAMPLE = 2
MAX_PER_KEY = 16  # newest stories read per key: a common n-gram costs no more than a rare one
MAX_STORY_CANDIDATES = 8  # stories verified per piece, most keys (and band hits) first
MAX_MERGE = 3  # stories one piece may merge at once
# A piece merges stories only when it has this many n-grams (~ 22 characters) of its own: a bare
# slogan ("扫黑除恶，人人有责！守护平安") sits inside every post of its campaign.
MERGE_MIN_GRAMS = 20
_BODY, _TITLE = 1 << 32, 2 << 32


# Quote rules (a repost that keeps only a little of the original, verbatim): a 【headline】 of at
# least QUOTE_MIN_HEADLINE_TOKENS characters, or the original's first QUOTE_PREFIX_TOKENS_*
# tokens, found whole in the piece, and carried by no other candidate story's representative
# (a court account's "【临高县人民法院限制高消费】" heads many stories: then it says nothing).
_BRACKET_HEADLINE = re.compile(r"【([^【】]{4,80})】")
QUOTE_MIN_HEADLINE_TOKENS = 8
QUOTE_PREFIX_TOKENS_ZH = 20
QUOTE_PREFIX_TOKENS_OTHER = 12
# The quote must be followed in the piece by what follows it in the original (or by nothing: a
# cut): another court post under the same 【headline】 goes on with another date and name.
QUOTE_FOLLOW_TOKENS = 6


def _joined(tokens: list[str], lang: str) -> str:
    return ("" if lang == "zh" else " ").join(tokens)


@functools.lru_cache(maxsize=4096)
def story_text(match_text: str) -> str:
    """The part of a piece's matching form that says which piece it is: the body (the headline
    when there is none), without hashtags, mentions, chain marks, emoji codes, links and platform
    words."""
    title, _, body = match_text.partition("\n")
    out = (body or title)[:STORY_TEXT_MAX_CHARS]
    for pattern in (_URL, _HASHTAG, _MENTION, _EMOJI_CODE, _PLATFORM):
        out = pattern.sub(" ", out)
    return out


def _is_zh(text: str, lang: str) -> bool:
    return lang == "zh" or (lang == "und" and bool(_HAN.search(text)))


@functools.lru_cache(maxsize=4096)
def story_grams(text: str, lang: str) -> frozenset[int]:
    """crc32 of each run of 3 tokens (Chinese: characters) or 2 (other languages: syllables or
    words) of ``story_text``."""
    toks = _STORY_TOKEN.findall(text)
    k = 3 if _is_zh(text, lang) else 2
    if len(toks) < k:
        return frozenset()
    return frozenset(zlib.crc32("\x1f".join(g).encode()) for g in zip(*(toks[i:] for i in range(k)), strict=False))


def _title_grams(title_match: str, lang: str) -> frozenset[int]:
    return frozenset(zlib.crc32(g.encode()) for g in _grams(title_match, lang))


def story_thresholds(n: int) -> tuple[float, float]:
    for below, jaccard, containment in STORY_THRESHOLDS:
        if n < below:
            return jaccard, containment
    return STORY_THRESHOLDS[-1][1:]


@dataclass(frozen=True)
class Verdict:
    ok: bool
    jaccard: float
    containment: float
    # The piece is the contained (or near-equal) side: it is what the representative carries.
    piece_inside: bool = False


def verify_grams(piece: frozenset[int], rep: frozenset[int]) -> Verdict:
    """The exact test on two n-gram sets (see STORY_THRESHOLDS)."""
    n = min(len(piece), len(rep))
    if n < STORY_MIN_GRAMS:
        return Verdict(False, 0.0, 0.0)
    inter = len(piece & rep)
    j = inter / (len(piece) + len(rep) - inter)
    c = inter / n
    need_j, need_c = story_thresholds(n)
    ok = j >= need_j or c >= need_c
    return Verdict(ok, j, c, ok and (j >= need_j or len(piece) <= len(rep)))


@dataclass(frozen=True)
class StoryPiece:
    """What the join rule reads of a piece (a new one, or a stored representative)."""

    match_text: str
    lang: str
    fingerprint: Fingerprint | None

    @functools.cached_property
    def text(self) -> str:
        return story_text(self.match_text)

    @functools.cached_property
    def grams(self) -> frozenset[int]:
        return story_grams(self.text, self.lang)

    @functools.cached_property
    def tokens(self) -> list[str]:
        return _STORY_TOKEN.findall(self.text)

    @functools.cached_property
    def compact(self) -> str:
        """The story text as tokens only (no spaces or punctuation), for quote matching."""
        return _joined(self.tokens, self.lang)

    @functools.cached_property
    def quotes(self) -> tuple[tuple[str, str], ...]:
        """What a repost that keeps little else of this piece still carries verbatim: its 【headline】
        and its opening (a feed cuts a long "//@" chain at 140 characters, leaving the opening of
        the original); each with the QUOTE_FOLLOW_TOKENS tokens that follow it here. Empty for a
        piece too short to be told apart by them."""
        out = []
        toks = self.tokens
        for match in _BRACKET_HEADLINE.finditer(self.text):
            head = _STORY_TOKEN.findall(match.group(1))
            if len(head) >= QUOTE_MIN_HEADLINE_TOKENS:
                start = len(_STORY_TOKEN.findall(self.text[:match.end()]))
                out.append((_joined(head, self.lang), _joined(toks[start:start + QUOTE_FOLLOW_TOKENS], self.lang)))
        n = QUOTE_PREFIX_TOKENS_ZH if _is_zh(self.text, self.lang) else QUOTE_PREFIX_TOKENS_OTHER
        if len(toks) >= 2 * n:
            out.append((_joined(toks[:n], self.lang), _joined(toks[n:n + QUOTE_FOLLOW_TOKENS], self.lang)))
        return tuple(out)

    def carries(self, quote: str, follow: str) -> bool:
        """The piece has ``quote`` and, after it, the representative's next tokens or an end."""
        at = self.compact.find(quote)
        if at < 0:
            return False
        after = self.compact[at + len(quote):].lstrip()[:len(follow)]
        return follow.startswith(after)

    @property
    def headline(self) -> str:
        return self.match_text.partition("\n")[0]

    @property
    def is_short(self) -> bool:
        return len(self.match_text.partition("\n")[2]) <= SHORT_POST_MAX_CHARS

    def body_keys(self, limit: int = MAX_BODY_KEYS) -> list[int]:
        return [_BODY | g for g in sorted(g for g in self.grams if g % KEY_SAMPLE == 0)[:limit]]

    def title_keys(self) -> list[int]:
        """Keys of the headline (a representative that is a full article with a headline)."""
        grams = _title_grams(self.headline, self.lang)
        if len(grams) < TITLE_MIN_GRAMS:
            return []
        return [_TITLE | g for g in grams if g % TITLE_KEY_SAMPLE == 0]

    def post_title_keys(self) -> list[int]:
        """The keys under which a short post finds the headlines it may carry."""
        return [_TITLE | g for g in _title_grams(self.match_text, self.lang) if g % TITLE_KEY_SAMPLE == 0]

    def rep_keys(self) -> list[int]:
        """The keys stored for this piece as a story's representative."""
        return sorted(set(self.body_keys() + ([] if self.is_short else self.title_keys())))

    def query_keys(self) -> list[int]:
        keys = self.body_keys(limit=2 * MAX_BODY_KEYS)
        if self.is_short:
            keys += self.post_title_keys()
        return sorted(set(keys))


def verify_piece(piece: StoryPiece, rep: StoryPiece, boilerplate: frozenset[int] = frozenset(),
                 common_quotes: frozenset[str] = frozenset()) -> tuple[Verdict, str]:
    """Does ``piece`` verify against the representative ``rep``? With the rule that said so:
    ``near`` (text), ``quote`` (it carries the representative's 【headline】 or opening verbatim),
    ``headline`` (a short post carrying the full article's headline). ``boilerplate``: n-grams
    left out of the comparison (see :func:`shared_boilerplate`); ``common_quotes``: quotes that
    several candidate stories share (no evidence)."""
    long_both = min(len(piece.text), len(rep.text)) > STORY_LONG_CHARS
    if long_both and piece.fingerprint is not None and rep.fingerprint is not None:
        ok, j, c = is_near_duplicate(piece.fingerprint, rep.fingerprint)
        return Verdict(ok, j, c, ok and piece.fingerprint.size <= rep.fingerprint.size), "near"
    verdict = verify_grams(piece.grams - boilerplate, rep.grams - boilerplate)
    if verdict.ok:
        return verdict, "near"
    if any(q not in common_quotes and piece.carries(q, follow) for q, follow in rep.quotes):
        return Verdict(True, verdict.jaccard, verdict.containment), "quote"
    if piece.is_short and not rep.is_short:
        headline = _grams(rep.headline, rep.lang)
        if len(headline) >= TITLE_MIN_GRAMS:
            share = len(headline & _grams(piece.match_text, piece.lang)) / len(headline)
            if share >= TITLE_IN_POST_SHARE:
                return Verdict(True, verdict.jaccard, share), "headline"
    return verdict, "near"


@dataclass(frozen=True)
class StoryCandidate:
    """A story and one of its representatives, as read for verification."""

    story_id: int
    article_id: int
    rep: StoryPiece
    first_seen_at: datetime


@dataclass(frozen=True)
class StoryMatch:
    story_id: int
    article_id: int  # the representative verified against
    jaccard: float
    containment: float
    rule: str  # near / headline
    first_seen_at: datetime
    piece_inside: bool


@dataclass
class StoryChoice:
    """The join rule's answer for a piece: the story to join (None: a new story) and the other
    stories the piece shows to be the same one (merged into ``match.story_id``)."""

    match: StoryMatch | None = None
    merge: list[int] = field(default_factory=list)

    @property
    def story_id(self) -> int | None:
        return self.match.story_id if self.match else None


# An n-gram the piece shares with the representatives of this many different candidate stories is
# boilerplate, not evidence: a court account's fixed opening and closing ("#执行进行时# 【执行快讯】
# ... 更多执行资讯，请关注@..."), a campaign slogan without its hashtag ("众志成城，共克时艰"). Left
# out of the comparison, what remains (names, places, amounts) tells the stories apart. Three, not
# two: a short original that two long reposts both carry (two stories about to merge) is in two
# stories' representatives and must stay in the comparison.
BOILERPLATE_MIN_STORIES = 3


def shared_boilerplate(piece: StoryPiece, candidates: list[StoryCandidate]) -> frozenset[int]:
    """The piece's n-grams found in the representatives of BOILERPLATE_MIN_STORIES or more of the
    candidate stories."""
    per_story: dict[int, set[int]] = {}
    for cand in candidates:
        per_story.setdefault(cand.story_id, set()).update(piece.grams & cand.rep.grams)
    if len(per_story) < BOILERPLATE_MIN_STORIES:
        return frozenset()
    counts = Counter(g for grams in per_story.values() for g in grams)
    return frozenset(g for g, n in counts.items() if n >= BOILERPLATE_MIN_STORIES)


def choose_story(piece: StoryPiece, candidates: list[StoryCandidate],
                 kept_apart: set[frozenset[int]] | None = None) -> StoryChoice:
    """Verify ``piece`` against each candidate representative; join the best verified story.

    When the piece is what two or more stories' representatives both carry (it is the contained or
    near-equal side of each match: the short original that two long reposts quote), those stories
    are one: they merge into the one first seen, unless an analyst split them (``kept_apart``: pairs
    of story ids). A piece that merely contains two originals (a digest quoting both) merges nothing."""
    best: dict[int, StoryMatch] = {}
    boilerplate = shared_boilerplate(piece, candidates)
    quoted: dict[str, set[int]] = {}
    for cand in candidates:
        for q, _follow in cand.rep.quotes:
            quoted.setdefault(q, set()).add(cand.story_id)
    common = frozenset(q for q, ids in quoted.items() if len(ids) > 1)
    for cand in candidates:
        verdict, rule = verify_piece(piece, cand.rep, boilerplate, common)
        if not verdict.ok:
            continue
        match = StoryMatch(cand.story_id, cand.article_id, verdict.jaccard, verdict.containment, rule,
                           cand.first_seen_at, verdict.piece_inside and rule == "near")
        old = best.get(cand.story_id)
        if old is None or (match.jaccard, match.containment) > (old.jaccard, old.containment):
            best[cand.story_id] = match
    if not best:
        return StoryChoice()
    inside = sorted((m for m in best.values() if m.piece_inside), key=lambda m: (m.first_seen_at, m.story_id))
    if len(inside) >= 2 and len(piece.grams - boilerplate) >= MERGE_MIN_GRAMS:
        target = inside[0]
        merge = [m.story_id for m in inside[1:]
                 if not kept_apart or frozenset((target.story_id, m.story_id)) not in kept_apart][:MAX_MERGE - 1]
        return StoryChoice(target, merge)
    top = max(best.values(), key=lambda m: (m.jaccard, m.containment, -m.story_id))
    return StoryChoice(top)


@functools.cache
def _story_keys_query(n_keys: int) -> Any:
    """The newest ``MAX_PER_KEY`` (story, representative) rows of each of ``n_keys`` keys (``k0``..),
    by UNION ALL: one index seek per key (SQLite; PostgreSQL reads the keys as one array)."""
    from models import StoryKey

    parts = []
    for i in range(n_keys):
        inner = (
            select(StoryKey.story_id, StoryKey.article_id)
            .where(StoryKey.key == bindparam(f"k{i}"))
            .order_by(StoryKey.story_id.desc())
            .limit(MAX_PER_KEY)
            .subquery(f"s{i}")
        )
        parts.append(select(inner.c.story_id, inner.c.article_id))
    return union_all(*parts)


@functools.cache
def _story_keys_query_pg() -> Any:
    from sqlalchemy import BigInteger, true
    from sqlalchemy.dialects.postgresql import ARRAY

    from models import StoryKey

    key_rows = _unnested([bindparam("keys", type_=ARRAY(BigInteger()))], ["key"], "k")
    newest = (
        select(StoryKey.story_id, StoryKey.article_id)
        .where(StoryKey.key == key_rows.c.key)
        .order_by(StoryKey.story_id.desc())
        .limit(MAX_PER_KEY)
        .lateral("s")
    )
    return select(newest.c.story_id, newest.c.article_id).select_from(key_rows.join(newest, true()))


def _key_bucket(n: int) -> int:
    """Statements are built for 8, 16, 32... keys (padded with a key no row has): a handful of
    compiled statements instead of one per key count."""
    size = 8
    while size < n:
        size *= 2
    return size


@functools.cache
def _story_keys_sql(n_keys: int) -> str:
    """SQLite: ``_story_keys_query`` as driver SQL with ``?`` parameters. Built and bound through
    SQLAlchemy, its 16-128 parameters cost more to process than the index seeks cost to run."""
    part = "SELECT story_id, article_id FROM (SELECT story_id, article_id FROM story_keys WHERE key = ? " \
           f"ORDER BY story_id DESC LIMIT {MAX_PER_KEY})"
    return " UNION ALL ".join([part] * n_keys)


def story_key_hits(session: Session, keys: list[int]) -> Counter[tuple[int, int]]:
    """(story id, representative id) -> how many of ``keys`` found it."""
    hits: Counter[tuple[int, int]] = Counter()
    if not keys:
        return hits
    conn = session.connection()
    rows: Any
    if session.get_bind().dialect.name == "postgresql":
        rows = conn.execute(_story_keys_query_pg(), {"keys": keys})
    else:
        size = _key_bucket(len(keys))
        # The driver's own cursor: a hundred-odd rows a lookup, each wrapped by SQLAlchemy's result
        # machinery, cost more than the lookup (it runs on this connection, in this transaction).
        raw = conn.connection.driver_connection
        assert raw is not None
        rows = raw.execute(_story_keys_sql(size), tuple(keys) + (-1,) * (size - len(keys))).fetchall()
    hits.update(map(tuple, rows))
    return hits


@functools.cache
def _candidate_statements() -> tuple[Any, Any]:
    from models import Story

    stories = (select(Story.id, Story.first_article_id, Story.first_seen_at, Story.lang, Story.merged_into_id)
               .where(Story.id.in_(bindparam("ids", expanding=True))))
    articles = (select(Article.id, Article.match_text, Article.lang, Article.fingerprint)
                .where(Article.id.in_(bindparam("ids", expanding=True))))
    return stories, articles


@functools.lru_cache(maxsize=4096)
def _stored_piece(match_text: str, lang: str, fingerprint: bytes | None) -> StoryPiece:
    """A representative as read from its row, kept with its n-grams and quotes: the same
    representatives come back for every repost of their stories."""
    return StoryPiece(match_text, lang, Fingerprint.from_bytes(fingerprint) if fingerprint else None)


def story_candidates(session: Session, piece: StoryPiece, band_rows: Any = ()) -> list[StoryCandidate]:
    """The representatives to verify ``piece`` against: those its keys find (same language), and
    the first publishers of the stories of its MinHash band candidates (``band_rows``:
    ``(id, story_id, outlet_id, fingerprint)``), most hits first, at most MAX_STORY_CANDIDATES."""
    hits = story_key_hits(session, piece.query_keys())
    wanted: dict[int, int] = {}  # story id -> score
    reps: set[tuple[int, int]] = set()
    for (story_id, article_id), n in hits.items():
        wanted[story_id] = max(wanted.get(story_id, 0), n)
        reps.add((story_id, article_id))
    for row in band_rows:
        if row[1] is not None:
            wanted[row[1]] = wanted.get(row[1], 0) + 1
    top = sorted(wanted, key=lambda s: (-wanted[s], -s))[:MAX_STORY_CANDIDATES]
    if not top:
        return []
    stories_stmt, articles_stmt = _candidate_statements()
    conn = session.connection()
    by_story = {s.id: s for s in conn.execute(stories_stmt, {"ids": top})
                if s.merged_into_id is None and s.lang == piece.lang}
    pairs = {(sid, aid) for sid, aid in reps if sid in by_story}
    pairs.update((s.id, s.first_article_id) for s in by_story.values() if s.first_article_id is not None)
    if not pairs:
        return []
    texts = {r.id: r for r in conn.execute(articles_stmt, {"ids": sorted({aid for _, aid in pairs})})}
    out = []
    for story_id, article_id in sorted(pairs):
        row = texts.get(article_id)
        if row is None:
            continue
        rep = _stored_piece(row.match_text or "", row.lang, row.fingerprint)
        out.append(StoryCandidate(story_id, article_id, rep, by_story[story_id].first_seen_at))
    return out


def kept_apart(session: Session, story_ids: list[int]) -> set[frozenset[int]]:
    """Pairs of these stories that an analyst split (and did not undo): never merged again."""
    from models import StoryDecision

    if len(story_ids) < 2:
        return set()
    rows = session.execute(
        select(StoryDecision.story_id, StoryDecision.other_story_id)
        .where(StoryDecision.kind == "split", StoryDecision.undone_at.is_(None),
               StoryDecision.story_id.in_(story_ids), StoryDecision.other_story_id.in_(story_ids))
    ).all()
    return {frozenset((a, b)) for a, b in rows}


def find_story(session: Session, piece: StoryPiece, band_rows: Any = ()) -> StoryChoice:
    """The join rule for one piece: candidates, verification, merges (see :func:`choose_story`)."""
    candidates = story_candidates(session, piece, band_rows)
    choice = choose_story(piece, candidates)
    if choice.merge and choice.match is not None:
        apart = kept_apart(session, [choice.match.story_id, *choice.merge])
        if apart:
            choice = choose_story(piece, candidates, apart)
    return choice
