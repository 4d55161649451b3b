"""/s/{token}: what a read-only signed link shows (the dashboard, its wall, or one report with its
PDF and XLSX) to a reader without an account. The link decides everything (``accounts.links``):
unknown, revoked or expired answers 404 like any missing page; each view is in the audit log (the
wall's own refreshes are not new views)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import HTMLResponse, Response

from accounts.links import link_scope, record_view, resolve
from alerts.digest import centre
from models import Digest, SharedLink, Unit
from presswatch.i18n import normalize_language
from presswatch.web.deps import Page, anonymous_page, client_address
from presswatch.web.routes.dashboard import DEFAULT_WINDOW, render_dashboard
from presswatch.web.routes.reports import VIEW_HEADERS, definitions, download, organization_of, record_view_html

router = APIRouter(prefix="/s")
NO_INDEX = {"X-Robots-Tag": "noindex, nofollow"}


def _link(page: Page, token: str, kind: str | None = None) -> SharedLink:
    link = resolve(page.db, token)
    if link is None or (kind is not None and link.kind != kind):
        raise HTTPException(status_code=404)
    if page.user is None and not (page.request.query_params.get("lang") or page.request.cookies.get("pw_lang")):
        page.language = normalize_language(link.language)  # the admin's choice, unless the reader picked one
    return link


def _viewed(page: Page, link: SharedLink, what: str) -> None:
    if page.request.headers.get("hx-request"):
        return  # the wall refreshing itself, not a new view
    record_view(page.db, link, client_address(page.request), what)
    page.commit()


def _org(page: Page, link: SharedLink) -> str:
    unit = page.db.get(Unit, link.unit_id)
    return unit.name if unit is not None else ""


def _dashboard(page: Page, token: str, since: str, wall: bool, partial: bool) -> Response:
    link = _link(page, token, "dashboard")
    _viewed(page, link, "dashboard.wall" if wall else "dashboard")
    scope = link_scope(page.db, link)
    page.extra["link_org"] = _org(page, link)
    response = render_dashboard(page, scope, window=since, wall=wall, partial=partial, link_base=f"/s/{token}",
                                clickable=False)
    response.headers.update(NO_INDEX)
    return response


def _report(page: Page, token: str) -> tuple[SharedLink, Digest]:
    link = _link(page, token, "report")
    digest = page.db.get(Digest, link.digest_id) if link.digest_id is not None else None
    if digest is None or not link_scope(page.db, link).contains(digest.unit_id):
        raise HTTPException(status_code=404)
    return link, digest


@router.get("/{token}")
def shared(token: str, page: Page = Depends(anonymous_page), since: str = DEFAULT_WINDOW,
           partial: str = "") -> Response:
    link = resolve(page.db, token)
    if link is not None and link.kind == "report":
        link, digest = _report(page, token)
        _viewed(page, link, "report")
        response = page.render("shared_report.html", link=link, digest=digest, token=token,
                               organization=organization_of(page, digest), kind=centre.record_kind(digest))
        response.headers.update(NO_INDEX)
        return response
    return _dashboard(page, token, since, wall=False, partial=partial == "1")


@router.get("/{token}/wall")
def shared_wall(token: str, page: Page = Depends(anonymous_page), since: str = DEFAULT_WINDOW,
                partial: str = "") -> Response:
    return _dashboard(page, token, since, wall=True, partial=partial == "1")


@router.get("/{token}/view")
def shared_report_view(token: str, page: Page = Depends(anonymous_page)) -> Response:
    _link_row, digest = _report(page, token)
    return HTMLResponse(record_view_html(page, digest), headers={**VIEW_HEADERS, **NO_INDEX})


@router.get("/{token}/download.{fmt}")
def shared_report_download(token: str, fmt: str, page: Page = Depends(anonymous_page)) -> Response:
    if fmt not in centre.FORMATS:
        raise HTTPException(status_code=404)
    link, digest = _report(page, token)
    _viewed(page, link, f"report.{fmt}")
    return download(page, digest, fmt)


__all__ = ["definitions", "router"]
