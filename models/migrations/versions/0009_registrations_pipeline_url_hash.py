"""quota: registration URL hashes in the pipeline's canonical form (tracking parameters dropped)

Registrations hashed their URL with a lighter canonical form of their own; they now use
:func:`pipeline.urls.canonical_url`, the form ``Article.url_hash`` is made from, so a URL pasted
with ``utm_*`` or WeChat share parameters is the same piece as the crawled article. This
recomputes the stored hashes; a URL the pipeline cannot parse keeps its old hash.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21 19:50:00
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from pipeline.urls import BadUrl, canonical_url

    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, url FROM registrations WHERE url IS NOT NULL")).all()
    updates = []
    for rid, url in rows:
        try:
            canon = canonical_url(url)
        except BadUrl:
            continue
        updates.append({"id": rid, "h": hashlib.sha256(canon.encode("utf-8")).hexdigest()})
    if updates:
        conn.execute(sa.text("UPDATE registrations SET url_hash = :h WHERE id = :id"), updates)


def downgrade() -> None:
    pass  # the new hashes stay valid keys; nothing depends on the old form
