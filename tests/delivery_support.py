"""Shared pieces for the alerts/delivery tests: settings for a loopback mailbox, a clean outbox,
a self-signed certificate, and a local webhook receiver."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete

from settings import Settings, load_settings


def settings_for(port: int | None, **extra: Any) -> Settings:
    overrides: dict[str, Any] = {
        "alerts.smtp_host": "127.0.0.1" if port else "",
        "alerts.smtp_port": port or 25,
        "alerts.smtp_timeout_seconds": 2.0,
        "alerts.from_address": "presswatch@court.example.cn",
        "alerts.retry_base_seconds": 30,
        "alerts.max_attempts": 4,
        "alerts.webhook_timeout_seconds": 2.0,
    }
    overrides.update({k if "." in k else f"alerts.{k}": v for k, v in extra.items()})
    return load_settings(environ={}, overrides=overrides).settings


def wipe_alert_tables(engine: Engine) -> None:
    from models import Alert, AlertCursor, AlertEvent, AlertRule, CorrectionRequest, Delivery

    with engine.begin() as conn:
        for table in (Delivery, AlertEvent, CorrectionRequest, Alert, AlertRule, AlertCursor):
            conn.execute(delete(table.__table__))  # type: ignore[arg-type]


@pytest.fixture
def clean_outbox(engine: Engine) -> Iterator[Engine]:
    """Tests that commit for real (delivery runs its own transactions) start and end empty."""
    wipe_alert_tables(engine)
    yield engine
    wipe_alert_tables(engine)


def make_tls_files(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1 (cert, key), made offline."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    )
    return cert_path, key_path


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@dataclass
class WebhookReceiver:
    """A local HTTP server standing in for WeCom/DingTalk/Feishu/Slack/generic JSON receivers."""

    status: int = 200
    answer: dict[str, Any] = field(default_factory=lambda: {"errcode": 0, "errmsg": "ok"})
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers.items()), "json": json.loads(body), "body": body}
                )
                raw = json.dumps(receiver.answer).encode()
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def url(self, path: str = "/hook") -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
