"""/admin/links: an admin's read-only signed links (create with a unit of their subtree and an expiry
of at most 30 days, list, revoke). The token is shown once, on the page that created it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import Response
from sqlalchemy import select

from accounts import links as links_mod
from accounts.users import AccountError, NotFound, manageable_units
from models import Digest, Unit
from presswatch.i18n import LANGUAGES
from presswatch.web.deps import Page, require

router = APIRouter(prefix="/admin/links")
admin_page = require("admin")


def _page(page: Page, status_code: int = 200, **context: Any) -> Response:
    scope = page.require_scope()
    rows = links_mod.list_links(page.db, scope)
    units = manageable_units(page.db, scope)
    reports = list(page.db.scalars(select(Digest).where(scope.where(Digest.unit_id))
                                   .order_by(Digest.period_start.desc(), Digest.id.desc()).limit(50)))
    names = {u.id: u.name for u in page.db.scalars(select(Unit))}
    base = (page.settings.web.public_url or str(page.request.base_url)).rstrip("/")
    context.setdefault("form", {})
    return page.render("admin_links.html", status_code=status_code, links=rows, units=units, reports=reports,
                       names=names, base=base, max_days=links_mod.MAX_DAYS, languages=LANGUAGES,
                       is_live=links_mod.is_live, **context)


@router.get("")
def links(page: Page = Depends(admin_page), kind: str = "dashboard", digest_id: str = "") -> Response:
    return _page(page, form={"kind": kind, "digest_id": digest_id})


@router.post("")
def create(page: Page = Depends(admin_page), kind: str = Form("dashboard"), unit_id: str = Form(""),
           days: str = Form("7"), digest_id: str = Form(""), label: str = Form(""),
           language: str = Form("")) -> Response:
    form = {"kind": kind, "unit_id": unit_id, "days": days, "digest_id": digest_id, "label": label,
            "language": language}
    try:
        try:
            n_days = float(days)
        except ValueError:
            raise AccountError("A link expires after at most {n} days.", n=links_mod.MAX_DAYS) from None
        if not unit_id.isdigit():
            raise NotFound("Unknown unit '{unit}'.", unit=unit_id)
        link, token = links_mod.create_link(
            page.db, page.actor, page.require_scope(), kind=kind, unit_id=int(unit_id), days=n_days,
            digest_id=int(digest_id) if digest_id.isdigit() else None, label=label,
            language=language if language in LANGUAGES else page.language)
    except AccountError as exc:
        page.db.rollback()
        return _page(page, status_code=400, form=form, error=exc.localized(page.t))
    page.commit()
    return _page(page, created=link, token=token)


@router.post("/{link_id}/revoke")
def revoke(link_id: int, page: Page = Depends(admin_page)) -> Response:
    try:
        links_mod.revoke_link(page.db, page.actor, page.require_scope(), link_id)
    except NotFound:
        raise HTTPException(status_code=404) from None
    page.commit()
    return page.redirect("/admin/links")
