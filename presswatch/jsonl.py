"""The one JSON Lines reader: every ``.jsonl`` presswatch reads (``ingest``, ``import``,
``classify --input``, ``train --data``, the labelled data sets) goes through :func:`read_objects`.

Five readers used to disagree: one took a byte-order mark on the first line, others failed on it;
one skipped lines that were not UTF-8, another replaced their bytes; some named the line of a bad
record, some did not. Here: UTF-8 (a BOM on the first line allowed), blank lines skipped, each
line one JSON object, and every problem is a :class:`JsonlError` naming ``path:line``, raised or,
with ``on_error``, reported so the caller can go on. Shared core: imports no stage.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any


class JsonlError(ValueError):
    """One bad line: ``path:line: message``."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def parse_object(raw: str) -> dict[str, Any]:
    """One line's JSON object; ValueError in plain words otherwise."""
    try:
        record: Any = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    return record


def objects_in_lines(lines: Iterable[tuple[int, str]], where: str,
                     on_error: Callable[[JsonlError], None] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of already-decoded text."""
    for number, raw in lines:
        if not raw.strip():
            continue
        try:
            yield number, parse_object(raw)
        except ValueError as exc:
            err = JsonlError(where, number, str(exc))
            if on_error is None:
                raise err from None
            on_error(err)


def _decoded_lines(path: Path, on_error: Callable[[JsonlError], None] | None) -> Iterator[tuple[int, str]]:
    with path.open("rb") as fh:
        for number, raw_bytes in enumerate(fh, start=1):
            try:
                yield number, raw_bytes.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                err = JsonlError(str(path), number, f"not UTF-8 (byte {exc.start})")
                if on_error is None:
                    raise err from None
                on_error(err)


def read_objects(path: str | Path, on_error: Callable[[JsonlError], None] | None = None,
                 ) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each record of a JSON Lines file; a bad line raises
    :class:`JsonlError`, or with ``on_error`` is reported and skipped."""
    path = Path(path)
    return objects_in_lines(_decoded_lines(path, on_error), str(path), on_error)


def objects_in_text(text: str, where: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The same, for text already decoded (an import file read with the byte decoder)."""
    return objects_in_lines(enumerate(text.lstrip("\ufeff").splitlines(), start=1), where)
