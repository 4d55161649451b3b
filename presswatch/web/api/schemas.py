"""The API's typed request and response bodies (pydantic); the OpenAPI document is generated from
these. Response models read ORM rows directly (``from_attributes``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from fastapi import Body
from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Orm(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Problem(BaseModel):
    """An error (RFC 9457, ``application/problem+json``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(None, description="Validation errors: where and why.")


class Listing(BaseModel, Generic[T]):
    """One page of a list, newest first. Pass ``next_cursor`` as ``cursor`` for the next page (also in
    the ``Link: <...>; rel="next"`` header); null on the last page."""

    items: list[T]
    next_cursor: str | None = None


class Me(BaseModel):
    username: str
    key_prefix: str
    key_name: str
    read_only: bool
    unit_id: int | None = Field(None, description="The key sees this unit and the units under it only.")
    expires_at: datetime | None
    unit_ids: list[int] | None = Field(None, description="Units the key may read (null: every unit).")


class Limits(BaseModel):
    requests_per_minute: int
    remaining: int
    reset_seconds: int = Field(description="Seconds until the key's full allowance is back.")
    counted: str = Field(description="Where the count is kept.")
    max_page_size: int


class Unit(Orm):
    id: int
    code: str
    name: str
    kind: str
    parent_id: int | None


class CaseEvent(Orm):
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    note: str | None


class Case(Orm):
    id: int
    kind: str
    severity: Literal["low", "medium", "high", "critical"]
    title: str
    state: Literal["new", "acknowledged", "responding", "resolved", "dismissed"]
    assignee: str | None
    response_line: str | None
    deadline_at: datetime | None
    escalation_level: int
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    unit_id: int | None
    rule_id: int | None
    story_id: int | None
    article_id: int | None
    reason: dict[str, Any]


class CaseDetail(Case):
    events: list[CaseEvent]


class CaseAction(BaseModel):
    """The body of a case action; each action reads the fields it needs."""

    note: str | None = Field(None, max_length=4000, description="ack, note (required), resolve, dismiss, reopen.")
    assignee: str | None = Field(None, description="assign: a username of the case's organization (admin or analyst).")
    response_line: str | None = Field(None, max_length=4000, description="respond: the agreed response line.")
    sentiment: Literal["positive", "neutral", "negative"] | None = Field(
        None, description="dismiss: the piece's right sentiment, stored as a label.")


class Correction(Orm):
    id: int
    state: str
    outlet_id: int | None
    article_id: int | None
    alert_id: int | None = Field(description="The case the request belongs to.")
    piece_url: str | None
    false_claim: str
    requested_at: datetime | None
    deadline_at: datetime | None
    outcome: str | None
    corrected_url: str | None
    unit_id: int | None
    history: list[dict[str, Any]]
    created_at: datetime


class CorrectionCreate(BaseModel):
    case_id: int | None = Field(None, description="The case the false piece belongs to (its organization owns "
                                "the request).")
    unit_id: int | None = Field(None, description="Without a case: the unit the request is for (default: the "
                                "key's first unit where it may triage).")
    piece_url: str = Field(min_length=1, max_length=2000)
    false_claim: str = Field(min_length=1, max_length=4000)
    outlet_key: str | None = None
    article_id: int | None = None
    deadline_days: float = Field(3, gt=0, le=60)


class CorrectionNote(BaseModel):
    note: str = Field(min_length=1, max_length=4000)


class CorrectionClose(BaseModel):
    outcome: Literal["corrected", "refused", "no_response"]
    corrected_url: str | None = None
    note: str | None = Field(None, max_length=4000)


class RiskPlan(Orm):
    id: int
    name: str
    place: str
    parties: list[str]
    keywords: list[str]
    action_at: datetime
    window_start: datetime
    window_end: datetime
    overrides: dict[str, Any]
    state: str
    unit_id: int | None
    created_at: datetime


class RiskPlanCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    action_at: datetime = Field(description="When the action takes place (with a time zone).")
    keywords: list[str] = Field(default_factory=list)
    place: str = ""
    parties: list[str] = Field(default_factory=list)
    before_hours: float = Field(24, ge=0, le=24 * 30)
    after_hours: float = Field(72, ge=0, le=24 * 30)
    overrides: dict[str, Any] = Field(default_factory=dict)
    unit_id: int | None = Field(None, description="The plan's unit (default: the key's first unit where it may "
                                "configure).")


class Registration(Orm):
    id: int
    unit_id: int
    outlet_id: int | None
    url: str | None
    title: str
    authors: list[str]
    kind: str
    adoption: str
    published_at: datetime
    char_count: int | None
    state: str
    registered_by: str
    registered_at: datetime
    article_id: int | None
    verified_at: datetime | None
    verification: dict[str, Any]
    review_history: list[dict[str, Any]]
    note: str | None


class RegistrationCreate(BaseModel):
    unit: str = Field(description="Unit code (or name) the piece counts for.")
    url: str | None = Field(None, description="The piece's address: enough alone when the crawler has it.")
    outlet: str | None = Field(None, description="Outlet key (needed when the crawler has not seen the address).")
    published: date | datetime | None = Field(None, description="Publication date (default: the article's).")
    title: str | None = None
    kind: str = "news"
    adoption: str = "none"


class RegistrationCreated(BaseModel):
    registration: Registration
    warnings: list[str]


class RegistrationReview(BaseModel):
    action: Literal["submit", "section_approve", "leader_approve", "reject"]
    note: str | None = Field(None, max_length=4000)


class QuotaStatusRow(BaseModel):
    rule_key: str
    rule_name: str
    measure: str
    period: str
    unit_id: int
    unit_code: str
    unit_name: str
    unit_path: str
    target: float
    count: int
    points: float
    value: float
    met: bool
    shortfall: float
    current: bool
    days_left: int | None


class RankRow(BaseModel):
    rank: int
    rule_key: str
    unit_code: str
    unit_name: str
    value: float
    count: int
    target: float
    periods: int
    periods_met: int


class Digest(Orm):
    id: int
    name: str
    language: str
    period_start: datetime
    period_end: datetime
    status: str
    stats: dict[str, Any]
    created_at: datetime
    sent_at: datetime | None
    unit_id: int | None


class Source(Orm):
    id: int
    unit_id: int | None
    key: str
    name: str
    kind: str
    language: str
    enabled: bool
    health: str
    consecutive_failures: int
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_item_count: int | None
    last_error: str | None
    outlet_id: int | None
    created_at: datetime


class WatchQuery(Orm):
    id: int
    name: str
    query: str
    purpose: str
    enabled: bool
    priority: int
    unit_id: int | None
    created_at: datetime


class WatchQueryWrite(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    query: str = Field(min_length=1, description="The watch-query language (AND OR NOT NEAR/n, \"phrases\", prefix*).")
    purpose: Literal["org", "official", "topic", "watch"] = "watch"
    enabled: bool = True
    priority: int = 0
    unit: str = Field(description="Code of a unit the key's user administers.")


# A declaration as in sources.yaml / alert_rules.yaml (validated by the same parser), plus ``unit``.
DECLARATION_BODY: Any = Body(..., description="The declaration as in the YAML file (validated by the same parser; "
                             "errors name the field), plus unit: the code of a unit the key's user administers.")


class AlertRule(Orm):
    id: int
    name: str
    group_name: str | None
    enabled: bool
    severity: str
    conditions: dict[str, Any]
    channels: list[str]
    options: dict[str, Any]
    unit_id: int | None
    created_at: datetime


class Label(Orm):
    id: int
    article_id: int | None
    task: str
    label: str
    author: str
    note: str | None
    created_at: datetime


class LabelCreate(BaseModel):
    kind: Literal["not_about_us", "not_negative", "not_risky", "wrong_topic", "wrong_sentiment"]
    value: str = Field("", description="wrong_topic: a taxonomy topic key; wrong_sentiment: positive, neutral or "
                       "negative.")
    note: str = Field("", max_length=2000)


class Article(Orm):
    id: int
    url: str
    title: str
    lang: str
    byline: str | None
    published_at: datetime | None
    fetched_at: datetime
    stored_at: datetime
    outlet_id: int | None
    source_id: int | None
    story_id: int | None
    flags: list[str]


class ArticleDetail(Article):
    text: str
    risk_level: str | None = None
    sentiment: str | None = None
    topics: list[str] = Field(default_factory=list)
    matched_terms: list[str] = Field(default_factory=list)


class Story(Orm):
    id: int
    title: str
    lang: str
    first_seen_at: datetime
    last_seen_at: datetime
    article_count: int
    outlet_count: int
    created_at: datetime


class StreamItem(Orm):
    """A piece in the coverage stream (``classify.stream``): with ``/stories``, the story's newest
    matching piece, ``folded`` = how many of its pieces match."""

    article_id: int
    title: str
    url: str
    lang: str
    published_at: datetime | None
    stored_at: datetime | None
    outlet_id: int | None
    outlet_name: str
    tier: str | None
    channel: str
    sentiment: str | None
    risk_level: str | None
    risk_score: float | None
    topics: list[str]
    story_id: int | None
    story_articles: int
    story_outlets: int
    folded: int
    tags: list[str]


class StreamListing(BaseModel):
    """One page of the stream, newest first (or by risk / spread with ``sort``)."""

    items: list[StreamItem]
    next_cursor: str | None = None
    total: int | None = Field(None, description="With count=true: matching pieces (stories), up to 1,000.")
    total_capped: bool = False
