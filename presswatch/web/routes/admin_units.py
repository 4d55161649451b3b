"""/admin/units: the admin's units with their people; add, rename and move units; add people and
move them between units. Thin: quota.units_admin decides."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import Response

from models.enums import UnitKind
from presswatch.web.deps import Page, require
from quota import units_admin

router = APIRouter(prefix="/admin/units")
admin_page = require("admin")


def _page(page: Page, status_code: int = 200, **context: Any) -> Response:
    rows = units_admin.unit_tree(page.db, page.require_scope())
    return page.render("admin_units.html", status_code=status_code, rows=rows, kinds=[k.value for k in UnitKind],
                       **context)


@router.get("")
def units(page: Page = Depends(admin_page)) -> Response:
    return _page(page)


def _do(page: Page, fn: Any, *args: Any, **kwargs: Any) -> Response:
    try:
        fn(page.db, page.actor, page.require_scope(), *args, **kwargs)
    except units_admin.UnitNotFound:
        page.db.rollback()
        raise HTTPException(status_code=404) from None
    except units_admin.UnitAdminError as exc:
        page.db.rollback()
        return _page(page, status_code=400, error=exc.localized(page.t))
    page.commit()
    return page.redirect("/admin/units")


@router.post("")
def add(page: Page = Depends(admin_page), code: str = Form(""), name: str = Form(""), kind: str = Form("other"),
        parent: str = Form("")) -> Response:
    return _do(page, units_admin.create_unit, code=code, name=name, kind=kind, parent_code=parent)


@router.post("/{code}/rename")
def rename(code: str, page: Page = Depends(admin_page), name: str = Form("")) -> Response:
    return _do(page, units_admin.rename, code, name)


@router.post("/{code}/move")
def move(code: str, page: Page = Depends(admin_page), parent: str = Form("")) -> Response:
    return _do(page, units_admin.move, code, parent)


@router.post("/people")
def add_person(page: Page = Depends(admin_page), unit: str = Form(""), name: str = Form(""),
               role: str = Form("correspondent")) -> Response:
    return _do(page, units_admin.add_person, unit_code=unit, name=name, role=role)


@router.post("/people/{person_id}/move")
def move_person(person_id: int, page: Page = Depends(admin_page), unit: str = Form("")) -> Response:
    return _do(page, units_admin.move_person, person_id, unit)


@router.post("/people/{person_id}/active")
def person_active(person_id: int, page: Page = Depends(admin_page), active: str = Form("")) -> Response:
    return _do(page, units_admin.set_person_active, person_id, active == "1")
