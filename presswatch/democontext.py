"""The context each stage's ``demo.run(ctx)`` receives (shared core; the driver is ``presswatch.demo``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import Engine

from settings import Settings


@dataclass
class DemoContext:
    workdir: Path
    settings: Settings
    engine: Engine
    console: Console
    state: dict[str, Any] = field(default_factory=dict)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.console.rule(f"[bold]{text}")
