"""The stages and presswatch's shared core never import the shell (CLI, service, demo, web).

The shell assembles the stages; a stage that imported it back would make an import cycle and let
domain logic leak into a face. This walks every import statement, including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

STAGES = ("crawlers", "pipeline", "classify", "alerts", "models", "quota", "accounts")
SHELL = ("presswatch.cli", "presswatch.service", "presswatch.demo", "presswatch.web", "presswatch.wiring",
         "presswatch.__main__")
CORE = ("addresses", "console", "democontext", "events", "items", "jsonl", "periods", "processes", "progress",
        "scheduling", "yamlfile", "i18n")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def _is_shell(module: str) -> bool:
    return any(module == s or module.startswith(s + ".") for s in SHELL)


def test_no_stage_or_core_module_imports_the_shell() -> None:
    files = [p for stage in STAGES for p in (REPO_ROOT / stage).rglob("*.py") if "migrations" not in p.parts]
    files += [REPO_ROOT / "settings.py"]
    files += [p for p in (REPO_ROOT / "presswatch").glob("*.py") if p.stem in CORE]
    assert len(files) > 50
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{line} imports {module}"
        for path in files
        for line, module in _imports(path)
        if _is_shell(module)
    ]
    assert offenders == []


def test_the_walker_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from presswatch.cli import console\n", encoding="utf-8")
    assert any(_is_shell(m) for _, m in _imports(sample))
