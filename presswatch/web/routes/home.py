"""/ (home: the user's scope, open alerts and cases, shortcuts) and the organization switcher."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import Response

from alerts.cases import open_cases, open_cases_by_severity
from models import Unit
from presswatch.web.deps import Page, user_page
from presswatch.web.routes.auth import safe_next
from quota.desk import review_queue

router = APIRouter()


@router.get("/")
def home(page: Page = Depends(user_page)) -> Response:
    scope = page.require_scope()
    grants = _grant_rows(page)
    cases = open_cases(page.db, scope, limit=20)
    by_severity = open_cases_by_severity(page.db, scope)
    chart = {
        "grid": {"left": 40, "right": 10, "top": 10, "bottom": 30},
        "xAxis": {"type": "category", "data": [page.t(level) for level in by_severity]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"type": "bar", "data": list(by_severity.values()),
                    "itemStyle": {"color": "#d63638"}}],
    }
    waiting = review_queue(page.db, scope, limit=10)
    return page.render("home.html", grants=grants, cases=cases, open_count=sum(by_severity.values()),
                       chart=chart if any(by_severity.values()) else None, waiting=waiting)


def _grant_rows(page: Page) -> list[tuple[Unit, str]]:
    from accounts.users import grants_of

    assert page.user is not None
    return [(page.db.get(Unit, g.unit_id), g.role.value) for g in grants_of(page.db, page.user)]  # type: ignore[misc]


@router.post("/switch")
def switch_organization(page: Page = Depends(user_page), unit_id: str = Form(""), next: str = Form("/")) -> Response:
    """Look at one of the organizations the user holds a grant on ('' = all of them)."""
    scope = page.require_scope()
    assert page.web_session is not None
    if unit_id:
        if not unit_id.isdigit() or not (scope.superuser or int(unit_id) in scope.granted_units) or \
                page.db.get(Unit, int(unit_id)) is None:
            raise HTTPException(status_code=404)
        page.web_session.active_unit_id = int(unit_id)
    else:
        page.web_session.active_unit_id = None
    page.commit()
    return page.redirect(safe_next(next))
