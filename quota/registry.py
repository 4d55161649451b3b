"""Registering published pieces, verifying them against crawled articles, proposing from bylines.

- :func:`register` checks the input (known unit and outlet, URL on that outlet's domains and not
  crawled on or registered under another outlet, date not in the future) and refuses with one
  clear line; it warns about a duplicate but keeps it (scoring
  counts a piece once per rule anyway).
- :func:`verify` looks for the piece among the stored articles of that outlet: the URL (hash of
  the URL as given and of its canonical form), else the title (exact after normalisation, or very
  close), else the registered title inside an article's text (a piece adopted into a combined
  bulletin). What matched, how well and which article is kept in ``Registration.verification``.
  A registration whose URL turns out to be crawled on another outlet is rejected with the reason.
- :func:`propose_from_articles` reads crawled bylines and source lines ("来源：儋州市人民法院
  通讯员 张三", "Nguồn: Chi cục THADS huyện Văn Lâm") and own-channel articles, and creates
  PROPOSED registrations: visible to staff, counted only by rules that say ``registered_only:
  false``, never silently.
- :func:`review` moves a registration along proposed -> submitted -> section_approved ->
  leader_approved (or rejected), keeping who did what and when.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from models import Article, Outlet, Person, QuotaRule, Registration, utcnow
from models.enums import Adoption, PieceKind, RegistrationState
from pipeline.normalize import to_simplified
from pipeline.urls import BadUrl, canonical_url, lookup_hashes, url_hash
from presswatch.i18n import N_
from quota.periods import zone
from quota.units import Hierarchy, QuotaError, get_unit, parse_enum

# Titles at or above this SequenceMatcher ratio (after normalize_title) are the same piece. Set so
# that a headline the outlet edited slightly (a prefix such as "儋州：" added) still matches while
# two issues of one numbered column ("执行不能案件通报（第12期）" / "（第13期）") do not; the
# tests pin both cases (tests/test_quota_registry.py).
TITLE_MATCH_RATIO = 0.92
# How far from the registered date a crawled article may be (outlets back-date and post late).
MATCH_WINDOW_DAYS = 3
# Shortest registered title searched for inside article text (shorter ones match by accident).
MIN_TEXT_MATCH_CHARS = 8

# The reason prefix of a registration whose URL the crawler found on another outlet.
OUTLET_CONFLICT = "wrong outlet"

COUNTED_STATES = (RegistrationState.SUBMITTED, RegistrationState.SECTION_APPROVED, RegistrationState.LEADER_APPROVED)


_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def normalize_title(text: str) -> str:
    """NFKC, simplified Chinese, lower-case, no spaces or punctuation: "儋州法院：集中執行 " ==
    "儋州法院集中执行" (a registration typed in traditional characters matches the crawled page)."""
    return _PUNCT.sub("", to_simplified(unicodedata.normalize("NFKC", text or "")).lower())


def _host(url: str) -> str:
    host = urlsplit(url.strip()).hostname or ""
    return host.lower().removeprefix("www.")


def _host_on(host: str, domains: list[str]) -> bool:
    for d in domains:
        d = d.lower().removeprefix("www.")
        if host == d or host.endswith("." + d):
            return True
    return False


def parse_kind(value: str | PieceKind) -> PieceKind:
    return parse_enum(PieceKind, value, "piece kind")


def parse_adoption(value: str | Adoption) -> Adoption:
    return parse_enum(Adoption, value, "adoption")


def get_outlet(session: Session, key: str) -> Outlet:
    outlet = session.scalar(select(Outlet).where(Outlet.key == key))
    if outlet is None:
        known = session.scalars(select(Outlet.key).order_by(Outlet.key).limit(12)).all()
        raise QuotaError(f"unknown outlet '{key}' (known: {', '.join(known) or 'none yet'})")
    return outlet


@dataclass
class RegisterResult:
    registration: Registration
    warnings: list[str] = field(default_factory=list)


def register(
    session: Session,
    *,
    unit: str,
    outlet: str,
    published: date | datetime,
    url: str | None = None,
    title: str | None = None,
    authors: list[str] | None = None,
    kind: str | PieceKind = PieceKind.NEWS,
    adoption: str | Adoption = Adoption.NONE,
    char_count: int | None = None,
    registered_by: str = "",
    note: str | None = None,
    timezone: str = "Asia/Shanghai",
    now: datetime | None = None,
    verify_now: bool = True,
) -> RegisterResult:
    """Register a published piece; refuse bad input with a :class:`QuotaError` naming the problem."""
    now = now or utcnow()
    unit_row = get_unit(session, unit)
    if not unit_row.active:
        raise QuotaError(f"unit '{unit}' is inactive", msgid=N_("The unit {unit} is inactive."),
                         params={"unit": unit_row.name})
    outlet_row = get_outlet(session, outlet)
    piece_kind = parse_kind(kind)
    adoption_value = parse_adoption(adoption)
    url = (url or "").strip() or None
    title = (title or "").strip()
    if url is None and not title:
        raise QuotaError("give the piece's URL or its title", msgid=N_("Give the piece's URL or its title."))
    if url is not None:
        try:
            canonical_url(url)
        except BadUrl:
            raise QuotaError(f"not a web address: '{url}'", msgid=N_("Not a web address: {url}"),
                             params={"url": url}) from None
        host = _host(url)
        if outlet_row.domains and not _host_on(host, outlet_row.domains):
            owner = next(
                (o for o in session.scalars(select(Outlet).where(Outlet.id != outlet_row.id))
                 if o.domains and _host_on(host, o.domains)),
                None,
            )
            where = f"; it belongs to outlet '{owner.key}' ({owner.name})" if owner else ""
            message = f"URL host {host} is not on outlet '{outlet_row.key}' ({', '.join(outlet_row.domains)}){where}"
            if owner is not None:
                raise QuotaError(message, msgid=N_("Wrong outlet: {host} belongs to {owner}, not to {outlet}."),
                                 params={"host": host, "owner": owner.name, "outlet": outlet_row.name})
            raise QuotaError(message, msgid=N_("Wrong outlet: {host} is not an address of {outlet}."),
                             params={"host": host, "outlet": outlet_row.name})
    tz = zone(timezone)
    date_only = not isinstance(published, datetime)
    if isinstance(published, datetime):
        if published.tzinfo is None:
            published = published.replace(tzinfo=tz)
        published_at = published
    else:
        published_at = datetime.combine(published, time(0), tz)
    today = now.astimezone(tz).date()
    if published_at.astimezone(tz).date() > today or published_at > now + timedelta(minutes=5):
        raise QuotaError(
            f"publication date {published_at.astimezone(tz).date()} is in the future (today is {today} in {timezone})",
            msgid=N_("The publication date {day} is in the future."),
            params={"day": published_at.astimezone(tz).date().isoformat()},
        )
    if char_count is not None and char_count <= 0:
        raise QuotaError("char_count must be a positive number of characters")

    warnings: list[str] = []
    people = set(session.scalars(select(Person.name).where(Person.unit_id == unit_row.id)))
    for author in authors or []:
        if author not in people:
            warnings.append(f"author {author} is not a known person of {unit_row.code}")
    reg = Registration(
        unit_id=unit_row.id, outlet_id=outlet_row.id, url=url, url_hash=url_hash(canonical_url(url)) if url else None,
        title=title, authors=list(authors or []), kind=piece_kind, adoption=adoption_value,
        published_at=published_at, char_count=char_count, state=RegistrationState.SUBMITTED,
        registered_by=registered_by, registered_at=now, note=note,
        verification={"status": "pending", "date_only": date_only, "attempts": 0},
        review_history=[{"state": RegistrationState.SUBMITTED.value, "by": registered_by, "at": now.isoformat()}],
    )
    conflict = _outlet_conflict(session, reg, outlet_row, unit_row.code)
    if conflict:
        raise conflict
    dupes = _duplicates(session, reg)
    if dupes:
        warnings.append(
            "already registered as " + ", ".join(f"#{d}" for d in dupes) + "; the piece is counted once per rule"
        )
    session.add(reg)
    session.flush()
    if verify_now:
        verify(session, reg, now=now)
    if reg.char_count is None:
        limited = session.scalars(
            select(QuotaRule.name).where(
                QuotaRule.max_chars.is_not(None),
                or_(QuotaRule.piece_kind.is_(None), QuotaRule.piece_kind == reg.kind),
            ).order_by(QuotaRule.key)
        ).all()
        if limited:
            warnings.append(
                "length unknown: " + "、".join(limited) + " count only pieces of known length;"
                " give --chars, or it is filled in when the crawler finds the piece"
            )
    return RegisterResult(reg, warnings)


def _outlet_label(outlet: Outlet | None, fallback: object) -> str:
    return f"'{outlet.key}' ({outlet.name})" if outlet is not None else f"#{fallback}"


def _outlet_conflict(session: Session, reg: Registration, outlet: Outlet, unit_code: str) -> QuotaError | None:
    """Why this URL cannot be registered under ``outlet`` (the refusal to raise): it was crawled on,
    or is already registered (by any unit) under, another outlet. None when there is no such evidence.

    An outlet without domains (a WeChat account, a print paper) cannot be checked by host, so the
    crawl and the other registrations are the evidence of where the piece appeared.
    """
    if not reg.url:
        return None
    art = _article_at(session, reg.url)
    if art is not None and art.outlet_id is not None and art.outlet_id != outlet.id:
        crawled_on = session.get(Outlet, art.outlet_id)
        return QuotaError(
            f"{reg.url} was crawled on outlet {_outlet_label(crawled_on, art.outlet_id)},"
            f" not {_outlet_label(outlet, outlet.id)}: register it under the outlet it appeared on",
            msgid=N_("Wrong outlet: this piece was crawled on {crawled}, not on {outlet}. Register it under the"
                     " outlet it appeared on."),
            params={"crawled": crawled_on.name if crawled_on else f"#{art.outlet_id}", "outlet": outlet.name},
        )
    if art is not None:
        return None
    other = session.execute(
        select(Registration.id, Registration.outlet_id).where(
            Registration.url_hash == reg.url_hash, Registration.outlet_id != outlet.id,
            Registration.state != RegistrationState.REJECTED,
        ).order_by(Registration.id).limit(1)
    ).first()
    if other is not None:
        registered_on = session.get(Outlet, other.outlet_id)
        return QuotaError(
            f"{reg.url} is already registered (#{other.id}) under outlet"
            f" {_outlet_label(registered_on, other.outlet_id)},"
            f" not {_outlet_label(outlet, outlet.id)} as {unit_code} gives it",
            msgid=N_("Wrong outlet: this address is already registered (#{id}) under {registered}, not {outlet}."),
            params={"id": other.id, "registered": registered_on.name if registered_on else f"#{other.outlet_id}",
                    "outlet": outlet.name},
        )
    return None


def _article_at(session: Session, url: str) -> Article | None:
    """The stored article at this URL (as given or in canonical form), if crawled."""
    hashes = sorted(lookup_hashes(url))
    try:
        canon = canonical_url(url)
    except BadUrl:
        canon = url
    return session.scalar(
        select(Article).where(
            or_(Article.url_hash.in_(hashes), Article.url == url, Article.canonical_url.in_([url, canon]))
        ).order_by(Article.id).limit(1)
    )


def _duplicates(session: Session, reg: Registration) -> list[int]:
    conds = []
    if reg.url_hash:
        conds.append(Registration.url_hash == reg.url_hash)
    if reg.title:
        conds.append(Registration.title == reg.title)
    if not conds:
        return []
    rows = session.execute(
        select(Registration.id, Registration.title, Registration.url_hash).where(
            Registration.unit_id == reg.unit_id, Registration.outlet_id == reg.outlet_id,
            Registration.state != RegistrationState.REJECTED, or_(*conds),
        )
    ).all()
    return [r.id for r in rows if (reg.url_hash and r.url_hash == reg.url_hash) or r.title == reg.title]


@dataclass(frozen=True)
class Match:
    article: Article
    method: str  # url / title / title_similar / text
    score: float
    detail: str


def find_article(session: Session, reg: Registration) -> tuple[Match | None, str]:
    """The stored article this registration is, and if none, why not."""
    if reg.url:
        art = _article_at(session, reg.url)
        if art is not None:
            if reg.outlet_id is not None and art.outlet_id is not None and art.outlet_id != reg.outlet_id:
                other = session.get(Outlet, art.outlet_id)
                mine = session.get(Outlet, reg.outlet_id)
                return None, (
                    f"{OUTLET_CONFLICT}: the URL was crawled on outlet {_outlet_label(other, art.outlet_id)},"
                    f" not {_outlet_label(mine, reg.outlet_id)}"
                )
            return Match(art, "url", 1.0, f"URL {art.canonical_url}"), ""
    if not reg.title or reg.outlet_id is None:
        return None, "no stored article at that URL" if reg.url else "nothing to match (no URL, no title)"
    lo = reg.published_at - timedelta(days=MATCH_WINDOW_DAYS)
    hi = reg.published_at + timedelta(days=MATCH_WINDOW_DAYS + 1)
    candidates = list(session.scalars(
        select(Article).where(Article.outlet_id == reg.outlet_id, Article.published_at >= lo, Article.published_at < hi)
    ))
    want = normalize_title(reg.title)
    best: Match | None = None
    for art in candidates:
        have = normalize_title(art.title)
        if have and have == want:
            return Match(art, "title", 1.0, f"title「{art.title}」"), ""
        ratio = difflib.SequenceMatcher(None, want, have).ratio() if have and want else 0.0
        if ratio >= TITLE_MATCH_RATIO and (best is None or ratio > best.score):
            best = Match(art, "title_similar", round(ratio, 3), f"title「{art.title}」 similarity {ratio:.2f}")
    if best is not None:
        return best, ""
    if len(want) >= MIN_TEXT_MATCH_CHARS:
        for art in candidates:
            if want in normalize_title(art.text or ""):
                return Match(art, "text", 1.0, f"title found in the text of「{art.title}」"), ""
    return None, (
        f"no article on this outlet within {MATCH_WINDOW_DAYS} days matches the "
        + ("URL or title" if reg.url else "title")
        + f" ({len(candidates)} checked)"
    )


def verify(session: Session, reg: Registration, now: datetime | None = None) -> bool:
    """Try to verify one registration; records the attempt and its outcome either way."""
    now = now or utcnow()
    info: dict[str, Any] = dict(reg.verification or {})
    info["attempts"] = int(info.get("attempts", 0)) + 1
    info["last_checked_at"] = now.isoformat()
    match, why = find_article(session, reg)
    if match is None:
        info.update(status="not_found", reason=why)
        if why.startswith(OUTLET_CONFLICT) and reg.state is not RegistrationState.REJECTED:
            # The crawl shows the piece appeared on another outlet: the claim is wrong, so the
            # registration stops counting (it counted provisionally while unverified).
            info["status"] = "outlet_conflict"
            reg.state = RegistrationState.REJECTED
            reg.review_history = [
                *(reg.review_history or []),
                {"state": RegistrationState.REJECTED.value, "by": "presswatch", "at": now.isoformat(), "note": why},
            ]
        reg.verification = info
        return False
    art = match.article
    info.update(
        status="verified", method=match.method, score=match.score, detail=match.detail, article_id=art.id,
        article_url=art.canonical_url, article_title=art.title,
        article_published_at=art.published_at.isoformat() if art.published_at else None,
    )
    info.pop("reason", None)
    reg.article_id = art.id
    reg.story_id = art.story_id
    reg.verified_at = now
    if info.get("date_only") and art.published_at is not None:
        reg.published_at = art.published_at  # the crawled instant is more precise than a date
    if reg.char_count is None and art.text:
        reg.char_count = len(art.text)
    if not reg.title:
        reg.title = art.title
    if not reg.url:
        reg.url = art.canonical_url
        reg.url_hash = url_hash(canonical_url(art.canonical_url))
    reg.verification = info
    return True


def verify_pending(session: Session, now: datetime | None = None, limit: int | None = None) -> tuple[int, int]:
    """Verify registrations not verified yet; returns (verified, still unverified)."""
    q = select(Registration).where(
        Registration.verified_at.is_(None), Registration.state != RegistrationState.REJECTED
    ).order_by(Registration.id)
    if limit:
        q = q.limit(limit)
    ok = bad = 0
    for reg in session.scalars(q):
        if verify(session, reg, now=now):
            ok += 1
        else:
            bad += 1
    session.flush()
    return ok, bad


def verify_after_crawl(
    session: Session, after_article_id: int | None, now: datetime | None = None, limit: int = 1000,
) -> tuple[int, int, int | None]:
    """Verify the waiting registrations the articles stored after ``after_article_id`` may prove:
    those on the same outlets or at the same URLs. Returns (verified, still unverified, newest
    article id), the id to pass next time; None as ``after_article_id`` checks every waiting one."""
    newest = session.scalar(select(func.max(Article.id)))
    if newest is None or newest == after_article_id:
        return 0, 0, newest
    if after_article_id is None:
        ok, bad = verify_pending(session, now=now, limit=limit)
        return ok, bad, newest
    fresh = session.execute(
        select(Article.outlet_id, Article.url_hash).where(Article.id > after_article_id, Article.id <= newest)
    ).all()
    outlets = sorted({o for o, _ in fresh if o is not None})
    hashes = sorted({h for _, h in fresh if h})
    conds = []
    if outlets:
        conds.append(Registration.outlet_id.in_(outlets))
    if hashes:
        conds.append(Registration.url_hash.in_(hashes))
    ok = bad = 0
    if conds:
        q = select(Registration).where(
            Registration.verified_at.is_(None), Registration.state != RegistrationState.REJECTED, or_(*conds)
        ).order_by(Registration.id).limit(limit)
        for reg in session.scalars(q):
            if verify(session, reg, now=now):
                ok += 1
            else:
                bad += 1
        session.flush()
    return ok, bad, newest


# "来源：儋州市人民法院 通讯员 张三", "通讯员：李四", "Nguồn: Chi cục THADS huyện Văn Lâm", "CTV Nguyễn Văn An".
_PERSON_MARKERS = ("通讯员", "通讯员：", "记者", "作者", "文/", "文：", "CTV", "Phóng viên", "PV")


@dataclass(frozen=True)
class Proposal:
    registration: Registration
    matched: str


def propose_from_articles(
    session: Session, since: datetime | None = None, now: datetime | None = None
) -> list[Proposal]:
    """Create PROPOSED registrations for crawled articles that name a unit or its correspondent.

    An article already registered (or proposed) for a unit is skipped for that unit, so running
    this again proposes nothing new. The longest matching unit name wins ("儋州市人民法院执行局"
    over "儋州市人民法院"); a named correspondent decides over the unit name.
    """
    now = now or utcnow()
    tree = Hierarchy(session)
    names: list[tuple[str, int]] = sorted(
        ((n, uid) for uid, u in tree.units.items() if u.active for n in tree.names(uid) if len(n) >= 2),
        key=lambda p: -len(p[0]),
    )
    people: list[tuple[str, int]] = [
        (p.name, p.unit_id) for p in session.scalars(select(Person).where(Person.active.is_(True))) if len(p.name) >= 2
    ]
    own_channels = {o.id: o.unit_id for o in session.scalars(select(Outlet).where(Outlet.unit_id.is_not(None)))}
    q = select(Article).where(
        Article.published_at.is_not(None),
        or_(Article.byline.is_not(None), Article.source_line.is_not(None), Article.outlet_id.in_(list(own_channels))),
    ).order_by(Article.id)
    if since is not None:
        q = q.where(Article.stored_at >= since)
    existing = {
        (a, u) for a, u in session.execute(
            select(Registration.article_id, Registration.unit_id).where(Registration.article_id.is_not(None))
        )
    }
    out: list[Proposal] = []
    for art in session.scalars(q):
        line = " ".join(x for x in (art.source_line, art.byline) if x)
        unit_id: int | None = None
        authors: list[str] = []
        matched = ""
        own_org = art.outlet_id in own_channels
        for name, uid in people:
            if name in line and _named_as_person(line, name) and (
                len(name) >= SPECIFIC_NAME_CHARS or own_org or _org_named(tree, uid, line, include_self=True)
            ):
                unit_id, matched = uid, name
                authors.append(name)
                break
        if unit_id is None:
            for name, uid in names:
                if name in line and (
                    tree.units[uid].parent_id is None or len(name) >= SPECIFIC_NAME_CHARS
                    or _org_named(tree, uid, line, include_self=False)
                ):
                    unit_id, matched = uid, name
                    break
        if unit_id is None and art.outlet_id in own_channels:
            unit_id, matched = own_channels[art.outlet_id], "own channel"
        if unit_id is None or (art.id, unit_id) in existing or art.published_at is None:
            continue
        reg = Registration(
            unit_id=unit_id, outlet_id=art.outlet_id, url=art.canonical_url,
            url_hash=url_hash(canonical_url(art.canonical_url)), title=art.title, authors=authors,
            kind=PieceKind.NEWS, adoption=Adoption.NONE, published_at=art.published_at,
            char_count=len(art.text) if art.text else None, state=RegistrationState.PROPOSED,
            registered_by="presswatch", registered_at=now, article_id=art.id, story_id=art.story_id, verified_at=now,
            verification={
                "status": "verified", "method": "byline" if matched != "own channel" else "own_channel",
                "score": 1.0, "detail": f"{line or 'own channel'} → {matched}", "article_id": art.id,
                "article_url": art.canonical_url, "article_title": art.title, "attempts": 1,
                "article_published_at": art.published_at.isoformat(),
            },
            review_history=[{"state": RegistrationState.PROPOSED.value, "by": "presswatch", "at": now.isoformat(),
                             "note": f"proposed from byline: {matched}"}],
        )
        session.add(reg)
        existing.add((art.id, unit_id))
        out.append(Proposal(reg, matched))
    session.flush()
    return out


# Names shorter than this ("执行局", "新闻宣传科", "张三") are generic: every court has an 执行局
# and many a correspondent is called 张三. They are accepted only when the line also names the
# unit's organization (an ancestor, or the unit itself for a person). Longer names ("儋州市人民法院
# 执行局", "Chi cục THADS huyện Văn Lâm", "Nguyễn Văn An") are specific enough on their own.
SPECIFIC_NAME_CHARS = 6


def _org_named(tree: Hierarchy, unit_id: int, line: str, *, include_self: bool) -> bool:
    now = utcnow()
    current: int | None = unit_id if include_self else (tree.state(unit_id, now) or tree.units[unit_id]).parent_id
    seen: set[int] = set()
    while current is not None and current not in seen:
        seen.add(current)
        st = tree.state(current, now)
        is_root = (st.parent_id if st else tree.units[current].parent_id) is None
        # A generic ancestor name ("执行局") does not name the organization; a root or a long one does.
        if any(n in line for n in tree.names(current) if is_root or len(n) >= SPECIFIC_NAME_CHARS):
            return True
        current = st.parent_id if st else tree.units[current].parent_id
    return False


def _named_as_person(line: str, name: str) -> bool:
    """A person's name counts only next to a marker (通讯员 张三), not inside another word."""
    idx = line.find(name)
    before = line[max(0, idx - 12) : idx]
    return any(m in before for m in _PERSON_MARKERS) or before.endswith(("：", ":", " ", "\u3000"))


_TRANSITIONS: dict[str, tuple[set[RegistrationState], RegistrationState]] = {
    "submit": ({RegistrationState.PROPOSED}, RegistrationState.SUBMITTED),
    "section_approve": ({RegistrationState.SUBMITTED}, RegistrationState.SECTION_APPROVED),
    "leader_approve": ({RegistrationState.SECTION_APPROVED}, RegistrationState.LEADER_APPROVED),
    "reject": (
        {RegistrationState.PROPOSED, RegistrationState.SUBMITTED, RegistrationState.SECTION_APPROVED,
         RegistrationState.LEADER_APPROVED},
        RegistrationState.REJECTED,
    ),
}
REVIEW_ACTIONS = tuple(_TRANSITIONS)


def review(
    session: Session, registration_id: int, action: str, by: str, note: str | None = None, now: datetime | None = None
) -> Registration:
    reg = session.get(Registration, registration_id)
    if reg is None:
        raise QuotaError(f"no registration #{registration_id}")
    if action not in _TRANSITIONS:
        raise QuotaError(f"unknown review action '{action}' (one of: {', '.join(REVIEW_ACTIONS)})")
    allowed, target = _TRANSITIONS[action]
    if reg.state not in allowed:
        raise QuotaError(
            f"registration #{reg.id} is {reg.state.value}; '{action}' needs it to be "
            + " or ".join(sorted(s.value for s in allowed))
        )
    now = now or utcnow()
    reg.state = target
    entry: dict[str, Any] = {"state": target.value, "by": by, "at": now.isoformat()}
    if note:
        entry["note"] = note
    reg.review_history = [*(reg.review_history or []), entry]
    session.flush()
    return reg
