"""Console output and expected-failure helpers shared by every stage's CLI commands.

This module is part of presswatch's shared core: stages import it, and it imports no stage and no
shell module (``presswatch.cli``, ``presswatch.service``, ``presswatch.demo``, ``presswatch.web``).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from rich.console import Console

console = Console()
# Errors are never wrapped: a file path in a message must stay whole (and greppable) in logs.
err_console = Console(stderr=True, soft_wrap=True)


class CliError(Exception):
    """An expected failure to report as one line (exit code 2)."""


# Exit codes, so cron and monitoring can tell a quiet run from a broken one (README: "Exit codes").
EXIT_OK = 0
#: A bug: an unexpected exception (Python's own code for an uncaught exception).
EXIT_CRASH = 1
#: Bad usage, configuration or database (one line on stderr, nothing done).
EXIT_USAGE = 2
#: ``crawl`` / ``import``: a source failed, or the pipeline could not store some of its items.
EXIT_SOURCE_FAILED = 3
#: ``alerts deliver`` / ``digest send``: a message could not be sent (retried later or dead-lettered).
EXIT_NOT_SENT = 4


_SINCE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")


def parse_since(text: str, option: str = "--since") -> timedelta:
    """'90m', '12h', '7d', '2w' -> timedelta; anything else is a one-line error naming ``option``."""
    found = _SINCE.match(text or "")
    if not found:
        raise CliError(f"{option} expects a number and a unit (m, h, d, w), e.g. 7d; got {text!r}")
    n, unit = int(found.group(1)), found.group(2)
    return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]


# -- what a person at a terminal reads: their language, the organization's local time -------------

def cli_language() -> str:
    """The language of CLI tables: the locale as gettext reads it (``LANGUAGE``, ``LC_ALL``,
    ``LC_MESSAGES``, ``LANG``), else English (``C`` / ``POSIX`` mean English). ``PRESSWATCH_*``
    variables are settings, so the language is not one of them."""
    import os

    from presswatch.i18n import normalize_language

    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        for code in value.split(":"):  # LANGUAGE may list several: zh_CN:en
            code = code.split(".")[0].split("@")[0]
            if code and code not in ("C", "POSIX"):
                return normalize_language(code)
    return "en"


def org_timezone() -> str:
    """The organization's time zone (``scheduler.timezone``: the zone its schedules run in), in which
    the CLI shows every time."""
    from settings import get_settings

    return get_settings().scheduler.timezone


def local_time(value: datetime | None, language: str | None = None, tz: str | None = None) -> str:
    """A stored (UTC) time as the organization reads it: local, to the minute (``2026-12-05 01:53``)."""
    from presswatch.i18n import format_datetime

    return format_datetime(value, language or cli_language(), tz or org_timezone()) if value else ""
