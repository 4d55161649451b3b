"""/admin/sources: the sources of the admin's units with their health; add, edit, pause, "fetch now".

Thin: the form becomes a ``sources.yaml`` entry, :func:`crawlers.manage.validate_source` checks it
with the registry's parser, :func:`crawlers.preview.preview_source` fetches one page and extracts
it as the pipeline would (nothing stored), :func:`crawlers.manage.save_source` writes and audits.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import Response

from accounts.users import manageable_units
from crawlers import manage
from crawlers.preview import PreviewError, preview_source
from crawlers.registry import KINDS, RegistryError
from models import Unit
from presswatch.i18n import N_
from presswatch.web.deps import Page, require
from presswatch.yamlfile import parse_yaml

router = APIRouter(prefix="/admin/sources")
admin_page = require("admin")

SELECTOR_FIELDS = ("links", "next_page", "title", "body", "published", "author")
_LABELS = (N_("ok"), N_("warning"), N_("failing"), N_("unknown"), N_("file"), N_("web"), N_("empty"), N_("failed"),
           N_("running"))


def source_form(
    unit: str = Form(""), key: str = Form(""), name: str = Form(""), kind: str = Form("html"),
    outlet: str = Form(""), language: str = Form("zh"), timezone: str = Form("Asia/Shanghai"),
    start_urls: str = Form(""), link_pattern: str = Form(""), interval_minutes: str = Form(""),
    encoding: str = Form(""), obey_robots_txt: str = Form(""), enabled: str = Form(""),
    sel_links: str = Form(""), sel_next_page: str = Form(""), sel_title: str = Form(""), sel_body: str = Form(""),
    sel_published: str = Form(""), sel_author: str = Form(""), more: str = Form(""), page_url: str = Form(""),
    action: str = Form("save"),
) -> dict[str, str]:
    return dict(locals())


def declaration(form: dict[str, str]) -> dict[str, Any]:
    """The form as a ``sources.yaml`` entry (validation is the registry's, not ours)."""
    raw: dict[str, Any] = {}
    if form["more"].strip():
        extra = parse_yaml(form["more"], "more", RegistryError)
        if not isinstance(extra, dict):
            raise RegistryError("more settings: expected a YAML mapping (key: value lines)")
        raw.update(extra)
    raw.update({"key": form["key"].strip(), "name": form["name"].strip(), "kind": form["kind"].strip(),
                "language": form["language"].strip() or "zh", "timezone": form["timezone"].strip() or "Asia/Shanghai",
                "enabled": form["enabled"] == "1", "unit": form["unit"] or None})
    for field in ("outlet", "link_pattern", "encoding"):
        if form[field].strip():
            raw[field] = form[field].strip()
    urls = [u.strip() for u in form["start_urls"].splitlines() if u.strip()]
    if urls:
        raw["start_urls"] = urls
    if form["interval_minutes"].strip():
        raw["interval_minutes"] = form["interval_minutes"].strip()
    if form["obey_robots_txt"] in ("yes", "no"):
        raw["obey_robots_txt"] = form["obey_robots_txt"] == "yes"
    selectors = {f: form["sel_" + f].strip() for f in SELECTOR_FIELDS if form["sel_" + f].strip()}
    if selectors:
        raw["selectors"] = {**(raw.get("selectors") or {}), **selectors}
    return raw


def form_of(row: Any, unit_code: str) -> dict[str, str]:
    """A stored source as the form's fields; settings the form has no field for go to "more"."""
    import yaml

    raw = manage.declaration_of(row, unit_code)
    sels = dict(raw.pop("selectors", None) or {})
    out = {"unit": unit_code, "key": raw.pop("key"), "name": raw.pop("name"), "kind": raw.pop("kind"),
           "outlet": str(raw.pop("outlet", "") or ""), "language": str(raw.pop("language", "zh")),
           "timezone": str(raw.pop("timezone", "Asia/Shanghai")),
           "start_urls": "\n".join(raw.pop("start_urls", []) or []),
           "link_pattern": str(raw.pop("link_pattern", "") or ""),
           "interval_minutes": str(raw.pop("interval_minutes", "") or ""),
           "encoding": str(raw.pop("encoding", "") or ""),
           "enabled": "1" if raw.pop("enabled", True) else "",
           "page_url": "", "action": "save"}
    robots = raw.pop("obey_robots_txt", None)
    out["obey_robots_txt"] = "" if robots is None else ("yes" if robots else "no")
    for f in SELECTOR_FIELDS:
        out["sel_" + f] = str(sels.pop(f, "") or "")
    if sels:
        raw["selectors"] = sels
    raw.pop("unit", None)
    out["more"] = yaml.safe_dump(raw, allow_unicode=True, sort_keys=True) if raw else ""
    return out


def _blank_form(page: Page) -> dict[str, str]:
    units = manageable_units(page.db, page.require_scope())
    focus = page.require_scope().focus
    unit = next((u.code for u in units if u.id == focus), units[0].code if units else "")
    return {"unit": unit, "key": "", "name": "", "kind": "html", "outlet": "", "language": "zh",
            "timezone": "Asia/Shanghai", "start_urls": "", "link_pattern": "", "interval_minutes": "",
            "encoding": "", "obey_robots_txt": "", "enabled": "1", "more": "", "page_url": "", "action": "save",
            **{"sel_" + f: "" for f in SELECTOR_FIELDS}}


def _render_form(page: Page, form: dict[str, str], *, source: Any = None, status_code: int = 200,
                 **context: Any) -> Response:
    scope = page.require_scope()
    runs = manage.recent_runs(page.db, source) if source is not None else []
    return page.render("admin_source_form.html", status_code=status_code, form=form, source=source, runs=runs,
                       units=manageable_units(page.db, scope), outlets=manage.outlets_for(page.db, scope),
                       kinds=KINDS, **context)


@router.get("")
def sources(page: Page = Depends(admin_page), errors: str = "") -> Response:
    rows = manage.list_sources(page.db, page.require_scope(), with_errors=errors == "1")
    return page.render("admin_sources.html", rows=rows, errors_only=errors == "1")


@router.get("/new")
def new_source(page: Page = Depends(admin_page)) -> Response:
    return _render_form(page, _blank_form(page))


def _source(page: Page, source_id: int) -> Any:
    try:
        return manage.get_source(page.db, page.require_scope(), source_id)
    except manage.SourceNotFound:
        raise HTTPException(status_code=404) from None


def _unit_code(page: Page, unit_id: int | None) -> str:
    unit = page.db.get(Unit, unit_id) if unit_id is not None else None
    return unit.code if unit is not None else ""


@router.get("/{source_id}")
def edit_source(source_id: int, page: Page = Depends(admin_page)) -> Response:
    row = _source(page, source_id)
    return _render_form(page, form_of(row, _unit_code(page, row.unit_id)), source=row)


def _submit(page: Page, form: dict[str, str], source_id: int | None) -> Response:
    source = _source(page, source_id) if source_id is not None else None
    if source is not None:
        form = {**form, "key": source.key}
    try:
        decl = manage.validate_source(page.db, declaration(form))
    except RegistryError as exc:
        return _render_form(page, form, source=source, status_code=400, error=str(exc))
    if form["action"] == "preview":
        try:
            preview = preview_source(decl, page.settings, page_url=form["page_url"].strip() or None)
        except PreviewError as exc:
            return _render_form(page, form, source=source, status_code=200, preview_error=str(exc))
        return _render_form(page, form, source=source, preview=preview)
    try:
        row = manage.save_source(page.db, page.actor, page.require_scope(), decl, source_id=source_id)
    except manage.SourceNotFound:
        page.db.rollback()
        raise HTTPException(status_code=404) from None
    except manage.SourceError as exc:
        page.db.rollback()
        return _render_form(page, form, source=source, status_code=400, error=exc.localized(page.t))
    page.commit()
    return page.redirect(f"/admin/sources/{row.id}?saved=1")


@router.post("/new")
def create_source(page: Page = Depends(admin_page), form: dict[str, str] = Depends(source_form)) -> Response:
    return _submit(page, form, None)


@router.post("/{source_id}")
def update_source(source_id: int, page: Page = Depends(admin_page),
                  form: dict[str, str] = Depends(source_form)) -> Response:
    return _submit(page, form, source_id)


@router.post("/{source_id}/enabled")
def pause_resume(source_id: int, page: Page = Depends(admin_page), enabled: str = Form("")) -> Response:
    try:
        manage.set_enabled(page.db, page.actor, page.require_scope(), source_id, enabled == "1")
    except manage.SourceNotFound:
        raise HTTPException(status_code=404) from None
    page.commit()
    return page.redirect("/admin/sources")
