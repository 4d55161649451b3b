"""Bytes to text for the pipeline: junk refused here, the decoding itself is the crawler's.

There is one byte decoder, :func:`crawlers.encoding.decode_body` (BOM, declared, header, meta,
detection; GBK/GB2312 as GB18030, Big5 as CP950, NFC always): the pipeline used to keep its own,
which read Big5 as Big5-HKSCS and left Vietnamese diacritics decomposed, so the same page gave a
different text (and a different dedupe fingerprint) depending on which stage decoded it. This
module adds only what the pipeline needs besides: refusing binary content (:class:`NotText`).
"""

from __future__ import annotations

# The one decoder, and one reading of the zero-byte pattern for both stages.
from crawlers.encoding import decode_body as _decode
from crawlers.encoding import sniff_wide_encoding

BINARY_TYPES = ("image/", "audio/", "video/", "application/pdf", "application/zip", "application/octet-stream",
                "application/x-", "font/")
# A last-resort UTF-8 reading with more replacement characters than this is not a text page.
MAX_REPLACEMENT_SHARE = 0.01


class NotText(ValueError):
    """The body is not a text page (binary junk, an image, a PDF)."""


def looks_binary(body: bytes) -> bool:
    """NUL bytes or many control bytes in the first 8 KB: not a text page."""
    head = body[:8192]
    if not head:
        return False
    if sniff_wide_encoding(head) is not None:
        return False  # UTF-16 / UTF-32 text: its zero bytes are half or three quarters of it
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    return control > len(head) * 0.05


def decode_body(body: bytes, *, declared: str | None = None, content_type: str | None = None) -> tuple[str, str]:
    """Return (text, codec used), decoded by the one decoder (``declared``: the encoding the
    crawler or sources.yaml named). Raises NotText for binary content."""
    ctype = (content_type or "").lower()
    if ctype.startswith(BINARY_TYPES) or looks_binary(body):
        raise NotText(f"binary content ({ctype or 'no content-type'}, {len(body)} bytes)")
    decoded = _decode(body, content_type, forced=declared)
    if decoded.how == "fallback" and decoded.text.count("\ufffd") > MAX_REPLACEMENT_SHARE * max(len(decoded.text), 1):
        raise NotText(f"undecodable bytes ({len(body)} bytes)")
    return decoded.text, decoded.encoding
