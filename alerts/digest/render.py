"""Render a digest as email HTML, plain text and a browser-viewable HTML file.

Templates (``templates/digest.html.j2`` and ``digest.txt.j2``) render in Jinja2's
``SandboxedEnvironment`` with autoescape on for HTML and ``StrictUndefined``, so a hostile title
stays text and a misspelt variable is an error, not an empty string. The variables a template may
use are listed once, in :data:`TEMPLATE_VARIABLES` (and at the top of each template); the view
built here holds exactly those, pre-formatted in the recipient's language and time zone, so the
templates contain no logic beyond loops and conditions.

The email HTML is built to survive common clients: tables for layout, inline styles only, no
scripts, no external resources; the chart is an inline PNG referenced as ``cid:``. The saved file
embeds the same PNG as a ``data:`` URI so it opens in a browser without the email around it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from jinja2 import PackageLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from alerts.digest.builder import DigestData
from alerts.digest.i18n import fmt_change, fmt_date, fmt_datetime, fmt_percent, strings
from models.enums import RISK_LEVELS_DESC
from presswatch.i18n import Translator

# Every variable the digest templates receive (the one place they are listed).
TEMPLATE_VARIABLES = (
    "_",  # translates an English message into the digest's language (presswatch.i18n.Translator)
    "lang",  # zh-CN / vi / en, for <html lang>
    "title",  # digest title
    "subject",  # email subject line
    "period_text",  # the period in local time
    "generated_text",  # when it was built, local time
    "sections",  # section keys to show, in order
    "empty",  # no pieces in the period
    "sources_ok",  # no source health problems
    "headline",  # dict: pieces, negative_share, high_risk, risk_counts[], change_*, outlets, stories, own_pieces, late
    "flagged",  # list of item dicts (high risk and negative first)
    "flagged_more",  # how many flagged items were not listed
    "stories",  # list of story dicts, widest spread first
    "topics",  # list of topic dicts
    "own_pieces",  # list of own-piece dicts
    "own_more",  # how many own pieces were not listed
    "source_problems",  # list of source dicts
    "sources_total",  # enabled sources in scope
    "chart_src",  # cid:... in email, data:image/png;base64,... in a file, "" without chart
    "footer",  # footer line
    "organization",  # the organization's name ("" when unknown)
    "summary",  # the opening sentence built from the figures (总体态势 / tình hình chung)
    "channels",  # list of channel dicts: label, pieces, negative, share (news / social / own)
)

CHART_CID = "digest-chart@presswatch"

RISK_COLORS = {"critical": "#7b1111", "high": "#c62828", "medium": "#e08600", "low": "#2e7d32", "unknown": "#757575"}
SENTIMENT_COLORS = {"negative": "#c62828", "neutral": "#616161", "positive": "#2e7d32", "unknown": "#9e9e9e"}


@dataclass
class RenderedDigest:
    subject: str
    html: str  # email HTML (chart as cid:)
    text: str
    file_html: str  # browser HTML (chart as data: URI)
    chart_png: bytes | None
    chart_cid: str = CHART_CID
    stats: dict[str, Any] = field(default_factory=dict)

    def inline_images(self) -> list[dict[str, str]]:
        """The outbox payload's ``inline_images`` entry (empty without a chart)."""
        if not self.chart_png:
            return []
        return [{"cid": self.chart_cid, "mime": "image/png", "data_b64": base64.b64encode(self.chart_png).decode()}]


_env: SandboxedEnvironment | None = None


def environment() -> SandboxedEnvironment:
    global _env
    if _env is None:
        _env = SandboxedEnvironment(
            loader=PackageLoader("alerts.digest", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html.j2", "html"), default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
    return _env


def safe_url(url: str | None) -> str:
    """Only http(s) links reach a template: a ``javascript:`` URL in crawled data becomes no link."""
    if not url:
        return ""
    scheme = urlsplit(url.strip()).scheme.lower()
    return url.strip() if scheme in ("http", "https") else ""


def _badge(kind: str, value: str, t: dict[str, str]) -> dict[str, str]:
    colors = RISK_COLORS if kind == "risk" else SENTIMENT_COLORS
    key = f"{kind}_{value}" if f"{kind}_{value}" in t else f"{kind}_unknown"
    return {"label": t[key], "color": colors.get(value, colors["unknown"]), "value": value}


def subject_line(data: DigestData) -> str:
    t = strings(data.language)
    # A digest is named by its local date; a report by its period ("2024-12", "2024-Q4", "2024").
    when = (
        fmt_date(data.period.local_end().date(), data.language) if data.period.kind in ("daily", "rolling")
        else data.period.label
    )
    h = data.headline
    if data.empty:
        return f"{data.title} {when} | {t['empty']}"
    return (
        f"{data.title} {when} | {t['pieces']} {h.pieces} · "
        f"{t['negative_share']} {fmt_percent(h.negative_share)} · {t['high_risk']} {h.high_risk}"
    )


def app_link(public_url: str | None, article_id: int | None) -> str:
    """The web app's page of a piece (``web.public_url`` + ``/articles/<id>``), '' without a public URL."""
    base = (public_url or "").strip().rstrip("/")
    if article_id is None or not base.startswith(("http://", "https://")):
        return ""
    return f"{base}/articles/{int(article_id)}"


def summary_sentence(data: DigestData) -> str:
    """The digest's opening sentence, from its figures: how much, how it changed, how negative, how
    risky, how much needs attention (总体态势 / tình hình chung)."""
    t = strings(data.language)
    h = data.headline
    if data.empty:
        return t["empty"]
    return t["summary_sentence"].format(
        pieces=h.pieces, previous=h.previous_pieces, share=fmt_percent(h.negative_share), high=h.high_risk,
        flagged=data.flagged_total, outlets=h.outlets,
    )


def _public_url() -> str:
    from settings import get_settings

    return get_settings().web.public_url


def build_view(data: DigestData, *, chart_src: str = "", recipients: list[str] | None = None,
               public_url: str | None = None) -> dict[str, Any]:
    lang = data.language
    t = strings(lang)
    h = data.headline
    base = _public_url() if public_url is None else public_url
    view: dict[str, Any] = {
        "_": Translator(lang),
        "lang": lang,
        "title": data.title,
        "subject": subject_line(data),
        "period_text": (
            f"{fmt_datetime(data.period.local_start(), lang)} – {fmt_datetime(data.period.local_end(), lang)}"
        ),
        "generated_text": fmt_datetime(data.generated_at, lang),
        "sections": [s for s in data.sections if s != "chart" or chart_src],
        "empty": data.empty,
        "sources_ok": data.sources_healthy,
        "headline": {
            "pieces": h.pieces,
            "negative": h.negative,
            "negative_share": fmt_percent(h.negative_share),
            "high_risk": h.high_risk,
            "risk_counts": [
                {**_badge("risk", level, t), "count": h.risk_counts.get(level, 0)}
                for level in RISK_LEVELS_DESC
            ],
            "previous_pieces": h.previous_pieces,
            "previous_negative_share": fmt_percent(h.previous_negative_share),
            "change_pieces": fmt_change(h.pieces, h.previous_pieces, lang),
            "change_high_risk": fmt_change(h.high_risk, h.previous_high_risk, lang),
            "outlets": h.outlets,
            "stories": h.stories,
            "own_pieces": h.own_pieces,
            "late": h.late,
            "late_text": t["late_count"].format(n=h.late) if h.late else "",
        },
        "flagged": [
            {
                "title": item.title,
                "url": safe_url(item.url),
                "app_url": app_link(base, item.article_id),
                "outlet": item.outlet,
                "time": fmt_datetime(item.published, lang) if item.published else "",
                "extract": item.extract,
                "sentiment": _badge("sentiment", item.sentiment, t),
                "risk": _badge("risk", item.risk, t),
                "reasons": item.reasons,
                "topics": item.topics,
                "case_state": t[f"case_{item.case_state}"] if item.case_state else t["no_case"],
                "has_case": item.case_state is not None,
                "story_outlets": item.story_outlets,
                "late": item.late,
            }
            for item in data.flagged
        ],
        "flagged_more": max(0, data.flagged_total - len(data.flagged)),
        "stories": [
            {
                "title": s.title,
                "url": safe_url(s.url),
                "app_url": app_link(base, s.article_id),
                "first_outlet": s.first_outlet,
                "outlets": s.outlets,
                "articles": s.articles,
                "period_articles": s.period_articles,
                "first_seen": fmt_datetime(s.first_seen, lang),
                "sentiment": _badge("sentiment", s.sentiment, t),
                "risk": _badge("risk", s.risk, t),
                "case_state": t[f"case_{s.case_state}"] if s.case_state else "",
            }
            for s in data.stories
        ],
        "topics": [
            {"name": r.name, "count": r.count, "negative": r.negative,
             "share": fmt_percent(r.count / h.pieces if h.pieces else None)}
            for r in data.topics
        ],
        "own_pieces": [
            {
                "title": p.title,
                "url": safe_url(p.url),
                "outlet": p.outlet,
                "unit": p.unit,
                "time": fmt_datetime(p.published, lang),
                "state": t.get(f"reg_{p.state}", p.state),
            }
            for p in data.own_pieces
        ],
        "own_more": max(0, h.own_pieces - len(data.own_pieces)),
        "source_problems": [
            {
                "name": s.name,
                "key": s.key,
                "health": s.health,
                "failures": t["failures"].format(n=s.consecutive_failures),
                "last_success": fmt_datetime(s.last_success, lang) if s.last_success else t["never"],
                "last_error": s.last_error,
            }
            for s in data.source_problems
        ],
        "sources_total": data.sources_total,
        "chart_src": chart_src,
        "footer": t["footer"].format(recipients=", ".join(recipients)) if recipients else t["footer_preview"],
        # The organization, unless the title already names it ("Điểm tin báo chí - Cục THADS ...").
        "organization": data.organization if data.organization not in data.title else "",
        "summary": summary_sentence(data),
        "channels": [
            {"key": key, "label": t[f"channel_{key}"], "pieces": n, "negative": neg,
             "share": fmt_percent(neg / n if n else None)}
            for key, (n, neg) in data.channels.items()
        ],
    }
    missing = set(TEMPLATE_VARIABLES) ^ set(view)
    if missing:  # the list above and the view must agree: a template reads only declared names
        raise AssertionError(f"template variables out of sync: {sorted(missing)}")
    return view


def render_digest(
    data: DigestData,
    *,
    recipients: list[str] | None = None,
    font_file: str = "",
    with_chart: bool = True,
    public_url: str | None = None,
) -> RenderedDigest:
    """Email HTML + text + browser HTML for ``data``; the chart is drawn when the section is on."""
    env = environment()
    chart_png: bytes | None = None
    if with_chart and "chart" in data.sections and data.series:
        from alerts.digest.chart import render_chart

        chart_png = render_chart(data.series, data.language, font_file)
    email_view = build_view(data, chart_src=f"cid:{CHART_CID}" if chart_png else "", recipients=recipients,
                            public_url=public_url)
    file_src = "data:image/png;base64," + base64.b64encode(chart_png).decode() if chart_png else ""
    file_view = build_view(data, chart_src=file_src, recipients=recipients, public_url=public_url)
    return RenderedDigest(
        subject=email_view["subject"],
        html=env.get_template("digest.html.j2").render(email_view),
        text=env.get_template("digest.txt.j2").render(email_view),
        file_html=env.get_template("digest.html.j2").render(file_view),
        chart_png=chart_png,
        stats=data.stats(),
    )
