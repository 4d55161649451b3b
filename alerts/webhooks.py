"""Chat webhooks: WeCom (企业微信), DingTalk (钉钉), Feishu (飞书), Slack and generic JSON.

The recipient of a webhook delivery is the robot's URL (the URL itself is the credential, as each
service documents), so a webhook channel is always on. Payloads are the services' documented
plain-text message shapes, hand-built on purpose: notification libraries (apprise) hard-code the
vendors' hosts, which would make the delivery path untestable against a local receiver, and plain
text (not markdown) keeps a hostile crawled title from rendering as a link or a mention.

Success is the service's own verdict: HTTP 2xx and, for WeCom/DingTalk/Feishu, ``errcode``/``code``
0 in the JSON answer. 429, 5xx, timeouts and the vendors' rate-limit codes are transient.

Signed robots: a DingTalk robot with 加签 and a Feishu robot with 签名校验 refuse calls without a
fresh signature. ``alerts.webhook_secrets_file`` (YAML, webhook URL -> secret; kept out of the
database and the rules file) gives each robot's secret, and every attempt (retries included) is
signed at send time, as each service documents: DingTalk adds ``timestamp`` (ms) and ``sign`` =
base64(HMAC-SHA256(secret, "timestamp\\nsecret")) to the URL; Feishu adds ``timestamp`` (s) and
``sign`` = base64(HMAC-SHA256(key="timestamp\\nsecret", message="")) to the body. A generic JSON
receiver gets ``X-Presswatch-Timestamp`` and ``X-Presswatch-Signature: sha256=<hex HMAC-SHA256(secret,
"timestamp." + body)>``, and both in one header, ``X-Presswatch-Signed: t=<timestamp>,sha256=<hex>``
(an organization's webhooks, :mod:`alerts.hooks`, take their secret from ``webhook_endpoints``;
their ``X-Presswatch-Event-Id`` header repeats the body's ``data.event_id``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlsplit

from alerts.channels import OutgoingMessage, PermanentError, TransientError
from alerts.outbox import WEBHOOK_CHANNELS

WEBHOOK_KINDS = WEBHOOK_CHANNELS

# Per-message text limits (bytes for WeCom, characters for the others), from each service's docs.
WECOM_TEXT_MAX_BYTES = 2048
DINGTALK_TEXT_MAX_CHARS = 18000
FEISHU_TEXT_MAX_CHARS = 15000
SLACK_TEXT_MAX_CHARS = 3000
JSON_TEXT_MAX_CHARS = 100_000
MAX_RESPONSE_BYTES = 64 * 1024

# Vendor error codes that mean "slow down / try later".
RATE_LIMIT_CODES = {45009, 130101, 11232, 9499}


def _truncate_bytes(text: str, limit: int) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode("utf-8", "ignore") + "…"


def _truncate_chars(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def message_text(message: OutgoingMessage) -> str:
    return f"{message.subject}\n\n{message.body_text}".strip()


def build_payload(kind: str, message: OutgoingMessage) -> dict[str, Any]:
    text = message_text(message)
    if kind == "wecom":
        return {"msgtype": "text", "text": {"content": _truncate_bytes(text, WECOM_TEXT_MAX_BYTES)}}
    if kind == "dingtalk":
        return {"msgtype": "text", "text": {"content": _truncate_chars(text, DINGTALK_TEXT_MAX_CHARS)}}
    if kind == "feishu":
        return {"msg_type": "text", "content": {"text": _truncate_chars(text, FEISHU_TEXT_MAX_CHARS)}}
    if kind == "slack":
        # Slack treats <, > and & as control characters in text; escape them as its docs require.
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return {"text": _truncate_chars(escaped, SLACK_TEXT_MAX_CHARS), "mrkdwn": False}
    if kind == "json":
        return {
            "idempotency_key": message.idempotency_key,
            "message_id": message.message_id,
            "language": message.language,
            "subject": message.subject,
            "text": _truncate_chars(message.body_text, JSON_TEXT_MAX_CHARS),
            "data": {k: v for k, v in (message.payload or {}).items() if k not in ("inline_images", "attachments")},
            "resent_in_doubt": message.in_doubt,
        }
    raise PermanentError(f"unknown webhook kind {kind!r}")


def _vendor_verdict(kind: str, body: bytes) -> None:
    if kind not in ("wecom", "dingtalk", "feishu"):
        return
    try:
        answer = json.loads(body.decode("utf-8", "replace") or "{}")
    except json.JSONDecodeError:
        raise TransientError(f"{kind} answered with non-JSON: {body[:200]!r}") from None
    if not isinstance(answer, dict):
        raise TransientError(f"{kind} answered with unexpected JSON: {body[:200]!r}")
    code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0)))
    if code in (0, None):
        return
    msg = answer.get("errmsg") or answer.get("msg") or answer.get("StatusMessage") or ""
    if code in RATE_LIMIT_CODES:
        raise TransientError(f"{kind} rate limit: {code} {msg}")
    raise PermanentError(f"{kind} refused the message: {code} {msg}")


class WebhookSecretsError(ValueError):
    """The webhook secrets file is unreadable or malformed; the message names the file."""


def load_webhook_secrets(path: str) -> dict[str, str]:
    """Webhook URL -> signing secret, from ``alerts.webhook_secrets_file`` ({} when unset)."""
    from presswatch.yamlfile import read_yaml

    if not path:
        return {}
    file = Path(path)
    if not file.is_file():
        raise WebhookSecretsError(f"webhook secrets file {file} does not exist (alerts.webhook_secrets_file)")
    data = read_yaml(file, WebhookSecretsError) or {}
    if not isinstance(data, dict):
        raise WebhookSecretsError(f"{file}: expected a mapping of webhook URL -> secret")
    out: dict[str, str] = {}
    for url, secret in data.items():
        parts = urlsplit(str(url))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise WebhookSecretsError(f"{file}: {str(url)[:80]!r} is not a webhook URL")
        if not isinstance(secret, str) or not secret.strip():
            raise WebhookSecretsError(f"{file}: the secret for {parts.netloc}{parts.path} must be a non-empty string")
        out[str(url).strip()] = secret.strip()
    return out


def _hmac_b64(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode("ascii")


def sign_request(
    kind: str, url: str, payload: dict[str, Any], secret: str, now: float
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The URL, payload and extra headers of a call signed with ``secret`` at ``now`` (epoch s)."""
    if kind == "dingtalk":
        ts = str(int(now * 1000))
        sign = quote_plus(_hmac_b64(secret.encode("utf-8"), f"{ts}\n{secret}".encode()))
        return f"{url}{'&' if '?' in url else '?'}timestamp={ts}&sign={sign}", payload, {}
    if kind == "feishu":
        ts = str(int(now))
        return url, {"timestamp": ts, "sign": _hmac_b64(f"{ts}\n{secret}".encode(), b""), **payload}, {}
    if kind == "json":
        ts = str(int(now))
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        digest = hmac.new(secret.encode("utf-8"), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        return url, payload, {"X-Presswatch-Timestamp": ts, "X-Presswatch-Signature": f"sha256={digest}",
                              "X-Presswatch-Signed": f"t={ts},sha256={digest}"}
    return url, payload, {}  # WeCom group robots and Slack incoming webhooks have no signing


@dataclass
class WebhookChannel:
    kind: str
    timeout_seconds: float
    secrets: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.kind

    def send(self, message: OutgoingMessage, on_handover: Callable[[], None] | None = None) -> None:
        url = message.recipient
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PermanentError(f"{self.kind} webhook URL must be http(s): {url[:80]!r}")
        payload = build_payload(self.kind, message)
        extra_headers: dict[str, str] = {}
        secret = self.secrets.get(url.strip())
        if secret:
            url, payload, extra_headers = sign_request(self.kind, url, payload, secret, time.time())
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "presswatch-alerts/0.1",
            "Idempotency-Key": message.idempotency_key,
            "X-Presswatch-Message-Id": message.message_id,
            **extra_headers,
        }
        if message.in_doubt:
            headers["X-Presswatch-Resent"] = "in-doubt"
        event_id = (message.payload or {}).get("event_id")
        if event_id:
            headers["X-Presswatch-Event-Id"] = str(event_id)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        if on_handover is not None:  # urllib does not say whether the body left: count it as handed over
            on_handover()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                answer = response.read(MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as exc:
            status = exc.code
            if status == 429 or status >= 500:
                raise TransientError(f"{self.kind} webhook answered HTTP {status}") from None
            raise PermanentError(f"{self.kind} webhook answered HTTP {status}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TransientError(f"cannot reach {self.kind} webhook {parts.netloc}: {reason}") from None
        _vendor_verdict(self.kind, answer)

    def close(self) -> None:
        return None
