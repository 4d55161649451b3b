"""/cases/{id}: one alert / case as read-only facts and history (issue 16 adds the actions)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response

from alerts.cases import CaseError, get_case_in_scope, history
from presswatch.web.deps import Page, user_page

router = APIRouter()


@router.get("/cases/{case_id}")
def case_page(case_id: int, page: Page = Depends(user_page)) -> Response:
    try:
        case = get_case_in_scope(page.db, case_id, page.require_scope())
    except CaseError:
        raise HTTPException(status_code=404) from None
    return page.render("case.html", case=case, events=history(page.db, case.id))
