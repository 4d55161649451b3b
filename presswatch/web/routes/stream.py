"""/stream: the coverage stream an analyst triages from (the URL contract is in classify/stream.py).

Thin: the filter is parsed and the page queried by ``classify.stream`` (also the API's), saved
searches, read state, tags and the export by ``classify.triage``, a case is opened by
``alerts.cases.open_case``. Bad parameters are reported on the page (never a 500); an htmx request
gets the list alone, a "more" request the next rows alone.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import select

from alerts.cases import CaseError, open_case
from classify import triage
from classify.stream import (
    CHANNEL_LABELS,
    CHANNELS,
    SENTIMENTS,
    SINCE,
    SINCE_LABELS,
    SORT_LABELS,
    SORTS,
    TIER_LABELS,
    TIERS,
    StreamFilter,
    StreamPage,
    count_stream,
    export_items,
    parse_params,
    query_stream,
    visible_ids,
    within_unit,
)
from classify.taxonomy import topic_keys, topic_label
from models import Unit, WatchQuery
from models.enums import RISK_LEVELS
from presswatch.i18n import N_
from presswatch.web.deps import Page, user_page

router = APIRouter()

BULK_ACTIONS = ("read", "tag", "export", "case")
PARAM_LABELS = {"since": N_("Time"), "from": N_("From"), "to": N_("To"), "sentiment": N_("Sentiment"),
                "risk": N_("Risk at least"), "topic": N_("Topic"), "tier": N_("Outlet tier"), "outlet": N_("Outlet"),
                "channel": N_("Channel"), "lang": N_("Language"), "unit": N_("Unit"), "query": N_("Watch query"),
                "q": N_("Search (watch-query language)"), "sort": N_("Sort"), "tag": N_("Tag"),
                "cursor": N_("More")}
NOTICES = {"read": N_("Marked read."), "tag": N_("Tagged."), "saved": N_("Search saved."),
           "all": N_("Everything so far is read."), "deleted": N_("Search deleted.")}
MAX_BULK = 500


def _params(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items()}


def _qs(params: dict[str, str], **changes: Any) -> str:
    merged = {**params, **{k: v for k, v in changes.items()}}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def _context(page: Page, params: dict[str, str]) -> dict[str, Any]:
    scope = page.require_scope()
    assert page.user is not None
    parsed = parse_params(page.db, scope, params, page.timezone)
    result = (query_stream(page.db, scope, parsed.filter, cursor=parsed.cursor, user_id=page.user.id,
                           parsed_query=parsed.parsed_query) if parsed.runnable else StreamPage([], None, None, False))
    f = parsed.filter
    base = f.to_params()
    errors = [*parsed.errors, *result.errors]
    q_error = next((e for e in errors if e.param == "q" and e.position is not None), None)
    return {
        "f": f, "params": base, "items": result.items,
        "errors": errors, "q_error": q_error, "q_text": params.get("q", ""),
        "next_url": "/stream?" + _qs(base, cursor=result.next_cursor) if result.next_cursor else None,
        "qs": lambda **changes: _qs(base, **changes), "current_qs": _qs(base),
        "topic_name": lambda key: topic_label(key, page.language),
        "channel_labels": CHANNEL_LABELS, "tier_labels": TIER_LABELS, "param_labels": PARAM_LABELS,
        "more": bool(parsed.cursor), "can_triage": scope.can_anywhere("triage"),
    }


def _options(page: Page) -> dict[str, Any]:
    scope = page.require_scope()
    assert page.user is not None
    visible = scope.visible_ids
    unit_stmt = select(Unit).order_by(Unit.id)
    if visible is not None:
        unit_stmt = unit_stmt.where(Unit.id.in_(sorted(visible))) if visible else unit_stmt.where(Unit.id < 0)
    queries = list(page.db.scalars(select(WatchQuery).where(WatchQuery.enabled.is_(True),
                                                            scope.where(WatchQuery.unit_id))
                                   .order_by(WatchQuery.name)))
    return {
        "since_choices": [(k, SINCE_LABELS[k]) for k in SINCE], "sentiments": SENTIMENTS, "risks": RISK_LEVELS,
        "tiers": TIERS, "channels": CHANNELS, "sorts": [(k, SORT_LABELS[k]) for k in SORTS],
        "topics": sorted(((k, topic_label(k, page.language)) for k in topic_keys()), key=lambda t: t[1]),
        "units": list(page.db.scalars(unit_stmt)), "watch_queries": queries,
        "saved": triage.saved_searches(page.db, scope, page.user.id),
    }


@router.get("/stream")
def stream(request: Request, page: Page = Depends(user_page)) -> Response:
    params = _params(request)
    saved = params.get("saved")
    if saved:
        assert page.user is not None
        try:
            search_id = int(saved)
        except ValueError:
            raise HTTPException(status_code=404) from None
        row = triage.get_saved_search(page.db, page.require_scope(), page.user.id, search_id)
        if row is None:
            raise HTTPException(status_code=404)
        return page.redirect("/stream?" + urlencode(triage.clean_params(row.params)))
    context = _context(page, params)
    if request.headers.get("HX-Request"):
        template = "_stream_rows.html" if context["more"] else "_stream_list.html"
        return page.render(template, **context)
    notice = NOTICES.get(params.get("done", ""))
    return page.render("stream.html", **context, **_options(page), notice=notice)


@router.get("/stream/count")
def stream_count(request: Request, page: Page = Depends(user_page)) -> Response:
    """How many pieces the filter finds (fetched by the list after it shows: counting a wide window
    costs more than listing its first page)."""
    scope = page.require_scope()
    assert page.user is not None
    parsed = parse_params(page.db, scope, _params(request), page.timezone)
    total, capped = (count_stream(page.db, scope, parsed.filter, user_id=page.user.id,
                                  parsed_query=parsed.parsed_query) if parsed.runnable else (None, False))
    return page.render("_stream_count.html", total=total, capped=capped)


def _back(back: str) -> str:
    # Only our own query string: a parameter list, never a URL elsewhere.
    return "/stream" + ("?" + back.lstrip("?") if back and "://" not in back and not back.startswith("/") else "")


@router.post("/stream/bulk")
def stream_bulk(request: Request, page: Page = Depends(user_page), action: str = Form(""),
                ids: list[int] = Form(default=[]), tag: str = Form(""), title: str = Form(""),
                back: str = Form(""), js: str = Form("")) -> Response:
    scope = page.require_scope()
    assert page.user is not None
    if action not in BULK_ACTIONS:
        raise HTTPException(status_code=422)
    ids = ids[:MAX_BULK]
    back_params = {k: v for k, v in _parse_qs(back).items()}
    if action == "export":
        parsed = parse_params(page.db, scope, back_params, page.timezone)
        items = export_items(page.db, scope, parsed.filter, ids=ids, user_id=page.user.id,
                             parsed_query=parsed.parsed_query)
        body = triage.export_xlsx(items, page.language, page.timezone)
        page.audit("stream.export", object_type="stream", object_id=str(len(items)),
                   unit_id=triage.acting_unit(page.db, scope, "read"), after={"pieces": len(items),
                                                                               "filter": parsed.filter.to_params()})
        page.commit()
        return Response(body, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": 'attachment; filename="presswatch-stream.xlsx"',
                                 "Cache-Control": "private, no-store"})
    if not ids:
        return page.redirect(_back(_qs(back_params)))
    if action == "read":
        triage.mark_read(page.db, scope, page.user.id, ids)
        page.commit()
        if js:
            return Response(status_code=204)
        return page.redirect(_back(_qs(back_params, done="read")))
    if not scope.can_anywhere("triage"):
        raise HTTPException(status_code=403)
    if action == "tag":
        try:
            tagged = triage.add_tag(page.db, scope, ids, tag, page.user.username)
        except triage.TriageError as exc:
            return _render_error(page, back_params, str(exc))
        page.audit("stream.tag", object_type="article", object_id=",".join(map(str, tagged))[:64],
                   unit_id=triage.acting_unit(page.db, scope, "triage"), after={"tag": tag.strip(), "ids": tagged})
        page.commit()
        return page.redirect(_back(_qs(back_params, done="tag")))
    # The case's organization must see the pieces already: an alert naming a piece makes it visible
    # to the case's organization, so pieces only another of the user's organizations sees are left out.
    unit = triage.acting_unit(page.db, scope, "triage")
    visible = set(visible_ids(page.db, within_unit(page.db, scope, unit), ids)) if unit is not None else set()
    chosen = [i for i in ids if i in visible]
    if not chosen or unit is None:
        raise HTTPException(status_code=404)
    try:
        case = open_case(page.db, unit_id=unit, article_ids=list(dict.fromkeys(chosen)), actor=page.user.username,
                         title=title)
    except CaseError:
        raise HTTPException(status_code=404) from None
    page.commit()
    return page.redirect(f"/cases/{case.id}")


def _parse_qs(back: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(back.lstrip("?"), keep_blank_values=False)) if back and "://" not in back else {}


def _render_error(page: Page, params: dict[str, str], message: str) -> Response:
    context = _context(page, params)
    return page.render("stream.html", status_code=422, **context, **_options(page), notice=None,
                       action_error=message)


@router.post("/stream/read-all")
def stream_read_all(page: Page = Depends(user_page), back: str = Form("")) -> Response:
    assert page.user is not None
    triage.mark_all_read(page.db, page.user.id)
    page.commit()
    return page.redirect(_back(_qs(_parse_qs(back), done="all")))


@router.post("/stream/searches")
def stream_save(page: Page = Depends(user_page), name: str = Form(""), shared: str = Form(""),
                back: str = Form("")) -> Response:
    scope = page.require_scope()
    assert page.user is not None
    params = _parse_qs(back)
    try:
        row = triage.save_search(page.db, scope, page.user.id, name, params, shared=bool(shared))
    except triage.TriageError as exc:
        return _render_error(page, params, str(exc))
    page.audit("stream.search.save", object_type="saved_search", object_id=row.id, unit_id=row.unit_id,
               after={"name": row.name, "shared": row.shared, "params": row.params})
    page.commit()
    return page.redirect(_back(_qs(params, done="saved")))


@router.post("/stream/searches/{search_id}/delete")
def stream_delete_search(search_id: int, page: Page = Depends(user_page), back: str = Form("")) -> Response:
    assert page.user is not None
    if not triage.delete_saved_search(page.db, page.user.id, search_id):
        raise HTTPException(status_code=404)
    page.commit()
    return page.redirect(_back(_qs(_parse_qs(back), done="deleted")))


__all__ = ["StreamFilter", "router"]
