"""Near-duplicate lookup: LSH band keys in the database, verified against the full MinHash signatures.

The band table (``fingerprint_bands``, primary key ``(band_key, article_id)``) turns a lookup into
``BANDS`` index seeks, whatever the number of stored fingerprints: cost grows with the depth of a
b-tree (log n), not with n, and it survives restarts and is shared by every worker.

Calibration of the thresholds (``tests/test_pipeline_dedupe.py::test_calibration_separates_reposts``
prints the figures; fixture texts under ``tests/fixtures/pipeline/stories``): reposts of the same
story with other headers/footers, light edits (a retitled lead, a dropped paragraph) and
truncations to about half measured Jaccard 0.45-0.95 and containment 0.70-1.0; different stories on
the same event (the same court, the same week, the same vocabulary: 执行, 被执行人, 拒执 ...) measured
Jaccard <= 0.12 and containment <= 0.25. The thresholds sit in the gap, nearer the different-story
side for Jaccard (missing a repost splits a story; merging two stories hides one) and with a
minimum size so that two short notices built from the same template are not merged on containment.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Article, FingerprintBand
from pipeline.fingerprint import Fingerprint

NEAR_DUP_JACCARD = 0.35
NEAR_DUP_CONTAINMENT = 0.6
# Containment is only trusted when the smaller text has this many distinct shingles (~ two
# sentences): a 10-shingle caption is "contained" in many articles by chance.
CONTAINMENT_MIN_SHINGLES = 40
# Texts with fewer shingles than this get no band keys: their signatures collide too easily.
MIN_SHINGLES_FOR_LSH = 8
MAX_CANDIDATES = 25


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


def find_near_duplicate(session: Session, fp: Fingerprint, band_keys: list[int] | None = None,
                        exclude_article_id: int | None = None) -> NearMatch | None:
    """The stored article most similar to ``fp`` above the thresholds, or None."""
    if fp.size < MIN_SHINGLES_FOR_LSH:
        return None
    keys = band_keys if band_keys is not None else fp.band_keys()
    hits = func.count().label("hits")
    query = (
        select(FingerprintBand.article_id, hits)
        .where(FingerprintBand.band_key.in_(keys))
        .group_by(FingerprintBand.article_id)
        .order_by(hits.desc(), FingerprintBand.article_id)
        .limit(MAX_CANDIDATES)
    )
    candidate_ids = [row.article_id for row in session.execute(query) if row.article_id != exclude_article_id]
    if not candidate_ids:
        return None
    rows = session.execute(
        select(Article.id, Article.story_id, Article.outlet_id, Article.fingerprint)
        .where(Article.id.in_(candidate_ids))
    ).all()
    best: NearMatch | None = None
    for row in rows:
        other = Fingerprint.from_bytes(row.fingerprint) if row.fingerprint else None
        if other is None:
            continue
        ok, j, c = is_near_duplicate(fp, other)
        if ok and (best is None or (j, c) > (best.jaccard, best.containment)):
            best = NearMatch(row.id, row.story_id, row.outlet_id, j, c)
    return best


def store_bands(session: Session, article_id: int, band_keys: list[int]) -> None:
    from pipeline.upsert import insert_ignore

    if band_keys:
        session.execute(
            insert_ignore(session, FingerprintBand, ["band_key", "article_id"]),
            [{"band_key": key, "article_id": article_id} for key in set(band_keys)],
        )


def replace_bands(session: Session, article_id: int, band_keys: list[int]) -> None:
    from sqlalchemy import delete

    session.execute(delete(FingerprintBand).where(FingerprintBand.article_id == article_id))
    store_bands(session, article_id, band_keys)
