"""This stage's part of ``presswatch demo``."""

from __future__ import annotations

from presswatch.demo import DemoContext


def run(ctx: DemoContext) -> None:
    return None
