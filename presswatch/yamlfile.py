"""Reading the YAML files users edit (sources, alert rules, digests, quotas, taxonomy).

One place decides how a broken file is reported: the message names the file and what is wrong
(not UTF-8, not valid YAML, with the line YAML points at), raised as the caller's own error class
so each command shows it as one clear line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def parse_yaml(text: str, where: str, error: type[Exception]) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{where}: not valid YAML: {exc}") from None


def read_text(path: Path, error: type[Exception]) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text (save the file as UTF-8)") from None
    except OSError as exc:
        raise error(f"{path}: cannot be read: {exc.strerror or exc}") from None


def read_yaml(path: Path, error: type[Exception]) -> Any:
    """The parsed content of ``path`` (None for an empty file)."""
    return parse_yaml(read_text(path, error), str(path), error)
