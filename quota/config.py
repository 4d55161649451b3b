"""The quota file (YAML): units, people, outlets and rules as data, mirrored into their tables.

Loading is an upsert keyed by unit code, person (unit, name), ``Outlet.key`` (the crawl stage
creates outlets from sources.yaml under the same keys, so a source and its quota outlet are one
row) and rule key. Units already in the database keep their history: a changed name or parent in
the file is recorded as a rename / move effective at load time. Every problem is reported with the
entry it is in, before anything is written.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Outlet, Person, QuotaRule, Unit
from models.enums import Measure, OutletChannel, OutletTier, Period, PieceKind, UnitKind
from models.scope import default_unit_id
from presswatch.addresses import validate_email_address
from presswatch.i18n import validate_timezone
from presswatch.yamlfile import read_yaml
from quota.units import QuotaError, add_unit, move_unit, rename_unit


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactSpec(_Entry):
    email: str
    language: Literal["zh-CN", "vi", "en"] = "zh-CN"

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return validate_email_address(value)


class UnitSpec(_Entry):
    code: str
    name: str
    kind: UnitKind
    parent: str | None = None
    aliases: list[str] = Field(default_factory=list)
    contacts: list[ContactSpec] = Field(default_factory=list)
    people: list[str | dict[str, str]] = Field(default_factory=list)
    children: list[UnitSpec] = Field(default_factory=list)


class PersonSpec(_Entry):
    name: str
    unit: str
    role: str = "correspondent"


class OutletSpec(_Entry):
    key: str
    name: str | None = None
    tier: OutletTier | None = None
    channel: OutletChannel | None = None
    language: str | None = None
    domains: list[str] = Field(default_factory=list)
    unit: str | None = None  # owner of an own channel


class RuleSpec(_Entry):
    key: str
    name: str
    # Who.
    unit: str | None = None
    unit_kind: UnitKind | None = None
    under: str | None = None
    include_subunits: bool = False
    # What.
    outlet: str | None = None
    outlet_tier: OutletTier | None = None
    piece_kind: PieceKind | None = None
    topic: str | list[str] | None = None  # one classifier topic, or several (any one counts)
    max_chars: int | None = Field(None, gt=0)
    # How much, per when.
    measure: Measure = Measure.COUNT
    target: float = Field(gt=0)
    weights: dict[str, float] = Field(default_factory=dict)
    period: Period
    timezone: str | None = None
    registered_only: bool = True
    review_required: bool = False
    verified_only: bool = False
    active_from: date | None = None
    active_to: date | None = None
    # A unit code: its contacts get, each month and quarter, every unit's table and ranking.
    announce_to: str | None = None

    @model_validator(mode="after")
    def _check(self) -> RuleSpec:
        if (self.unit is None) == (self.unit_kind is None):
            raise ValueError("give exactly one of 'unit' (one unit) or 'unit_kind' (every unit of a kind)")
        if self.under is not None and self.unit_kind is None:
            raise ValueError("'under' narrows 'unit_kind'; it needs unit_kind")
        if self.outlet is not None and self.outlet_tier is not None:
            raise ValueError("give 'outlet' or 'outlet_tier', not both")
        if self.measure is Measure.POINTS and not self.weights:
            raise ValueError("a points rule needs weights, e.g. {standalone: 10, combined: 3}")
        if self.measure is Measure.COUNT and self.weights:
            raise ValueError("weights only apply to measure: points")
        for key in self.weights:
            if key not in _WEIGHT_KEYS:
                raise ValueError(
                    f"unknown weight key '{key}' (use an adoption, a piece kind, kind.adoption or default)"
                )
        return self

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else validate_timezone(value)


_ADOPTIONS = ("standalone", "combined", "none")
_WEIGHT_KEYS = {
    "default", *_ADOPTIONS, *(k.value for k in PieceKind),
    *(f"{k.value}.{a}" for k in PieceKind for a in _ADOPTIONS),
}


class QuotaFile(_Entry):
    timezone: str | None = None
    units: list[UnitSpec] = Field(default_factory=list)
    people: list[PersonSpec] = Field(default_factory=list)
    outlets: list[OutletSpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        # Checked at load: a bad zone here used to load and break every later `quota status`.
        return None if value is None else validate_timezone(value)


def parse_quota_file(path: str | Path) -> QuotaFile:
    path = Path(path)
    if not path.is_file():
        raise QuotaError(f"quota file not found: {path}")
    return parse_quota_data(read_yaml(path, QuotaError) or {}, str(path))


def parse_quota_data(data: Any, where: str = "quota file") -> QuotaFile:
    try:
        return QuotaFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = err["loc"]
            entry = ".".join(str(p) for p in loc)
            # Name the entry by its key/code, not only its index: "rules[2] (court-weekly-deadbeat)".
            if len(loc) >= 2 and isinstance(loc[1], int) and isinstance(data, dict):
                items = data.get(str(loc[0])) or []
                if isinstance(items, list) and loc[1] < len(items) and isinstance(items[loc[1]], dict):
                    label = items[loc[1]].get("key") or items[loc[1]].get("code") or items[loc[1]].get("name")
                    if label:
                        rest = "." + ".".join(str(p) for p in loc[2:]) if loc[2:] else ""
                        entry = f"{loc[0]}[{loc[1]}] ({label}){rest}"
            problems.append(f"{entry}: {err['msg']}")
        raise QuotaError(f"{where}: " + "; ".join(problems)) from None


def _flatten_units(specs: list[UnitSpec], parent: str | None = None) -> list[UnitSpec]:
    out: list[UnitSpec] = []
    for spec in specs:
        if parent is not None and spec.parent is None:
            spec = spec.model_copy(update={"parent": parent})
        out.append(spec)
        out.extend(_flatten_units(spec.children, spec.code))
    return out


def rule_topics(rule: RuleSpec) -> list[str]:
    """The topic names a rule gives (``topic: 执行不能`` or ``topic: [deadbeat, 失信被执行人]``)."""
    if rule.topic is None:
        return []
    return [rule.topic] if isinstance(rule.topic, str) else list(rule.topic)


def resolve_topic(name: str, taxonomy_file: str = "") -> str:
    """The classifier's topic key for ``name``: a key ("unenforceable") or a label in any language
    ("执行不能", "Cases that cannot be enforced"). Classifications store keys."""
    from classify.taxonomy import TaxonomyError, load_taxonomy

    try:
        taxonomy = load_taxonomy(taxonomy_file or None)
    except TaxonomyError as exc:
        raise QuotaError(f"cannot check topic '{name}': {exc}") from None
    if name in taxonomy.topics:
        return name
    for key, topic in taxonomy.topics.items():
        if name in topic.labels.values():
            return key
    raise QuotaError(f"unknown topic '{name}' (a classifier topic key or label, e.g. "
                     + ", ".join(f"{k} / {t.labels.get('zh', k)}" for k, t in list(taxonomy.topics.items())[:4])
                     + ", ...)")


def load_quota(
    session: Session, spec: QuotaFile, default_timezone: str, taxonomy_file: str = ""
) -> dict[str, int]:
    """Upsert everything in ``spec``; returns how many rows of each kind were created or updated."""
    counts = {"units": 0, "people": 0, "outlets": 0, "rules": 0}
    topics = {name: resolve_topic(name, taxonomy_file) for r in spec.rules for name in rule_topics(r)}
    units = _flatten_units(spec.units)
    codes = [u.code for u in units]
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    if dupes:
        raise QuotaError(f"unit codes listed twice: {', '.join(dupes)}")
    known_codes = set(codes) | set(session.scalars(select(Unit.code)))

    def need_unit(code: str | None, what: str) -> None:
        if code is not None and code not in known_codes:
            raise QuotaError(f"{what}: unknown unit '{code}'")

    for u in units:
        need_unit(u.parent, f"unit {u.code} parent")
    for p in spec.people:
        need_unit(p.unit, f"person {p.name}")
    for o in spec.outlets:
        need_unit(o.unit, f"outlet {o.key}")
    outlet_keys = {o.key for o in spec.outlets} | set(session.scalars(select(Outlet.key)))
    for r in spec.rules:
        need_unit(r.unit, f"rule {r.key}")
        need_unit(r.under, f"rule {r.key}")
        need_unit(r.announce_to, f"rule {r.key} announce_to")
        if r.outlet is not None and r.outlet not in outlet_keys:
            raise QuotaError(f"rule {r.key}: unknown outlet '{r.outlet}'")

    # Units: parents first (the flattened order already is, for nested specs).
    pending = list(units)
    while pending:
        progressed = False
        for u in list(pending):
            if u.parent is not None and u.parent in {p.code for p in pending if p is not u}:
                continue
            _upsert_unit(session, u)
            pending.remove(u)
            counts["units"] += 1
            progressed = True
        if not progressed:
            raise QuotaError("unit parents form a cycle: " + ", ".join(u.code for u in pending))

    people = list(spec.people)
    for u in units:
        for entry in u.people:
            people.append(
                PersonSpec(unit=u.code, name=entry) if isinstance(entry, str) else PersonSpec(unit=u.code, **entry)
            )
    for p in people:
        unit = session.scalar(select(Unit).where(Unit.code == p.unit))
        assert unit is not None
        person = session.scalar(select(Person).where(Person.unit_id == unit.id, Person.name == p.name))
        if person is None:
            session.add(Person(unit_id=unit.id, name=p.name, role=p.role))
        else:
            person.role = p.role
            person.active = True
        counts["people"] += 1

    for o in spec.outlets:
        outlet = session.scalar(select(Outlet).where(Outlet.key == o.key))
        if outlet is None:
            outlet = Outlet(key=o.key, name=o.name or o.key, domains=[])
            session.add(outlet)
        if o.name:
            outlet.name = o.name
        if o.tier is not None:
            outlet.tier = o.tier
        if o.channel is not None:
            outlet.channel = o.channel
        if o.language:
            outlet.language = o.language
        if o.domains:
            outlet.domains = sorted({*(outlet.domains or []), *(d.lower() for d in o.domains)})
        if o.unit:
            outlet.unit_id = session.scalar(select(Unit.id).where(Unit.code == o.unit))
        counts["outlets"] += 1
    session.flush()

    tz_default = spec.timezone or default_timezone
    for r in spec.rules:
        rule = session.scalar(select(QuotaRule).where(QuotaRule.key == r.key))
        if rule is None:
            rule = QuotaRule(key=r.key, name=r.name, target=r.target, period=r.period)
            session.add(rule)
        rule.name = r.name
        rule.unit_id = session.scalar(select(Unit.id).where(Unit.code == r.unit)) if r.unit else None
        rule.unit_kind = r.unit_kind
        rule.parent_unit_id = session.scalar(select(Unit.id).where(Unit.code == r.under)) if r.under else None
        # The organization that owns the rule: the unit it counts, else the parent of its units.
        rule.owner_unit_id = rule.unit_id or rule.parent_unit_id or default_unit_id(session)
        rule.include_subunits = r.include_subunits
        rule.outlet_id = session.scalar(select(Outlet.id).where(Outlet.key == r.outlet)) if r.outlet else None
        rule.outlet_tier = r.outlet_tier
        rule.piece_kind = r.piece_kind
        rule.topics = list(dict.fromkeys(topics[name] for name in rule_topics(r)))
        rule.max_chars = r.max_chars
        rule.measure = r.measure
        rule.target = r.target
        rule.weights = dict(r.weights)
        rule.period = r.period
        rule.timezone = r.timezone or tz_default
        rule.registered_only = r.registered_only
        rule.review_required = r.review_required
        rule.verified_only = r.verified_only
        rule.active_from = r.active_from
        rule.active_to = r.active_to
        rule.announce_unit_id = (
            session.scalar(select(Unit.id).where(Unit.code == r.announce_to)) if r.announce_to else None
        )
        counts["rules"] += 1
    session.flush()
    return counts


def _upsert_unit(session: Session, u: UnitSpec) -> None:
    unit = session.scalar(select(Unit).where(Unit.code == u.code))
    contacts = [c.model_dump() for c in u.contacts]
    if unit is None:
        add_unit(session, u.code, u.name, u.kind, parent=u.parent, aliases=u.aliases, contacts=contacts)
        return
    if unit.kind != u.kind:
        raise QuotaError(f"unit {u.code}: kind is {unit.kind.value} in the database, {u.kind.value} in the file")
    if u.name != unit.name:
        rename_unit(session, u.code, u.name)
    parent_id = session.scalar(select(Unit.id).where(Unit.code == u.parent)) if u.parent else None
    if parent_id != unit.parent_id:
        move_unit(session, u.code, u.parent)
    unit.aliases = sorted({*unit.aliases, *u.aliases})
    if contacts:
        unit.contacts = contacts
    unit.active = True
