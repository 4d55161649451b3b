"""Alert messages in the recipient's language (zh-CN / vi / en), rendered in a Jinja2 sandbox.

Crawled text is hostile input: titles may carry HTML, scripts, CRLF header-injection attempts or
run to megabytes. Everything that came from a crawl passes through :func:`inert` (control
characters removed, length bounded) before a template sees it; the HTML template is autoescaped,
links are kept only when they are http(s), and the subject is one bounded line. Templates live in
``alerts/templates`` and list their variables at the top.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from alerts.outbox import MAX_SUBJECT_CHARS, one_line
from classify.reasons import Section, describe_reasons, risk_label, sentiment_label
from classify.taxonomy import topic_label
from models.enums import risk_rank
from presswatch.i18n import N_, Translator, format_datetime, gettext, normalize_language

TEMPLATES_DIR = Path(__file__).parent / "templates"
MAX_TITLE_CHARS = 200
MAX_EXCERPT_CHARS = 240
MAX_WHY_LINES = 12
MAX_WHY_CHARS = 200
MAX_URL_CHARS = 1000
MAX_ALERTS_PER_MESSAGE = 50

MESSAGES: dict[str, str] = {
    "prefix": N_("Press alert"),
    "batch_subject": N_("{n} new alerts (highest: {top})"),
    "batch_intro": N_("{n} alerts in a short time, sent together:"),
    "severity_label": N_("Severity"),
    "kind_label": N_("Kind"),
    "title_label": N_("Title"),
    "outlet_label": N_("Outlet"),
    "published_label": N_("Published"),
    "link_label": N_("Link"),
    "spread_label": N_("Spread"),
    "why_label": N_("Why it fired"),
    "excerpt_label": N_("Excerpt"),
    "deadline_label": N_("Respond by"),
    "case_label": N_("Case"),
    "escalated": N_("risk rose"),
    "spread": N_("{articles} pieces in {outlets} outlets: {names}"),
    "footer": N_(
        "Sent automatically by presswatch media monitoring. Verify, assess and respond; record the agreed "
        "response line in the case."
    ),
    "story": N_("Negative coverage"),
    "surge": N_("Surge in negative mentions"),
    "source_failing": N_("Source failing"),
    "quota_shortfall": N_("Quota progress"),
    "escalation_subject": N_("Overdue case escalated"),
    "escalation_note": N_("This case passed its deadline and is now yours."),
    "correction_subject": N_("[Correction overdue] {outlet}: request #{id}"),
    "correction_intro": N_(
        "Correction request #{id} passed its deadline ({deadline}) and {outlet} has not published a "
        "correction. Follow up with the outlet, or record the outcome: presswatch corrections close {id} "
        "corrected|refused|no_response"
    ),
    "correction_outlet": N_("the outlet"),
    "correction_piece": N_("Piece"),
    "correction_claim": N_("False claim"),
    "correction_requested": N_("Requested"),
    "why_risk": N_("risk {level} (rule threshold: {min})"),
    "why_sentiment": N_("sentiment: {value}"),
    "why_topics": N_("topics: {names}"),
    "why_tier": N_("outlet tier: {tier}"),
    "why_source": N_("source: {source}"),
    "why_language": N_("language: {lang}"),
    "why_query": N_("watch terms matched: {terms}"),
    "why_risk_rose": N_("risk rose from {from} to {to}"),
    "why_surge_hour": N_(
        "{count} negative pieces in the last hour; same hour on previous days: {baseline} on average (watch "
        "query: {query})"
    ),
    "why_surge_day": N_(
        "{count} negative pieces in the last 24 hours; previous 14 days: {baseline} a day (watch query: "
        "{query})"
    ),
    "why_source_failing": N_("source {source} failed {count} times in a row; last success: {since}; error: {error}"),
    "why_privacy": N_("own-channel piece may carry personal data or a secrecy marking: {findings}"),
}
MESSAGES_NEVER = N_("never succeeded")
COLORS = {"low": "#888888", "medium": "#d08c00", "high": "#d9480f", "critical": "#c00000"}
LANG_TZ = {"zh-CN": "Asia/Shanghai", "vi": "Asia/Ho_Chi_Minh", "en": "UTC"}


@functools.cache
def strings(language: str) -> dict[str, str]:
    """Every alert-message word in ``language`` (from the catalog), by key."""
    language = normalize_language(language)
    return {key: gettext(language, message) for key, message in MESSAGES.items()}


def inert(value: Any, limit: int) -> str:
    """Crawled text made safe to place anywhere: one line, no control characters, bounded."""
    return one_line(str(value if value is not None else ""), limit)


def safe_url(url: Any) -> str:
    text = inert(url, MAX_URL_CHARS)
    return text if text.lower().startswith(("http://", "https://")) and " " not in text else ""


# A rule's condition already said this, so the classifier's reasons need not say it again.
_PART_SECTIONS: dict[str, Section] = {"risk": "risk", "risk_rose": "risk", "sentiment": "sentiment",
                                      "topics": "topics", "privacy": "privacy"}
_ALERT_SECTIONS: tuple[Section, ...] = ("risk", "sentiment", "topics", "terms", "factors", "privacy")


def _part_value(code: str, key: str, value: Any, language: str, tz: str | None = None) -> str:
    """A value in a rule's decision as people read it: labels for topic keys, risk levels and
    sentiments; a time in the reader's zone."""
    text = str(value)
    if key == "since":
        if text == "never":
            return gettext(language, MESSAGES_NEVER)
        try:
            return local_time(datetime.fromisoformat(text), language, tz)
        except ValueError:
            return text
    if code == "topics" and key == "names":
        sep = "、" if normalize_language(language) == "zh-CN" else ", "
        return sep.join(topic_label(name.strip(), language) for name in text.split(",") if name.strip())
    if key in ("level", "min", "from", "to"):
        return risk_label(text, language)
    if code == "sentiment":
        return sentiment_label(text, language)
    return text


def _localized_parts(parts: Any, language: str, tz: str | None = None) -> tuple[list[str], set[str]]:
    t = strings(language)
    lines, codes = [], set()
    for part in parts or []:
        try:
            code, values = part
            shown = {k: _part_value(str(code), str(k), v, language, tz) for k, v in dict(values).items()}
            lines.append(inert(t["why_" + str(code)].format(**shown), MAX_WHY_CHARS))
            codes.add(str(code))
        except (KeyError, ValueError, TypeError):
            continue  # an unknown part from a newer version: the English "why" still says it
    return lines, codes


def decision_lines(parts: Any, language: str) -> list[str]:
    """A rule decision's parts (:class:`alerts.rules.Decision`) as lines in ``language``."""
    return _localized_parts(parts, language)[0]


def why_lines(reason: Mapping[str, Any], language: str = "en", tz: str | None = None) -> list[str]:
    """The rule's decision, then the classifier's reasons (:func:`classify.reasons.describe_reasons`,
    less what the decision already said), as short lines in ``language`` (times in ``tz``)."""
    lines, codes = _localized_parts(reason.get("why_parts"), language, tz)
    if not lines:
        for entry in reason.get("why") or []:
            lines.append(inert(entry, MAX_WHY_CHARS))
    classification = reason.get("classification")
    if isinstance(classification, Mapping):
        said = {_PART_SECTIONS[c] for c in codes if c in _PART_SECTIONS}
        sections = [s for s in _ALERT_SECTIONS if s not in said]
        lines += [inert(line, MAX_WHY_CHARS) for line in describe_reasons(classification, language, sections=sections)]
    return list(dict.fromkeys(lines))[:MAX_WHY_LINES]


@dataclass(frozen=True)
class AlertView:
    id: int
    kind_text: str
    severity_text: str
    color: str
    title: str
    outlet: str
    published: str
    url: str
    spread: str
    why: list[str]
    excerpt: str
    deadline: str
    escalated: bool
    case_url: str = ""  # the case page in the web app (web.public_url), where the officer acts in one tap


def local_time(value: datetime | None, language: str, tz: str | None = None) -> str:
    """Local time of the recipient (their zone, else their rule's; else their language's usual one),
    to the minute, as :func:`presswatch.i18n.format_datetime` writes it."""
    return format_datetime(value, language, tz or LANG_TZ.get(normalize_language(language), "UTC"))


def case_link(public_url: str | None, case_id: int) -> str:
    """The web app's page of a case (``web.public_url`` + ``/cases/<id>``), or '' when no public URL is set."""
    base = (public_url or "").strip().rstrip("/")
    return f"{base}/cases/{int(case_id)}" if base.startswith(("http://", "https://")) else ""


def _public_url() -> str:
    from settings import get_settings

    return get_settings().web.public_url


def view(alert: Any, language: str, *, escalated: bool = False, tz: str | None = None,
         public_url: str | None = None) -> AlertView:
    """An ``models.Alert`` (or anything shaped like it) as template data in ``language``."""
    t = strings(language)
    reason: Mapping[str, Any] = alert.reason or {}
    outlets = [inert(o, 40) for o in reason.get("outlets") or []]
    articles = int(reason.get("article_count") or len(reason.get("article_ids") or []) or 0)
    spread = ""
    if articles > 1 or len(outlets) > 1:
        spread = t["spread"].format(articles=articles, outlets=len(outlets), names="、".join(outlets[:8]))
    published = reason.get("published_at")
    return AlertView(
        id=int(alert.id), kind_text=t.get(str(alert.kind), str(alert.kind)),
        severity_text=risk_label(str(alert.severity), language), color=COLORS.get(str(alert.severity), "#333"),
        title=inert(alert.title, MAX_TITLE_CHARS), outlet=inert(reason.get("outlet", ""), 80),
        published=local_time(datetime.fromisoformat(published), language, tz) if isinstance(published, str) else "",
        url=safe_url(reason.get("url", "")), spread=spread, why=why_lines(reason, language, tz),
        excerpt=inert(reason.get("excerpt", ""), MAX_EXCERPT_CHARS),
        deadline=local_time(alert.deadline_at, language, tz), escalated=escalated,
        case_url=case_link(_public_url() if public_url is None else public_url, int(alert.id)),
    )


_env: SandboxedEnvironment | None = None


def environment() -> SandboxedEnvironment:
    global _env
    if _env is None:
        _env = SandboxedEnvironment(
            loader=FileSystemLoader(str(TEMPLATES_DIR)),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
    return _env


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def subject_for(views: Sequence[AlertView], language: str, severities: Sequence[str]) -> str:
    t = strings(language)
    if len(views) == 1:
        v = views[0]
        subject = f"【{t['prefix']}·{v.severity_text}】{v.title}" if language == "zh-CN" else (
            f"[{t['prefix']} · {v.severity_text}] {v.title}")
    else:
        top = max(severities, key=risk_rank)
        body = t["batch_subject"].format(n=len(views), top=risk_label(top, language))
        subject = f"【{t['prefix']}】{body}" if language == "zh-CN" else f"[{t['prefix']}] {body}"
    return one_line(subject, MAX_SUBJECT_CHARS)


def render_alerts(alerts: Sequence[Any], language: str, *, escalated_ids: Sequence[int] = (),
                  tz: str | None = None, note: str = "", public_url: str | None = None) -> Rendered:
    """One message for one or many alerts, in ``language``. Each alert links to its case page in the
    web app when ``public_url`` (default: the ``web.public_url`` setting) is set: the officer taps
    it on a phone, logs in if needed and acknowledges there; else the message names the CLI command."""
    alerts = list(alerts)[:MAX_ALERTS_PER_MESSAGE]
    if public_url is None:
        public_url = _public_url()
    views = [view(a, language, escalated=a.id in escalated_ids, tz=tz, public_url=public_url) for a in alerts]
    subject = subject_for(views, language, [str(a.severity) for a in alerts])
    context = {"_": Translator(language), "alerts": views, "count": len(views), "batch": len(views) > 1,
               "lang": language, "subject": subject, "note": inert(note, 500)}
    env = environment()
    text = env.get_template("alert.txt.j2").render(**context)
    html = env.get_template("alert.html.j2").render(**context)
    return Rendered(subject=subject, text=text, html=html)


def render_correction_overdue(req: Any, outlet_name: str, case_id: int | None, language: str, *,
                              tz: str | None = None) -> Rendered:
    """The overdue message for a correction request (a ``models.CorrectionRequest``), plain text."""
    t = strings(language)
    outlet = inert(outlet_name, 80) or t["correction_outlet"]
    subject = one_line(t["correction_subject"].format(outlet=outlet, id=req.id), MAX_SUBJECT_CHARS)
    lines = [t["correction_intro"].format(id=req.id, outlet=outlet, deadline=local_time(req.deadline_at, language, tz)),
             ""]
    piece = safe_url(req.piece_url) or inert(req.piece_url, MAX_URL_CHARS)
    lines.append(f"{t['correction_piece']}: {piece}")
    lines.append(f"{t['correction_claim']}: {inert(req.false_claim, 500)}")
    lines.append(f"{t['correction_requested']}: {local_time(req.requested_at, language, tz)}")
    if case_id is not None:
        lines.append(f"{t['case_label']}: #{case_id}")
    lines += ["", t["footer"]]
    return Rendered(subject=subject, text="\n".join(lines) + "\n", html="")
