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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, func, literal, select, text, union_all
from sqlalchemy.orm import Session

from models import Article, FingerprintBand, UTCDateTime
from models.articles import SHORT_POST_SQL
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
# short for MinHash against a full article. Such a post joins a recent story when it carries most
# of the story's headline: at least TITLE_IN_POST_SHARE of the headline's character bigrams
# (syllable bigrams in Vietnamese). Calibrated on the demo site's Weibo posts: a 转发 quoting the
# 暴力执法 headline scores 1.0, one paraphrasing it with the hashtag #儋州强制腾房# 0.77, the 失信
# list post 0.81 against the 失信 headline; posts score 0.14-0.25 against the other headlines, and
# a post about another meeting of the same 执行局 0.38 against that bureau's meeting headline.
TITLE_IN_POST_SHARE = 0.7
TITLE_MIN_GRAMS = 8  # headlines shorter than ~9 characters are too generic to match on
RECENT_STORY_DAYS = 3
RECENT_STORY_LIMIT = 2000


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


def find_story_by_headline(session: Session, post_match_text: str, lang: str, published_at: datetime) -> int | None:
    """The recent story whose headline the short post carries, or None."""
    from models import Story
    from pipeline.normalize import match_form

    post = _grams(post_match_text, lang)
    if not post:
        return None
    rows = session.execute(
        select(Story.id, Story.title)
        .where(Story.last_seen_at >= published_at - timedelta(days=RECENT_STORY_DAYS), Story.lang == lang)
        .order_by(Story.last_seen_at.desc())
        .limit(RECENT_STORY_LIMIT)
    ).all()
    best: tuple[float, int] | None = None
    for story_id, title in rows:
        grams = _grams(match_form(title or ""), lang)
        if len(grams) < TITLE_MIN_GRAMS:
            continue
        share = len(grams & post) / len(grams)
        if share >= TITLE_IN_POST_SHARE and (best is None or share > best[0]):
            best = (share, story_id)
    return best[1] if best else None


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
    from models import Alert, Story

    alerted = select(Alert.story_id).where(Alert.story_id.is_not(None))
    story_conditions: list[Any] = [
        Story.id == Article.story_id, Story.article_count == 1, Story.lang == lang,
        Story.last_seen_at >= lo, Story.last_seen_at <= hi, Story.id.not_in(alerted),
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
    if fp.size < MIN_SHINGLES_FOR_LSH:
        return None
    keys = band_keys if band_keys is not None else fp.band_keys()
    if not keys:
        return None
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
    return best_match(fp, rows)


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
