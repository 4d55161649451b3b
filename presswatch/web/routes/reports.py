"""/reports: the report centre (digests and periodic reports sent and scheduled, who received what),
one record's page, its view in the browser, its PDF / XLSX, and resending it through the outbox.
Every decision is in :mod:`alerts.digest.centre`; a record outside the scope answers 404."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import HTMLResponse, Response

from alerts.digest import centre
from alerts.digest.definitions import DigestDefinition, DigestError, load_definitions
from models import Digest
from presswatch.web.deps import Page, require

router = APIRouter(prefix="/reports")
read_page = require("read")

# The saved digest is e-mail HTML (inline styles, the chart as a data: image): shown in a sandboxed
# frame of the record's page, with its own policy (no script at all) and framable by our pages only.
VIEW_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox allow-popups "
                               "allow-popups-to-escape-sandbox",
    "X-Frame-Options": "SAMEORIGIN",
}


def definitions(page: Page) -> tuple[list[DigestDefinition], str]:
    """The digest definitions, or none and the reason when the file does not load."""
    try:
        return load_definitions(page.settings.alerts.digests_file), ""
    except DigestError as exc:
        return [], str(exc)


def _record(page: Page, digest_id: int) -> Digest:
    try:
        return centre.get_record(page.db, page.require_scope(), digest_id)
    except centre.ReportNotFound:
        raise HTTPException(status_code=404) from None


def organization_of(page: Page, digest: Digest) -> str:
    from models import Unit
    from models.scope import root_of

    if digest.unit_id is None:
        return ""
    root = page.db.get(Unit, root_of(page.db, digest.unit_id))
    return root.name if root is not None else ""


@router.get("")
def report_centre(page: Page = Depends(read_page), kind: str = "") -> Response:
    scope = page.require_scope()
    defs, problem = definitions(page)
    rows = centre.list_records(page.db, scope, kind=kind if kind in ("daily", *centre.CALENDAR_KINDS) else "")
    return page.render("reports.html", rows=rows, scheduled=centre.scheduled(page.db, scope, defs),
                       problem=problem, kind=kind, kinds=("daily", *centre.CALENDAR_KINDS),
                       quota=centre.quota_messages(page.db, scope, limit=50))


def _message(page: Page, delivery_id: int) -> centre.QuotaMessage:
    try:
        return centre.get_quota_message(page.db, page.require_scope(), delivery_id)
    except centre.ReportNotFound:
        raise HTTPException(status_code=404) from None


@router.get("/messages/{delivery_id}")
def quota_message(delivery_id: int, page: Page = Depends(read_page), resent: int = 0) -> Response:
    message = _message(page, delivery_id)
    files = [str(f.get("filename", "")) for f in (message.first.payload or {}).get("attachments") or []]
    return page.render("report_message.html", message=message, files=files, resent=resent,
                       can_resend=page.require_scope().can("configure", message.unit_id))


@router.get("/messages/{delivery_id}/attachment/{index}")
def quota_attachment(delivery_id: int, index: int, page: Page = Depends(read_page)) -> Response:
    try:
        name, mime, data = centre.quota_attachment(_message(page, delivery_id), index)
    except centre.ReportNotFound:
        raise HTTPException(status_code=404) from None
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in name)
    return Response(data, media_type=mime, headers={"Content-Disposition": f'attachment; filename="{safe}"'})


@router.post("/messages/{delivery_id}/resend")
def quota_resend(delivery_id: int, page: Page = Depends(read_page), one: str = Form("")) -> Response:
    scope = page.require_scope()
    message = _message(page, delivery_id)
    if not scope.can("configure", message.unit_id):
        raise HTTPException(status_code=403)
    try:
        queued = centre.resend_quota_message(page.db, page.actor, scope, delivery_id, one=one == "1")
    except centre.ReportNotFound:
        raise HTTPException(status_code=404) from None
    page.commit()
    return page.redirect(f"/reports/messages/{message.first.id}?resent={len(queued)}")


def record_view_html(page: Page, digest: Digest) -> str:
    """The record as it was sent (its saved file), or built again from its definition."""
    saved = centre.stored_file(digest, "html")
    if saved is not None:
        return saved.read_text(encoding="utf-8")
    defs, _problem = definitions(page)
    try:
        return centre.view_html(page.db, digest, defs, font_file=page.settings.alerts.digest_font_file)
    except centre.ReportNotFound:
        raise HTTPException(status_code=404) from None


def download(page: Page, digest: Digest, fmt: str) -> Response:
    defs, _problem = definitions(page)
    try:
        data = centre.export(page.db, digest, fmt, defs, font_file=page.settings.alerts.digest_font_file,
                             organization=organization_of(page, digest))
    except centre.ReportNotFound:
        raise HTTPException(status_code=404) from None
    return Response(data, media_type=centre.FORMATS[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{centre.file_name(digest, fmt)}"'})


@router.get("/{digest_id}")
def report_page(digest_id: int, page: Page = Depends(read_page), resent: int = 0) -> Response:
    digest = _record(page, digest_id)
    scope = page.require_scope()
    context: dict[str, Any] = {
        "digest": digest, "kind": centre.record_kind(digest), "deliveries": centre.deliveries_of(page.db, digest),
        "can_resend": scope.can("configure", digest.unit_id), "resent": resent,
        "can_share": scope.can("admin", digest.unit_id), "organization": organization_of(page, digest),
        "has_file": bool(digest.html_path and Path(digest.html_path).is_file()),
    }
    return page.render("report.html", **context)


@router.get("/{digest_id}/view")
def report_view(digest_id: int, page: Page = Depends(read_page)) -> Response:
    digest = _record(page, digest_id)
    return HTMLResponse(record_view_html(page, digest), headers=VIEW_HEADERS)


@router.get("/{digest_id}/download.{fmt}")
def report_download(digest_id: int, fmt: str, page: Page = Depends(read_page)) -> Response:
    if fmt not in centre.FORMATS:
        raise HTTPException(status_code=404)
    return download(page, _record(page, digest_id), fmt)


@router.post("/{digest_id}/resend")
def report_resend(digest_id: int, page: Page = Depends(read_page), delivery_id: str = Form("")) -> Response:
    scope = page.require_scope()
    digest = _record(page, digest_id)
    if not scope.can("configure", digest.unit_id):
        raise HTTPException(status_code=403)
    try:
        queued = centre.resend(page.db, page.actor, scope, digest.id,
                               delivery_id=int(delivery_id) if delivery_id.isdigit() else None)
    except centre.ReportNotFound:
        raise HTTPException(status_code=404) from None
    except centre.ResendRefused:
        page.db.rollback()
        return page.redirect(f"/reports/{digest.id}?resent=0")
    page.commit()
    return page.redirect(f"/reports/{digest.id}?resent={len(queued)}")
