"""One JSON Lines reader: every .jsonl the product reads accepts the same files and names the same
bad line. Before, a file saved by Windows Notepad (a byte-order mark on the first line) loaded in
``ingest`` but failed ``train --data`` and the labelled data sets with a bare JSON error, and
``import`` said "not JSON" where ``ingest`` said "not valid JSON" for the same line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classify.datasets import read_jsonl as dataset_rows
from classify.training import examples_from_jsonl
from crawlers.imports import ImportError_, read_import_file
from pipeline.jsonl import read_jsonl as ingest_rows
from presswatch.jsonl import JsonlError

ROWS = [
    {"url": "https://example.org/a/1", "title": "执行", "text": "法院执行局兑现案款二百万元。", "label": "positive"},
    {"url": "https://example.org/a/2", "title": "投诉", "text": "群众投诉执行干警态度恶劣。", "label": "negative"},
]


def _write(path: Path, lines: list[str], bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ("\n".join(lines) + "\n").encode("utf-8"))
    return path


def test_every_reader_takes_a_byte_order_mark_and_blank_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "rows.jsonl", [json.dumps(ROWS[0], ensure_ascii=False), "",
                                           json.dumps(ROWS[1], ensure_ascii=False)], bom=True)
    assert [r["url"] for r in dataset_rows(path)] == ["https://example.org/a/1", "https://example.org/a/2"]
    assert [e.label for e in examples_from_jsonl(path, "sentiment")] == ["positive", "negative"]
    assert len(read_import_file(path).rows) == 2
    plain = [{k: v for k, v in r.items() if k != "label"} for r in ROWS]  # ingest knows no 'label'
    path = _write(tmp_path / "pieces.jsonl", [json.dumps(plain[0], ensure_ascii=False), "",
                                             json.dumps(plain[1], ensure_ascii=False)], bom=True)
    errors: list[JsonlError] = []
    assert len(list(ingest_rows(path, on_error=errors.append))) == 2 and errors == []


def test_every_reader_names_the_bad_line_the_same_way(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.jsonl", [json.dumps(ROWS[0], ensure_ascii=False), "{not json", "[1, 2]"])
    want = f"{path}:2: not valid JSON"
    with pytest.raises(JsonlError, match="^" + str(path) + ":2: not valid JSON"):
        list(dataset_rows(path))
    with pytest.raises(ValueError, match=want):
        examples_from_jsonl(path, "sentiment")
    with pytest.raises(ImportError_, match=want):
        read_import_file(path)
    errors: list[JsonlError] = []
    list(ingest_rows(path, on_error=errors.append))
    assert [str(e) for e in errors][1:] == [f"{path}:2: not valid JSON (Expecting property name enclosed in double quotes "
                                        "at column 2)", f"{path}:3: expected a JSON object, got list"]
