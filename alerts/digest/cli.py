"""Command-line commands of the digest: thin wrappers over library functions."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main presswatch app."""
