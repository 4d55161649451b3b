"""Chat webhooks: WeCom (企业微信), DingTalk (钉钉), Feishu (飞书), Slack and generic JSON.

The recipient of a webhook delivery is the robot's URL (the URL itself is the credential, as each
service documents), so a webhook channel is always on. Payloads are the services' documented
plain-text message shapes, hand-built on purpose: notification libraries (apprise) hard-code the
vendors' hosts, which would make the delivery path untestable against a local receiver, and plain
text (not markdown) keeps a hostile crawled title from rendering as a link or a mention.

Success is the service's own verdict: HTTP 2xx and, for WeCom/DingTalk/Feishu, ``errcode``/``code``
0 in the JSON answer. 429, 5xx, timeouts and the vendors' rate-limit codes are transient.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

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


@dataclass
class WebhookChannel:
    kind: str
    timeout_seconds: float

    @property
    def name(self) -> str:
        return self.kind

    def send(self, message: OutgoingMessage) -> None:
        url = message.recipient
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PermanentError(f"{self.kind} webhook URL must be http(s): {url[:80]!r}")
        body = json.dumps(build_payload(self.kind, message), ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "presswatch-alerts/0.1",
            "Idempotency-Key": message.idempotency_key,
            "X-Presswatch-Message-Id": message.message_id,
        }
        if message.in_doubt:
            headers["X-Presswatch-Resent"] = "in-doubt"
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
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
