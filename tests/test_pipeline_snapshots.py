"""Raw snapshots: compressed, stored once per content, small inline and large on disk, purged by age."""

from __future__ import annotations

import gzip
import os
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Article, Snapshot, utcnow
from pipeline.jobs import scheduled_jobs
from pipeline.snapshots import INLINE_MAX_BYTES, load_snapshot, purge_snapshots, store_snapshot
from settings import load_settings
from tests import factories


def _settings(tmp_path: Path, days: int = 30):  # type: ignore[no-untyped-def]
    return load_settings(environ={}, overrides={"pipeline.snapshot_dir": str(tmp_path / "snaps"),
                                                "pipeline.snapshot_retention_days": str(days)}).settings


def test_small_pages_inline_and_deduplicated(session: Session, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    page = "<html><body><p>儋州法院执行局开展集中执行行动。</p></body></html>".encode()
    first = store_snapshot(session, page, settings=settings, content_type="text/html", encoding="utf-8")
    again = store_snapshot(session, page, settings=settings)
    assert first == again
    snap = session.get(Snapshot, first)
    assert snap is not None and snap.path is None and snap.data is not None
    assert gzip.decompress(snap.data) == page and snap.size_bytes == len(page)
    assert load_snapshot(session, first) == page


def test_large_pages_go_to_disk(session: Session, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    page = os.urandom(INLINE_MAX_BYTES * 2)  # incompressible: stays above the inline limit
    snap_id = store_snapshot(session, page, settings=settings)
    snap = session.get(Snapshot, snap_id)
    assert snap is not None and snap.data is None and snap.path is not None
    assert Path(snap.path).is_file() and Path(snap.path).is_relative_to(tmp_path / "snaps")
    assert load_snapshot(session, snap_id) == page


def test_purge_keeps_articles_and_removes_old_snapshots(session: Session, tmp_path: Path) -> None:
    settings = _settings(tmp_path, days=30)
    old_page, new_page = os.urandom(INLINE_MAX_BYTES * 2), b"<html>recent</html>"
    old_id = store_snapshot(session, old_page, settings=settings)
    new_id = store_snapshot(session, new_page, settings=settings)
    old = session.get(Snapshot, old_id)
    assert old is not None and old.path is not None
    old.created_at = utcnow() - timedelta(days=40)
    art = factories.article(session, snapshot_id=old_id)
    session.flush()
    stats = purge_snapshots(session, settings)
    assert (stats.rows, stats.files) == (1, 1)
    assert not Path(old.path).exists()
    assert session.scalar(select(Snapshot.id).where(Snapshot.id == old_id)) is None
    assert session.scalar(select(Snapshot.id).where(Snapshot.id == new_id)) == new_id
    assert session.scalar(select(Article.snapshot_id).where(Article.id == art.id)) is None
    forever = _settings(tmp_path, days=0)
    assert purge_snapshots(session, forever).rows == 0
    assert scheduled_jobs(forever) == [] and scheduled_jobs(settings)[0].func == "pipeline.jobs:purge_snapshots_job"
