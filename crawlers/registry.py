"""The source registry: ``sources.yaml`` -> validated declarations -> ``outlets``/``sources`` rows.

Sources are data, spiders are generic (one per kind). Everything a spider needs is declared here
and validated when the file loads, selectors included, so a typo fails at start-up with the
source key and the field named ("source 'jinri-danzhou', field selectors.links: invalid CSS
selector ..."), never at 3 a.m. in the middle of a crawl.

File layout::

    outlets:
      - {key: jinri-danzhou, name: 今日儋州, tier: prefecture, channel: newspaper, language: zh}
    sources:
      - key: jinri-danzhou
        kind: html
        outlet: jinri-danzhou
        start_urls: [https://.../list_1.html]
        selectors: {links: "ul.news-list a::attr(href)", next_page: "a.next::attr(href)"}
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from presswatch.yamlfile import parse_yaml, read_text

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from models import Source

log = logging.getLogger(__name__)

# The vocabularies of models.enums (SourceKind, OutletTier, OutletChannel), repeated as Literals so
# this module (loaded by every crawl process) does not import the ORM; a test keeps them equal.
Kind = Literal["feed", "html", "sitemap", "json_api", "import"]
Tier = Literal["central", "provincial", "prefecture", "county", "own_channel", "other"]
Channel = Literal["newspaper", "website", "tv", "news_app", "wechat", "weibo", "social", "portal", "other"]
KINDS: tuple[str, ...] = get_args(Kind)
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")
TIERS: tuple[str, ...] = get_args(Tier)
CHANNELS: tuple[str, ...] = get_args(Channel)

KEY_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
# Who owns a source row (models.Source.managed_by): the sources file's sync, or the admin pages.
FILE, WEB = "file", "web"


class RegistryError(Exception):
    """sources.yaml is missing, not YAML, or declares something invalid (message names key and field)."""


def _is_xpath(expr: str) -> bool:
    return expr.startswith(("/", "(", "./")) or expr.startswith("xpath:")


def check_selector(expr: str) -> str:
    """Compile a CSS (parsel flavour, ``::text``/``::attr()``) or XPath selector; raise ValueError if bad."""
    from parsel import Selector

    probe = Selector(text="<html><body><p>x</p></body></html>")
    try:
        if _is_xpath(expr):
            probe.xpath(expr.removeprefix("xpath:"))
        else:
            probe.css(expr)
    except Exception as exc:  # parsel raises ValueError / cssselect.SelectorError / lxml errors
        kind = "XPath" if _is_xpath(expr) else "CSS"
        raise ValueError(f"invalid {kind} selector {expr!r}: {exc}") from None
    return expr


class _Decl(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OutletDecl(_Decl):
    key: str = Field(pattern=KEY_PATTERN)
    name: str
    tier: Tier = "other"
    channel: Channel = "website"
    language: str = "zh"
    domains: list[str] = Field(default_factory=list)
    reach: float = Field(1.0, gt=0)


class HtmlSelectors(_Decl):
    """Selectors for list pages (links, next page) and, optionally, article pages."""

    links: str = Field(description="Article links on a list page (yields hrefs).")
    next_page: str | None = Field(None, description="The next list page (yields an href).")
    title: str | None = None
    body: str | None = None
    published: str | None = None
    author: str | None = None

    @field_validator("links", "next_page", "title", "body", "published", "author")
    @classmethod
    def _compile(cls, value: str | None) -> str | None:
        return None if value is None else check_selector(value)


class JsonFields(_Decl):
    """Where a JSON posts API keeps its posts and their fields (dotted paths, e.g. ``data.list``)."""

    items: str = Field("", description="Path to the list of posts; empty = the document is the list.")
    id: str = "id"
    text: str = "text"
    title: str | None = None
    author: str | None = None
    time: str | None = None
    url: str | None = None
    url_template: str | None = Field(None, description="e.g. https://weibo.com/{author_id}/{id}")
    reposts: str | None = None
    comments: str | None = None
    likes: str | None = None
    next_page_param: str | None = Field(None, description="Query parameter for paging, e.g. page.")


class SourceDecl(_Decl):
    key: str = Field(pattern=KEY_PATTERN)
    name: str
    kind: Kind
    outlet: str | None = None
    language: str = "zh"
    timezone: str = "Asia/Shanghai"
    enabled: bool = True
    interval_minutes: int | None = Field(None, ge=1)
    interval_seconds: int | None = Field(
        None, ge=5, description="For an urgent source: poll every N seconds (wins over interval_minutes)."
    )
    start_urls: list[str] = Field(default_factory=list)
    obey_robots_txt: bool | None = Field(None, description="None = settings.crawl.obey_robots_txt.")
    pages_change: bool = Field(False, description="Re-fetch already stored URLs (pages are edited).")
    encoding: str | None = Field(None, description="Force a charset for a site that mislabels its pages.")
    link_pattern: str | None = Field(None, description="Regex an article URL must match.")
    max_depth: int | None = Field(None, ge=0, description="List-page pagination depth; None = settings.")
    max_items: int | None = Field(None, ge=1)
    fetch_articles: bool = Field(True, description="feed/json_api: also fetch each entry's page.")
    selectors: HtmlSelectors | None = None
    fields: JsonFields | None = None
    path: str | None = Field(None, description="import: a file of URLs (.txt), CSV or JSONL.")
    host_map: dict[str, str] = Field(
        default_factory=dict,
        description="Variant host -> canonical host when both serve the same article (m. / www.).",
    )
    unit: str | None = Field(
        None, description="The owning organization (unit code): who sees and manages it. None = the installation's."
    )

    @field_validator("host_map")
    @classmethod
    def _hosts(cls, value: dict[str, str]) -> dict[str, str]:
        out = {}
        for variant, canonical in value.items():
            for host in (variant, canonical):
                if not _HOST.fullmatch(host.strip().lower()):
                    raise ValueError(f"not a host name: {host!r} (write the host alone, e.g. m.example.cn)")
            out[variant.strip().lower()] = canonical.strip().lower()
        return out

    @field_validator("start_urls")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"not an http(s) URL: {url!r}")
        return urls

    @field_validator("link_pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str | None) -> str | None:
        from crawlers.encoding import normalize_label

        if value is not None and normalize_label(value) is None:
            raise ValueError(f"unknown charset {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from presswatch.i18n import validate_timezone

        return validate_timezone(value)

    @model_validator(mode="after")
    def _kind_needs(self) -> SourceDecl:
        if self.kind != "import" and not self.start_urls:
            raise ValueError(f"kind {self.kind} needs start_urls")
        if self.kind == "html" and self.selectors is None:
            raise ValueError("kind html needs selectors (at least selectors.links)")
        if self.kind == "json_api" and self.fields is None:
            raise ValueError("kind json_api needs a fields mapping")
        # An import source without path/start_urls is fed only by `presswatch import`.
        return self

    def config(self) -> dict[str, Any]:
        """The declaration as stored in ``sources.config`` (JSON-safe)."""
        return self.model_dump(mode="json", exclude_none=True)


class Registry(_Decl):
    outlets: list[OutletDecl] = Field(default_factory=list)
    sources: list[SourceDecl] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Registry:
        seen: set[str] = set()
        for src in self.sources:
            if src.key in seen:
                raise ValueError(f"source key {src.key!r} declared twice")
            seen.add(src.key)
        outlet_keys = {o.key for o in self.outlets}
        if len(outlet_keys) != len(self.outlets):
            raise ValueError("an outlet key is declared twice")
        for src in self.sources:
            if src.outlet is not None and src.outlet not in outlet_keys:
                raise ValueError(f"source {src.key!r}: outlet {src.outlet!r} is not declared under outlets")
        return self

    def get(self, key: str) -> SourceDecl:
        for src in self.sources:
            if src.key == key:
                return src
        raise KeyError(key)


def _where(raw: Any, loc: tuple[int | str, ...]) -> str:
    """'source 'jinri-danzhou', field selectors.links' from a pydantic error location."""
    if len(loc) >= 2 and loc[0] in ("sources", "outlets") and isinstance(loc[1], int):
        group = "source" if loc[0] == "sources" else "outlet"
        try:
            key = raw[loc[0]][loc[1]].get("key", f"#{loc[1] + 1}")
        except (KeyError, IndexError, TypeError, AttributeError):
            key = f"#{loc[1] + 1}"
        field = ".".join(str(p) for p in loc[2:]) or "(entry)"
        return f"{group} {key!r}, field {field}"
    return "field " + ".".join(str(p) for p in loc) if loc else "top level"


def parse_registry(raw: Any, origin: str = "sources.yaml") -> Registry:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RegistryError(f"{origin}: expected a mapping with 'outlets' and 'sources'")
    try:
        return Registry.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{_where(raw, tuple(err['loc']))}: {msg}")
        raise RegistryError(f"{origin}: invalid source registry:\n  " + "\n  ".join(problems)) from None


def load_registry(path: str | Path, replace: dict[str, str] | None = None) -> Registry:
    """Read and validate a sources file; ``replace`` rewrites text first (the demo's server origin)."""
    path = Path(path)
    if not path.is_file():
        raise RegistryError(f"sources file not found: {path} (presswatch init writes a sample)")
    text = read_text(path, RegistryError)
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    return parse_registry(parse_yaml(text, str(path), RegistryError), str(path))


def sync_registry(session: Session, registry: Registry, *, disable_missing: bool = False) -> dict[str, Source]:
    """Upsert outlets and sources by key (health and conditional-GET state are kept).

    ``disable_missing`` disables sources in the table that the file no longer declares (they keep
    their history; articles keep pointing at them).
    """
    from sqlalchemy import select

    from models import Outlet, Source
    from models.enums import OutletChannel, OutletTier, SourceKind

    outlets = {o.key: o for o in session.scalars(select(Outlet)).all()}
    for decl in registry.outlets:
        outlet = outlets.get(decl.key)
        if outlet is None:
            outlet = Outlet(key=decl.key, name=decl.name)
            session.add(outlet)
            outlets[decl.key] = outlet
        outlet.name, outlet.tier, outlet.channel = decl.name, OutletTier(decl.tier), OutletChannel(decl.channel)
        outlet.language, outlet.domains, outlet.reach = decl.language, list(decl.domains), decl.reach
        if not outlet.domains:
            hosts = sorted({
                urlsplit(u).hostname or "" for s in registry.sources if s.outlet == decl.key for u in s.start_urls
            } - {""})
            outlet.domains = hosts
    session.flush()

    sources = {s.key: s for s in session.scalars(select(Source)).all()}
    for src in registry.sources:
        row: Source | None = sources.get(src.key)
        if row is not None and row.managed_by == WEB:
            # Edited in the admin pages (or loaded by `presswatch config import`): the database owns it.
            log.warning("source %s is managed in the web app; its entry in the sources file is ignored", src.key)
            continue
        if row is None:
            row = Source(key=src.key, name=src.name, kind=SourceKind(src.kind), managed_by=FILE)
            session.add(row)
            sources[src.key] = row
        apply_decl(session, row, src, outlets[src.outlet].id if src.outlet else None)
    if disable_missing:
        declared = {s.key for s in registry.sources}
        for key, existing in sources.items():
            # Import sources created by `presswatch import` live only in the table.
            if (key not in declared and existing.enabled and existing.kind != SourceKind.IMPORT
                    and existing.managed_by != WEB):
                log.info("source %s is no longer in the registry; disabled", key)
                existing.enabled = False
    session.flush()
    return sources


def apply_decl(session: Session, row: Source, src: SourceDecl, outlet_id: int | None) -> None:
    """Write a validated declaration onto a source row (the file sync and the admin pages alike).
    Health and conditional-GET state are kept."""
    from models.enums import SourceKind

    row.name, row.kind, row.language, row.timezone = src.name, SourceKind(src.kind), src.language, src.timezone
    row.enabled, row.interval_minutes = src.enabled, src.interval_minutes
    row.outlet_id = outlet_id
    if src.unit:
        row.unit_id = unit_id_for(session, src.unit)
    elif row.unit_id is None:
        from models.scope import default_unit_id

        row.unit_id = default_unit_id(session)
    if row.config != src.config():
        row.config = src.config()


def unit_id_for(session: Session, ref: str) -> int | None:
    """A unit by code (or, failing that, by name); None if it is not loaded yet."""
    from sqlalchemy import select

    from models import Unit

    return session.scalar(select(Unit.id).where(Unit.code == ref)) or session.scalar(
        select(Unit.id).where(Unit.name == ref).order_by(Unit.id).limit(1))


def decl_of(row: Source) -> SourceDecl:
    """The declaration stored on a source row (as validated when it was synced)."""
    return SourceDecl.model_validate(row.config)


def interval_seconds(row: Source, default_interval_minutes: int) -> int:
    """A source's own polling interval: ``interval_seconds`` (urgent sources), else its minutes, else
    the default."""
    seconds = (row.config or {}).get("interval_seconds")
    if isinstance(seconds, int) and seconds > 0:
        return seconds
    return 60 * (row.interval_minutes or default_interval_minutes)


def iter_due(
    rows: Iterable[Source], default_interval_minutes: int, now: Any, faster: dict[str, int] | None = None
) -> list[Source]:
    """Enabled sources whose interval has passed since their last attempt.

    ``faster`` maps source keys to a shorter interval in seconds (an open risk plan's polling).
    A source a crawl has scheduled (``next_poll_at``, see ``crawlers.schedule``) is due at that
    time, which already holds its learned interval, back-off and jitter.
    """
    from datetime import timedelta

    due = []
    for row in rows:
        if not row.enabled:
            continue
        due_at: datetime | None = row.next_poll_at
        if due_at is not None:
            if faster and row.key in faster and row.last_attempt_at is not None:
                due_at = min(due_at, row.last_attempt_at + timedelta(seconds=faster[row.key]))
            if now >= due_at:
                due.append(row)
            continue
        seconds = interval_seconds(row, default_interval_minutes)
        if faster and row.key in faster:
            seconds = min(seconds, faster[row.key])
        interval = timedelta(seconds=seconds)
        if row.last_attempt_at is None or now - row.last_attempt_at >= interval:
            due.append(row)
    return due

