"""Raw snapshots: compressed, stored once per content, small inline and large on disk, purged by age."""

from __future__ import annotations

import gzip
import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, event, select
from sqlalchemy.orm import Session

from models import Article, Snapshot, utcnow
from pipeline.jobs import scheduled_jobs
from pipeline.snapshots import INLINE_MAX_BYTES, ORPHAN_GRACE, load_snapshot, purge_snapshots, store_snapshot
from settings import Settings, load_settings
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


def test_purge_keeps_articles_and_removes_old_snapshots(engine: Engine, tmp_path: Path) -> None:
    settings = _settings(tmp_path, days=30)
    old_page, new_page = os.urandom(INLINE_MAX_BYTES * 2), f"<html>recent {tmp_path}</html>".encode()
    with Session(engine) as s, s.begin():
        old_id = store_snapshot(s, old_page, settings=settings)
        new_id = store_snapshot(s, new_page, settings=settings)
        old = s.get(Snapshot, old_id)
        assert old is not None and old.path is not None
        old.created_at = utcnow() - timedelta(days=40)
        old_path = Path(old.path)
        art_id = factories.article(s, snapshot_id=old_id).id
    try:
        stats = purge_snapshots(engine, settings)
        assert (stats.rows, stats.files, stats.orphans) == (1, 1, 0)
        assert not old_path.exists()
        with Session(engine) as s:
            assert s.scalar(select(Snapshot.id).where(Snapshot.id == old_id)) is None
            assert s.scalar(select(Snapshot.id).where(Snapshot.id == new_id)) == new_id
            assert s.scalar(select(Article.snapshot_id).where(Article.id == art_id)) is None
        forever = _settings(tmp_path, days=0)
        assert purge_snapshots(engine, forever).rows == 0
        # Kept forever, the daily job still runs: it removes orphan files.
        assert [j.func for j in scheduled_jobs(forever)] == ["pipeline.jobs:purge_snapshots_job"]
    finally:
        with Session(engine) as s, s.begin():
            s.execute(delete(Article).where(Article.id == art_id))
            s.execute(delete(Snapshot).where(Snapshot.id == new_id))


def _age(path: Path, hours: float) -> None:
    then = (utcnow() - timedelta(hours=hours)).timestamp()
    os.utime(path, (then, then))


def _rolled_back_write(engine: Engine, page: bytes, settings: Settings) -> Path:
    """Store a large page in a transaction that rolls back; the path of the file it left."""
    with Session(engine) as s:
        row = s.get(Snapshot, store_snapshot(s, page, settings=settings))
        assert row is not None and row.path is not None
        path = Path(row.path)
        s.rollback()
    return path


def test_purge_removes_the_file_of_a_rolled_back_write_after_the_grace_period(engine: Engine, tmp_path: Path) -> None:
    """A large page's file is written before its row commits; a rollback leaves the file with no
    row. The purge removes it once it is older than ORPHAN_GRACE, even with retention 0, and keeps
    every file a row refers to, and a fresh orphan (its transaction may still be running)."""
    forever = _settings(tmp_path, days=0)
    kept_page, lost_page, fresh_page, young_page = (os.urandom(INLINE_MAX_BYTES * 2) for _ in range(4))
    with Session(engine) as s:
        kept_id = store_snapshot(s, kept_page, settings=forever)
        s.commit()
    lost_path, fresh_path, young_path = (_rolled_back_write(engine, page, forever)
                                         for page in (lost_page, fresh_page, young_page))
    tmp_left = lost_path.with_suffix(".tmp4242")  # a crash between writing and renaming
    tmp_left.write_bytes(b"half a page")
    with Session(engine) as s:
        kept = s.get(Snapshot, kept_id)
        assert kept is not None and kept.path is not None
        kept_path = Path(kept.path)
    for path in (kept_path, lost_path, tmp_left):
        _age(path, hours=(ORPHAN_GRACE.total_seconds() / 3600) + 1)
    assert lost_path.is_file() and fresh_path.is_file()

    # The fresh orphan's bytes are fetched again and being stored (not committed yet) while the
    # purge runs, an hour after its first write: the file is reused, and must stay.
    _age(fresh_path, hours=(ORPHAN_GRACE.total_seconds() / 3600) + 1)
    with Session(engine) as storing:
        again_id = store_snapshot(storing, fresh_page, settings=forever)
        stats = purge_snapshots(engine, forever)
        storing.commit()
    assert (stats.rows, stats.files, stats.orphans) == (0, 0, 2)
    assert not lost_path.exists() and not tmp_left.exists()
    assert fresh_path.is_file() and kept_path.is_file()
    assert young_path.is_file()  # younger than the grace period: its transaction may still run
    with Session(engine) as s:
        assert load_snapshot(s, kept_id) == kept_page and load_snapshot(s, again_id) == fresh_page
        s.execute(delete(Snapshot).where(Snapshot.id.in_([kept_id, again_id])))
        s.commit()


def test_a_failed_purge_leaves_rows_and_files_together(engine: Engine, tmp_path: Path) -> None:
    """Files are removed only after the rows' deletion commits: when the commit fails, every
    remaining row still has its file."""
    settings = _settings(tmp_path, days=30)
    page = os.urandom(INLINE_MAX_BYTES * 2)
    with Session(engine) as s:
        snap_id = store_snapshot(s, page, settings=settings)
        row = s.get(Snapshot, snap_id)
        assert row is not None and row.path is not None
        row.created_at = utcnow() - timedelta(days=40)
        path = Path(row.path)
        s.commit()

    def refuse(_session: Session) -> None:
        raise RuntimeError("database went away")

    event.listen(Session, "before_commit", refuse)
    try:
        with pytest.raises(RuntimeError, match="went away"):
            purge_snapshots(engine, settings)
    finally:
        event.remove(Session, "before_commit", refuse)
    with Session(engine) as s:
        assert load_snapshot(s, snap_id) == page  # row and file both still there
    stats = purge_snapshots(engine, settings)
    assert (stats.rows, stats.files) == (1, 1) and not path.exists()
