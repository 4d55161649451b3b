"""/admin/digests: digest definitions (recipients, time, sections, language, scope) and a preview.
Thin: alerts.digest.admin decides; the preview is the rendered digest, served inert (sandboxed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from accounts.users import manageable_units
from alerts.digest import admin as digest_admin
from alerts.digest.definitions import LANGUAGES, SECTIONS, DigestError
from presswatch.i18n import N_
from presswatch.web.deps import Page, require

router = APIRouter(prefix="/admin/digests")
admin_page = require("admin")
_LABELS = tuple(N_(s) for s in ("headline", "flagged", "stories", "topics", "own_pieces", "source_health", "chart"))


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.replace("，", ",").replace("\n", ",").split(",") if p.strip()]


async def digest_form(request: Request) -> dict[str, Any]:
    data = await request.form()
    out: dict[str, Any] = {k: str(data.get(k, "") or "") for k in (
        "name", "title", "recipients", "language", "timezone", "send_time", "langs", "topics", "watch_queries",
        "send_when_empty", "enabled")}
    out["units"] = [str(v) for v in data.getlist("units")]
    out["sections"] = [str(v) for v in data.getlist("sections")]
    return out


def raw_of(form: dict[str, Any]) -> dict[str, Any]:
    return {"name": form["name"].strip(), "title": form["title"].strip(), "recipients": _csv(form["recipients"]),
            "language": form["language"] or "zh-CN", "timezone": form["timezone"].strip() or "Asia/Shanghai",
            "send_time": form["send_time"].strip() or "07:30", "sections": form["sections"],
            "send_when_empty": form["send_when_empty"] == "1", "enabled": form["enabled"] == "1",
            "scope": {"units": form["units"], "langs": _csv(form["langs"]), "topics": _csv(form["topics"]),
                      "watch_queries": _csv(form["watch_queries"])}}


def form_of(d: Any) -> dict[str, Any]:
    return {"name": d.name, "title": d.title, "recipients": "\n".join(d.recipients), "language": d.language,
            "timezone": d.timezone, "send_time": d.send_time, "units": list(d.scope.units),
            "langs": ", ".join(d.scope.langs), "topics": ", ".join(d.scope.topics),
            "watch_queries": ", ".join(d.scope.watch_queries), "sections": list(d.sections),
            "send_when_empty": "1" if d.send_when_empty else "", "enabled": "1" if d.enabled else ""}


def _render(page: Page, form: dict[str, Any], name: str | None = None, status_code: int = 200,
            **context: Any) -> Response:
    return page.render("admin_digest_form.html", status_code=status_code, form=form, name=name,
                       units=manageable_units(page.db, page.require_scope()), languages=LANGUAGES, sections=SECTIONS,
                       **context)


@router.get("")
def digests(page: Page = Depends(admin_page)) -> Response:
    rows = digest_admin.list_definitions(page.db, page.require_scope(), page.settings)
    return page.render("admin_digests.html", rows=rows)


@router.get("/new")
def new_digest(page: Page = Depends(admin_page)) -> Response:
    scope = page.require_scope()
    units = manageable_units(page.db, scope)
    focus = next((u.code for u in units if u.id == scope.focus), units[0].code if units else "")
    blank = {"name": "", "title": "", "recipients": "", "language": page.language, "timezone": page.timezone,
             "send_time": "07:30", "units": [focus] if focus else [], "langs": "", "topics": "",
             "watch_queries": "", "sections": list(SECTIONS), "send_when_empty": "1", "enabled": "1"}
    return _render(page, blank)


def _definition(page: Page, name: str) -> Any:
    try:
        return digest_admin.get_definition(page.db, page.require_scope(), page.settings, name)
    except digest_admin.DigestNotFound:
        raise HTTPException(status_code=404) from None


@router.get("/{name}")
def edit_digest(name: str, page: Page = Depends(admin_page)) -> Response:
    return _render(page, form_of(_definition(page, name)), name)


@router.get("/{name}/preview")
def preview(name: str, page: Page = Depends(admin_page)) -> Response:
    """The digest as if sent now, as an inert document: sandboxed, no script, never our origin's."""
    definition = _definition(page, name)
    _subject, html = digest_admin.preview_html(page.db, page.settings, definition)
    headers = {"Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                          "font-src data:; frame-ancestors 'self'",
               "X-Frame-Options": "SAMEORIGIN",  # shown in the digest page's frame, nowhere else
               "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}
    return Response(html, media_type="text/html; charset=utf-8", headers=headers)


def _save(page: Page, form: dict[str, Any], original: str | None) -> Response:
    if original is not None:
        _definition(page, original)
    try:
        definition = digest_admin.validate(raw_of(form))
        digest_admin.save_definition(page.db, page.actor, page.require_scope(), page.settings, definition,
                                     original=original)
    except DigestError as exc:
        page.db.rollback()
        return _render(page, form, original, status_code=400, error=str(exc))
    except digest_admin.DigestNotFound:
        page.db.rollback()
        raise HTTPException(status_code=404) from None
    except digest_admin.DigestAdminError as exc:
        page.db.rollback()
        return _render(page, form, original, status_code=400, error=exc.localized(page.t))
    page.commit()
    return page.redirect(f"/admin/digests/{definition.name}?saved=1")


@router.post("/new")
def create_digest(page: Page = Depends(admin_page), form: dict[str, Any] = Depends(digest_form)) -> Response:
    return _save(page, form, None)


@router.post("/{name}")
def update_digest(name: str, page: Page = Depends(admin_page),
                  form: dict[str, Any] = Depends(digest_form)) -> Response:
    return _save(page, form, name)
