"""How presswatch starts a Python child process: never importing from the user's working folder.

``python -m pkg.mod`` puts the current directory first on ``sys.path``, so a ``settings.py``,
``models.py`` or ``pipeline/`` folder where the user happens to run ``presswatch`` would shadow our
own modules in the child (every crawl of ``presswatch run`` failed in a folder holding a Django
``settings.py``). Every child is started through :func:`python_child`: ``-P`` (Python >= 3.11)
keeps the working directory off ``sys.path``, the package root is put first on ``PYTHONPATH``, and
``PYTHONPATH`` entries that name the working directory (empty, ``.``) are dropped.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

# The folder holding our top-level packages (crawlers/, pipeline/, settings.py ...): the checkout,
# or site-packages when installed.
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def _safe_pythonpath(value: str, cwd: Path) -> list[str]:
    kept = []
    for entry in value.split(os.pathsep):
        if not entry.strip() or entry.strip() == ".":
            continue
        try:
            if Path(entry).resolve() == cwd and cwd != PACKAGE_ROOT:
                continue
        except OSError:
            continue
        kept.append(entry)
    return kept


def python_child(module: str, *args: str, environ: Mapping[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that run ``python -m module args...`` isolated from the working folder."""
    env = dict(os.environ if environ is None else environ)
    cwd = Path.cwd().resolve()
    entries = [str(PACKAGE_ROOT), *_safe_pythonpath(env.get("PYTHONPATH", ""), cwd)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(entries))
    env["PYTHONSAFEPATH"] = "1"  # the same as -P, for any grandchild the child starts
    return [sys.executable, "-P", "-m", module, *args], env
