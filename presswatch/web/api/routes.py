"""The /api/v1 resources. Each route checks the key's scope, calls the same stage function as the
web page and the CLI, commits, and shapes the answer; another organization's object is 404."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from alerts import cases as case_stage
from alerts import listing as alert_lists
from alerts.plans import PlanError, create_plan, get_plan_in_scope
from classify.feedback import FeedbackError, FeedbackNotAllowed, add_feedback, article_labels, visible_article
from crawlers.listing import sources_query
from models import Alert, AlertEvent, AlertRule, CorrectionRequest, Digest, Registration, RiskPlan, Source
from models import Article as ArticleRow
from models import Label as LabelRow
from models import Story as StoryRow
from models import Unit as UnitRow
from models import WatchQuery as WatchQueryRow
from models.enums import CaseState, CorrectionState, RegistrationState
from models.scope import get_in_scope
from presswatch.web.api import schemas as s
from presswatch.web.api.core import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    ApiContext,
    ApiProblem,
    PageParams,
    api_context,
    limiter_of,
    link_header,
    page_of,
    writer,
)
from quota import listing as quota_lists
from quota.units import QuotaError

router = APIRouter()

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": s.Problem, "content": {"application/problem+json": {}}, "description": why}
    for code, why in ((401, "No valid API key."), (404, "Not found (or outside the key's scope)."),
                      (429, "Rate limit: retry after Retry-After seconds."))
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    403: {"model": s.Problem, "content": {"application/problem+json": {}},
          "description": "The key may not do this (read-only, or no such right on the object's unit)."},
    409: {"model": s.Problem, "content": {"application/problem+json": {}},
          "description": "Refused in the object's current state (the detail says why)."},
}


def paging(cursor: str | None = Query(None, description="next_cursor of the previous page."),
           limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"Rows per page (at most {MAX_LIMIT}).")
           ) -> PageParams:
    return PageParams(cursor, limit)


def listing(ctx: ApiContext, stmt: Any, time_col: Any, id_col: Any, params: PageParams, kind: str,
            schema: type[s.BaseModel]) -> JSONResponse:
    page = page_of(ctx, stmt, time_col, id_col, params, kind)
    body = {"items": [schema.model_validate(r).model_dump(mode="json") for r in page.rows],
            "next_cursor": page.next_cursor}
    return JSONResponse(body, headers=link_header(ctx.request, page.next_cursor))


# -- the key itself --------------------------------------------------------------------------------


@router.get("/me", response_model=s.Me, responses=ERRORS, tags=["keys"], summary="The key and what it may see")
def me(ctx: ApiContext = Depends(api_context)) -> s.Me:
    key = ctx.use.key
    ids = ctx.scope.visible_ids
    return s.Me(username=ctx.username, key_prefix=key.prefix, key_name=key.name, read_only=key.read_only,
                unit_id=key.unit_id, expires_at=key.expires_at, unit_ids=sorted(ids) if ids is not None else None)


@router.get("/limits", response_model=s.Limits, responses=ERRORS, tags=["keys"], summary="The key's rate limit")
def limits(request: Request, ctx: ApiContext = Depends(api_context)) -> s.Limits:
    limiter = limiter_of(request)
    left, reset = limiter.peek(ctx.use.key.id)
    return s.Limits(requests_per_minute=limiter.per_minute, remaining=int(left), reset_seconds=reset,
                    counted="per key, in each web worker process", max_page_size=MAX_LIMIT)


@router.get("/units", response_model=list[s.Unit], responses=ERRORS, tags=["keys"], summary="Units the key sees")
def units(ctx: ApiContext = Depends(api_context)) -> list[s.Unit]:
    rows = ctx.db.scalars(select(UnitRow).where(ctx.scope.where(UnitRow.id)).order_by(UnitRow.id))
    return [s.Unit.model_validate(u) for u in rows]


# -- alerts and cases --------------------------------------------------------------------------------

CaseStateName = Literal["new", "acknowledged", "responding", "resolved", "dismissed", "open"]


@router.get("/cases", response_model=s.Listing[s.Case], responses=ERRORS, tags=["cases"],
            summary="Alerts / cases, newest first")
@router.get("/alerts", response_model=s.Listing[s.Case], responses=ERRORS, tags=["cases"],
            summary="Alerts (every alert is a case), newest first")
def list_cases(ctx: ApiContext = Depends(api_context), params: PageParams = Depends(paging),
               state: list[CaseStateName] = Query(default_factory=list, description="'open': new, acknowledged "
                                                  "or responding. Repeat for several."),
               severity: Literal["low", "medium", "high", "critical"] | None = Query(
                   None, description="This severity or above."),
               assignee: str | None = None) -> JSONResponse:
    states: list[CaseState] = []
    for name in state:
        states += list(case_stage.OPEN_STATES) if name == "open" else [CaseState(name)]
    stmt = alert_lists.cases_query(ctx.scope, states=states, severity=severity, assignee=assignee)
    return listing(ctx, stmt, Alert.created_at, Alert.id, params, "cases", s.Case)


def _case(ctx: ApiContext, case_id: int) -> Alert:
    try:
        return case_stage.get_case_in_scope(ctx.db, case_id, ctx.scope)
    except case_stage.CaseError:
        raise ApiProblem(404, f"No case #{case_id}.") from None


def _case_detail(ctx: ApiContext, case: Alert) -> s.CaseDetail:
    events = ctx.db.scalars(select(AlertEvent).where(AlertEvent.alert_id == case.id).order_by(AlertEvent.id))
    return s.CaseDetail.model_validate({**s.Case.model_validate(case).model_dump(),
                                        "events": [s.CaseEvent.model_validate(e) for e in events]})


@router.get("/cases/{case_id}", response_model=s.CaseDetail, responses=ERRORS, tags=["cases"],
            summary="One case with its history")
@router.get("/alerts/{case_id}", response_model=s.CaseDetail, responses=ERRORS, tags=["cases"],
            summary="One alert (its case) with its history")
def get_case(case_id: int, ctx: ApiContext = Depends(api_context)) -> s.CaseDetail:
    return _case_detail(ctx, _case(ctx, case_id))


@router.post("/cases/{case_id}/{action}", response_model=s.CaseDetail, responses=WRITE_ERRORS, tags=["cases"],
             summary="A case action: ack, assign, respond, note, resolve, dismiss, reopen")
def case_action(case_id: int, action: Literal["ack", "assign", "respond", "note", "resolve", "dismiss", "reopen"],
                body: s.CaseAction | None = None, ctx: ApiContext = Depends(writer)) -> s.CaseDetail:
    """The same ``alerts.cases.act`` as the case page's buttons; the history and the audit log name
    the key's user (and the audit log the key's prefix)."""
    body = body or s.CaseAction()
    try:
        case = case_stage.act(ctx.db, ctx.scope, case_id, action, actor=ctx.username, note=body.note,
                              assignee=body.assignee, response_line=body.response_line, sentiment=body.sentiment)
    except case_stage.CaseNotAllowed:
        raise ApiProblem(403, "The key may not act on this case's cases.") from None
    except case_stage.CaseError as exc:
        if str(exc) == f"no case #{case_id}":
            raise ApiProblem(404, f"No case #{case_id}.") from None
        raise ApiProblem(409, str(exc)) from None
    ctx.commit()
    return _case_detail(ctx, case)


# -- corrections ------------------------------------------------------------------------------------


@router.get("/corrections", response_model=s.Listing[s.Correction], responses=ERRORS, tags=["corrections"],
            summary="Correction requests (cải chính / 更正), newest first")
def list_corrections(ctx: ApiContext = Depends(api_context), params: PageParams = Depends(paging),
                     state: Literal["draft", "requested", "corrected", "refused", "no_response"] | None = None
                     ) -> JSONResponse:
    stmt = alert_lists.corrections_query(ctx.scope, state=CorrectionState(state) if state else None)
    return listing(ctx, stmt, CorrectionRequest.created_at, CorrectionRequest.id, params, "corrections",
                   s.Correction)


def _correction(ctx: ApiContext, correction_id: int) -> CorrectionRequest:
    try:
        return case_stage.get_correction_in_scope(ctx.db, correction_id, ctx.scope)
    except case_stage.CaseError:
        raise ApiProblem(404, f"No correction request #{correction_id}.") from None


@router.get("/corrections/{correction_id}", response_model=s.Correction, responses=ERRORS, tags=["corrections"])
def get_correction(correction_id: int, ctx: ApiContext = Depends(api_context)) -> s.Correction:
    return s.Correction.model_validate(_correction(ctx, correction_id))


def _not_found_or(status: int, exc: Exception) -> ApiProblem:
    """A stage's "no case #n" / "no article #n" / "no unit #n" (missing or outside the scope) is 404."""
    text = str(exc)
    return ApiProblem(404 if text.startswith("no ") and "#" in text else status, text)


@router.post("/corrections", response_model=s.Correction, status_code=201, responses=WRITE_ERRORS,
             tags=["corrections"], summary="Request a correction of a false piece (about a case, or for a unit)")
def create_correction(body: s.CorrectionCreate, ctx: ApiContext = Depends(writer)) -> s.Correction:
    """``alerts.cases.request_correction`` with the key's scope, as the /corrections page."""
    if not ctx.scope.can_anywhere("triage"):
        raise ApiProblem(403, "The key may not request corrections.")
    unit_id = body.unit_id
    if body.case_id is None and unit_id is None:
        unit_id = ctx.scope.acting_unit("triage")
    try:
        row = case_stage.request_correction(
            ctx.db, outlet_key=body.outlet_key, piece_url=body.piece_url, false_claim=body.false_claim,
            actor=ctx.actor, article_id=body.article_id, alert_id=body.case_id, deadline_days=body.deadline_days,
            unit_id=unit_id, scope=ctx.scope)
    except case_stage.CaseError as exc:
        raise _not_found_or(422, exc) from None
    ctx.commit()
    return s.Correction.model_validate(row)


@router.post("/corrections/{correction_id}/close", response_model=s.Correction, responses=WRITE_ERRORS,
             tags=["corrections"], summary="Close a correction request with its outcome")
def close_correction(correction_id: int, body: s.CorrectionClose, ctx: ApiContext = Depends(writer)) -> s.Correction:
    _correction(ctx, correction_id)
    try:
        row = case_stage.close_correction(ctx.db, correction_id, outcome=body.outcome, actor=ctx.actor,
                                          corrected_url=body.corrected_url, note=body.note, scope=ctx.scope)
    except case_stage.CaseError as exc:
        raise _not_found_or(409, exc) from None
    ctx.commit()
    return s.Correction.model_validate(row)


@router.post("/corrections/{correction_id}/note", response_model=s.Correction, responses=WRITE_ERRORS,
             tags=["corrections"], summary="Track a request: a note in its history")
def note_correction(correction_id: int, body: s.CorrectionNote, ctx: ApiContext = Depends(writer)) -> s.Correction:
    _correction(ctx, correction_id)
    try:
        row = case_stage.note_correction(ctx.db, correction_id, body.note, actor=ctx.actor, scope=ctx.scope)
    except case_stage.CaseError as exc:
        raise _not_found_or(422, exc) from None
    ctx.commit()
    return s.Correction.model_validate(row)


def _audit(ctx: ApiContext, action: str, unit_id: int | None, object_type: str, object_id: object,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    from accounts.audit import record

    record(ctx.db, ctx.actor, action, unit_id=unit_id, object_type=object_type, object_id=object_id,
           before=before, after=after)


# -- risk plans ---------------------------------------------------------------------------------------


@router.get("/plans", response_model=s.Listing[s.RiskPlan], responses=ERRORS, tags=["risk plans"],
            summary="Risk plans (三同步), newest first")
def list_plans(ctx: ApiContext = Depends(api_context), params: PageParams = Depends(paging),
               state: Literal["planned", "open", "closed"] | None = None) -> JSONResponse:
    return listing(ctx, alert_lists.plans_query(ctx.scope, state=state), RiskPlan.created_at, RiskPlan.id, params,
                   "plans", s.RiskPlan)


@router.get("/plans/{plan_id}", response_model=s.RiskPlan, responses=ERRORS, tags=["risk plans"])
def get_plan(plan_id: int, ctx: ApiContext = Depends(api_context)) -> s.RiskPlan:
    try:
        return s.RiskPlan.model_validate(get_plan_in_scope(ctx.db, plan_id, ctx.scope))
    except PlanError:
        raise ApiProblem(404, f"No plan #{plan_id}.") from None


@router.post("/plans", response_model=s.RiskPlan, status_code=201, responses=WRITE_ERRORS, tags=["risk plans"],
             summary="Plan a high-risk action: a tighter monitoring window around it")
def add_plan(body: s.RiskPlanCreate, ctx: ApiContext = Depends(writer)) -> s.RiskPlan:
    """``alerts.plans.create_plan`` with the key's scope, as the /plans page."""
    if not ctx.scope.can_anywhere("configure"):
        raise ApiProblem(403, "The key may not add plans.")
    unit_id = body.unit_id if body.unit_id is not None else ctx.scope.acting_unit("configure")
    try:
        plan = create_plan(ctx.db, name=body.name, action_at=body.action_at, keywords=body.keywords,
                           place=body.place, parties=body.parties, before_hours=body.before_hours,
                           after_hours=body.after_hours, overrides=body.overrides, unit_id=unit_id,
                           actor=ctx.actor, scope=ctx.scope)
    except PlanError as exc:
        raise _not_found_or(422, exc) from None
    ctx.commit()
    return s.RiskPlan.model_validate(plan)


# -- registrations, quota -------------------------------------------------------------------------


@router.get("/registrations", response_model=s.Listing[s.Registration], responses=ERRORS, tags=["quota"],
            summary="Registered pieces (quota), newest first")
def list_registrations(ctx: ApiContext = Depends(api_context), params: PageParams = Depends(paging),
                       state: Literal["proposed", "submitted", "section_approved", "leader_approved",
                                      "rejected"] | None = None,
                       unit_id: int | None = None) -> JSONResponse:
    stmt = quota_lists.registrations_query(ctx.scope, state=RegistrationState(state) if state else None,
                                           unit_id=unit_id)
    return listing(ctx, stmt, Registration.registered_at, Registration.id, params, "registrations",
                   s.Registration)


def _registration(ctx: ApiContext, registration_id: int) -> Registration:
    from quota.desk import get_registration_in_scope

    try:
        return get_registration_in_scope(ctx.db, ctx.scope, registration_id)
    except QuotaError:
        raise ApiProblem(404, f"No registration #{registration_id}.") from None


@router.get("/registrations/{registration_id}", response_model=s.Registration, responses=ERRORS, tags=["quota"])
def get_registration(registration_id: int, ctx: ApiContext = Depends(api_context)) -> s.Registration:
    return s.Registration.model_validate(_registration(ctx, registration_id))


@router.post("/registrations", response_model=s.RegistrationCreated, status_code=201, responses=WRITE_ERRORS,
             tags=["quota"], summary="Register a published piece for a unit's quota")
def add_registration(body: s.RegistrationCreate, ctx: ApiContext = Depends(writer)) -> s.RegistrationCreated:
    """``quota.desk.register_in_scope``, as the /register page: a URL the crawler has is enough (outlet,
    title and date come from the article); otherwise give outlet, title and date."""
    from models import Outlet
    from quota.desk import register_in_scope

    try:
        unit = quota_lists.visible_unit(ctx.db, ctx.scope, body.unit)
    except QuotaError:
        raise ApiProblem(404, f"No unit {body.unit!r}.") from None
    if not ctx.scope.can("register", unit.id):
        raise ApiProblem(403, "The key may not register pieces for this unit.")
    outlet_id = None
    if body.outlet:
        outlet_id = ctx.db.scalar(select(Outlet.id).where(Outlet.key == body.outlet))
        if outlet_id is None:
            raise ApiProblem(422, f"No outlet {body.outlet!r}.")
    try:
        result = register_in_scope(ctx.db, ctx.scope, ctx.actor, unit_id=unit.id, url=body.url, outlet_id=outlet_id,
                                   published=body.published, title=body.title, kind=body.kind,
                                   adoption=body.adoption, timezone=_timezone(ctx))
    except QuotaError as exc:
        raise ApiProblem(422, str(exc)) from None
    ctx.commit()
    return s.RegistrationCreated(registration=s.Registration.model_validate(result.registration),
                                 warnings=result.warnings)


def _timezone(ctx: ApiContext) -> str:
    return ctx.use.user.timezone or ctx.request.app.state.root.state.settings.web.default_timezone


@router.post("/registrations/{registration_id}/review", response_model=s.Registration, responses=WRITE_ERRORS,
             tags=["quota"], summary="Review a registration: submit, section_approve, leader_approve, reject")
def review_registration(registration_id: int, body: s.RegistrationReview,
                        ctx: ApiContext = Depends(writer)) -> s.Registration:
    """``quota.desk.review_in_scope``, as the review page (``may_review`` says who may take a step; a
    rejection needs its reason)."""
    from quota.desk import may_review, review_in_scope

    reg = _registration(ctx, registration_id)
    if not may_review(ctx.scope, reg.unit_id, body.action):
        raise ApiProblem(403, f"The key may not {body.action} this unit's registrations.")
    try:
        review_in_scope(ctx.db, ctx.scope, ctx.actor, reg.id, body.action, body.note)
    except QuotaError as exc:
        raise ApiProblem(409, str(exc)) from None
    ctx.commit()
    return s.Registration.model_validate(reg)


def _status_row(r: Any) -> s.QuotaStatusRow:
    return s.QuotaStatusRow(
        rule_key=r.rule_key, rule_name=r.rule_name, measure=str(r.measure), period=r.period, unit_id=r.unit_id,
        unit_code=r.unit_code, unit_name=r.unit_name, unit_path=r.unit_path, target=r.target, count=r.count,
        points=r.points, value=r.value, met=r.met, shortfall=r.shortfall, current=r.current, days_left=r.days_left)


@router.get("/quota/status", response_model=list[s.QuotaStatusRow], responses=ERRORS, tags=["quota"],
            summary="Quota progress of the key's units")
def quota_status(ctx: ApiContext = Depends(api_context),
                 period: str | None = Query(None, description="2024-Q2, 2024-05, 2024-W07, a day; default: current."),
                 unit: str | None = Query(None, description="A unit code: it and the units under it.")
                 ) -> list[s.QuotaStatusRow]:
    try:
        rows = quota_lists.scoped_status(ctx.db, ctx.scope, period, unit)
    except QuotaError as exc:
        raise ApiProblem(404 if str(exc).startswith("unknown unit") else 422, str(exc)) from None
    except ValueError as exc:
        raise ApiProblem(422, str(exc)) from None
    return [_status_row(r) for r in rows]


@router.get("/quota/rankings", response_model=dict[str, list[s.RankRow]], responses=ERRORS, tags=["quota"],
            summary="Per quota rule, the key's units ranked")
def quota_rankings(ctx: ApiContext = Depends(api_context), period: str | None = None) -> dict[str, list[s.RankRow]]:
    try:
        ranked = quota_lists.scoped_rankings(ctx.db, ctx.scope, period)
    except (QuotaError, ValueError) as exc:
        raise ApiProblem(422, str(exc)) from None
    return {rule: [s.RankRow(**r.__dict__) for r in rows] for rule, rows in ranked.items()}


@router.get("/quota/report.xlsx", responses={**ERRORS, 200: {"content": {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}, "description": "The workbook."}},
    response_class=Response, tags=["quota"], summary="The quota report of the key's units (xlsx)")
def quota_report(ctx: ApiContext = Depends(api_context), period: str | None = None) -> Response:
    import tempfile
    from pathlib import Path

    from quota.report import write_report

    try:
        rows = quota_lists.scoped_status(ctx.db, ctx.scope, period)
    except (QuotaError, ValueError) as exc:
        raise ApiProblem(422, str(exc)) from None
    language = ctx.use.user.language or "zh-CN"
    with tempfile.TemporaryDirectory() as tmp:
        out = write_report(ctx.db, rows, Path(tmp) / "quota.xlsx", language, _timezone(ctx))
        data = out.read_bytes()
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": 'attachment; filename="quota.xlsx"'})


# -- digests and reports ------------------------------------------------------------------------------


@router.get("/digests", response_model=s.Listing[s.Digest], responses=ERRORS, tags=["digests"],
            summary="Digests built for the key's units, newest first")
def list_digests(ctx: ApiContext = Depends(api_context), params: PageParams = Depends(paging),
                 name: str | None = None) -> JSONResponse:
    return listing(ctx, alert_lists.digests_query(ctx.scope, name=name), Digest.created_at, Digest.id, params,
                   "digests", s.Digest)


def attachment(name: str) -> str:
    """A Content-Disposition for a file name in any script (RFC 6266: an ASCII fallback and UTF-8)."""
    from urllib.parse import quote

    fallback = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


def _digest(ctx: ApiContext, digest_id: int) -> Digest:
    from alerts.digest import centre

    try:
        return centre.get_record(ctx.db, ctx.scope, digest_id)
    except centre.ReportNotFound:
        raise ApiProblem(404, f"No digest or report #{digest_id}.") from None


@router.get("/digests/{digest_id}", response_model=s.Digest, responses=ERRORS, tags=["digests"])
def get_digest(digest_id: int, ctx: ApiContext = Depends(api_context)) -> s.Digest:
    return s.Digest.model_validate(_digest(ctx, digest_id))


@router.get("/digests/{digest_id}/html", response_class=Response, tags=["digests"],
            responses={**ERRORS, 200: {"content": {"text/html": {}}, "description": "The digest as sent."}},
            summary="Download the digest or report as it was sent (HTML, e-mail styles)")
def download_digest(digest_id: int, ctx: ApiContext = Depends(api_context)) -> Response:
    from alerts.digest import centre

    row = _digest(ctx, digest_id)
    saved = centre.stored_file(row, "html")
    if saved is None:
        raise ApiProblem(404, f"Digest #{digest_id} has no stored HTML.")
    return Response(saved.read_bytes(), media_type="text/html; charset=utf-8", headers={
        "Content-Disposition": attachment(centre.file_name(row, "html")),
        "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"})


@router.get("/digests/{digest_id}/download.{fmt}", response_class=Response, tags=["digests"], responses={
    **ERRORS, 200: {"content": {"application/pdf": {}, "application/vnd.openxmlformats-officedocument."
                                "spreadsheetml.sheet": {}}, "description": "The file."}},
    summary="The digest or report as PDF or XLSX (as in the report centre)")
def export_digest(digest_id: int, fmt: Literal["pdf", "xlsx"], ctx: ApiContext = Depends(api_context)) -> Response:
    """``alerts.digest.centre.export``: the file saved when it was sent, else built from its definition."""
    from alerts.digest import centre
    from alerts.digest.definitions import DigestError, load_definitions
    from models.scope import root_of

    row = _digest(ctx, digest_id)
    settings = ctx.request.app.state.root.state.settings
    try:
        definitions = load_definitions(settings.alerts.digests_file)
    except DigestError:
        definitions = []
    organization = ""
    if row.unit_id is not None:
        root = ctx.db.get(UnitRow, root_of(ctx.db, row.unit_id))
        organization = root.name if root is not None else ""
    try:
        data = centre.export(ctx.db, row, fmt, definitions, font_file=settings.alerts.digest_font_file,
                             organization=organization)
    except centre.ReportNotFound:
        raise ApiProblem(404, f"Digest #{digest_id} cannot be rebuilt (its definition is gone).") from None
    return Response(data, media_type=centre.FORMATS[fmt],
                    headers={"Content-Disposition": attachment(centre.file_name(row, fmt))})


# -- configuration: sources, watch queries, alert rules ---------------------------------------------


@router.get("/sources", response_model=s.Listing[s.Source], responses=ERRORS, tags=["configuration"],
            summary="Crawled sources with their health")
def list_sources(ctx: ApiContext = Depends(api_context), params: PageParams = Depends(paging),
                 failing: bool = Query(False, description="Only sources with errors."),
                 enabled: bool | None = None) -> JSONResponse:
    return listing(ctx, sources_query(ctx.scope, failing=failing, enabled=enabled), Source.created_at, Source.id,
                   params, "sources", s.Source)


@router.get("/sources/{source_id}", response_model=s.Source, responses=ERRORS, tags=["configuration"])
def get_source(source_id: int, ctx: ApiContext = Depends(api_context)) -> s.Source:
    from crawlers.manage import SourceError
    from crawlers.manage import get_source as source_in_scope

    try:
        return s.Source.model_validate(source_in_scope(ctx.db, ctx.scope, source_id))
    except SourceError:
        raise ApiProblem(404, f"No source #{source_id}.") from None


@router.get("/watch-queries", response_model=s.Listing[s.WatchQuery], responses=ERRORS, tags=["configuration"],
            summary="The key's watch queries")
def list_watch_queries(ctx: ApiContext = Depends(api_context), params: PageParams = Depends(paging)) -> JSONResponse:
    stmt = select(WatchQueryRow).where(ctx.scope.where(WatchQueryRow.unit_id))
    return listing(ctx, stmt, WatchQueryRow.created_at, WatchQueryRow.id, params, "watch-queries", s.WatchQuery)


@router.get("/watch-queries/{query_id}", response_model=s.WatchQuery, responses=ERRORS, tags=["configuration"])
def get_watch_query(query_id: int, ctx: ApiContext = Depends(api_context)) -> s.WatchQuery:
    row = get_in_scope(ctx.db, WatchQueryRow, query_id, ctx.scope)
    if row is None:
        raise ApiProblem(404, f"No watch query #{query_id}.")
    return s.WatchQuery.model_validate(row)


@router.get("/rules", response_model=s.Listing[s.AlertRule], responses=ERRORS, tags=["configuration"],
            summary="The key's alert rules")
def list_rules(ctx: ApiContext = Depends(api_context), params: PageParams = Depends(paging),
               enabled: bool | None = None) -> JSONResponse:
    return listing(ctx, alert_lists.rules_query(ctx.scope, enabled=enabled), AlertRule.created_at, AlertRule.id,
                   params, "rules", s.AlertRule)


@router.get("/rules/{rule_id}", response_model=s.AlertRule, responses=ERRORS, tags=["configuration"])
def get_rule(rule_id: int, ctx: ApiContext = Depends(api_context)) -> s.AlertRule:
    from alerts.rules_admin import RuleError
    from alerts.rules_admin import get_rule as rule_in_scope

    try:
        return s.AlertRule.model_validate(rule_in_scope(ctx.db, ctx.scope, rule_id))
    except RuleError:
        raise ApiProblem(404, f"No rule #{rule_id}.") from None


# -- articles, labels, stories ------------------------------------------------------------------------


def _article(ctx: ApiContext, article_id: int) -> ArticleRow:
    article = visible_article(ctx.db, article_id, ctx.scope)
    if article is None:
        raise ApiProblem(404, f"No article #{article_id}.")
    return article


@router.get("/articles/{article_id}", response_model=s.ArticleDetail, responses=ERRORS, tags=["articles"],
            summary="One crawled piece with its current classification")
def get_article(article_id: int, ctx: ApiContext = Depends(api_context)) -> s.ArticleDetail:
    from classify.visibility import matched_watch_terms
    from models import Classification

    article = _article(ctx, article_id)
    current = ctx.db.scalar(select(Classification).where(Classification.article_id == article.id,
                                                         Classification.is_current.is_(True))
                            .order_by(Classification.id.desc()).limit(1))
    data = s.Article.model_validate(article).model_dump()
    return s.ArticleDetail(
        **data, text=article.text or "",
        risk_level=str(current.risk_level) if current else None,
        sentiment=str(current.sentiment) if current else None,
        topics=[str(t.get("name", "")) for t in (current.topics or [])] if current else [],
        matched_terms=matched_watch_terms(ctx.db, article, ctx.scope))


@router.get("/articles/{article_id}/labels", response_model=list[s.Label], responses=ERRORS, tags=["labels"],
            summary="Analysts' labels on a piece")
def get_labels(article_id: int, ctx: ApiContext = Depends(api_context)) -> list[s.Label]:
    return [s.Label.model_validate(r) for r in article_labels(ctx.db, _article(ctx, article_id))]


@router.post("/articles/{article_id}/labels", response_model=s.Label, status_code=201, responses=WRITE_ERRORS,
             tags=["labels"], summary="Feedback on a piece (误报 / không liên quan ...), learned by presswatch train")
def add_label(article_id: int, body: s.LabelCreate, ctx: ApiContext = Depends(writer)) -> s.Label:
    article = _article(ctx, article_id)
    try:
        row: LabelRow = add_feedback(ctx.db, ctx.scope, ctx.actor, article, body.kind, body.value, body.note)
    except FeedbackNotAllowed:
        raise ApiProblem(403, "The key may not label pieces.") from None
    except FeedbackError as exc:
        raise ApiProblem(422, str(exc)) from None
    ctx.commit()
    return s.Label.model_validate(row)


@router.get("/stories/{story_id}", response_model=s.Story, responses=ERRORS, tags=["articles"],
            summary="One story (a piece and its reposts)")
def get_story(story_id: int, ctx: ApiContext = Depends(api_context)) -> s.Story:
    """Visible when one of its pieces is (``classify.visibility.story_visible``, as the story page); a
    story merged into another answers with the live one."""
    from classify.visibility import live_story_id, story_visible

    live = live_story_id(ctx.db, story_id)
    story = ctx.db.get(StoryRow, live) if live is not None else None
    if story is None or not story_visible(ctx.db, story.id, ctx.scope):
        raise ApiProblem(404, f"No story #{story_id}.")
    return s.Story.model_validate(story)
