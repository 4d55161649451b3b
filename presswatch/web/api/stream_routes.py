"""/api/v1/articles and /api/v1/stories: the coverage stream (``classify.stream``, the same
functions as the /stream page) with the same parameters (the shared URL contract)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from classify.stream import parse_params, query_stream
from presswatch.web.api import schemas as s
from presswatch.web.api.core import DEFAULT_LIMIT, MAX_LIMIT, ApiContext, ApiProblem, api_context, link_header
from presswatch.web.api.routes import ERRORS

router = APIRouter()


def stream_params(
    since: Literal["24h", "3d", "7d", "30d"] | None = Query(None, description="Back from now (default 24h)."),
    date_from: str | None = Query(None, alias="from", description="First day, YYYY-MM-DD in the key user's time "
                                  "zone (with or instead of since)."),
    date_to: str | None = Query(None, alias="to", description="Last day, YYYY-MM-DD."),
    sentiment: Literal["negative", "neutral", "positive"] | None = None,
    risk: Literal["low", "medium", "high", "critical"] | None = Query(None, description="This level or above."),
    topic: str | None = Query(None, description="A taxonomy topic key."),
    tier: str | None = Query(None, description="Outlet tier."),
    outlet: int | None = Query(None, description="Outlet id."),
    channel: Literal["news", "feed", "social", "own"] | None = None,
    lang: str | None = None,
    unit: int | None = Query(None, description="Only what this unit (of the key's) sees."),
    query: int | None = Query(None, description="A saved watch query id of the key's units."),
    q: str | None = Query(None, description="Free text in the watch-query language."),
    sort: Literal["time", "risk", "spread"] = "time",
    tag: str | None = None,
    cursor: str | None = Query(None, description="next_cursor of the previous page."),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    count: bool = Query(False, description="Also count the matching pieces (up to 1,000; total_capped beyond)."),
) -> dict[str, Any]:
    values = {"since": since, "from": date_from, "to": date_to, "sentiment": sentiment, "risk": risk,
              "topic": topic, "tier": tier, "outlet": outlet, "channel": channel, "lang": lang, "unit": unit,
              "query": query, "q": q, "sort": sort, "tag": tag, "cursor": cursor}
    return {"params": {k: str(v) for k, v in values.items() if v is not None and v != ""}, "limit": limit,
            "count": count}


def _stream(ctx: ApiContext, wanted: dict[str, Any], stories: bool) -> JSONResponse:
    params = dict(wanted["params"])
    if stories:
        params["stories"] = "1"
    timezone = ctx.use.user.timezone or ctx.request.app.state.root.state.settings.web.default_timezone
    parsed = parse_params(ctx.db, ctx.scope, params, timezone)
    if parsed.errors:
        errors = [{"where": f"query.{e.param}", "why": e.message.format(**e.args) if e.args else e.message,
                   **({"position": e.position} if e.position is not None else {})} for e in parsed.errors]
        if any(e.param == "cursor" for e in parsed.errors):
            raise ApiProblem(400, "The cursor is not one of this list's (start again without it).",
                             extra={"errors": errors})
        raise ApiProblem(422, "Some parameters cannot be used: see errors.", extra={"errors": errors})
    page = query_stream(ctx.db, ctx.scope, parsed.filter, cursor=parsed.cursor, limit=wanted["limit"],
                        parsed_query=parsed.parsed_query, count=wanted["count"])
    if page.errors:
        errors = [{"where": f"query.{e.param}", "why": e.message.format(**e.args) if e.args else e.message}
                  for e in page.errors]
        raise ApiProblem(422, "The request is too wide: see errors.", extra={"errors": errors})
    body = s.StreamListing(items=[s.StreamItem.model_validate(i) for i in page.items],
                           next_cursor=page.next_cursor, total=page.total, total_capped=page.total_capped)
    return JSONResponse(body.model_dump(mode="json"), headers=link_header(ctx.request, page.next_cursor))


@router.get("/articles", response_model=s.StreamListing, responses=ERRORS, tags=["articles"],
            summary="Crawled pieces the key's units see (the /stream filters), newest first")
def list_articles(ctx: ApiContext = Depends(api_context), wanted: dict[str, Any] = Depends(stream_params)
                  ) -> JSONResponse:
    return _stream(ctx, wanted, stories=False)


@router.get("/stories", response_model=s.StreamListing, responses=ERRORS, tags=["articles"],
            summary="One row per story (its newest matching piece, with how many of its pieces match)")
def list_stories(ctx: ApiContext = Depends(api_context), wanted: dict[str, Any] = Depends(stream_params)
                 ) -> JSONResponse:
    return _stream(ctx, wanted, stories=True)
