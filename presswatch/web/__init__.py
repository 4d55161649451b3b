"""The web app: the shell's third face (after the CLI and the service), server-rendered pages.

``create_app(settings, engine)`` builds the FastAPI application; routes are thin (parse input,
call a stage function with the request's :class:`~models.scope.Scope`, render a template). See
``presswatch/web/README.md`` for how to add a page.
"""

from presswatch.web.app import create_app

__all__ = ["create_app"]
