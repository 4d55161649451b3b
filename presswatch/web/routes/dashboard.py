"""/dashboard (the overview for the user's scope), /dashboard/wall (舆情大屏: full screen, refreshing
itself) and the chart options both draw. The figures come from :func:`alerts.overview.overview`;
this module only turns them into ECharts options, each data point carrying the ``/stream`` URL a
click opens (the shared URL contract). A signed link's view (``routes/shared.py``) renders the same
templates with ``clickable=False``: its reader has no account to open the stream with."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from alerts.overview import DEFAULT_WINDOW, WINDOWS, Overview, overview
from models.scope import Scope
from presswatch.i18n import N_, Translator
from presswatch.web.deps import Page, require

router = APIRouter()
read_page = require("read")

WALL_REFRESH_SECONDS = 60
WINDOW_LABELS = {"24h": N_("Last 24 hours"), "3d": N_("Last 3 days"), "7d": N_("Last 7 days"),
                 "30d": N_("Last 30 days")}
RISK_AT_LEAST = N_("{level} or above")  # a risk bar: the pieces at this level or above
CHANNEL_LABELS = {"news": N_("News media"), "social": N_("Social media"), "own": N_("Own channels")}
RISK_COLORS = {"critical": "#7b1111", "high": "#c62828", "medium": "#e08600", "low": "#2e7d32"}
SENTIMENT_COLORS = {"negative": "#c62828", "neutral": "#8c8f94", "positive": "#2e7d32"}


def stream_url(window: str, **params: Any) -> str:
    """A link into the coverage stream (the shared URL contract: since, sentiment, risk, topic, ...)."""
    query = {"since": window} if "from" not in params else {}
    query.update({k: v for k, v in params.items() if v not in (None, "")})
    return "/stream?" + urlencode(query)


def chart_options(ov: Overview, t: Translator, *, clickable: bool = True, dark: bool = False) -> dict[str, Any]:
    """ECharts options for every chart of the dashboard, by name."""
    text = "#e8eaed" if dark else "#1d2327"
    axis = {"axisLabel": {"color": text}, "axisLine": {"lineStyle": {"color": "#8c8f94"}}}
    w = ov.window

    # A window of days counts whole local days (the first bar is a whole day); a click opens the same
    # days on the stream (from/to in the user's time zone), not "the last 7 x 24 hours", so the
    # figure and the stream's count agree. The last 24 hours are the same on both.
    days = {} if ov.hourly else {"from": ov.buckets[0].start.date().isoformat(),
                                 "to": ov.buckets[-1].start.date().isoformat()}

    def url(**params: Any) -> str | None:
        return stream_url(w, **{**days, **params}) if clickable else None

    def item(value: Any, **params: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"value": value}
        link = url(**params)
        if link:
            out["url"] = link
        return out

    labels = [b.start.strftime("%H:00") if ov.hourly else b.start.strftime("%m-%d") for b in ov.buckets]

    def day_params(b: Any) -> dict[str, Any]:
        return {} if ov.hourly else {"from": b.start.date().isoformat(), "to": b.start.date().isoformat()}

    volume = {
        "textStyle": {"color": text},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "textStyle": {"color": text}},
        "grid": {"left": 40, "right": 44, "top": 34, "bottom": 28},
        "xAxis": {"type": "category", "data": labels, **axis},
        "yAxis": [{"type": "value", "minInterval": 1, **axis},
                  {"type": "value", "min": 0, "max": 100, "axisLabel": {"formatter": "{value}%", "color": text}}],
        "series": [
            {"name": t("Pieces"), "type": "bar", "itemStyle": {"color": "#5b8def"},
             "data": [item(b.pieces, **day_params(b)) for b in ov.buckets]},
            {"name": t("Negative share"), "type": "line", "yAxisIndex": 1, "itemStyle": {"color": "#d63638"},
             "data": [item(round(b.negative_share * 100, 1) if b.negative_share is not None else None,
                           sentiment="negative", **day_params(b)) for b in ov.buckets]},
        ],
    }
    # The stream's risk filter means "this level or above" (the URL contract): each bar counts the
    # pieces at its level or above, so a bar's figure is what its click lists.
    at_least: dict[str, int] = {}
    running = 0
    for level in ov.risk:  # highest first
        running += ov.risk[level]
        at_least[level] = running
    risk = {
        "textStyle": {"color": text},
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 40, "right": 10, "top": 10, "bottom": 28},
        "xAxis": {"type": "category", "data": [t(RISK_AT_LEAST, level=t(level)) for level in ov.risk], **axis},
        "yAxis": {"type": "value", "minInterval": 1, **axis},
        "series": [{"type": "bar", "data": [
            {**item(n, risk=level), "itemStyle": {"color": RISK_COLORS[level]}} for level, n in at_least.items()]}],
    }

    def pie(values: dict[str, int], names: dict[str, str], colors: dict[str, str] | None, key: str) -> dict[str, Any]:
        return {
            "textStyle": {"color": text},
            "tooltip": {"trigger": "item"},
            "legend": {"bottom": 0, "textStyle": {"color": text}},
            "series": [{"type": "pie", "radius": ["30%", "70%"], "center": ["50%", "45%"],
                        "label": {"position": "inside", "formatter": "{d}%", "color": "#ffffff"},
                        "data": [{**item(n, **{key: k}), "name": names[k],
                                  **({"itemStyle": {"color": colors[k]}} if colors else {})}
                                 for k, n in values.items()]}],
        }

    sentiment = pie(ov.sentiment, {k: t(k) for k in ov.sentiment}, SENTIMENT_COLORS, "sentiment")
    channels = pie(ov.channels, {k: t(CHANNEL_LABELS[k]) for k in ov.channels}, None, "channel")

    def hbar(names: list[str], values: list[dict[str, Any]], color: str) -> dict[str, Any]:
        return {
            "textStyle": {"color": text},
            "tooltip": {"trigger": "axis"},
            "grid": {"left": 8, "right": 24, "top": 8, "bottom": 8, "containLabel": True},
            "xAxis": {"type": "value", "minInterval": 1, **axis},
            "yAxis": {"type": "category", "inverse": True, "data": names,
                      "axisLabel": {"color": text, "width": 110, "overflow": "truncate"}},
            "series": [{"type": "bar", "itemStyle": {"color": color}, "data": values}],
        }

    topics = hbar([label for _k, label, _n in ov.topics], [item(n, topic=k) for k, _l, n in ov.topics], "#7e57c2")
    outlets = hbar([name for _i, name, _n, _neg in ov.outlets], [item(n, outlet=i) for i, _nm, n, _neg in ov.outlets],
                   "#26a69a")
    units = {
        "textStyle": {"color": text},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "textStyle": {"color": text}},
        "grid": {"left": 8, "right": 24, "top": 30, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "value", "minInterval": 1, **axis},
        "yAxis": {"type": "category", "inverse": True, "data": [u.name for u in ov.units],
                  "axisLabel": {"color": text, "width": 110, "overflow": "truncate"}},
        "series": [
            {"name": t("Open alerts"), "type": "bar", "stack": "open", "itemStyle": {"color": "#d63638"},
             "data": [item(u.new, unit=u.unit_id) for u in ov.units]},
            {"name": t("Cases in progress"), "type": "bar", "stack": "open", "itemStyle": {"color": "#dba617"},
             "data": [item(u.in_progress, unit=u.unit_id) for u in ov.units]},
        ],
    }
    return {"volume": volume, "risk": risk, "sentiment": sentiment, "channels": channels, "topics": topics,
            "outlets": outlets, "units": units}


def window_of(value: str) -> str:
    return value if value in WINDOWS else DEFAULT_WINDOW


def render_dashboard(page: Page, scope: Scope, *, window: str, wall: bool = False, partial: bool = False,
                     link_base: str = "", clickable: bool = True) -> Response:
    """The dashboard (or its wall, or the wall's refreshed body) for ``scope``; ``link_base`` is the
    signed link's own path when a link's reader is looking (no navigation, no clicks into the app)."""
    window = window_of(window)
    ov = overview(page.db, scope, window=window, tz=page.timezone, language=page.language)
    context = {
        "ov": ov, "charts": chart_options(ov, page.t, clickable=clickable, dark=wall), "window": window,
        "windows": WINDOW_LABELS, "wall": wall, "link_base": link_base, "clickable": clickable,
        "refresh": WALL_REFRESH_SECONDS, "stream_url": stream_url,
        "base_path": link_base or "/dashboard", "link_org": page.extra.get("link_org", ""),
    }
    if partial:
        return page.render("_dashboard_body.html", **context)
    return page.render("dashboard_wall.html" if wall else "dashboard.html", **context)


@router.get("/dashboard")
def dashboard(page: Page = Depends(read_page), since: str = DEFAULT_WINDOW, partial: str = "") -> Response:
    return render_dashboard(page, page.require_scope(), window=since, partial=partial == "1")


@router.get("/dashboard/wall")
def dashboard_wall(page: Page = Depends(read_page), since: str = DEFAULT_WINDOW, partial: str = "") -> Response:
    return render_dashboard(page, page.require_scope(), window=since, wall=True, partial=partial == "1")
