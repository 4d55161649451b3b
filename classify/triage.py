"""Working through the coverage stream: saved searches, read state, tags, the XLSX export.

- Saved searches belong to a user and to an organization (the top unit of the unit the user acts
  for); a shared one is listed for everyone whose grants lie in that organization, never outside.
- Read state is per user and cheap: a "read before" time (mark all read) plus the ids read one by
  one since; a piece stored after the marker and not in the list is unread.
- Tags are per organization unit: only scopes that see the unit see the tag.
- The export is a real spreadsheet: times as Excel datetimes in the user's time zone, names not
  codes, headers in the user's language, an autofilter on the header row.

Every function takes the caller's ``Scope``; pieces outside it are ignored (``visible_ids``).
Nothing here commits.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, false, or_, select
from sqlalchemy.orm import Session

from classify.stream import CHANNEL_LABELS, PARAMS, TIER_LABELS, StreamItem, visible_ids, within_unit
from models import ArticleTag, SavedSearch, StreamRead, StreamReadMarker, utcnow
from models.scope import Scope, default_unit_id, root_of
from presswatch.i18n import N_, excel_time, format_excel_times, gettext

MAX_SAVED_PER_USER = 100


class TriageError(ValueError):
    """An action the scope may not take (no unit to act for, a search that is not theirs)."""


def acting_unit(session: Session, scope: Scope, action: str) -> int | None:
    """The unit the user acts for (``Scope.acting_unit``); a superuser without a grant acts for the
    installation's organization."""
    unit = scope.acting_unit(action)
    if unit is None and scope.superuser:
        return default_unit_id(session)
    return unit


def _organizations(session: Session, scope: Scope) -> set[int]:
    return {root_of(session, u) for u in scope.granted_units}


# -- saved searches --------------------------------------------------------------------------


def clean_params(params: Mapping[str, str]) -> dict[str, str]:
    """Only the URL contract's parameters (no cursor), non-empty, as strings."""
    return {k: str(params[k]).strip()[:1000] for k in PARAMS if k in params and str(params[k]).strip()}


def save_search(session: Session, scope: Scope, user_id: int, name: str, params: Mapping[str, str],
                shared: bool = False) -> SavedSearch:
    name = name.strip()[:100]
    if not name:
        raise TriageError(N_("Give the search a name."))
    unit = acting_unit(session, scope, "read") or acting_unit(session, scope, "read_own")
    if unit is None:
        raise TriageError(N_("You have no organization to save searches in."))
    count = len(list(session.scalars(select(SavedSearch.id).where(SavedSearch.user_id == user_id))))
    if count >= MAX_SAVED_PER_USER:
        raise TriageError(N_("Too many saved searches; delete some first."))
    row = SavedSearch(user_id=user_id, unit_id=root_of(session, unit), name=name, params=clean_params(params),
                      shared=shared, created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def saved_searches(session: Session, scope: Scope, user_id: int) -> list[SavedSearch]:
    """The user's own searches, then those shared inside their organizations."""
    shared_in = or_(SavedSearch.shared.is_(True), SavedSearch.user_id == user_id)
    if not scope.superuser:
        orgs = sorted(_organizations(session, scope))
        shared_in = or_(SavedSearch.user_id == user_id,
                        and_(SavedSearch.shared.is_(True), SavedSearch.unit_id.in_(orgs)) if orgs else false())
    rows = session.scalars(select(SavedSearch).where(shared_in).order_by(SavedSearch.name, SavedSearch.id))
    return sorted(rows, key=lambda r: (r.user_id != user_id, r.name.casefold(), r.id))


def get_saved_search(session: Session, scope: Scope, user_id: int, search_id: int) -> SavedSearch | None:
    """A search the user may open (theirs, or shared in their organization); else None (404)."""
    row = session.get(SavedSearch, search_id)
    if row is None:
        return None
    if row.user_id == user_id or (row.shared and (scope.superuser or row.unit_id in _organizations(session, scope))):
        return row
    return None


def delete_saved_search(session: Session, user_id: int, search_id: int) -> bool:
    """Delete one of the user's own searches (a shared one is deleted by its owner only)."""
    row = session.get(SavedSearch, search_id)
    if row is None or row.user_id != user_id:
        return False
    session.delete(row)
    session.flush()
    return True


# -- read state ------------------------------------------------------------------------------


def mark_read(session: Session, scope: Scope, user_id: int, ids: Sequence[int]) -> list[int]:
    """Mark these pieces read for the user (those the scope sees); returns the ids marked."""
    chosen = visible_ids(session, scope, ids)
    if not chosen:
        return []
    have = set(session.scalars(select(StreamRead.article_id).where(StreamRead.user_id == user_id,
                                                                   StreamRead.article_id.in_(chosen))))
    now = utcnow()
    for article_id in chosen:
        if article_id not in have:
            session.add(StreamRead(user_id=user_id, article_id=article_id, read_at=now))
    session.flush()
    return chosen


def mark_all_read(session: Session, user_id: int, before: datetime | None = None) -> datetime:
    """Everything stored until ``before`` (now) is read; the one-by-one list is emptied up to then."""
    before = before or utcnow()
    marker = session.get(StreamReadMarker, user_id)
    if marker is None:
        session.add(StreamReadMarker(user_id=user_id, read_before=before))
    else:
        marker.read_before = max(marker.read_before, before)
    session.execute(delete(StreamRead).where(StreamRead.user_id == user_id, StreamRead.read_at <= before))
    session.flush()
    return before


# -- tags ------------------------------------------------------------------------------------


def add_tag(session: Session, scope: Scope, ids: Sequence[int], tag: str, author: str) -> list[int]:
    """Tag these pieces for the user's organization unit; returns the ids tagged."""
    from classify.stream import _TAG_RE

    tag = tag.strip()
    if not _TAG_RE.match(tag):
        raise TriageError(N_("A tag is 1 to 64 characters without spaces."))
    unit = acting_unit(session, scope, "triage")
    if unit is None:
        raise TriageError(N_("You may not tag pieces."))
    # Only pieces the tag's unit sees: a tag filed under one organization never names a piece only
    # another of the user's organizations sees.
    chosen = visible_ids(session, within_unit(session, scope, unit), ids)
    if not chosen:
        return []
    have = set(session.scalars(select(ArticleTag.article_id).where(
        ArticleTag.article_id.in_(chosen), ArticleTag.unit_id == unit, ArticleTag.tag == tag)))
    for article_id in chosen:
        if article_id not in have:
            session.add(ArticleTag(article_id=article_id, unit_id=unit, tag=tag, author=author[:100],
                                   created_at=utcnow()))
    session.flush()
    return chosen


# -- export ----------------------------------------------------------------------------------

SHEET_TITLE = N_("Coverage stream")
EXPORT_HEADERS = (N_("Published"), N_("Title"), N_("Outlet"), N_("Outlet tier"), N_("Channel"),
                  N_("Language"), N_("Sentiment"), N_("Risk"), N_("Topics"), N_("Pieces in story"),
                  N_("Outlets in story"), N_("Tags"), N_("Link"))


def _language_name(code: str, language: str) -> str:
    """'zh' -> 中文 / tiếng Trung / Chinese; an unknown code stays as stored."""
    from presswatch.i18n import babel_locale

    base = (code or "").replace("_", "-").split("-")[0].lower()
    return str(babel_locale(language).languages.get(base) or code)


def export_xlsx(items: Iterable[StreamItem], language: str, timezone: str) -> bytes:
    """The pieces as an XLSX workbook (one sheet, header row with an autofilter)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from classify.reasons import risk_label, sentiment_label
    from classify.taxonomy import topic_label

    def t(message: str) -> str:
        return gettext(language, message)

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = t(SHEET_TITLE)[:31]
    headers = [t(h) for h in EXPORT_HEADERS]
    headers[0] = f"{headers[0]} ({timezone})"
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    rows = 0
    for item in items:
        row: list[Any] = [
            excel_time(item.published_at, timezone), item.title, item.outlet_name,
            t(TIER_LABELS[item.tier]) if item.tier in TIER_LABELS else (item.tier or ""),
            t(CHANNEL_LABELS.get(item.channel, item.channel)), _language_name(item.lang, language),
            sentiment_label(item.sentiment, language) if item.sentiment else "",
            risk_label(item.risk_level, language) if item.risk_level else "",
            ", ".join(topic_label(k, language) for k in item.topics), item.story_articles, item.story_outlets,
            ", ".join(item.tags), item.url if item.url.startswith(("http://", "https://")) else "",
        ]
        # A crawled title starting with "=" must stay text, never become a formula.
        row = [f"'{v}" if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v for v in row]
        sheet.append(row)
        rows += 1
    format_excel_times(sheet)
    sheet.auto_filter.ref = f"A1:{sheet.cell(row=1, column=len(headers)).column_letter}{rows + 1}"
    sheet.freeze_panes = "A2"
    for letter, width in zip("ABCDEFGHIJKLM", (17, 60, 24, 12, 12, 8, 10, 10, 24, 10, 10, 16, 40), strict=True):
        sheet.column_dimensions[letter].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
