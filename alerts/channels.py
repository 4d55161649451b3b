"""Delivery channels: how one outbox row reaches its recipient.

A channel is built from settings and either works or switches itself off with a reason (as
Scrapy's ``NotConfigured``): "email channel disabled: no SMTP host" is logged once and the
messages wait in the outbox, visible in ``presswatch alerts outbox``, instead of failing.

``send`` raises :class:`TransientError` (retry with back-off: the server is down, slow, dropped
the connection, answered 4xx) or :class:`PermanentError` (retrying cannot help: the server
refused the recipient or the content with 5xx, the address is malformed). Returning means the
server accepted the message.
"""

from __future__ import annotations

import base64
import binascii
import logging
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from typing import Any, Protocol

from alerts.outbox import EMAIL_CHANNEL, MAX_SUBJECT_CHARS, one_line
from settings import Settings

log = logging.getLogger(__name__)

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024  # mail servers commonly refuse bigger messages anyway


class TransientError(Exception):
    """Sending failed in a way that may succeed later."""


class PermanentError(Exception):
    """Sending failed in a way that retrying cannot fix."""


class ChannelDisabled(Exception):
    """The channel is not configured; the message says why."""


@dataclass(frozen=True)
class OutgoingMessage:
    """A detached snapshot of one outbox row, safe to use outside the session."""

    id: int
    idempotency_key: str
    channel: str
    recipient: str
    language: str
    subject: str
    body_text: str
    body_html: str | None
    payload: dict[str, Any]
    message_id: str
    created_at: datetime
    in_doubt: bool = False  # a previous attempt was interrupted after handing the message over
    attempt: int = 1


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, message: OutgoingMessage, on_handover: Callable[[], None] | None = None) -> None:
        """Deliver or raise; call ``on_handover`` just before the message's data leaves (from then on
        an interruption leaves the outcome in doubt)."""
        ...

    def close(self) -> None: ...


_announced: set[str] = set()


def announce_disabled(reason: str) -> None:
    """Log a disabled channel's reason once per process."""
    if reason not in _announced:
        _announced.add(reason)
        log.warning("%s", reason)


def _decode_b64(item: dict[str, Any], what: str) -> bytes:
    try:
        data = base64.b64decode(str(item.get("data_b64", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PermanentError(f"{what}: data_b64 is not base64 ({exc})") from None
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise PermanentError(f"{what}: {len(data)} bytes is over the {MAX_ATTACHMENT_BYTES}-byte limit")
    return data


def _split_mime(mime: str, default: str) -> tuple[str, str]:
    maintype, _, subtype = (mime or default).partition("/")
    if not maintype or not subtype or any(c in mime for c in "\r\n;"):
        maintype, _, subtype = default.partition("/")
    return maintype, subtype


def valid_email_address(address: str) -> bool:
    _name, addr = parseaddr(address)
    local, at, domain = addr.rpartition("@")
    return bool(at and local and domain and ("." in domain or domain == "localhost")) and " " not in addr


def build_email(message: OutgoingMessage, from_address: str) -> EmailMessage:
    """The MIME message: text and HTML alternatives, inline images (cid) and attachments."""
    if not valid_email_address(message.recipient):
        raise PermanentError(f"not an email address: {message.recipient[:80]!r}")
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["Subject"] = one_line(message.subject, MAX_SUBJECT_CHARS)
    msg["From"] = from_address
    msg["To"] = message.recipient
    msg["Date"] = format_datetime(message.created_at)
    msg["Message-ID"] = message.message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Presswatch-Delivery"] = str(message.id)
    if message.in_doubt:
        # The same Message-ID as the copy that may already have arrived: mail clients collapse it.
        msg["X-Presswatch-Resent"] = "in-doubt; a previous attempt may have been accepted"
    msg.set_content(message.body_text or " ", subtype="plain", charset="utf-8")
    payload = message.payload or {}
    if message.body_html:
        msg.add_alternative(message.body_html, subtype="html", charset="utf-8")
        parts = msg.get_payload()
        assert isinstance(parts, list)
        html_part = parts[-1]
        assert isinstance(html_part, EmailMessage)
        for n, image in enumerate(payload.get("inline_images") or []):
            cid = one_line(str(image.get("cid", f"img{n}")), 100).strip("<>")
            maintype, subtype = _split_mime(str(image.get("mime", "")), "image/png")
            html_part.add_related(
                _decode_b64(image, f"inline image {cid}"), maintype=maintype, subtype=subtype,
                cid=f"<{cid}>", disposition="inline",
            )
    for n, att in enumerate(payload.get("attachments") or []):
        filename = one_line(str(att.get("filename", f"attachment-{n}")), 150).replace("/", "_") or f"attachment-{n}"
        maintype, subtype = _split_mime(str(att.get("mime", "")), "application/octet-stream")
        # Text attachments are UTF-8 unless the caller says otherwise (a CSV export in Chinese).
        charset = one_line(str(att.get("charset", "utf-8")), 40) if maintype == "text" else None
        msg.add_attachment(
            _decode_b64(att, f"attachment {filename}"), maintype=maintype, subtype=subtype, filename=filename,
            params={"charset": charset} if charset else {},
        )
    # Last: set_content/add_alternative move Content-* headers into the first body part.
    msg["Content-Language"] = one_line(message.language, 16)
    return msg


class _HandoverHook:
    """smtplib calls ``data()`` once MAIL FROM and RCPT TO were accepted: the point from which the
    server may keep the message even if we never hear its answer."""

    before_data: Callable[[], None] | None = None

    def data(self, msg: Any) -> Any:
        if self.before_data is not None:
            self.before_data()
        return super().data(msg)  # type: ignore[misc]


class _SMTP(_HandoverHook, smtplib.SMTP):
    pass


class _SMTPSSL(_HandoverHook, smtplib.SMTP_SSL):
    pass


@dataclass
class EmailChannel:
    """Email over SMTP with smtplib: plain, STARTTLS or implicit TLS (SSL), optional AUTH.

    One connection is reused for a delivery run and dropped on any error.
    """

    host: str
    port: int
    security: str
    username: str
    password: str
    timeout_seconds: float
    from_address: str
    ca_file: str = ""
    name: str = EMAIL_CHANNEL
    _smtp: _SMTP | _SMTPSSL | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailChannel:
        a = settings.alerts
        if not a.smtp_host:
            raise ChannelDisabled("email channel disabled: no SMTP host (set alerts.smtp_host)")
        if not valid_email_address(a.from_address):
            raise ChannelDisabled(f"email channel disabled: alerts.from_address {a.from_address!r} is not an address")
        return cls(
            host=a.smtp_host, port=a.smtp_port, security=a.smtp_security, username=a.smtp_username,
            password=a.smtp_password.get_secret_value(), timeout_seconds=a.smtp_timeout_seconds,
            from_address=a.from_address, ca_file=a.smtp_ca_file,
        )

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ca_file:
            context.load_verify_locations(cafile=self.ca_file)
        return context

    def _connect(self) -> _SMTP | _SMTPSSL:
        smtp: _SMTP | _SMTPSSL
        if self.security == "ssl":
            smtp = _SMTPSSL(self.host, self.port, timeout=self.timeout_seconds, context=self._tls_context())
        else:
            smtp = _SMTP(self.host, self.port, timeout=self.timeout_seconds)
        try:
            smtp.ehlo()
            if self.security == "starttls":
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password)
        except BaseException:
            _quietly_close(smtp)
            raise
        return smtp

    def send(self, message: OutgoingMessage, on_handover: Callable[[], None] | None = None) -> None:
        mime = build_email(message, self.from_address)  # PermanentError on a bad address/attachment
        _name, to_addr = parseaddr(message.recipient)
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            self._smtp.before_data = on_handover
            try:
                self._smtp.send_message(mime, from_addr=self.from_address, to_addrs=[to_addr])
            finally:
                if self._smtp is not None:
                    self._smtp.before_data = None
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            codes = [code for code, _msg in exc.recipients.values()]
            detail = "; ".join(f"{code} {_text(msg)}" for code, msg in exc.recipients.values())
            if codes and all(code >= 500 for code in codes):
                raise PermanentError(f"recipient refused: {detail}") from None
            raise TransientError(f"recipient deferred: {detail}") from None
        except smtplib.SMTPDataError as exc:
            self.close()
            if exc.smtp_code >= 500:
                raise PermanentError(f"message refused: {exc.smtp_code} {_text(exc.smtp_error)}") from None
            raise TransientError(f"message deferred: {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except smtplib.SMTPAuthenticationError as exc:
            self.close()
            raise TransientError(
                f"SMTP authentication failed ({exc.smtp_code} {_text(exc.smtp_error)}): check "
                "alerts.smtp_username / PRESSWATCH_ALERTS__SMTP_PASSWORD"
            ) from None
        except smtplib.SMTPResponseException as exc:
            # Sender refused, STARTTLS refused, ... : a configuration or server-side problem that an
            # operator can fix; keep retrying until max_attempts rather than dropping the message.
            self.close()
            raise TransientError(f"SMTP error {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except smtplib.SMTPNotSupportedError as exc:
            self.close()
            raise TransientError(f"SMTP server does not support what we asked: {exc}") from None
        except smtplib.SMTPServerDisconnected as exc:
            self.close()
            raise TransientError(f"SMTP server dropped the connection: {exc or 'no reason given'}") from None
        except (TimeoutError, ssl.SSLError, OSError, smtplib.SMTPException) as exc:
            self.close()
            kind = type(exc).__name__
            raise TransientError(f"cannot reach SMTP server {self.host}:{self.port}: {kind}: {exc}") from None

    def close(self) -> None:
        if self._smtp is not None:
            _quietly_close(self._smtp)
            self._smtp = None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _quietly_close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        try:
            smtp.close()
        except OSError:
            return


@dataclass
class ChannelSet:
    """The channels built from settings, and why the others are off."""

    channels: dict[str, Channel]
    disabled: dict[str, str]

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()


def build_channels(settings: Settings, extra_secrets: Mapping[str, str] | None = None) -> ChannelSet:
    """The channels; ``extra_secrets`` (webhook URL -> secret, the organizations' endpoints) add to
    and win over ``alerts.webhook_secrets_file``."""
    from alerts.webhooks import WEBHOOK_KINDS, WebhookChannel

    channels: dict[str, Channel] = {}
    disabled: dict[str, str] = {}
    try:
        channels[EMAIL_CHANNEL] = EmailChannel.from_settings(settings)
    except ChannelDisabled as exc:
        disabled[EMAIL_CHANNEL] = str(exc)
        announce_disabled(str(exc))
    from alerts.webhooks import WebhookSecretsError, load_webhook_secrets

    try:
        secrets = load_webhook_secrets(settings.alerts.webhook_secrets_file)
    except WebhookSecretsError as exc:
        # Unsigned calls to signed robots would be refused: hold webhook messages until it is fixed.
        for kind in WEBHOOK_KINDS:
            disabled[kind] = str(exc)
        announce_disabled(str(exc))
    else:
        for kind in WEBHOOK_KINDS:
            channels[kind] = WebhookChannel(
                kind=kind, timeout_seconds=settings.alerts.webhook_timeout_seconds,
                secrets={**secrets, **(extra_secrets or {})},
            )
    return ChannelSet(channels=channels, disabled=disabled)
