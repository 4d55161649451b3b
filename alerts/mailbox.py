"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives: for the demo, the
latency benchmark and the delivery tests.

It can also misbehave on purpose, the way real servers do: refuse with a 5xx or 4xx, answer
slowly, or drop the connection in the middle of a message. Behaviour can be changed while it
runs. It listens on an explicit free port (aiosmtpd's readiness check breaks on port 0).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    at: float  # time.monotonic() when the server accepted it

    @property
    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.data, policy=default_policy)
        assert isinstance(msg, EmailMessage)  # the default policy builds EmailMessage objects
        return msg

    @property
    def message_id(self) -> str:
        return str(self.message.get("Message-ID", ""))


@dataclass
class Behaviour:
    refuse_rcpt: str | None = None  # e.g. "550 5.1.1 no such user" or "451 4.3.0 try later"
    refuse_data: str | None = None
    ehlo_delay_seconds: float = 0.0
    data_delay_seconds: float = 0.0
    drop_on_data: int = 0  # drop the connection (no reply) on the next N messages


class _Handler:
    def __init__(self, box: LocalMailbox) -> None:
        self.box = box

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        if self.box.behaviour.ehlo_delay_seconds:
            await asyncio.sleep(self.box.behaviour.ehlo_delay_seconds)
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if self.box.behaviour.refuse_rcpt:
            return self.box.behaviour.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        b = self.box.behaviour
        self.box.data_received += 1  # the whole message is here; the answer is still to come
        if b.drop_on_data > 0:
            b.drop_on_data -= 1
            self.box.dropped += 1
            server.transport.abort()  # the client sent the whole message and never hears back
            return "421 dropped"
        if b.data_delay_seconds:
            await asyncio.sleep(b.data_delay_seconds)
        if b.refuse_data:
            return b.refuse_data
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode("utf-8")
        with self.box.lock:
            self.box.messages.append(
                Received(mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos), data=data, at=time.monotonic())
            )
        self.box.arrived.set()
        return "250 Message accepted for delivery"


@dataclass
class LocalMailbox:
    host: str = "127.0.0.1"
    port: int = 0
    tls_context: ssl.SSLContext | None = None  # offered through STARTTLS
    implicit_tls: bool = False  # SMTPS: TLS from the first byte
    auth: dict[str, str] | None = None  # username -> password; AUTH required when set
    behaviour: Behaviour = field(default_factory=Behaviour)
    messages: list[Received] = field(default_factory=list)
    dropped: int = 0
    data_received: int = 0  # messages whose content arrived (answered or not)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Event = field(default_factory=threading.Event)
    _controller: Any = None

    def start(self) -> LocalMailbox:
        from aiosmtpd.controller import Controller

        if not self.port:
            self.port = free_port(self.host)
        kwargs: dict[str, Any] = {"hostname": self.host, "port": self.port, "ready_timeout": 10.0}
        if self.implicit_tls:
            kwargs["ssl_context"] = self.tls_context
            kwargs["server_hostname"] = "localhost"
        elif self.tls_context is not None:
            kwargs["tls_context"] = self.tls_context
            kwargs["require_starttls"] = False
        if self.auth is not None:
            users = dict(self.auth)

            def _check(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
                from aiosmtpd.smtp import AuthResult

                login = getattr(auth_data, "login", b"") or b""
                password = getattr(auth_data, "password", b"") or b""
                ok = users.get(login.decode("utf-8", "replace")) == password.decode("utf-8", "replace")
                # handled=False: let aiosmtpd answer 535 itself (the default waits for us to).
                return AuthResult(success=ok, handled=False)

            kwargs["authenticator"] = _check
            kwargs["auth_required"] = True
            # Plain-text AUTH is fine on loopback in tests; real servers sit behind TLS.
            kwargs["auth_require_tls"] = self.tls_context is not None and not self.implicit_tls
        self._controller = Controller(_Handler(self), **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop(no_assert=True)
            self._controller = None

    def __enter__(self) -> LocalMailbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, count: int, timeout_seconds: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            self.arrived.wait(0.05)
            self.arrived.clear()
        with self.lock:
            return list(self.messages)

    def message_ids(self) -> list[str]:
        with self.lock:
            return [m.message_id for m in self.messages]
