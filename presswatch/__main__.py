"""``python -m presswatch`` is the ``presswatch`` command."""

from presswatch.cli import main

main()
