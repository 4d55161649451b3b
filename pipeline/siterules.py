"""Per-site extraction rules, kept as data in ``pipeline/site_rules.yaml``.

The generic path (``pipeline.density``) holds on pages nobody wrote a rule for; a rule only says
what a known outlet's article page really looks like, so its title, body and date are taken
from the right block first. Rules are matched on the page's host by the longest suffix, and
every selector compiles when the file loads, so a typo fails at start-up.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

RULES_FILE = Path(__file__).with_name("site_rules.yaml")
SELECTOR_KEYS = ("title", "text", "date", "byline", "remove")
SCRIPT_KEYS = ("date_script", "date_script_unix")


class BadRule(ValueError):
    """A site rule that does not compile."""


def _validate(host: str, rule: Any) -> dict[str, Any]:
    from pipeline.extract import BadSelector, validate_selectors

    if not isinstance(rule, dict):
        raise BadRule(f"site rule {host!r}: expected a mapping")
    unknown = set(rule) - set(SELECTOR_KEYS) - set(SCRIPT_KEYS)
    if unknown:
        raise BadRule(f"site rule {host!r}: unknown keys {sorted(unknown)}")
    try:
        validate_selectors({k: v for k, v in rule.items() if k in SELECTOR_KEYS})
    except BadSelector as exc:
        raise BadRule(f"site rule {host!r}: {exc}") from None
    for key in SCRIPT_KEYS:
        if key in rule:
            try:
                re.compile(rule[key])
            except re.error as exc:
                raise BadRule(f"site rule {host!r}: bad {key}: {exc}") from None
    return dict(rule)


@functools.cache
def load_rules(path: Path = RULES_FILE) -> dict[str, dict[str, Any]]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(host).lower(): _validate(str(host), rule) for host, rule in raw.items()}


def rule_for(url: str | None) -> dict[str, Any]:
    """The rule for ``url``'s host (longest matching suffix), or an empty dict."""
    if not url:
        return {}
    host = (urlsplit(url).hostname or "").lower()
    best = ""
    for suffix in load_rules():
        if (host == suffix or host.endswith("." + suffix)) and len(suffix) > len(best):
            best = suffix
    return load_rules()[best] if best else {}
