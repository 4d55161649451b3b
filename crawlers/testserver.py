"""A small threaded HTTP server on 127.0.0.1 for the demo site, tests and the benchmark.

Routes are a plain function ``handler(request) -> Reply``; the server runs in a daemon thread on
a free port and records every request (path and headers) so tests can check conditional GETs,
the User-Agent and robots.txt behaviour. Slow replies (``delay_seconds``) stay in their own
thread, so a timeout test does not stall the other pages.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass
class Request:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    host: str  # "127.0.0.1:PORT" as the client addressed us

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0
    # Declare a Content-Length other than len(body) (a "huge body" announced up front).
    content_length: int | None = None


Handler = Callable[[Request], Reply]


def not_found(_: Request) -> Reply:
    return Reply(404, b"not found", {"Content-Type": "text/plain; charset=utf-8"})


class LocalServer:
    """``with LocalServer(handler) as server: server.url("/feed.xml")``."""

    def __init__(self, handler: Handler, port: int = 0) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return None

            def _serve(self, head_only: bool) -> None:
                req = Request(
                    method=self.command, path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    host=self.headers.get("Host") or f"127.0.0.1:{outer.port}",
                )
                with outer._lock:
                    outer.requests.append(req)
                try:
                    reply = outer.handler(req)
                except Exception as exc:  # a broken fixture route is a 500, like a real site
                    reply = Reply(500, f"handler error: {exc}".encode(), {"Content-Type": "text/plain"})
                if reply.delay_seconds:
                    time.sleep(reply.delay_seconds)
                try:
                    self.send_response(reply.status)
                    length = reply.content_length if reply.content_length is not None else len(reply.body)
                    headers = {"Content-Length": str(length), **reply.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    if not head_only and reply.status not in (204, 304):
                        self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeouts, size caps): expected in tests

            def do_GET(self) -> None:
                self._serve(head_only=False)

            def do_HEAD(self) -> None:
                self._serve(head_only=True)

        class _Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                return None  # clients that hang up (timeouts, size caps) are expected here

        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def start(self) -> LocalServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"localserver-{self.port}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
