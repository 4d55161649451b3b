"""presswatch: media monitoring and public-opinion watch for court and justice press offices.

This package holds what spans the stages: the CLI, the named events between stages, the
scheduler service and the demo. The stages themselves are the top-level packages ``crawlers``,
``pipeline``, ``classify``, ``alerts`` and ``quota``; the ORM and migrations are in ``models``.
"""

__version__ = "0.1.0"
