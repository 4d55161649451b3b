"""Keep the translation catalog in step with the code: ``make messages`` (``python -m presswatch.i18n_catalog``).

Extracts every marked string (``_``, ``N_``, ``gettext(lang, msg)``, ``ngettext(lang, s, p, n)``,
``t.plural(s, p, n)`` in Python; ``_()`` / ``{% trans %}`` in Jinja2 templates) from the packages
into ``presswatch/locale/messages.pot``, then merges it into each language's ``messages.po``
(new strings arrive untranslated; ``tests/test_i18n.py`` fails until zh-CN and vi are filled in).
Sorted and without source locations, so two branches adding strings rarely conflict.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.frontend import CommandLineInterface

from presswatch.i18n import LANGUAGES, LOCALE_DIR, locale_dir_name, po_path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("presswatch", "crawlers", "pipeline", "classify", "alerts", "quota", "models", "accounts", "settings.py")
KEYWORDS = ("_", "N_", "gettext:2", "ngettext:2,3", "plural:1,2")


def extract(pot: Path = LOCALE_DIR / "messages.pot") -> Path:
    args = ["pybabel", "-q", "extract", "-F", str(REPO_ROOT / "babel.cfg"), "--no-location", "--sort-output"]
    args += ["--no-default-keywords", "--omit-header", "-o", str(pot)]
    for keyword in KEYWORDS:
        args += ["-k", keyword]
    args += [str(REPO_ROOT / p) for p in PACKAGES]
    CommandLineInterface().run(args)
    return pot


def update(pot: Path = LOCALE_DIR / "messages.pot") -> None:
    for language in LANGUAGES:
        path = po_path(language)
        if not path.exists():
            CommandLineInterface().run(
                ["pybabel", "-q", "init", "-i", str(pot), "-d", str(LOCALE_DIR), "-l", locale_dir_name(language)]
            )
        CommandLineInterface().run(
            ["pybabel", "-q", "update", "-i", str(pot), "-d", str(LOCALE_DIR), "-l", locale_dir_name(language),
             "--no-fuzzy-matching", "--ignore-obsolete"]
        )


def main() -> int:
    update(extract())
    print(f"catalog updated: {LOCALE_DIR}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
