"""Digest definitions as data: who gets which digest, in which language, when, about what.

A YAML file (``alerts.digests_file``, ``digests.yaml`` by default; ``presswatch init`` writes a
commented sample) holds a list of definitions::

    digests:
      - name: dz-daily
        title: 儋州法院每日舆情简报        # optional; the localized default title otherwise
        recipients: [leader@court.example.cn]
        language: zh-CN                   # zh-CN | vi | en
        timezone: Asia/Shanghai
        send_time: "07:30"
        scope: {langs: [zh], units: [dz-court], sources: [], topics: [], watch_queries: []}
        sections: [headline, flagged, stories, topics, own_pieces, source_health, chart]
        send_when_empty: true
        reports: [monthly, quarterly, yearly]   # optional: also email last period's report (XLSX + PDF)

The file is validated when it loads, so a typo fails with the file and the key named, not at
07:30 the next morning. A missing file means "no digests" (said once in the log), not an error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts.digest.periods import REPORT_KINDS
from presswatch.addresses import validate_email_address
from presswatch.i18n import validate_timezone
from presswatch.yamlfile import read_yaml

log = logging.getLogger(__name__)

Language = Literal["zh-CN", "vi", "en"]
LANGUAGES: tuple[str, ...] = ("zh-CN", "vi", "en")

# Section keys in their fixed reading order (the order in the email does not follow the YAML order:
# leadership reads the headline numbers and the flagged items first, by design).
SECTIONS: tuple[str, ...] = ("headline", "flagged", "stories", "topics", "own_pieces", "source_health", "chart")

# Periodic reports a definition may ask for (sent on the first local day of the next period); the
# digests record of a report is named "<digest>:<kind>", which must fit the 100-character column.
_NAME_MAX_WITH_REPORTS = 100 - len(":quarterly")

_SEND_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class DigestError(Exception):
    """A bad digest definition file or an unknown digest name; the message says which."""


class Scope(BaseModel):
    """What a digest is about. Empty lists mean "no restriction" on that axis."""

    model_config = ConfigDict(extra="forbid")

    langs: list[str] = Field(default_factory=list, description="Article languages (prefix match: zh covers zh-Hant).")
    sources: list[str] = Field(default_factory=list, description="Source keys.")
    topics: list[str] = Field(default_factory=list, description="Topic names from the classifier.")
    watch_queries: list[str] = Field(default_factory=list, description="Names of watch queries (table watch_queries).")
    units: list[str] = Field(
        default_factory=list,
        description="Unit codes: their own published pieces (with every unit below them) and their own channels.",
    )


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flagged: int = Field(10, ge=0)
    stories: int = Field(5, ge=0)
    topics: int = Field(10, ge=0)
    own_pieces: int = Field(20, ge=0)


def _known_in_order(value: list[str], known: Sequence[str], what: str) -> list[str]:
    """``value``'s names in ``known``'s order; a ValueError names any unknown one and the known ones."""
    unknown = [v for v in value if v not in known]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; known: {', '.join(known)}")
    return [k for k in known if k in value]


class DigestDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    title: str = ""
    recipients: list[str] = Field(default_factory=list)
    language: Language = "zh-CN"
    timezone: str = "Asia/Shanghai"
    send_time: str = "07:30"
    scope: Scope = Field(default_factory=Scope)
    sections: list[str] = Field(default_factory=lambda: list(SECTIONS))
    send_when_empty: bool = True
    enabled: bool = True
    limits: Limits = Field(default_factory=Limits)
    reports: list[str] = Field(default_factory=list)

    @field_validator("recipients")
    @classmethod
    def _check_recipients(cls, value: list[str]) -> list[str]:
        return [validate_email_address(address) for address in value]

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return validate_timezone(value)

    @field_validator("send_time")
    @classmethod
    def _check_send_time(cls, value: str) -> str:
        if not _SEND_TIME.match(value.strip()):
            raise ValueError(f"send_time must be HH:MM (24-hour), got {value!r}")
        return value.strip()

    @field_validator("sections")
    @classmethod
    def _check_sections(cls, value: list[str]) -> list[str]:
        return _known_in_order(value, SECTIONS, "section(s)")

    @field_validator("reports")
    @classmethod
    def _check_reports(cls, value: list[str]) -> list[str]:
        return _known_in_order(value, REPORT_KINDS, "report kind(s)")

    @model_validator(mode="after")
    def _sections_not_empty(self) -> DigestDefinition:
        if not self.sections:
            raise ValueError("sections must name at least one section")
        if self.reports and len(self.name) > _NAME_MAX_WITH_REPORTS:
            raise ValueError(f"name must be at most {_NAME_MAX_WITH_REPORTS} characters when reports are sent")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def local_send_time(self) -> time:
        hour, minute = self.send_time.split(":")
        return time(int(hour), int(minute))


def parse_definitions(data: Any, origin: str = "<data>") -> list[DigestDefinition]:
    """Validate the parsed YAML document; errors name ``origin`` and the failing key."""
    if data is None:
        return []
    if isinstance(data, dict):
        data = data.get("digests", [])
    if not isinstance(data, list):
        raise DigestError(f"{origin}: expected a list under 'digests'")
    out: list[DigestDefinition] = []
    seen: set[str] = set()
    for index, raw in enumerate(data):
        where = f"{origin}: digests[{index}]"
        if isinstance(raw, dict) and raw.get("name"):
            where += f" ({raw['name']})"
        try:
            definition = DigestDefinition.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(definition)'}: {err['msg']}" for err in exc.errors()
            )
            raise DigestError(f"{where}: {problems}") from None
        if definition.name in seen:
            raise DigestError(f"{where}: duplicate digest name {definition.name!r}")
        seen.add(definition.name)
        out.append(definition)
    return out


def load_definitions(path: str | Path) -> list[DigestDefinition]:
    """Read and validate the definitions file; a missing file is an empty list."""
    path = Path(path)
    if not path.is_file():
        log.info("no digest definitions: %s does not exist", path)
        return []
    return parse_definitions(read_yaml(path, DigestError), str(path))


def all_definitions(session: Any, path: str | Path) -> list[DigestDefinition]:
    """The file's definitions, with those made or changed in the admin pages (``digest_definitions``)
    replacing the file's entry of the same name or added after them."""
    from sqlalchemy import select

    from models import DigestDefinitionRow

    out = {d.name: d for d in load_definitions(path)}
    for row in session.scalars(select(DigestDefinitionRow).order_by(DigestDefinitionRow.id)):
        try:
            out[row.name] = DigestDefinition.model_validate(row.definition)
        except ValidationError as exc:  # validated when saved; a later code change may reject it
            log.error("digest %s (saved in the web app) is no longer valid and is skipped: %s", row.name, exc)
    return list(out.values())


def find_definition(definitions: list[DigestDefinition], name: str) -> DigestDefinition:
    for definition in definitions:
        if definition.name == name:
            return definition
    known = ", ".join(d.name for d in definitions) or "none defined"
    raise DigestError(f"no digest named {name!r} (known: {known})")
