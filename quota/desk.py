"""What correspondents and reviewers do with registrations, for one :class:`models.scope.Scope`.

The web pages (/register, /review) and any other face call these; each decision is one function:

- :func:`register_units` / :func:`register_outlets`: where the scope may register pieces, and on
  which outlets (shared media, and the own channels of its organizations; never another
  organization's own channel).
- :func:`register_in_scope`: register a piece as a user. Given only a URL, the crawled article at
  that address decides the outlet, title and publication time; else the outlet whose web address it
  is. Refusals are :class:`quota.units.QuotaError` with a translatable ``msgid``. Audited.
- :func:`review_in_scope`: one step of the review chain (submit -> section approval -> leader
  approval, or reject with a reason) by a user allowed to take it. Audited.
- :func:`review_queue`: what is waiting for this user: proposed pieces to confirm, submitted
  pieces to approve for the section, section-approved ones for the leader.

Unverified pieces: a registration not (yet) matched to a crawled article counts provisionally, on
the outlet given, for rules that do not demand verification (``verified_only``) or topics; it is
checked again as crawls come in (``quota-verify``, every minute when new articles were stored; the
``quota-match`` sweep every 30 minutes), and a crawl showing it on
another outlet rejects it with the reason, after which it counts nowhere (:data:`UNVERIFIED_RULE`, shown on the page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_, select, true
from sqlalchemy.orm import Session

from accounts.audit import Actor, record
from models import Outlet, QuotaRule, Registration, Unit, utcnow
from models.enums import Adoption, PieceKind, RegistrationState
from models.scope import Scope, root_of, subtree_ids
from presswatch.i18n import N_
from quota.registry import RegisterResult, _article_at, _host, _host_on, register, review
from quota.units import Hierarchy, QuotaError

# Shown on /register and in the README's quota section: the rule for pieces not yet matched.
UNVERIFIED_RULE = N_(
    "A piece not yet found by the crawler counts provisionally, on the outlet you give, for rules that do"
    " not require verification; it is checked again within about a minute of each new crawl. If the"
    " crawler finds it on another outlet, it is rejected with the reason and stops counting. Rules that"
    " require verification or a topic count it only once it is found."
)

# The scope's action each review step needs (models.scope.ROLE_ACTIONS).
STEP_ACTION = {"submit": "register", "section_approve": "review", "leader_approve": "approve"}
NEXT_STEP = {
    RegistrationState.PROPOSED: "submit",
    RegistrationState.SUBMITTED: "section_approve",
    RegistrationState.SECTION_APPROVED: "leader_approve",
}


def register_units(session: Session, scope: Scope) -> list[Unit]:
    """Active units the scope may register pieces for (within the organization in view)."""
    allowed = scope.units_where("register")
    visible = scope.visible_ids
    q = select(Unit).where(Unit.active.is_(True)).order_by(Unit.code)
    if allowed is not None:
        ids = allowed if visible is None else allowed & visible
        if not ids:
            return []
        q = q.where(Unit.id.in_(sorted(ids)))
    elif visible is not None:
        q = q.where(Unit.id.in_(sorted(visible)))
    return list(session.scalars(q))


def register_outlets(session: Session, scope: Scope) -> list[Outlet]:
    """Outlets a piece may be registered on: shared media, and the own channels of the scope's
    organizations (a team's correspondent publishes on its court's WeChat account); never another
    organization's own channel."""
    q = select(Outlet).order_by(Outlet.name)
    if not scope.superuser:
        orgs = subtree_ids(session, {root_of(session, u) for u in scope.granted_units})
        q = q.where(or_(Outlet.unit_id.is_(None), Outlet.unit_id.in_(sorted(orgs))))
    return list(session.scalars(q))


def _outlet_for_url(session: Session, url: str) -> tuple[Outlet | None, Any]:
    """The outlet of a URL and the crawled article at it: the crawl decides, else the web address."""
    art = _article_at(session, url)
    if art is not None and art.outlet_id is not None:
        return session.get(Outlet, art.outlet_id), art
    host = _host(url)
    owners = [o for o in session.scalars(select(Outlet).order_by(Outlet.id)) if o.domains and _host_on(host, o.domains)]
    return (owners[0] if len(owners) == 1 else None), art


def register_in_scope(
    session: Session, scope: Scope, actor: Actor, *, unit_id: int, url: str | None = None,
    outlet_id: int | None = None, published: date | datetime | None = None, title: str | None = None,
    kind: str | PieceKind = PieceKind.NEWS, adoption: str | Adoption = Adoption.NONE,
    timezone: str = "Asia/Shanghai", now: datetime | None = None,
) -> RegisterResult:
    """Register a piece for ``unit_id`` as ``actor``: a URL alone is enough when the crawler has the
    article (outlet, title and time come from it) or the address is one outlet's; a piece not online
    needs its title, outlet and date. The checks of :func:`quota.registry.register` apply (an outlet
    the piece was not crawled on is refused, naming both)."""
    now = now or utcnow()
    unit = session.get(Unit, unit_id)
    if unit is None or not scope.contains(unit_id) or not scope.can("register", unit_id):
        raise QuotaError(f"you may not register pieces for unit #{unit_id}",
                         msgid=N_("You may not register pieces for this unit."))
    url = (url or "").strip() or None
    allowed = {o.id for o in register_outlets(session, scope)}
    outlet: Outlet | None = session.get(Outlet, outlet_id) if outlet_id else None
    if outlet_id and (outlet is None or outlet.id not in allowed):
        raise QuotaError(f"unknown outlet #{outlet_id}", msgid=N_("Choose an outlet from the list."))
    art = None
    if url is not None:
        found, art = _outlet_for_url(session, url)
        if outlet is None and found is not None and found.id not in allowed:
            # Another organization's own channel: not a place this user's pieces are counted.
            raise QuotaError(f"outlet '{found.key}' is another organization's own channel",
                             msgid=N_("This address is on an outlet you cannot register pieces for."))
        outlet = outlet or found
        if art is not None:
            title = title or art.title
            if published is None and art.published_at is not None:
                published = art.published_at
    if outlet is None:
        if url is None:
            raise QuotaError("choose the outlet the piece appeared on",
                             msgid=N_("Choose the outlet the piece appeared on."))
        raise QuotaError("choose the outlet the piece appeared on",
                         msgid=N_("The crawler has not seen this address yet: choose the outlet it appeared on."))
    if published is None:
        raise QuotaError("give the publication date", msgid=N_("Give the publication date."))
    result = register(
        session, unit=unit.code, outlet=outlet.key, published=published, url=url, title=title, kind=kind,
        adoption=adoption, registered_by=actor.username, timezone=timezone, now=now,
    )
    reg = result.registration
    record(session, actor, "quota.register", unit_id=reg.unit_id, object_type="registration", object_id=reg.id,
           after={"state": reg.state.value, "outlet": outlet.key, "url": reg.url, "title": reg.title,
                  "published_at": reg.published_at, "verified": reg.verified_at is not None}, at=now)
    return result


def may_review(scope: Scope, unit_id: int, action: str) -> bool:
    """May the scope take this review step on a registration of ``unit_id``? Rejecting needs either
    reviewer's right; it is the only step that also applies to an approved piece."""
    if action == "reject":
        return scope.can("review", unit_id) or scope.can("approve", unit_id)
    needed = STEP_ACTION.get(action)
    return needed is not None and scope.can(needed, unit_id)


def get_registration_in_scope(session: Session, scope: Scope, registration_id: int) -> Registration:
    reg = session.get(Registration, registration_id)
    if reg is None or not scope.contains(reg.unit_id):
        raise QuotaError(f"no registration #{registration_id}", msgid=N_("No such registration."))
    return reg


def review_in_scope(
    session: Session, scope: Scope, actor: Actor, registration_id: int, action: str, note: str | None = None,
    now: datetime | None = None,
) -> Registration:
    """One review step by ``actor``; a rejection needs its reason. Audited with the state before/after."""
    reg = get_registration_in_scope(session, scope, registration_id)
    if not may_review(scope, reg.unit_id, action):
        raise QuotaError(f"{actor.username} may not {action} registration #{reg.id}",
                         msgid=N_("You may not take this step."))
    note = (note or "").strip() or None
    if action == "reject" and not note:
        raise QuotaError("a rejection needs its reason", msgid=N_("Give the reason for the rejection."))
    before = reg.state.value
    try:
        review(session, reg.id, action, actor.username, note, now=now)
    except QuotaError as exc:
        raise QuotaError(str(exc), msgid=N_("This piece is {state} now; that step does not apply."),
                         params={"state": reg.state.value}) from None
    record(session, actor, f"quota.review.{action}", unit_id=reg.unit_id, object_type="registration",
           object_id=reg.id, before={"state": before}, after={"state": reg.state.value}, note=note or "", at=now)
    return reg


def review_units(session: Session, now: datetime | None = None) -> set[int]:
    """Units whose pieces some rule counts only after leader approval (``review_required``)."""
    now = now or utcnow()
    rules = list(session.scalars(select(QuotaRule).where(QuotaRule.review_required.is_(True))))
    if not rules:
        return set()
    from quota.scoring import _mapping

    tree = Hierarchy(session)
    return {u for rule in rules for u in _mapping(rule, tree, now)}


@dataclass(frozen=True)
class Waiting:
    registration: Registration
    step: str  # submit / section_approve / leader_approve
    unit_name: str
    outlet_name: str


def review_queue(session: Session, scope: Scope, limit: int = 100, now: datetime | None = None) -> list[Waiting]:
    """Registrations waiting for a step this scope may take, oldest first: proposals to confirm
    (register right), and, for units some rule counts only when approved, submitted pieces for the
    section and section-approved ones for the leader."""
    needs_review = review_units(session, now)

    def units_for(action: str, among: set[int] | None) -> Any:
        allowed = scope.units_where(action)
        if allowed is None:
            return Registration.unit_id.in_(sorted(among)) if among is not None else true()
        ids = allowed & among if among is not None else allowed
        return Registration.unit_id.in_(sorted(ids))

    conds = [Registration.state == RegistrationState.PROPOSED, units_for("register", None)]
    waiting = [and_(*conds)]
    if needs_review:
        waiting.append(and_(Registration.state == RegistrationState.SUBMITTED, units_for("review", needs_review)))
        waiting.append(and_(Registration.state == RegistrationState.SECTION_APPROVED,
                            units_for("approve", needs_review)))
    q = (select(Registration, Unit.name, Outlet.name).join(Unit, Unit.id == Registration.unit_id)
         .outerjoin(Outlet, Outlet.id == Registration.outlet_id)
         .where(scope.where(Registration.unit_id), or_(*waiting))
         .order_by(Registration.registered_at, Registration.id).limit(limit))
    return [Waiting(reg, NEXT_STEP[reg.state], unit_name, outlet_name or "")
            for reg, unit_name, outlet_name in session.execute(q)]


def recent_registrations(
    session: Session, scope: Scope, limit: int = 30, *, unit_id: int | None = None,
    state: RegistrationState | None = None, include_proposed: bool = False,
) -> list[tuple[Registration, str, str]]:
    """The scope's registrations, newest publication first, with unit and outlet names (the web's
    lists and ``presswatch quota registrations``). Proposals from bylines are left out unless asked
    for or their state is asked for."""
    q = (select(Registration, Unit.name, Outlet.name).join(Unit, Unit.id == Registration.unit_id)
         .outerjoin(Outlet, Outlet.id == Registration.outlet_id)
         .where(scope.where(Registration.unit_id))
         .order_by(Registration.published_at.desc(), Registration.id.desc()).limit(limit))
    if unit_id is not None:
        q = q.where(Registration.unit_id == unit_id)
    if state is not None:
        q = q.where(Registration.state == state)
    elif not include_proposed:
        q = q.where(Registration.state != RegistrationState.PROPOSED)
    return [(r, u, o or "") for r, u, o in session.execute(q)]
