"""/admin: the administration screens of the admin's organization, one link each."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from presswatch.i18n import N_
from presswatch.web.deps import Page, require

router = APIRouter()

SCREENS = (
    ("/admin/users", N_("Users"), N_("Accounts and their roles on your units.")),
    ("/admin/units", N_("Units"), N_("Units, people (correspondents), moves between units.")),
    ("/admin/sources", N_("Sources"), N_("What is crawled, its health, fetch now, pause.")),
    ("/admin/rules", N_("Alert rules"), N_("Conditions, recipients, quiet hours, deadlines; dry run and precision.")),
    ("/admin/queries", N_("Watch queries"), N_("The names and terms that make a piece your business.")),
    ("/admin/digests", N_("Digests"), N_("Daily digests: recipients, time, sections, language; preview.")),
    ("/admin/webhooks", N_("Webhooks"), N_("Signed notices to your own systems; delivery log.")),
    ("/admin/links", N_("Shared links"), N_("Read-only signed links to your units' pages, with an expiry.")),
    ("/admin/audit", N_("Audit log"), N_("Who changed what, when, with before and after.")),
)


@router.get("/admin")
def admin_home(page: Page = Depends(require("admin"))) -> Response:
    return page.render("admin_home.html", screens=SCREENS)
