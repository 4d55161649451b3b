"""Bytes to text: the declared charset, the page's own <meta charset>, then detection; junk refused.

Chinese sites still serve GBK/GB2312 (often mislabelled); GB18030 is a superset, so a page that
says gb2312 or gbk is decoded as gb18030 (characters outside GB2312 otherwise turn into errors).
"""

from __future__ import annotations

import re

# one reading of the zero-byte pattern for the crawler's decoding and this one
from crawlers.encoding import sniff_wide_encoding

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "utf8": "utf-8", "big5": "big5hkscs"}
BINARY_TYPES = ("image/", "audio/", "video/", "application/pdf", "application/zip", "application/octet-stream",
                "application/x-", "font/")


class NotText(ValueError):
    """The body is not a text page (binary junk, an image, a PDF)."""


def _norm(name: str | None) -> str | None:
    if not name:
        return None
    low = name.strip().lower()
    return _ALIASES.get(low, low)


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
    """Return (text, encoding used). Raises NotText for binary content."""
    ctype = (content_type or "").lower()
    if ctype.startswith(BINARY_TYPES) or looks_binary(body):
        raise NotText(f"binary content ({ctype or 'no content-type'}, {len(body)} bytes)")
    candidates: list[str] = []
    if body.startswith(b"\xef\xbb\xbf"):
        candidates.append("utf-8-sig")
    wide = sniff_wide_encoding(body)  # UTF-16 / UTF-32 without a byte-order mark: the bytes decide
    if wide:
        candidates.append(wide)
    header = _HEADER_CHARSET.search(ctype)
    meta = _META_CHARSET.search(body[:4096])
    meta_name = meta.group(1).decode("ascii", "ignore") if meta else None
    for name in (declared, header.group(1) if header else None, meta_name):
        enc = _norm(name)
        if enc and enc not in candidates:
            candidates.append(enc)
    candidates.append("utf-8")
    for enc in candidates:
        try:
            return body.decode(enc), enc
        except (UnicodeDecodeError, LookupError):
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(body[:200_000]).best()
    if best is None or best.encoding is None:
        raise NotText(f"undecodable bytes ({len(body)} bytes, tried {', '.join(candidates)})")
    enc = _norm(best.encoding) or best.encoding
    return body.decode(enc, errors="replace"), enc
