"""Serving the web app with uvicorn: ``presswatch web`` (foreground, N workers), ``presswatch run``
(a thread beside the scheduler) and ``presswatch demo`` (the next free port).

Several workers are separate processes importing :func:`app_factory`; they read settings through
the usual layers, so the CLI's ``--config`` and ``--set`` are handed to them as environment
variables (the layer just below flags).
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from settings import ENV_NESTING, ENV_PREFIX, Settings

log = logging.getLogger(__name__)


class BindError(ValueError):
    """A ``web.bind`` that is not host:port."""


def parse_bind(bind: str) -> tuple[str, int]:
    host, sep, port = bind.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise BindError(f"web.bind must be host:port, got {bind!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def next_free_port(host: str, port: int, tries: int = 50) -> int:
    for candidate in range(port, min(port + tries, 65536)):
        if port_is_free(host, candidate):
            return candidate
    raise BindError(f"no free port on {host} from {port} to {port + tries - 1}")


def settled(app: Any) -> Any:
    """``app``, with everything built so far (routes, templates, catalogs, models, alive as long as
    the process) moved out of the garbage collector's sight: a full collection then walks only what
    requests made. Measured on the /quota board at 500 units (bench/quota.py): a full collection
    every third view took 137 ms with some 240k startup objects, 20-45 ms with them frozen."""
    gc.collect()
    gc.freeze()
    return app


def warm_up(app: Any) -> threading.Thread:
    """Count the boards users open first (``quota.board.warm_boards``) in the background, so the
    first /quota view after a start or a deploy does not wait for a full count. Reads only."""
    from quota.board import warm_boards

    def run() -> None:
        try:
            with app.state.session_factory() as session:
                boards = warm_boards(session, str(app.state.settings.quota.timezone))
                session.rollback()
            log.info("quota boards counted at start: %d", boards)
        except Exception:  # a warm-up is an optimisation: the first view counts instead
            log.exception("counting the quota boards at start failed")

    thread = threading.Thread(target=run, name="presswatch-warm-up", daemon=True)
    thread.start()
    return thread


def serving(app: Any) -> Any:
    """``app`` made ready to serve: settled, its boards warming up."""
    settled(app)
    warm_up(app)
    return app


def app_factory() -> FastAPI:
    """For uvicorn workers (``--workers N``): the app from the configured settings."""
    from presswatch.web import create_app

    return serving(create_app())


def _config(app: Any, settings: Settings, host: str, port: int, **kw: Any) -> Any:
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, proxy_headers=True,
                          forwarded_allow_ips=settings.web.forwarded_allow_ips, server_header=False,
                          log_level=kw.pop("log_level", "info"), **kw)


def settings_environment(config_file: str | None, overrides: Mapping[str, Any]) -> dict[str, str]:
    """The CLI's config file and --set flags as PRESSWATCH_... variables, for worker processes."""
    env = {f"{ENV_PREFIX}{k.upper().replace('.', ENV_NESTING)}": str(v) for k, v in overrides.items()}
    if config_file:
        env["PRESSWATCH_CONFIG"] = str(config_file)
    return env


def serve_forever(settings: Settings, bind: str | None = None, workers: int | None = None,
                  settings_env: Mapping[str, str] | None = None) -> None:
    """``presswatch web``: serve until SIGINT / SIGTERM."""
    import uvicorn

    host, port = parse_bind(bind or settings.web.bind)
    workers = workers or settings.web.workers
    if workers > 1:
        os.environ.update(settings_env or {})
        config = _config("presswatch.web.server:app_factory", settings, host, port, factory=True, workers=workers)
    else:
        from presswatch.web import create_app

        config = _config(serving(create_app(settings)), settings, host, port)
    uvicorn.Server(config).run()


@dataclass
class RunningServer:
    url: str
    server: Any
    thread: threading.Thread

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=timeout)


def start_in_thread(settings: Settings, engine: Engine | None = None, bind: str | None = None,
                    find_free_port: bool = False, log_level: str = "warning") -> RunningServer:
    """Serve in a background thread (``presswatch run``, the demo); returns once it accepts connections."""
    import uvicorn

    from presswatch.web import create_app

    host, port = parse_bind(bind or settings.web.bind)
    if find_free_port:
        port = next_free_port(host, port)
    server = uvicorn.Server(_config(serving(create_app(settings, engine)), settings, host, port, log_level=log_level))
    # uvicorn leaves signals alone outside the main thread: the scheduler / demo handle them.
    thread = threading.Thread(target=server.run, name="presswatch-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive():
            raise BindError(f"the web app could not listen on {host}:{port}")
        if time.monotonic() > deadline:
            raise BindError(f"the web app did not start on {host}:{port} within 30 s")
        time.sleep(0.05)
    shown = f"[{host}]" if ":" in host else host
    return RunningServer(url=f"http://{shown}:{port}", server=server, thread=thread)
