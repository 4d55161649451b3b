"""Raw page snapshots: the evidence behind each article, compressed and content-addressed.

A snapshot is keyed by the sha256 of the raw bytes as fetched, so the same page fetched twice (or
served identically under two URLs) is kept once. Small pages are stored inline in the database;
larger ones go to ``pipeline.snapshot_dir/ab/cd/<sha256>.gz`` (written to a temporary name and
renamed, so a crash never leaves half a file under the final name). ``purge_snapshots`` applies
``pipeline.snapshot_retention_days``; articles keep their rows (their ``snapshot_id`` becomes NULL).

A page's file is written before its row is committed. When that transaction rolls back (a failed
batch, a crash, a concurrent worker's row winning), the file stays on disk with no row: an orphan,
evidence of nothing. ``purge_snapshots`` removes orphans older than ``ORPHAN_GRACE``, and removes
the files of purged rows only after their deletion is committed, so a failed purge never leaves a
row whose file is gone.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, delete, select
from sqlalchemy.orm import Session

from models import Snapshot, utcnow
from pipeline.upsert import insert_for_dialect
from settings import Settings

log = logging.getLogger(__name__)

# Compressed pages up to this size live in the row: one read, no file to lose. Above it the
# database would grow by whole pages (a 10 MB page compresses to ~1-3 MB), so they go to disk.
INLINE_MAX_BYTES = 64 * 1024
GZIP_LEVEL = 6  # level 9 costs ~2x the CPU for ~3% smaller HTML


def _path_for(snapshot_dir: Path, sha: str) -> Path:
    return snapshot_dir / sha[:2] / sha[2:4] / f"{sha}.gz"


def store_snapshot(session: Session, body: bytes, *, settings: Settings, content_type: str | None = None,
                   encoding: str | None = None) -> int:
    """Store ``body`` once; return the snapshot id (an existing one when the bytes were seen before)."""
    row = snapshot_row(body, settings=settings, content_type=content_type, encoding=encoding)
    snap_id = session.connection().execute(_insert_snapshot(session.get_bind().dialect.name), row).scalar_one_or_none()
    if snap_id is None:  # the same bytes were stored before (or by a concurrent worker just now)
        snap_id = snapshot_id_by_sha(session, row["sha256"])
    return int(snap_id)


def snapshot_id_by_sha(session: Session, sha: str) -> int:
    return int(session.connection().execute(_SELECT_BY_SHA, {"sha": sha}).scalar_one())


def snapshot_row(body: bytes, *, settings: Settings, content_type: str | None = None,
                 encoding: str | None = None) -> dict[str, Any]:
    """The ``snapshots`` row for ``body`` (compressed; a large page is written to its file here)."""
    sha = hashlib.sha256(body).hexdigest()
    packed = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
    data: bytes | None = packed
    path: str | None = None
    if len(packed) > INLINE_MAX_BYTES:
        target = _path_for(Path(settings.pipeline.snapshot_dir), sha)
        try:
            os.utime(target)  # kept: the orphan sweep leaves a file touched in the last hour alone
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".tmp{os.getpid()}")
            tmp.write_bytes(packed)
            os.replace(tmp, target)
        data, path = None, str(target)
    return {
        "sha256": sha, "content_type": (content_type or "")[:100] or None, "encoding": (encoding or "")[:40] or None,
        "size_bytes": len(body), "compression": "gzip", "data": data, "path": path, "created_at": utcnow(),
    }


_SELECT_BY_SHA = select(Snapshot.id).where(Snapshot.sha256 == bindparam("sha"))


@functools.cache
def _insert_snapshot(dialect: str) -> Any:
    stmt = insert_for_dialect(dialect, Snapshot).on_conflict_do_nothing(index_elements=["sha256"])
    return stmt.returning(Snapshot.id)


def load_snapshot(session: Session, snapshot_id: int) -> bytes | None:
    """The raw bytes of a snapshot, or None when it was purged or its file is gone."""
    snap = session.get(Snapshot, snapshot_id)
    if snap is None:
        return None
    if snap.data is not None:
        return gzip.decompress(snap.data)
    if snap.path and Path(snap.path).is_file():
        return gzip.decompress(Path(snap.path).read_bytes())
    return None


# A file with no row is an orphan only once the transaction that wrote it must be over: batches
# commit within seconds, so an hour leaves a wide margin for a slow one.
ORPHAN_GRACE = timedelta(hours=1)
_CHUNK = 500


@dataclass
class PurgeStats:
    rows: int = 0
    files: int = 0
    orphans: int = 0  # files no row refers to (their transaction rolled back), and stale temporary files


def purge_snapshots(engine: Engine, settings: Settings, now: datetime | None = None) -> PurgeStats:
    """Delete snapshots older than the retention period (0 days keeps them forever), then their
    files, then orphan files. The rows' deletion is committed (its own transaction) before any
    file is touched."""
    from sqlalchemy import update

    from models import Article

    stats = PurgeStats()
    days = settings.pipeline.snapshot_retention_days
    now = now or utcnow()
    old: list[Any] = []
    if days > 0:
        cutoff = now - timedelta(days=days)
        with Session(engine) as session, session.begin():
            old = list(session.execute(select(Snapshot.id, Snapshot.sha256, Snapshot.path)
                                       .where(Snapshot.created_at < cutoff)).all())
            ids = [row.id for row in old]
            for chunk in range(0, len(ids), _CHUNK):
                part = ids[chunk:chunk + _CHUNK]
                # SQLite enforces ON DELETE SET NULL only with foreign keys on; do it explicitly everywhere.
                session.execute(update(Article).where(Article.snapshot_id.in_(part)).values(snapshot_id=None))
                session.execute(delete(Snapshot).where(Snapshot.id.in_(part)))
        stats.rows = len(ids)
    with Session(engine) as session:  # the rows are gone for good: now their files
        on_disk = [row for row in old if row.path]
        # The same bytes stored again since (another worker, before the commit) own the file now.
        kept = _stored_shas(session, [row.sha256 for row in on_disk])
        for row in on_disk:
            if row.sha256 not in kept and _unlink(Path(row.path)):
                stats.files += 1
        stats.orphans = _remove_orphans(session, Path(settings.pipeline.snapshot_dir), now)
    if stats.rows or stats.orphans:
        log.info("purged %d snapshots (%d files) and %d orphan files", stats.rows, stats.files, stats.orphans)
    return stats


def _stored_shas(session: Session, shas: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in range(0, len(shas), _CHUNK):
        part = shas[chunk:chunk + _CHUNK]
        found.update(session.scalars(select(Snapshot.sha256).where(Snapshot.sha256.in_(part))))
    return found


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _remove_orphans(session: Session, snapshot_dir: Path, now: datetime) -> int:
    """Remove snapshot files older than ``ORPHAN_GRACE`` that no row refers to, and temporary
    files left by a crash between writing and renaming."""
    if not snapshot_dir.is_dir():
        return 0
    before = (now - ORPHAN_GRACE).timestamp()
    removed = 0
    candidates: dict[str, Path] = {}
    for path in snapshot_dir.glob("*/*/*"):
        if not _older_than(path, before):
            continue
        if ".tmp" in path.suffix:  # "<sha>.tmp<pid>": a write that never reached its rename
            removed += _unlink(path)
        elif path.suffix == ".gz" and len(path.stem) == 64:
            candidates[path.stem] = path
    stored = _stored_shas(session, sorted(candidates))
    for sha, path in candidates.items():
        # Checked again: a worker storing the same bytes since the scan touched the file.
        if sha not in stored and _older_than(path, before):
            removed += _unlink(path)
    return removed


def _older_than(path: Path, timestamp: float) -> bool:
    try:
        return path.stat().st_mtime < timestamp
    except FileNotFoundError:
        return False
